//! The HTTP/1.1 listener: connection-level limits (header buffer, header
//! read timeout against slowloris, which also closes idle keep-alive
//! connections; a cap on open connections) that axum's `serve` does not
//! expose, and the graceful stop driven by [`crate::shutdown`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::app::App;
use crate::telemetry::throttle::LogThrottle;

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
    // Each open connection costs ~13 KiB (hyper's buffers, the task): the cap
    // bounds memory under a connection flood. At the cap the loop stops
    // accepting, so new connections wait in the kernel backlog until one
    // closes (idle ones close after the header read timeout).
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let quiet = LogThrottle::new(LogThrottle::WINDOW);
    app.readiness.mark_started();

    let accept =
        |graceful: &GracefulShutdown, stream: tokio::net::TcpStream, slot: OwnedSemaphorePermit| {
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
                drop(slot);
            });
        };

    tokio::pin!(shutdown);
    let signal = loop {
        tokio::select! {
            name = &mut shutdown => break name,
            (res, slot) = next_connection(&listener, &slots, &quiet) => match res {
                Ok(stream) => accept(&graceful, stream, slot),
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
            (res, slot) = next_connection(&listener, &slots, &quiet) => match res {
                Ok(stream) => accept(&graceful, stream, slot),
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

/// A free connection slot, then a connection: one future, so that `select!`
/// can still see the shutdown signal or the drain deadline while it waits.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    quiet: &LogThrottle,
) -> (std::io::Result<tokio::net::TcpStream>, OwnedSemaphorePermit) {
    let slot = next_slot(slots, quiet).await;
    (listener.accept().await.map(|(stream, _)| stream), slot)
}

/// Waits for a free connection slot, saying so when the cap is what waits
/// (once per window: at the cap this happens for every connection accepted).
async fn next_slot(slots: &Arc<Semaphore>, quiet: &LogThrottle) -> OwnedSemaphorePermit {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return slot;
    }
    if let Some(suppressed) = quiet.admit("connection limit", Instant::now()) {
        tracing::warn!(
            suppressed,
            "connection limit reached (MAX_CONNECTIONS): not accepting until one closes"
        );
    }
    // The semaphore is never closed, so acquiring cannot fail.
    match slots.clone().acquire_owned().await {
        Ok(slot) => slot,
        Err(_) => unreachable!("the connection semaphore is never closed"),
    }
}

/// Accept can fail transiently (EMFILE under a connection flood, aborted
/// handshakes): log and back off briefly instead of spinning.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
