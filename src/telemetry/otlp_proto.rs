//! A batch of finished spans as an OTLP `ExportTraceServiceRequest`, encoded
//! straight from the SDK's `SpanData` into protobuf bytes.
//!
//! `opentelemetry-otlp` first converts each batch into `opentelemetry-proto`'s
//! structs (an allocation for every id, name, key and string value), encodes
//! them with `prost` and frees them again: about 11k instructions per span,
//! three quarters of what exporting a span costs (bench/README.md). Writing
//! the wire format directly costs a fraction of that. The bytes decode to
//! exactly the message that conversion builds, field for field: the tests
//! below decode them with `opentelemetry-proto`'s own types and compare them
//! with its conversion of the same spans.
//!
//! Wire format (protobuf encoding, proto3): scalar fields at their default
//! value are left out, message fields that are present are written even when
//! empty, `oneof` members always.

use opentelemetry::trace::{Link, SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;
use std::time::{SystemTime, UNIX_EPOCH};

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// `SpanFlags`: the flags field says whether the parent is remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// The resource part of every request, encoded once (the `Resource` message
/// and the resource's schema URL).
#[derive(Debug, Clone, Default)]
pub struct EncodedResource {
    message: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    pub fn new(resource: &Resource) -> Self {
        let mut message = Vec::new();
        for (key, value) in resource.iter() {
            message_field(&mut message, 1, |out| key_value(out, key.as_str(), value));
        }
        EncodedResource {
            message,
            schema_url: resource.schema_url().unwrap_or_default().to_owned(),
        }
    }
}

/// Spans encoded one at a time as they end, grouped by instrumentation scope
/// in the order scopes first appear: the body of one export request, built
/// without keeping the spans (`otlp_batch`).
#[derive(Debug, Default)]
pub struct EncodedSpans {
    /// Each scope with its `Span` fields (`ScopeSpans.spans`), encoded.
    scopes: Vec<(InstrumentationScope, Vec<u8>)>,
    len: usize,
    /// Buffers of earlier batches, emptied, for the next scopes.
    spare: Vec<Vec<u8>>,
}

impl EncodedSpans {
    pub fn push(&mut self, span: &SpanData) {
        // Few scopes (usually one): a linear search beats a map.
        let at = match self
            .scopes
            .iter()
            .position(|(scope, _)| *scope == span.instrumentation_scope)
        {
            Some(at) => at,
            None => {
                let buffer = self.spare.pop().unwrap_or_default();
                self.scopes
                    .push((span.instrumentation_scope.clone(), buffer));
                self.scopes.len() - 1
            }
        };
        message_field(&mut self.scopes[at].1, 2, |out| encode_span(out, span));
        self.len += 1;
    }

    /// Spans pushed since the last `clear`.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the batch, keeping its buffers for the next one.
    pub fn clear(&mut self) {
        for (_, mut buffer) in self.scopes.drain(..) {
            buffer.clear();
            self.spare.push(buffer);
        }
        self.len = 0;
    }

    /// The `ExportTraceServiceRequest` of the spans pushed.
    pub fn request(&self, resource: &EncodedResource) -> Vec<u8> {
        let spans: usize = self.scopes.iter().map(|(_, b)| b.len()).sum();
        let mut out = Vec::with_capacity(256 + resource.message.len() + spans);
        message_field(&mut out, 1, |out| {
            message_field(out, 1, |out| out.extend_from_slice(&resource.message));
            for (scope, encoded) in &self.scopes {
                message_field(out, 2, |out| {
                    message_field(out, 1, |out| instrumentation_scope(out, scope));
                    out.extend_from_slice(encoded);
                    string_field(out, 3, scope.schema_url().unwrap_or_default());
                });
            }
            string_field(out, 3, &resource.schema_url);
        });
        out
    }
}

fn instrumentation_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    string_field(out, 1, scope.name());
    string_field(out, 2, scope.version().unwrap_or_default());
    for kv in scope.attributes() {
        attribute(out, 3, kv);
    }
}

fn encode_span(out: &mut Vec<u8>, span: &SpanData) {
    let cx = &span.span_context;
    bytes_field(out, 1, &cx.trace_id().to_bytes());
    bytes_field(out, 2, &cx.span_id().to_bytes());
    string_field(out, 3, &cx.trace_state().header());
    if span.parent_span_id != SpanId::INVALID {
        bytes_field(out, 4, &span.parent_span_id.to_bytes());
    }
    string_field(out, 5, &span.name);
    varint_field(out, 6, span_kind(&span.span_kind));
    fixed64_field(out, 7, nanos(span.start_time));
    fixed64_field(out, 8, nanos(span.end_time));
    for kv in &span.attributes {
        attribute(out, 9, kv);
    }
    varint_field(out, 10, u64::from(span.dropped_attributes_count));
    for event in &span.events.events {
        message_field(out, 11, |out| {
            fixed64_field(out, 1, nanos(event.timestamp));
            string_field(out, 2, &event.name);
            for kv in &event.attributes {
                attribute(out, 3, kv);
            }
            varint_field(out, 4, u64::from(event.dropped_attributes_count));
        });
    }
    varint_field(out, 12, u64::from(span.events.dropped_count));
    for link in &span.links.links {
        message_field(out, 13, |out| encode_link(out, link));
    }
    varint_field(out, 14, u64::from(span.links.dropped_count));
    message_field(out, 15, |out| match &span.status {
        Status::Error { description } => {
            string_field(out, 2, description);
            varint_field(out, 3, 2);
        }
        Status::Ok => varint_field(out, 3, 1),
        Status::Unset => {}
    });
    // In field-number order, as prost writes it (the message declares it
    // after `parent_span_id`).
    fixed32_field(
        out,
        16,
        flags(span.parent_span_is_remote, cx.trace_flags().to_u8()),
    );
}

fn encode_link(out: &mut Vec<u8>, link: &Link) {
    let cx = &link.span_context;
    bytes_field(out, 1, &cx.trace_id().to_bytes());
    bytes_field(out, 2, &cx.span_id().to_bytes());
    string_field(out, 3, &cx.trace_state().header());
    for kv in &link.attributes {
        attribute(out, 4, kv);
    }
    varint_field(out, 5, u64::from(link.dropped_attributes_count));
    fixed32_field(out, 6, flags(cx.is_remote(), cx.trace_flags().to_u8()));
}

fn flags(remote: bool, trace_flags: u8) -> u32 {
    let remote = if remote { CONTEXT_IS_REMOTE } else { 0 };
    u32::from(trace_flags) | CONTEXT_HAS_IS_REMOTE | remote
}

/// `Span.SpanKind` (0 is unspecified, never produced by the SDK).
fn span_kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// Nanoseconds since the epoch; a time before it is 0.
fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn attribute(out: &mut Vec<u8>, field: u32, kv: &KeyValue) {
    message_field(out, field, |out| key_value(out, kv.key.as_str(), &kv.value));
}

/// `KeyValue { key = 1, value = 2 }`.
fn key_value(out: &mut Vec<u8>, key: &str, value: &Value) {
    string_field(out, 1, key);
    message_field(out, 2, |out| any_value(out, value));
}

/// `AnyValue`: a `oneof`, so written even at its default.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => len_field(out, 1, s.as_str().as_bytes()),
        Value::Bool(b) => {
            key(out, 2, VARINT);
            varint(out, u64::from(*b));
        }
        Value::I64(i) => {
            key(out, 3, VARINT);
            varint(out, *i as u64);
        }
        Value::F64(f) => {
            key(out, 4, FIXED64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Array(array) => message_field(out, 5, |out| match array {
            Array::Bool(v) => array_values(out, v.iter().map(|b| Value::Bool(*b))),
            Array::I64(v) => array_values(out, v.iter().map(|i| Value::I64(*i))),
            Array::F64(v) => array_values(out, v.iter().map(|f| Value::F64(*f))),
            Array::String(v) => array_values(out, v.iter().cloned().map(Value::String)),
            // A kind of array added to the API later: an empty array.
            _ => {}
        }),
        // A kind of value added to the API later: an empty value.
        _ => {}
    }
}

fn array_values(out: &mut Vec<u8>, values: impl Iterator<Item = Value>) {
    for value in values {
        message_field(out, 1, |out| any_value(out, &value));
    }
}

fn key(out: &mut Vec<u8>, field: u32, wire_type: u64) {
    varint(out, (u64::from(field) << 3) | wire_type);
}

fn varint(out: &mut Vec<u8>, v: u64) {
    // Tags and most lengths are one byte: a push, not a copy of a slice of
    // unknown length (a `memcpy` call for every field).
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    let (bytes, n) = varint_bytes(v);
    out.extend_from_slice(&bytes[..n]);
}

/// `v` as a varint: its bytes and how many of them.
fn varint_bytes(mut v: u64) -> ([u8; 10], usize) {
    let mut bytes = [0; 10];
    let mut n = 0;
    while v >= 0x80 {
        bytes[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    bytes[n] = v as u8;
    (bytes, n + 1)
}

fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, VARINT);
        varint(out, v);
    }
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn fixed32_field(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        key(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A length-delimited field, written even when empty.
fn len_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string_field(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(out, field, s.as_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        len_field(out, field, bytes);
    }
}

/// A message field written by `body`, in place: one byte is reserved for its
/// length, and the body is moved when the length needs more.
fn message_field(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let at = out.len();
    out.push(0);
    body(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
        return;
    }
    // Longer: make room for the other bytes of the length and move the body
    // up (one `memmove`; `Vec::splice` costs far more for the same move).
    let (prefix, n) = varint_bytes(len as u64);
    out.resize(out.len() + n - 1, 0);
    out.copy_within(at + 1..at + 1 + len, at + n);
    out[at..at + n].copy_from_slice(&prefix[..n]);
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{SpanContext, TraceFlags, TraceId, TraceState};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;

    /// The `ExportTraceServiceRequest` for `spans`, as `otlp_batch` builds it.
    fn export_request(resource: &EncodedResource, spans: &[SpanData]) -> Vec<u8> {
        let mut batch = EncodedSpans::default();
        for span in spans {
            batch.push(span);
        }
        batch.request(resource)
    }

    fn context(trace: u128, span: u64, remote: bool, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            remote,
            state.parse::<TraceState>().unwrap(),
        )
    }

    fn scope(name: &'static str, version: Option<&'static str>) -> InstrumentationScope {
        let mut b = InstrumentationScope::builder(name);
        if let Some(v) = version {
            b = b
                .with_version(v)
                .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
                .with_attributes([KeyValue::new("scope.attr", 7_i64)]);
        }
        b.build()
    }

    /// Spans with every field the SDK can fill: values of each type,
    /// arrays, events, links, each status, remote and local parents, a
    /// trace state, two scopes interleaved, long strings (multi-byte lengths).
    fn spans() -> Vec<SpanData> {
        let t0 = UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789);
        let long = "x".repeat(300);
        let mut events = SpanEvents::default();
        events.events.push(opentelemetry::trace::Event::new(
            "handler panicked",
            t0 + Duration::from_micros(5),
            vec![
                KeyValue::new("level", "ERROR"),
                KeyValue::new("exception.message", long.clone()),
            ],
            1,
        ));
        events.dropped_count = 2;
        let mut links = SpanLinks::default();
        links.links.push(Link::new(
            context(0xfeed, 0xbeef, true, "k=v"),
            vec![KeyValue::new("link.attr", true)],
            3,
        ));
        links.dropped_count = 1;
        let span = |i: u64, scope: InstrumentationScope| SpanData {
            span_context: context(
                0x4bf92f3577b34da6a3ce929d0e0e4736 + u128::from(i),
                0x1000 + i,
                false,
                "",
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed("GET /"),
            start_time: t0,
            end_time: t0 + Duration::from_micros(42),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200_i64),
                KeyValue::new("url.path", format!("/{i}")),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope,
        };
        let mut rich = span(2, scope("hello", None));
        rich.parent_span_id = SpanId::from(0x00f067aa0ba902b7);
        rich.parent_span_is_remote = true;
        rich.span_context = context(7, 8, false, "vendor=a,other=b");
        rich.span_kind = SpanKind::Client;
        rich.name = Cow::Owned(long.clone());
        rich.attributes.extend([
            KeyValue::new("neg", -5_i64),
            KeyValue::new("zero", 0_i64),
            KeyValue::new("no", false),
            KeyValue::new("pi", 3.25_f64),
            KeyValue::new("zero.f", 0.0_f64),
            KeyValue::new("empty", ""),
            KeyValue::new("", "empty key"),
            KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
            KeyValue::new("ints", Value::Array(Array::I64(vec![1, -1, i64::MAX]))),
            KeyValue::new("floats", Value::Array(Array::F64(vec![0.5]))),
            KeyValue::new(
                "strings",
                Value::Array(Array::String(vec!["a".into(), long.clone().into()])),
            ),
            KeyValue::new("none", Value::Array(Array::I64(vec![]))),
        ]);
        rich.dropped_attributes_count = 4;
        rich.events = events;
        rich.links = links;
        rich.status = Status::error("boom");
        let mut ok = span(3, scope("mine", Some("1.2.3")));
        ok.status = Status::Ok;
        ok.span_kind = SpanKind::Internal;
        ok.start_time = UNIX_EPOCH - Duration::from_secs(1); // before the epoch: 0
        let mut producer = span(4, scope("hello", None));
        producer.span_kind = SpanKind::Producer;
        producer.status = Status::error("");
        let mut consumer = span(5, scope("mine", Some("1.2.3")));
        consumer.span_kind = SpanKind::Consumer;
        vec![span(1, scope("hello", None)), rich, ok, producer, consumer]
    }

    fn resource() -> Resource {
        Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "hello"),
                KeyValue::new("k8s.pod.name", "pod-1"),
                KeyValue::new("replicas", 3_i64),
            ])
            .with_schema_url([], "https://opentelemetry.io/schemas/1.30.0")
            .build()
    }

    /// What `opentelemetry-otlp` sends for the same spans.
    fn expected(resource: &Resource, spans: Vec<SpanData>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(resource),
            ),
        }
    }

    #[test]
    fn decodes_to_the_message_opentelemetry_otlp_builds() {
        let resource = resource();
        let bytes = export_request(&EncodedResource::new(&resource), &spans());
        let ours = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        let theirs = expected(&resource, spans());
        assert_eq!(ours, theirs);
        assert_eq!(ours.resource_spans[0].scope_spans.len(), 2);
        // And byte for byte what prost writes for it.
        assert_eq!(bytes, theirs.encode_to_vec());
    }

    #[test]
    fn a_batch_emptied_and_filled_again_encodes_as_a_new_one() {
        let resource = resource();
        let mut batch = EncodedSpans::default();
        for span in &spans() {
            batch.push(span);
        }
        batch.clear();
        assert!(batch.is_empty());
        // Reversed: the scopes come in the other order this time.
        let again: Vec<SpanData> = spans().into_iter().rev().collect();
        for span in &again {
            batch.push(span);
        }
        assert_eq!(batch.len(), again.len());
        let bytes = batch.request(&EncodedResource::new(&resource));
        assert_eq!(bytes, expected(&resource, again).encode_to_vec());
    }

    #[test]
    fn an_empty_batch_and_an_empty_resource() {
        let resource = Resource::builder_empty().build();
        let bytes = export_request(&EncodedResource::new(&resource), &[]);
        let theirs = expected(&resource, vec![]);
        assert_eq!(
            ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap(),
            theirs
        );
        assert_eq!(bytes, theirs.encode_to_vec());
    }

    #[test]
    fn varints_of_every_length() {
        for v in [
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            varint(&mut ours, v);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
        }
    }
}
