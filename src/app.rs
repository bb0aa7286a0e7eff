//! The two listeners' applications, built once and shared by production and
//! tests.
//!
//! Every request runs through one [`crate::edge::Edge`] around the router,
//! which labels it with its route pattern and sees every final status:
//! telemetry (span, metrics, access line, header-size limit, JSON error
//! bodies) → load shedding at the global concurrency limit → request time
//! budget → panic guard → body size limit → router → handler. The probes and
//! `/metrics` are a separate router for the admin listener, with the
//! telemetry and the panic guard but without shedding and the time budget.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::edge::{Edge, Guards};
use crate::routes::{self, AppState};
use crate::scratch::ScratchStore;
use crate::shutdown::Readiness;
use crate::telemetry::http::HttpTelemetry;
use crate::telemetry::logs::LogFormat;
use crate::telemetry::metrics::MetricsRenderer;

/// The limits the listener and the shutdown sequence need.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub shutdown_drain: Duration,
}

/// A built application: the two routers plus the handles `serve` drives.
pub struct App {
    /// The public API (`PORT`).
    pub public: Arc<Edge>,
    /// Probes and `/metrics` (`ADMIN_PORT`).
    pub admin: Arc<Edge>,
    pub readiness: Arc<Readiness>,
    pub limits: Limits,
    /// The edge telemetry, also for requests rejected below the router.
    pub telemetry: Arc<HttpTelemetry>,
}

/// Builds the application from the configuration.
pub fn build_app(config: &Config, metrics: MetricsRenderer) -> App {
    let scratch = ScratchStore::open(
        config.scratch.dir(),
        config.scratch.max_bytes,
        config.scratch.quota_bytes,
    );
    let readiness = Arc::new(Readiness::default());
    let state = AppState::new(config, scratch, Arc::clone(&readiness), metrics);

    let telemetry = Arc::new(HttpTelemetry::new(
        config.traces.otlp.is_some(),
        config.traces.propagate_tracecontext,
        config.logs.format == LogFormat::Pretty,
        config.server.max_header_bytes,
        Arc::clone(&readiness),
    ));
    // Probes and /metrics are exempt from shedding and timeouts: overload
    // must show up as 503s on traffic, not as failed liveness probes that
    // make Kubernetes restart a busy pod.
    let admin = Edge::unguarded(routes::admin(), state.clone(), Arc::clone(&telemetry));
    let guards = Guards::new(
        config.server.max_concurrent_requests,
        config.server.request_timeout,
        usize::try_from(config.scratch.max_bytes).unwrap_or(usize::MAX),
    );
    let public = Edge::guarded(
        routes::api(config.fault_injection),
        state,
        Arc::clone(&telemetry),
        guards,
    );
    App {
        public: Arc::new(public),
        admin: Arc::new(admin),
        readiness,
        limits: Limits {
            max_header_bytes: config.server.max_header_bytes,
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections,
            request_timeout: config.server.request_timeout,
            shutdown_drain: config.server.shutdown_drain,
        },
        telemetry,
    }
}
