//! The routes of the DESIGN table, one file per concern.

pub mod faults;
pub mod greeting;
pub mod health;
pub mod metrics;
pub mod scratch;
pub mod version;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::config::Config;
use crate::error::ApiError;
use crate::scratch::ScratchStore;
use crate::shutdown::Readiness;
use crate::telemetry::metrics::MetricsRenderer;

/// Shared state of all handlers (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub greeter: greeting::Greeter,
    pub scratch: ScratchStore,
    pub readiness: Arc<Readiness>,
    pub metrics: MetricsRenderer,
}

impl AppState {
    pub fn new(
        config: &Config,
        scratch: ScratchStore,
        readiness: Arc<Readiness>,
        metrics: MetricsRenderer,
    ) -> Self {
        AppState(Arc::new(Shared {
            greeter: greeting::Greeter::new(
                config.greeting.messages.clone(),
                &config.greeting.hostname,
            ),
            scratch,
            readiness,
            metrics,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The admin listener's routes: probes and metrics, cheap, never shed.
pub fn admin() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .fallback(not_found)
}

/// Everything else, and the JSON 404 for unknown paths.
pub fn api(fault_injection: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/", get(greeting::greet))
        .route("/version", get(version::version))
        .route(
            "/v1/scratch/{key}",
            get(scratch::read)
                .put(scratch::write)
                .delete(scratch::remove),
        );
    let router = if fault_injection {
        router.merge(faults::router())
    } else {
        router
    };
    router.fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
