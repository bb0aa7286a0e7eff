//! The two HTTP/1.1 listeners and their connection-level limits (header
//! buffer, header read timeout against slowloris, which also closes idle
//! keep-alive connections, a send timeout, a cap on open connections) that
//! axum's `serve` does not expose, and the graceful stop driven by
//! [`crate::shutdown`].
//!
//! The **public** listener serves the API behind `MAX_CONNECTIONS`; the
//! **admin** listener serves probes and `/metrics` with its own small budget,
//! so a connection flood on the public port cannot starve the kubelet's
//! probes or Prometheus's scrapes (and turn an attack into restarts).

mod conn_io;
pub mod settings;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::conn_io::ConnIo;
pub use self::conn_io::{LINGER_BYTES, LINGER_TIME};
use crate::app::App;
use crate::config::Config;
use crate::edge::{Edge, EdgeService};
use crate::telemetry::http::HttpTelemetry;
use crate::telemetry::throttle::LogThrottle;

/// Open connections the admin listener serves at once: the kubelet's probes
/// and a few scrapers need a handful; the bound keeps the port cheap.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;

/// The bound sockets, so that callers (tests) learn the ports before serving.
pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds `PORT` and `ADMIN_PORT` on one address.
    pub async fn bind_on(ip: IpAddr, config: &Config) -> std::io::Result<Listeners> {
        let public = TcpListener::bind(SocketAddr::new(ip, config.server.port)).await?;
        let admin = TcpListener::bind(SocketAddr::new(ip, config.server.admin_port)).await?;
        Ok(Listeners { public, admin })
    }

    pub fn public_addr(&self) -> std::io::Result<SocketAddr> {
        self.public.local_addr()
    }

    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }
}

/// What every connection of one listener is served with.
#[derive(Clone)]
struct ConnSettings {
    edge: Arc<Edge>,
    header_read_timeout: Duration,
    send_timeout: Duration,
    max_buf: usize,
    telemetry: Arc<HttpTelemetry>,
}

impl ConnSettings {
    /// Serves one connection on its own task. Watched by `graceful` unless
    /// `None`: a watched connection is closed at shutdown once idle, even
    /// before it sent its first request.
    fn spawn(
        &self,
        graceful: Option<&GracefulShutdown>,
        stream: TcpStream,
        slot: impl Into<Option<OwnedSemaphorePermit>>,
    ) -> tokio::task::JoinHandle<()> {
        let _ = stream.set_nodelay(true);
        let io = ConnIo::new(
            stream,
            self.send_timeout,
            Arc::clone(&self.telemetry),
            slot.into(),
        );
        let svc = EdgeService(Arc::clone(&self.edge));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_buf)
            .serve_connection(TokioIo::new(io), svc);
        let log = |res: Result<(), hyper::Error>| {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        };
        match graceful {
            Some(graceful) => {
                let conn = graceful.watch(conn);
                tokio::spawn(async move { log(conn.await) })
            }
            None => tokio::spawn(async move { log(conn.await) }),
        }
    }
}

/// One listener's accept loop state: its connection budget and the throttle
/// of its "at the cap" warning.
struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
    quiet: LogThrottle,
    name: &'static str,
    /// What sets the budget, for the warning at the cap.
    limit: &'static str,
    settings: ConnSettings,
}

impl Acceptor {
    /// Accepts and serves connections until `until` resolves.
    async fn run_until<T>(&self, graceful: &GracefulShutdown, until: impl Future<Output = T>) -> T {
        tokio::pin!(until);
        loop {
            tokio::select! {
                out = &mut until => return out,
                (res, slot) = self.next_connection() => match res {
                    Ok(stream) => {
                        self.settings.spawn(Some(graceful), stream, slot);
                    }
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    /// Closes the listener without resetting a client whose connection the
    /// kernel already accepted (handshake done, request maybe sent): closing
    /// a listener resets every connection still in its accept queue.
    ///
    /// 1. The backlog shrinks to its minimum: while one connection waits in
    ///    the queue, new SYNs are dropped, so those clients retry later and
    ///    then find the port closed (refused, before sending anything).
    /// 2. Every connection that reaches the queue is accepted and *held*,
    ///    unanswered, so its client cannot come straight back, until no new
    ///    one arrived for `RETIRE_QUIET` (long enough for a handshake whose
    ///    last ACK was dropped on a full queue to be retransmitted).
    /// 3. The listener closes with an empty queue; the held connections are
    ///    then served (with `Connection: close`: the service is draining).
    ///
    /// Unprivileged (no socket filter, no firewall rule). Returns the held
    /// connections' tasks: they are not watched by the graceful shutdown,
    /// which would close them before their request was read.
    async fn retire(self) -> Vec<tokio::task::JoinHandle<()>> {
        use std::os::fd::AsRawFd;
        // SAFETY: listen(2) on the listener's own, open descriptor.
        if unsafe { libc::listen(self.listener.as_raw_fd(), 0) } != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "cannot shrink the accept backlog"
            );
        }
        let mut held = Vec::new();
        let deadline = Instant::now() + RETIRE_MAX;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(RETIRE_QUIET.min(left), self.listener.accept()).await {
                Ok(Ok((stream, _))) => held.push(stream),
                Ok(Err(e)) => accept_error(e).await,
                Err(_) => break, // quiet: nothing queued, nothing on its way
            }
        }
        let Acceptor {
            listener,
            slots,
            settings,
            ..
        } = self;
        drop(listener);
        held.into_iter()
            .map(|stream| settings.spawn(None, stream, slots.clone().try_acquire_owned().ok()))
            .collect()
    }

    /// A free connection slot, then a connection: one future, so that
    /// `select!` can still see the shutdown signal or the drain deadline
    /// while it waits.
    async fn next_connection(&self) -> (std::io::Result<TcpStream>, OwnedSemaphorePermit) {
        let slot = self.next_slot().await;
        (self.listener.accept().await.map(|(stream, _)| stream), slot)
    }

    /// Waits for a free connection slot, saying so when the cap is what
    /// waits (once per window: at the cap this happens for every connection).
    async fn next_slot(&self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return slot;
        }
        if let Some(suppressed) = self.quiet.admit(self.name, Instant::now()) {
            tracing::warn!(
                suppressed,
                listener = self.name,
                "connection limit reached ({}): not accepting until one closes",
                self.limit
            );
        }
        // The semaphore is never closed, so acquiring cannot fail.
        match self.slots.clone().acquire_owned().await {
            Ok(slot) => slot,
            Err(_) => unreachable!("the connection semaphore is never closed"),
        }
    }
}

/// Serves `app` on both listeners until `shutdown` resolves, then drains:
/// readiness 503 at once, keep serving for the drain period, stop accepting,
/// wait (bounded) for in-flight requests. The admin listener keeps answering
/// probes and scrapes until the public side is done.
pub async fn serve(
    listeners: Listeners,
    app: App,
    shutdown: impl Future<Output = &'static str>,
) -> std::io::Result<()> {
    let limits = app.limits.clone();
    // hyper answers 431 itself (rewritten into the JSON error by `ConnIo`)
    // once headers outgrow this buffer; below it the edge middleware applies
    // MAX_HEADER_BYTES exactly.
    let max_buf = (limits.max_header_bytes + 16 * 1024).max(8192);
    let settings = |edge: &Arc<Edge>| ConnSettings {
        edge: Arc::clone(edge),
        header_read_timeout: limits.header_read_timeout,
        send_timeout: limits.request_timeout,
        max_buf,
        telemetry: Arc::clone(&app.telemetry),
    };
    let acceptor = |listener, max, name, limit| Acceptor {
        listener,
        // Each open connection costs ~13 KiB (hyper's buffers, the task):
        // the cap bounds memory under a connection flood. At the cap the
        // loop stops accepting, so new connections wait in the kernel backlog
        // until one closes (idle ones close after the header read timeout).
        slots: Arc::new(Semaphore::new(max)),
        quiet: LogThrottle::new(LogThrottle::WINDOW),
        name,
        limit,
        settings: settings(if name == "admin" {
            &app.admin
        } else {
            &app.public
        }),
    };
    let public = acceptor(
        listeners.public,
        limits.max_connections,
        "public",
        "MAX_CONNECTIONS",
    );
    let admin = acceptor(
        listeners.admin,
        ADMIN_MAX_CONNECTIONS,
        "admin",
        "the admin listener's 64",
    );

    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        admin
            .run_until(&graceful, async {
                let _ = admin_stopped.await;
            })
            .await;
        // Probes and scrapes are short: a brief grace, then the process ends.
        let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
    });

    app.readiness.mark_started();
    let graceful = GracefulShutdown::new();
    let signal = public.run_until(&graceful, shutdown).await;

    app.readiness.mark_draining();
    tracing::info!(
        signal,
        drain_seconds = limits.shutdown_drain.as_secs(),
        "shutdown: not ready, draining"
    );
    public
        .run_until(&graceful, tokio::time::sleep(limits.shutdown_drain))
        .await;
    let held = public.retire().await;
    tracing::info!(held = held.len(), "shutdown: listener closed");

    // In-flight requests are bounded by the request timeout.
    let grace = limits.request_timeout + Duration::from_secs(1);
    tracing::info!("shutdown: stopped accepting, finishing in-flight requests");
    let in_flight = async {
        graceful.shutdown().await;
        for task in held {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(grace, in_flight).await.is_err() {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "shutdown: connections still open after grace period"
        );
    }
    let _ = admin_stop.send(());
    let _ = admin_task.await;
    Ok(())
}

/// How long `retire` waits for one more queued connection before it closes
/// the listener, and at most in all. The quiet period outlasts a TCP
/// retransmission (200 ms minimum), the bound keeps shutdown prompt.
const RETIRE_QUIET: Duration = Duration::from_millis(500);
const RETIRE_MAX: Duration = Duration::from_secs(2);

/// Accept can fail transiently (EMFILE under a connection flood, aborted
/// handshakes): log and back off briefly instead of spinning.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
