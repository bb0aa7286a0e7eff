//! The service every request of a listener runs through: the request's
//! telemetry ([`observe`]) around the guards that protect the service (load shedding
//! at the global concurrency limit, the request time budget, the panic guard
//! and the body size limit), then the router.
//!
//! It is the HTTP service itself, outside the axum router, rather than a
//! stack of tower layers inside it: each layer costs its own service clone,
//! poll and often a boxed future per request, and a layer added with
//! `Router::layer` is applied to every route separately, re-boxing each.
//! Here a request pays one boxed future and one timer. The route label its
//! telemetry needs is found by matching the router's own patterns (declared
//! once, in [`crate::routes::Routes`]) with the router matcher axum uses.
//! What each guard answers is the contract of the separate layers it
//! replaced (the tests in `tests/hardening.rs` and `tests/http_api.rs` pin
//! every status).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::FutureExt;
use futures_util::future::Either;
use tokio::sync::Semaphore;
use tower::Service;

use crate::error::json_error;
use crate::routes::{AppState, Routes};
use crate::telemetry::http::{BodyProgress, HttpTelemetry, observe};
use crate::telemetry::metrics::{RouteLabel, UNMATCHED};

/// What the public routes are guarded by; the admin routes (probes,
/// `/metrics`) have none of it but the panic guard: overload must show as
/// 503s on traffic, not as failed liveness probes that restart a busy pod.
pub struct Guards {
    /// Requests in progress at once across all routes; one more is shed
    /// (503, `Retry-After: 1`) rather than queued.
    permits: Semaphore,
    /// The whole request, body included: 408 when the client was still
    /// sending its body, 503 when the service ran out of time.
    timeout: Duration,
    /// Request bodies larger than this are 413 (declared length) or fail
    /// the route's read (streamed bodies).
    body_limit: usize,
}

impl Guards {
    pub fn new(max_concurrent: usize, timeout: Duration, body_limit: usize) -> Self {
        Guards {
            permits: Semaphore::new(max_concurrent),
            timeout,
            body_limit,
        }
    }
}

/// One listener's application: its router, the route labels, the telemetry
/// and (public listener) the guards.
pub struct Edge {
    router: Router,
    /// The router's patterns, for the `http.route` label (an index into
    /// `routes`); no match is `unmatched` (the router's JSON 404).
    labels: matchit::Router<usize>,
    routes: Vec<RouteLabel>,
    unmatched: RouteLabel,
    telemetry: Arc<HttpTelemetry>,
    guards: Option<Guards>,
}

impl Edge {
    /// Telemetry, guards, route: the public listener.
    pub fn guarded(
        routes: Routes,
        state: AppState,
        telemetry: Arc<HttpTelemetry>,
        guards: Guards,
    ) -> Self {
        Self::new(routes, state, telemetry, Some(guards))
    }

    /// Telemetry and the panic guard only: the admin listener.
    pub fn unguarded(routes: Routes, state: AppState, telemetry: Arc<HttpTelemetry>) -> Self {
        Self::new(routes, state, telemetry, None)
    }

    fn new(
        routes: Routes,
        state: AppState,
        telemetry: Arc<HttpTelemetry>,
        guards: Option<Guards>,
    ) -> Self {
        let (router, patterns) = routes.finish(state);
        let mut labels = matchit::Router::new();
        for (i, pattern) in patterns.iter().enumerate() {
            // The router accepted the same pattern a moment ago (axum panics
            // on a bad or duplicate one), so the matcher accepts it too.
            if let Err(e) = labels.insert(*pattern, i) {
                unreachable!("route pattern {pattern} rejected by the matcher: {e}");
            }
        }
        Edge {
            router,
            labels,
            routes: patterns.into_iter().map(RouteLabel::new).collect(),
            unmatched: RouteLabel::new(UNMATCHED),
            telemetry,
            guards,
        }
    }

    /// The route label of `path`: its pattern, or `unmatched`.
    fn label(&self, path: &str) -> &RouteLabel {
        self.labels
            .at(path)
            .ok()
            .and_then(|m| self.routes.get(*m.value))
            .unwrap_or(&self.unmatched)
    }

    /// Serves one request: telemetry, guards, router. None of the layers is
    /// an `async fn`: each would keep the request (or the future it is moved
    /// into) beside that future, and the request's future is copied whole
    /// when a request starts (bench/README.md, "The request's future").
    pub fn serve(&self, req: Request) -> impl Future<Output = Response> + Send + '_ {
        let route = self.label(req.uri().path());
        observe(&self.telemetry, route, req, move |req| {
            let router = self.router.clone();
            match &self.guards {
                Some(guards) => Either::Left(guarded(guards, router, req)),
                None => Either::Right(call_catching(router, req)),
            }
        })
    }
}

/// An [`Edge`] as hyper's connection service (one clone per connection).
#[derive(Clone)]
pub struct EdgeService(pub Arc<Edge>);

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for EdgeService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let edge = Arc::clone(&self.0);
        Box::pin(async move { Ok(edge.serve(req.map(Body::new)).await) })
    }
}

/// Shedding, the time budget and the body limit around the route.
fn guarded(
    guards: &Guards,
    router: Router,
    mut req: Request,
) -> impl Future<Output = Response> + Send + '_ {
    let Ok(permit) = guards.permits.try_acquire() else {
        let mut res = json_error(StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later");
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Either::Left(std::future::ready(res));
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let limit = match declared {
        Some(len) if len > guards.body_limit => {
            return Either::Left(std::future::ready(json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload too large",
            )));
        }
        Some(len) => len.min(guards.body_limit),
        None => guards.body_limit,
    };
    // An empty body has nothing to limit or wait for: no wrapper to box.
    let progress = req.extensions().get::<BodyProgress>().cloned();
    if !http_body::Body::is_end_stream(req.body()) {
        req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    }
    let answered = tokio::time::timeout(guards.timeout, call_catching(router, req));
    Either::Right(answered.map(move |result| {
        drop(permit); // held until the response is ready
        match result {
            Ok(response) => response,
            Err(_) if progress.is_some_and(|p| p.waiting_for_client()) => json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            ),
            Err(_) => json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "request exceeded its time budget",
            ),
        }
    }))
}

/// The router, with a panic in it (while building its future or polling it)
/// answered as a JSON 500; the panic hook has already reported it.
fn call_catching(mut router: Router, req: Request) -> impl Future<Output = Response> + Send {
    let internal = || json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    let Ok(future) = std::panic::catch_unwind(AssertUnwindSafe(|| router.call(req))) else {
        return Either::Left(std::future::ready(internal()));
    };
    Either::Right(
        AssertUnwindSafe(future)
            .catch_unwind()
            .map(move |result| match result {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => internal(),
            }),
    )
}
