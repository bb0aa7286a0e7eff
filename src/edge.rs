//! The one layer every route runs under: the request's telemetry
//! ([`observe`]) around the guards that protect the service (load shedding
//! at the global concurrency limit, the request time budget, the panic guard
//! and the body size limit), then the route.
//!
//! One hand-written layer instead of a stack of six tower layers because each
//! layer costs its own service clone, poll and often a boxed future per
//! request: here a request pays one boxed future and one timer. What each
//! guard answers is the contract of the separate layers it replaced (the
//! tests in `tests/hardening.rs` and `tests/http_api.rs` pin every status).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use crate::error::json_error;
use crate::telemetry::http::{BodyProgress, HttpTelemetry, observe};

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

/// The [`Layer`] that wraps every route (and the fallback) of a router.
#[derive(Clone)]
pub struct EdgeLayer {
    telemetry: Arc<HttpTelemetry>,
    guards: Option<Arc<Guards>>,
}

impl EdgeLayer {
    /// Telemetry, guards, route: the public listener's routes.
    pub fn guarded(telemetry: Arc<HttpTelemetry>, guards: Guards) -> Self {
        EdgeLayer {
            telemetry,
            guards: Some(Arc::new(guards)),
        }
    }

    /// Telemetry and the panic guard only: the admin listener's routes.
    pub fn unguarded(telemetry: Arc<HttpTelemetry>) -> Self {
        EdgeLayer {
            telemetry,
            guards: None,
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            telemetry: Arc::clone(&self.telemetry),
            guards: self.guards.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    telemetry: Arc<HttpTelemetry>,
    guards: Option<Arc<Guards>>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The ready service goes with this request; the clone stays for
        // the next one (tower's rule for services that are polled ready).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let telemetry = Arc::clone(&self.telemetry);
        let guards = self.guards.clone();
        Box::pin(async move {
            let response = observe(&telemetry, req, |req| async move {
                match guards {
                    Some(guards) => guarded(&guards, inner, req).await,
                    None => call_catching(inner, req).await,
                }
            })
            .await;
            Ok(response)
        })
    }
}

/// Shedding, the time budget and the body limit around the route.
async fn guarded<S>(guards: &Guards, inner: S, mut req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let Ok(_permit) = guards.permits.try_acquire() else {
        let mut res = json_error(StatusCode::SERVICE_UNAVAILABLE, "overloaded, retry later");
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let limit = match declared {
        Some(len) if len > guards.body_limit => {
            return json_error(StatusCode::PAYLOAD_TOO_LARGE, "payload too large");
        }
        Some(len) => len.min(guards.body_limit),
        None => guards.body_limit,
    };
    // An empty body has nothing to limit or wait for: no wrapper to box.
    let progress = req.extensions().get::<BodyProgress>().cloned();
    if !http_body::Body::is_end_stream(req.body()) {
        req = req.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    }
    match tokio::time::timeout(guards.timeout, call_catching(inner, req)).await {
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
}

/// The route, with a panic in it (while building its future or polling it)
/// answered as a JSON 500; the panic hook has already reported it.
async fn call_catching<S>(mut inner: S, req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let internal = || json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
    let Ok(future) = std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) else {
        return internal();
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => internal(),
    }
}
