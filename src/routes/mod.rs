//! The routes of the DESIGN table, one file per concern.

pub mod faults;
pub mod greeting;
pub mod health;
pub mod metrics;
pub mod scratch;
pub mod version;

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, get};

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

/// A router and the patterns of its routes, declared together in one call
/// per route: the edge (`crate::edge`) runs outside the router and matches
/// the same patterns itself to label the request's telemetry, so a route
/// cannot be served without its label.
pub struct Routes {
    router: Router<AppState>,
    patterns: Vec<&'static str>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            patterns: Vec::new(),
        }
    }

    /// Adds `pattern` (axum's syntax, e.g. `/v1/scratch/{key}`).
    pub fn route(mut self, pattern: &'static str, methods: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(pattern, methods);
        self.patterns.push(pattern);
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.patterns.extend(other.patterns);
        self
    }

    /// The router, with the JSON 404 for unknown paths and its state, and
    /// the patterns it serves.
    pub fn finish(self, state: AppState) -> (Router, Vec<&'static str>) {
        (
            self.router.fallback(not_found).with_state(state),
            self.patterns,
        )
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

/// The admin listener's routes: probes and metrics, cheap, never shed.
pub fn admin() -> Routes {
    Routes::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
}

/// Everything else (unknown paths get the JSON 404).
pub fn api(fault_injection: bool) -> Routes {
    let routes = Routes::new()
        .route("/", get(greeting::greet))
        .route("/version", get(version::version))
        .route(
            "/v1/scratch/{key}",
            get(scratch::read)
                .put(scratch::write)
                .delete(scratch::remove),
        );
    if fault_injection {
        routes.merge(faults::routes())
    } else {
        routes
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}
