//! The HTTP/1.1 listener: connection-level limits (header buffer, header
//! read timeout against slowloris) that axum's `serve` does not expose, and
//! the graceful stop driven by [`crate::shutdown`].

use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::app::App;

/// Serves `app` on `listener` until `shutdown` resolves, then drains:
/// readiness 503 at once, keep serving for the drain period, stop
/// accepting, wait (bounded) for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = &'static str>,
) -> std::io::Result<()> {
    let limits = app.limits.clone();
    // hyper answers 431 itself (without our JSON body) once headers outgrow
    // this buffer; below it the header-limit layer answers with JSON.
    let max_buf = (limits.max_header_bytes + 16 * 1024).max(8192);
    let graceful = GracefulShutdown::new();
    app.readiness.mark_started();

    let accept = |graceful: &GracefulShutdown, stream: tokio::net::TcpStream| {
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.router.clone());
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(max_buf)
            .serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    };

    tokio::pin!(shutdown);
    let signal = loop {
        tokio::select! {
            name = &mut shutdown => break name,
            res = listener.accept() => match res {
                Ok((stream, _)) => accept(&graceful, stream),
                Err(e) => accept_error(e).await,
            },
        }
    };

    app.readiness.mark_draining();
    tracing::info!(
        signal,
        drain_seconds = limits.shutdown_drain.as_secs(),
        "shutdown: not ready, draining"
    );
    let drain = tokio::time::sleep(limits.shutdown_drain);
    tokio::pin!(drain);
    loop {
        tokio::select! {
            _ = &mut drain => break,
            res = listener.accept() => match res {
                Ok((stream, _)) => accept(&graceful, stream),
                Err(e) => accept_error(e).await,
            },
        }
    }
    drop(listener);

    // In-flight requests are bounded by the request timeout.
    let grace = limits.request_timeout + Duration::from_secs(1);
    tracing::info!("shutdown: stopped accepting, finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "shutdown: connections still open after grace period"
        );
    }
    Ok(())
}

/// Accept can fail transiently (EMFILE under a connection flood, aborted
/// handshakes): log and back off briefly instead of spinning.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
