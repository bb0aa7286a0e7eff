//! Signal → not ready → drain → stop.
//!
//! On SIGTERM/SIGINT `/readyz` turns 503 at once, while the server keeps
//! serving for `SHUTDOWN_DRAIN_SECONDS` so load balancers and Kubernetes
//! endpoints stop sending traffic; then it stops accepting and lets
//! in-flight requests finish. No `preStop` sleep is needed (the scratch
//! image has no shell to run one).

use std::sync::atomic::{AtomicBool, Ordering};

/// Why `/readyz` says no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    Starting,
    Draining,
}

#[derive(Debug, Default)]
pub struct Readiness {
    started: AtomicBool,
    draining: AtomicBool,
}

impl Readiness {
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// After SIGTERM: responses say `Connection: close` so clients stop
    /// reusing connections to a pod that is going away.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn check(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::Acquire) {
            Err(NotReady::Draining)
        } else if !self.started.load(Ordering::Acquire) {
            Err(NotReady::Starting)
        } else {
            Ok(())
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT and says which.
pub async fn signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    // Failing to install a handler is a start-up invariant violation: without
    // it the process could not shut down gracefully at all.
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
