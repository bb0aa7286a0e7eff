//! The per-request edge middleware: the request's trace context (continuing
//! an incoming W3C `traceparent`: a server span when spans are exported,
//! built with the OpenTelemetry SDK directly, otherwise just its ids), the duration histogram and in-flight gauge, one
//! access-log line, the header-size limit (431) and the JSON error body —
//! and `Connection: close` while draining — one layer instead of several,
//! because each layer costs a boxed future and a service clone per request.
//!
//! It runs around the router (`crate::edge`), which gives it the route
//! pattern before the span starts, and it sees the final status of
//! everything below it: handlers, panics turned into 500s, timeouts, load
//! shedding.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::FutureExt as _;
use futures_util::future::Either;
use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanId, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer};
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::access::Access;
use super::logs::{self, RequestIds};
use super::metrics::{
    HttpMetrics, OTHER_METHOD, RouteLabel, UNMATCHED, method_index, method_label,
};
use crate::error::{ensure_json_errors, json_error};
use crate::shutdown::Readiness;

static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Longest `url.path` / `user_agent.original` written to logs and spans.
const MAX_LOGGED_LEN: usize = 256;

pub struct HttpTelemetry {
    metrics: HttpMetrics,
    propagator: TraceContextPropagator,
    ids: RandomIdGenerator,
    /// Spans go to OpenTelemetry (which assigns ids); otherwise the
    /// middleware assigns the W3C ids itself so logs still carry them.
    otel: bool,
    /// The request spans' tracer when spans are exported
    /// (`traces::request_tracer`); without one (a process that did not
    /// install it), the request span is a `tracing` span.
    tracer: Option<SdkTracer>,
    max_header_bytes: usize,
    readiness: Arc<Readiness>,
    /// Continue an incoming `traceparent` (`OTEL_PROPAGATORS`).
    propagate: bool,
    /// Give the span every attribute even without an exporter: the pretty
    /// formatter prints span fields.
    all_span_fields: bool,
}

impl HttpTelemetry {
    pub fn new(
        otel: bool,
        propagate: bool,
        all_span_fields: bool,
        max_header_bytes: usize,
        readiness: Arc<Readiness>,
    ) -> Self {
        HttpTelemetry {
            metrics: HttpMetrics::default(),
            propagator: TraceContextPropagator::new(),
            ids: RandomIdGenerator::default(),
            otel,
            tracer: if otel {
                super::traces::request_tracer()
            } else {
                None
            },
            max_header_bytes,
            readiness,
            propagate,
            all_span_fields,
        }
    }

    /// Request spans are built with `tracer` (tests; `new` takes the
    /// installed one).
    pub fn with_tracer(mut self, tracer: SdkTracer) -> Self {
        self.otel = true;
        self.tracer = Some(tracer);
        self
    }

    /// A request the HTTP parser rejected before any route or layer saw it
    /// (malformed request line, header block over the parser's buffer): it
    /// is counted and logged like every other request, as `unmatched`, with
    /// no method, path or trace it could be trusted for.
    pub fn record_rejected(&self, status: u16) {
        let method = OTHER_METHOD;
        self.metrics.route(method, UNMATCHED).record(status, 0.0);
        tracing::info!(
            target: "hello::access",
            duration_ms = 0.0,
            http.request.method = method_label(method),
            url.path = "",
            http.route = UNMATCHED,
            http.response.status_code = status,
            user_agent.original = "",
            "request rejected by the HTTP parser"
        );
    }
}

/// Whether the service is waiting for the client's request body right now:
/// a request that times out then was slowed by its client (408), not by
/// the service (503). Set only on requests that have a body.
#[derive(Clone, Default)]
pub struct BodyProgress(Arc<AtomicBool>);

impl BodyProgress {
    pub fn waiting_for_client(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The request body, marking [`BodyProgress`] while a read waits for bytes.
struct TrackedBody {
    inner: Body,
    progress: BodyProgress,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        self.progress
            .0
            .store(polled.is_pending(), Ordering::Relaxed);
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// Decrements the in-flight gauge even when the request future is dropped
/// (client gone, timeout).
struct InFlight<'a>(&'a metrics::Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// What carries a request's trace context to the lines logged inside it.
enum Carrier {
    /// The OpenTelemetry SDK's span, when spans are exported: the request's
    /// future carries its context (spans of your own become its children,
    /// `span_events` gives it the warnings and errors logged inside) and its
    /// task carries its ids for log lines.
    Otel(opentelemetry::Context, RequestIds),
    /// A tracing span: with every attribute for the pretty formatter (it
    /// prints span fields; exported through `tracing-opentelemetry` when
    /// spans are), or when no tracer was installed.
    Span(tracing::Span),
    /// Otherwise no span at all: the ids are ours and the request's task
    /// carries them (`logs::in_request`).
    Task(RequestIds),
}

/// The request's telemetry around `run` (the guards and the router, see
/// `crate::edge`), under its route `label`: its trace context, in-flight gauge,
/// duration histogram and access line; the header-size limit (431); the JSON
/// body of every error status; `Connection: close` while draining.
pub async fn observe<F, Fut>(
    tel: &HttpTelemetry,
    label: &RouteLabel,
    req: Request,
    run: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let start = Instant::now();
    let method = method_index(req.method());
    let route = label.pattern;
    let handles = label.handles(&tel.metrics, method);
    let gauge = tel.metrics.active(method);
    gauge.increment(1.0);
    let _in_flight = InFlight(gauge);

    // Cheap reference-counted clones: the request moves into the handler.
    let uri = req.uri().clone();
    let user_agent_header = req.headers().get(header::USER_AGENT).cloned();
    let path = truncate(uri.path());
    let user_agent = user_agent_header
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(truncate)
        .unwrap_or_default();
    // Without a `traceparent` there is nothing to continue: skip the
    // propagator (it would clone the current context to return it empty).
    let parent = if tel.propagate && req.headers().contains_key(&TRACEPARENT) {
        tel.propagator.extract(&HeaderExtractor(req.headers()))
    } else {
        opentelemetry::Context::new()
    };
    let carrier = match &tel.tracer {
        Some(tracer) if !tel.all_span_fields => {
            // Room for the status code set at the end: the SDK keeps this
            // vector, and growing it then would reallocate and move it.
            let mut attributes = Vec::with_capacity(6);
            attributes.extend([
                KeyValue::new("http.request.method", method_label(method)),
                KeyValue::new("http.route", route),
                // A route without parameters is its own path: no copy.
                KeyValue::new("url.path", static_or_owned(path, route)),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("user_agent.original", user_agent.to_owned()),
            ]);
            let span = tracer
                .span_builder(handles.span_name)
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent);
            let ids = request_ids(
                span.span_context().trace_id(),
                span.span_context().span_id(),
            );
            Carrier::Otel(parent.with_span(span), ids)
        }
        _ if tel.otel => {
            // OpenTelemetry assigns the ids and exports the attributes.
            let span = full_span(handles.span_name, method, route, path, user_agent);
            // Err only when the span is disabled: nothing to link.
            let _ = span.set_parent(parent);
            Carrier::Span(span)
        }
        _ => {
            // No exporter: the ids are ours (continuing a remote parent's trace).
            let remote = parent.span().span_context().clone();
            let trace_id = if remote.is_valid() {
                remote.trace_id()
            } else {
                tel.ids.new_trace_id()
            };
            let ids = request_ids(trace_id, tel.ids.new_span_id());
            if tel.all_span_fields {
                let span = full_span(handles.span_name, method, route, path, user_agent);
                span.record(
                    "trace_id",
                    std::str::from_utf8(&ids.trace).unwrap_or_default(),
                );
                span.record(
                    "span_id",
                    std::str::from_utf8(&ids.span).unwrap_or_default(),
                );
                Carrier::Span(span)
            } else {
                Carrier::Task(ids)
            }
        }
    };

    let response = match &carrier {
        Carrier::Otel(cx, ids) => {
            let run = answer(tel, req, run).with_context(cx.clone());
            logs::in_request(*ids, run).await
        }
        Carrier::Span(span) => answer(tel, req, run).instrument(span.clone()).await,
        Carrier::Task(ids) => logs::in_request(*ids, answer(tel, req, run)).await,
    };

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    handles.record(status, elapsed.as_secs_f64());
    let access = Access {
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        method: method_label(method),
        path,
        route,
        status,
        user_agent,
    };
    match carrier {
        Carrier::Otel(cx, ids) => {
            let span = cx.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 {
                span.set_status(Status::error(""));
            }
            span.end();
            access.log(&ids);
        }
        Carrier::Span(span) => {
            span.record("http.response.status_code", i64::from(status));
            if status >= 500 {
                span.record("otel.status_code", "ERROR");
            }
            span.in_scope(|| access.event());
        }
        Carrier::Task(ids) => access.log(&ids),
    }
    response
}

/// The response to `req`: `run`'s, with the JSON body on every error, or a
/// 431 for a header block over `MAX_HEADER_BYTES`; `Connection: close` while
/// draining.
fn answer<F, Fut>(tel: &HttpTelemetry, mut req: Request, run: F) -> impl Future<Output = Response>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if !http_body::Body::is_end_stream(req.body()) {
        let progress = BodyProgress::default();
        req.extensions_mut().insert(progress.clone());
        req = req.map(|inner| Body::new(TrackedBody { inner, progress }));
    }
    // Not an `async fn`, which would keep `req` beside `run`'s future
    // (`Edge::serve`).
    let response = if header_bytes(req.headers()) > tel.max_header_bytes {
        Either::Left(std::future::ready(json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request header fields too large",
        )))
    } else {
        Either::Right(run(req).map(ensure_json_errors))
    };
    response.map(|mut response| {
        if tel.readiness.is_draining() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    })
}

/// `value`, borrowed from `known` when they are equal (no allocation).
fn static_or_owned(value: &str, known: &'static str) -> opentelemetry::Value {
    if value == known {
        known.into()
    } else {
        value.to_owned().into()
    }
}

/// The request span with every attribute the OpenTelemetry semantic
/// conventions give an HTTP server span; status and ids are recorded later.
fn full_span(
    name: &str,
    method: usize,
    route: &str,
    path: &str,
    user_agent: &str,
) -> tracing::Span {
    tracing::info_span!(
        target: "hello::http",
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        "http.request.method" = method_label(method),
        "http.route" = route,
        "url.path" = path,
        "url.scheme" = "http",
        "user_agent.original" = user_agent,
        "http.response.status_code" = Empty,
        trace_id = Empty,
        span_id = Empty,
    )
}

/// The W3C text form of a request's ids.
fn request_ids(trace: TraceId, span: SpanId) -> RequestIds {
    let mut ids = RequestIds {
        trace: [b'0'; 32],
        span: [b'0'; 16],
    };
    hex(&trace.to_bytes(), &mut ids.trace);
    hex(&span.to_bytes(), &mut ids.span);
    ids
}

/// Lower-case hex of `bytes` into `out` (twice as long): W3C ids.
fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

fn truncate(s: &str) -> &str {
    if s.len() <= MAX_LOGGED_LEN {
        return s;
    }
    let mut end = MAX_LOGGED_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{Layer, filter::filter_fn};

    use super::*;
    use crate::telemetry::span_events::SpanEvents;

    /// Keeps every exported span.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    /// Runs one `GET /` through `observe` with an SDK request span, the
    /// OpenTelemetry layers as `telemetry::init` installs them and `route`
    /// as the service; returns the exported spans, the request span last.
    fn exported<F, Fut>(route: F) -> Vec<SpanData>
    where
        F: FnOnce(Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        let spans = Collect::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let ours = |m: &tracing::Metadata<'_>| {
            m.target().starts_with("hello") && (m.is_span() || *m.level() <= Level::WARN)
        };
        let subscriber = tracing_subscriber::registry().with(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("hello"))
                .with_filter(filter_fn(ours))
                .and_then(SpanEvents.with_filter(filter_fn(ours))),
        );
        let tel = HttpTelemetry::new(false, true, false, 8192, Arc::default())
            .with_tracer(provider.tracer("hello"));
        let label = RouteLabel::new("/");
        let req = Request::builder().uri("/").body(Body::empty()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            rt.block_on(observe(&tel, &label, req, route));
        });
        let spans = spans.0.lock().unwrap().clone();
        assert_eq!(spans.last().unwrap().name, "GET /", "{spans:?}");
        spans
    }

    fn has_event(span: &SpanData, name: &str) -> bool {
        span.events.iter().any(|e| e.name == name)
    }

    #[test]
    fn a_warning_inside_the_request_is_an_event_of_its_span() {
        let spans = exported(|_| async {
            tokio::task::yield_now().await;
            tracing::warn!(target: "hello::test", attempt = 2_i64, "slow disk");
            Response::new(Body::empty())
        });
        let [request] = &spans[..] else {
            panic!("one span: {spans:?}")
        };
        let event = request.events.iter().next().expect("the warning");
        assert_eq!(event.name, "slow disk");
        let attrs: Vec<String> = event
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        assert_eq!(attrs, ["level=WARN", "target=hello::test", "attempt=2"]);
        assert_eq!(request.status, Status::Unset);
        assert_eq!(request.span_kind, SpanKind::Server);
    }

    #[test]
    fn an_error_inside_the_request_marks_its_span_an_error() {
        let spans = exported(|_| async {
            tracing::error!(target: "hello::test", "lost");
            Response::new(Body::empty())
        });
        assert!(has_event(&spans[0], "lost"), "{spans:?}");
        assert_eq!(spans[0].status, Status::error(""));
    }

    #[test]
    fn a_span_of_your_own_is_a_child_of_the_request_span_and_keeps_its_events() {
        let spans = exported(|_| async {
            let inner = tracing::info_span!(target: "hello::test", "inner");
            async {
                tracing::warn!(target: "hello::test", "inside inner");
            }
            .instrument(inner)
            .await;
            Response::new(Body::empty())
        });
        let [inner, request] = &spans[..] else {
            panic!("two spans: {spans:?}")
        };
        assert_eq!(inner.name, "inner");
        assert_eq!(inner.parent_span_id, request.span_context.span_id());
        assert_eq!(
            inner.span_context.trace_id(),
            request.span_context.trace_id()
        );
        // The event goes to the innermost span only.
        assert!(has_event(inner, "inside inner"), "{inner:?}");
        assert!(request.events.is_empty(), "{request:?}");
    }

    #[test]
    fn hex_ids_match_the_w3c_text_form() {
        let ids = RandomIdGenerator::default();
        for _ in 0..100 {
            let (trace, span) = (ids.new_trace_id(), ids.new_span_id());
            let (mut t, mut s) = ([0u8; 32], [0u8; 16]);
            hex(&trace.to_bytes(), &mut t);
            hex(&span.to_bytes(), &mut s);
            assert_eq!(std::str::from_utf8(&t).unwrap(), trace.to_string());
            assert_eq!(std::str::from_utf8(&s).unwrap(), span.to_string());
        }
    }
}
