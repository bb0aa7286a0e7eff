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

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::conn_io::ConnIo;
pub use self::conn_io::{LINGER_BYTES, LINGER_TIME};
use crate::app::App;
use crate::config::Config;
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
        let public = TcpListener::bind(SocketAddr::new(ip, config.port)).await?;
        let admin = TcpListener::bind(SocketAddr::new(ip, config.admin_port)).await?;
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
    router: Router,
    header_read_timeout: Duration,
    send_timeout: Duration,
    max_buf: usize,
    telemetry: Arc<HttpTelemetry>,
}

impl ConnSettings {
    fn spawn(
        &self,
        graceful: &GracefulShutdown,
        stream: TcpStream,
        slot: impl Into<Option<OwnedSemaphorePermit>>,
    ) {
        let _ = stream.set_nodelay(true);
        let io = ConnIo::new(
            stream,
            self.send_timeout,
            Arc::clone(&self.telemetry),
            slot.into(),
        );
        let svc = TowerToHyperService::new(self.router.clone());
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_buf)
            .serve_connection(TokioIo::new(io), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
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
                    Ok(stream) => self.settings.spawn(graceful, stream, slot),
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    /// Closes the listener without resetting a client that is already in
    /// the kernel's accept queue (handshake done, request maybe sent):
    /// new connection attempts are dropped first (their SYN is ignored, so
    /// the client retries and then finds the port closed: refused, before
    /// sending anything), every connection already queued is accepted and
    /// served (with `Connection: close`, the service is draining), then the
    /// socket closes. Returns how many were accepted this way.
    async fn retire(self, graceful: &GracefulShutdown) -> usize {
        if let Err(e) = refuse_new_handshakes(&self.listener) {
            tracing::debug!(error = %e, "cannot filter new connections; closing anyway");
        }
        // Handshakes already under way complete within a round trip; take
        // what is queued until the queue stays empty for a few polls.
        let mut accepted = 0;
        let mut quiet = 0;
        let deadline = Instant::now() + RETIRE_MAX;
        while quiet < 3 && Instant::now() < deadline {
            match tokio::time::timeout(RETIRE_POLL, self.listener.accept()).await {
                Ok(Ok((stream, _))) => {
                    quiet = 0;
                    accepted += 1;
                    let slot = self.slots.clone().try_acquire_owned().ok();
                    self.settings.spawn(graceful, stream, slot);
                }
                Ok(Err(_)) | Err(_) => quiet += 1,
            }
        }
        accepted
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
    let settings = |router: Router| ConnSettings {
        router,
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
            app.admin.clone()
        } else {
            app.router.clone()
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
    let pending = public.retire(&graceful).await;
    tracing::info!(pending, "shutdown: listener closed");

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
    let _ = admin_stop.send(());
    let _ = admin_task.await;
    Ok(())
}

/// How long `retire` waits for an empty accept queue, per poll and at most.
const RETIRE_POLL: Duration = Duration::from_millis(10);
const RETIRE_MAX: Duration = Duration::from_secs(1);

/// Attaches a socket filter to the listener that drops every incoming SYN
/// (a TCP segment with SYN and without ACK), so that no new connection enters
/// the accept queue, while handshakes already under way still complete.
/// The filter sees the TCP header at offset 0; byte 13 holds the flags.
fn refuse_new_handshakes(listener: &TcpListener) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    const SYN: u32 = 0x02;
    const SYN_ACK: u32 = 0x12;
    let code = [
        // A = tcp_flags & (SYN|ACK)
        libc::sock_filter {
            code: 0x30,
            jt: 0,
            jf: 0,
            k: 13,
        }, // BPF_LD | BPF_B | BPF_ABS
        libc::sock_filter {
            code: 0x54,
            jt: 0,
            jf: 0,
            k: SYN_ACK,
        }, // BPF_ALU | BPF_AND | BPF_K
        // A == SYN: drop (return 0 bytes); else keep the whole segment.
        libc::sock_filter {
            code: 0x15,
            jt: 0,
            jf: 1,
            k: SYN,
        }, // BPF_JMP | BPF_JEQ | BPF_K
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0,
        }, // BPF_RET | BPF_K
        libc::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: u32::MAX,
        },
    ];
    let prog = libc::sock_fprog {
        len: code.len() as u16,
        filter: code.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points at `code`, alive for the call; the kernel copies
    // the program; the descriptor belongs to `listener`.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&raw const prog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Accept can fail transiently (EMFILE under a connection flood, aborted
/// handshakes): log and back off briefly instead of spinning.
async fn accept_error(e: std::io::Error) {
    tracing::warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
