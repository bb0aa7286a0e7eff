//! The router and its layers, built once and shared by production and tests.
//!
//! Layers, outermost first (each route and the fallback get them, so the
//! telemetry layer knows the matched route and sees every final status):
//! edge (telemetry, header-size limit, JSON error bodies) → overload/timeout
//! errors → load shedding → global concurrency limit → request timeout →
//! panic guard → body size limit → handler. The probes and `/metrics` are a
//! separate router for the admin listener, with the edge layer and the panic
//! guard but without shedding, concurrency limit and timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::Response;
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::timeout::TimeoutLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::Config;
use crate::error::json_error;
use crate::routes::{self, AppState};
use crate::scratch::ScratchStore;
use crate::shutdown::Readiness;
use crate::telemetry::http::{BodyProgress, HttpTelemetry, observe};
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
    pub router: Router,
    /// Probes and `/metrics` (`ADMIN_PORT`).
    pub admin: Router,
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
        config.server.max_header_bytes,
        Arc::clone(&readiness),
    ));
    let panic_guard = || {
        CatchPanicLayer::custom(|_| json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
    };

    // Probes and /metrics are exempt from shedding and timeouts: overload
    // must show up as 503s on traffic, not as failed liveness probes that
    // make Kubernetes restart a busy pod.
    let admin = routes::admin()
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    Arc::clone(&telemetry),
                    observe,
                ))
                .layer(panic_guard()),
        )
        .with_state(state.clone());
    let router = routes::api(config.fault_injection)
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    Arc::clone(&telemetry),
                    observe,
                ))
                .layer(HandleErrorLayer::new(layer_error))
                .layer(LoadShedLayer::new())
                .layer(GlobalConcurrencyLimitLayer::new(
                    config.server.max_concurrent_requests,
                ))
                .layer(TimeoutLayer::new(config.server.request_timeout))
                .layer(panic_guard())
                .layer(RequestBodyLimitLayer::new(
                    usize::try_from(config.scratch.max_bytes).unwrap_or(usize::MAX),
                )),
        )
        .with_state(state);
    App {
        router,
        admin,
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

/// Errors raised by tower layers become responses: shed load is 503 with a
/// hint to retry. A request over its time budget is 408 when the service was
/// still waiting for the client's body (the client was too slow), else 503:
/// the service itself ran out of time.
async fn layer_error(body: Option<Extension<BodyProgress>>, err: tower::BoxError) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        let mut res = json_error(StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later");
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        res
    } else if err.is::<tower::timeout::error::Elapsed>() {
        if body.is_some_and(|Extension(b)| b.waiting_for_client()) {
            json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            )
        } else {
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "request exceeded its time budget",
            )
        }
    } else {
        tracing::error!(error = %err, "unhandled layer error");
        json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}
