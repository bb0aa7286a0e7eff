//! OTLP traces reach a real receiver inside the test, over gRPC (a tonic
//! server implementing the collector's `TraceService`) and over
//! HTTP/protobuf (an axum route decoding the same protobuf); with no
//! receiver, requests are unaffected and failed exports are counted.

mod common;

use std::time::{Duration, Instant};

use common::{Proc, get, get_with};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::sync::mpsc;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN: &str = "b7ad6b7169203331";

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let header = request.metadata().get(HEADER).and_then(|v| v.to_str().ok());
        if header != Some(HEADER_VALUE) {
            eprintln!("receiver: {HEADER} is {header:?}, expected {HEADER_VALUE:?}");
            return Err(tonic::Status::unauthenticated("missing header"));
        }
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Sent with every export (`OTEL_EXPORTER_OTLP_HEADERS`, percent-encoded
/// there); the receivers refuse exports without it.
const HEADER: &str = "x-hello-test";
const HEADER_VALUE: &str = "yes, indeed";

async fn grpc_receiver() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(tx)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (format!("http://{addr}"), rx)
}

async fn http_receiver() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                    assert_eq!(header("content-type"), Some("application/x-protobuf"));
                    // An assertion here would only fail the receiver's task: answer
                    // 401 instead, so the span never arrives and the test says why.
                    if header(HEADER) != Some(HEADER_VALUE) {
                        eprintln!(
                            "receiver: {HEADER} is {:?}, expected {HEADER_VALUE:?}",
                            header(HEADER)
                        );
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            [("content-type", "text/plain")],
                            Vec::new(),
                        );
                    }
                    let req = ExportTraceServiceRequest::decode(body).expect("valid OTLP protobuf");
                    let _ = tx.send(req);
                    (
                        axum::http::StatusCode::OK,
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Everything a receiver got so far, as (span, resource attributes).
struct Spans {
    rx: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    seen: Vec<(Span, Vec<KeyValue>)>,
}

impl Spans {
    /// Waits (at most 15 s) until an exported span satisfies `want`.
    async fn wait_for(&mut self, want: impl Fn(&Span) -> bool) -> (Span, Vec<KeyValue>) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(found) = self.seen.iter().find(|(s, _)| want(s)) {
                return found.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let names: Vec<_> = self.seen.iter().map(|(s, _)| s.name.clone()).collect();
            let req = tokio::time::timeout(left, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no matching span exported in time; got {names:?}"))
                .unwrap();
            for rs in req.resource_spans {
                let resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                for ss in rs.scope_spans {
                    self.seen
                        .extend(ss.spans.into_iter().map(|s| (s, resource.clone())));
                }
            }
        }
    }
}

async fn exports_server_spans(
    protocol: &str,
    endpoint: String,
    rx: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
) {
    let mut spans = Spans {
        rx,
        seen: Vec::new(),
    };
    let p = Proc::start(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-hello-test=yes%2C%20indeed"),
        ("OTEL_SERVICE_NAME", "hello-test"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test",
        ),
        ("POD_NAME", "hello-abc"),
        ("POD_NAMESPACE", "hello"),
        ("FAULT_INJECTION", "true"),
    ]);
    let tp = format!("traceparent: 00-{TRACE_ID}-{PARENT_SPAN}-01\r\nUser-Agent: otlp-test\r\n");
    assert_eq!(get_with(p.addr(), "/", &tp).await.status, 200);
    assert_eq!(get(p.addr(), "/v1/status/503").await.status, 503);

    let (span, resource) = spans.wait_for(|s| s.name == "GET /").await;
    assert_eq!(
        hex(&span.trace_id),
        TRACE_ID,
        "continues the incoming trace"
    );
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN);
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(
        string(&span.attributes, "http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(string(&span.attributes, "http.route").as_deref(), Some("/"));
    assert_eq!(string(&span.attributes, "url.path").as_deref(), Some("/"));
    assert_eq!(
        string(&span.attributes, "user_agent.original").as_deref(),
        Some("otlp-test")
    );
    assert_eq!(
        attr(&span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );
    assert_eq!(
        string(&resource, "service.name").as_deref(),
        Some("hello-test")
    );
    assert_eq!(
        string(&resource, "service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        string(&resource, "k8s.pod.name").as_deref(),
        Some("hello-abc")
    );
    assert_eq!(
        string(&resource, "k8s.namespace.name").as_deref(),
        Some("hello")
    );
    assert_eq!(
        string(&resource, "deployment.environment.name").as_deref(),
        Some("test")
    );

    let (err_span, _) = spans.wait_for(|s| s.name == "GET /v1/status/{code}").await;
    assert_eq!(
        attr(&err_span.attributes, "http.response.status_code"),
        Some(&any_value::Value::IntValue(503))
    );
    // A route with a parameter: the path is the request's, not the route's.
    assert_eq!(
        string(&err_span.attributes, "url.path").as_deref(),
        Some("/v1/status/503")
    );
    assert_eq!(
        string(&err_span.attributes, "http.route").as_deref(),
        Some("/v1/status/{code}")
    );
    assert_eq!(
        err_span.status.map(|s| s.code),
        Some(2),
        "5xx marks the span as an error"
    );
    assert_ne!(
        hex(&err_span.trace_id),
        TRACE_ID,
        "no traceparent: a new trace"
    );

    // The log line of the request leads to the same trace.
    let access = p.wait_line("for GET /", |v| {
        v["url.path"] == "/" && v["trace_id"] == TRACE_ID
    });
    assert_eq!(access["span_id"], hex(&span.span_id));

    // Every request of a series is exported and its access line carries its
    // span's ids: state one request's logging left behind once cost every
    // other request its span (and its line the ids).
    for _ in 0..6 {
        assert_eq!(get(p.addr(), "/version").await.status, 200);
    }
    let mut exported = Vec::new();
    for _ in 0..6 {
        let (s, _) = spans
            .wait_for(|s| s.name == "GET /version" && !exported.contains(&hex(&s.span_id)))
            .await;
        exported.push(hex(&s.span_id));
    }
    let lines = p.wait_lines("6 access lines for GET /version", 6, |v| {
        v["url.path"] == "/version"
    });
    for v in lines {
        let id = v["span_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no span_id: {v}"));
        assert!(
            exported.contains(&id.to_owned()),
            "{v} not among {exported:?}"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn spans_over_grpc() {
    let (endpoint, rx) = grpc_receiver().await;
    exports_server_spans("grpc", endpoint, rx).await;
}

#[tokio::test]
async fn spans_over_http_protobuf() {
    let (endpoint, rx) = http_receiver().await;
    exports_server_spans("http/protobuf", endpoint, rx).await;
}

#[tokio::test]
async fn an_absent_collector_changes_nothing_for_requests() {
    // Connection refused, on a port no parallel test can take.
    let absent = common::RefusingPort::new();
    let port = absent.port;
    for protocol in ["grpc", "http/protobuf"] {
        let p = Proc::start(&[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ]);
        for _ in 0..20 {
            assert_eq!(get(p.addr(), "/").await.status, 200);
        }
        // The failed batch is counted, not silently lost.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body = get(p.admin_addr(), "/metrics").await.body;
            let failed = body
                .lines()
                .find(|l| l.starts_with("hello_telemetry_export_errors_total{signal=\"traces\"}"))
                .and_then(|l| l.rsplit_once(' '))
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .unwrap_or(0.0);
            if failed >= 1.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{protocol}: export errors never counted:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(
            get(p.admin_addr(), "/readyz").await.status,
            200,
            "{protocol}: readiness does not depend on the collector"
        );
    }
}
