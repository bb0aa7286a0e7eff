//! JSON log lines: one object per event on stdout, with the trace and span
//! ids of the current request so a log line leads to its trace.
//!
//! Formatting happens on the calling thread into a reused buffer; writing
//! happens on a background thread ([`super::log_writer`], lossy and bounded,
//! warnings and errors first), so a slow or blocked stdout never stalls a
//! request.
//! The same formatted bytes can be handed to further sinks (Kafka), so every
//! sink carries exactly the stdout line.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::log_writer::LogWriter;

/// Receives every formatted line (e.g. the Kafka sink). Must not block.
pub trait LineSink: Send + Sync + 'static {
    /// `trace_id` is the 32-hex-digit id when the event is inside a trace.
    fn accept(&self, level: Level, target: &str, trace_id: Option<&str>, line: &[u8]);
}

pub struct JsonLogLayer {
    /// stdout; `None` when only `extra` gets the lines (pretty mode's Kafka).
    writer: Option<LogWriter>,
    extra: Option<Box<dyn LineSink>>,
}

impl JsonLogLayer {
    pub fn new(writer: Option<LogWriter>, extra: Option<Box<dyn LineSink>>) -> Self {
        JsonLogLayer { writer, extra }
    }
}

thread_local! {
    static BUF: RefCell<(Vec<u8>, String)> = RefCell::new((Vec::with_capacity(512), String::with_capacity(128)));
}

impl JsonLogLayer {
    fn emit(
        &self,
        buf: &mut Vec<u8>,
        scratch: &mut String,
        event: &Event<'_>,
        local: Option<([u8; 32], [u8; 16])>,
    ) {
        buf.clear();
        let mut ids = [0u8; 32];
        let trace_id = format_event(buf, scratch, event, local, &mut ids);
        let meta = event.metadata();
        if let Some(sink) = &self.extra {
            sink.accept(*meta.level(), meta.target(), trace_id, buf);
        }
        if let Some(w) = &self.writer {
            w.write_line(*meta.level(), buf.clone());
        }
    }
}

/// The W3C ids the request middleware assigned to its span when no
/// OpenTelemetry layer runs (see `telemetry::http`).
struct RequestIds {
    trace: [u8; 32],
    span: [u8; 16],
}

/// Picks the `trace_id` / `span_id` fields off a span.
#[derive(Default)]
struct IdVisitor {
    trace: Option<[u8; 32]>,
    span: Option<[u8; 16]>,
}

impl Visit for IdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.trace = value.as_bytes().try_into().ok(),
            "span_id" => self.span = value.as_bytes().try_into().ok(),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JsonLogLayer {
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let mut found = IdVisitor::default();
        values.record(&mut found);
        if found.trace.is_none() && found.span.is_none() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<RequestIds>().is_none() {
            ext.insert(RequestIds {
                trace: [b'0'; 32],
                span: [b'0'; 16],
            });
        }
        if let Some(ids) = ext.get_mut::<RequestIds>() {
            if let Some(t) = found.trace {
                ids.trace = t;
            }
            if let Some(s) = found.span {
                ids.span = s;
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut local = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                if let Some(ids) = span.extensions().get::<RequestIds>() {
                    local = Some((ids.trace, ids.span));
                    break;
                }
            }
        }
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut g) => {
                let (buf, scratch) = &mut *g;
                self.emit(buf, scratch, event, local);
            }
            // Re-entered (a sink logged while we formatted): use fresh buffers.
            Err(_) => self.emit(&mut Vec::new(), &mut String::new(), event, local),
        });
    }
}

/// Writes one JSON line (with trailing newline) for `event` into `buf` and
/// returns the trace id (as text stored in `ids`) when there is one.
pub fn format_event<'a>(
    buf: &mut Vec<u8>,
    scratch: &mut String,
    event: &Event<'_>,
    local: Option<([u8; 32], [u8; 16])>,
    ids: &'a mut [u8; 32],
) -> Option<&'a str> {
    let meta = event.metadata();
    buf.extend_from_slice(b"{\"timestamp\":\"");
    let _ = write!(
        buf,
        "{}",
        humantime::format_rfc3339_nanos(std::time::SystemTime::now())
    );
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(meta.level().as_str().as_bytes());
    buf.extend_from_slice(b"\",\"target\":");
    write_str(buf, meta.target());
    event.record(&mut JsonVisitor { buf, scratch });

    // Ids the request middleware assigned, else the active OpenTelemetry span's.
    let span_id = match local {
        Some((trace, span)) => {
            *ids = trace;
            Some(span)
        }
        None => {
            let cx = opentelemetry::Context::current();
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| {
                let (mut cursor, mut span) = (&mut ids[..], [0u8; 16]);
                let _ = write!(cursor, "{}", sc.trace_id()); // always 32 hex digits
                let _ = write!(&mut span[..], "{}", sc.span_id());
                span
            })
        }
    };
    let mut trace_id = None;
    if let Some(span_id) = span_id {
        buf.extend_from_slice(b",\"trace_id\":\"");
        buf.extend_from_slice(&ids[..]);
        buf.extend_from_slice(b"\",\"span_id\":\"");
        buf.extend_from_slice(&span_id);
        buf.push(b'"');
        trace_id = std::str::from_utf8(&ids[..]).ok();
    }
    buf.extend_from_slice(b"}\n");
    trace_id
}

struct JsonVisitor<'a> {
    buf: &'a mut Vec<u8>,
    scratch: &'a mut String,
}

impl JsonVisitor<'_> {
    fn key(&mut self, field: &Field) {
        self.buf.push(b',');
        write_str(self.buf, field.name());
        self.buf.push(b':');
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        write_str(self.buf, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        let _ = write!(self.buf, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        let _ = write!(self.buf, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if field.name() == "duration_ms" && (0.0..1e12).contains(&value) {
            // µs precision with integer formatting: float printing costs more
            // than the rest of the access line.
            let micros = (value * 1000.0).round() as u64;
            let _ = write!(self.buf, "{}.{:03}", micros / 1000, micros % 1000);
        } else if value.is_finite() {
            let _ = write!(self.buf, "{value}");
        } else {
            self.buf.extend_from_slice(b"null");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.scratch.clear();
        let _ = write!(self.scratch, "{value}");
        self.key(field);
        write_str(self.buf, self.scratch);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        self.key(field);
        write_str(self.buf, self.scratch);
    }
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    // serde_json's escaper: correct for control characters and quotes.
    let _ = serde_json::to_writer(&mut *buf, s);
}
