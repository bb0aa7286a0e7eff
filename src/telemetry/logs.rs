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
use std::future::Future;
use std::io::Write as _;
use std::sync::Arc;

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::log_writer::LogWriter;
use crate::settings::{self, ConfigError, Lookup, err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// `RUST_LOG` and `LOG_FORMAT`.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `RUST_LOG` (default `info`), already checked by `EnvFilter`.
    pub filter: String,
    pub format: LogFormat,
}

impl LogSettings {
    pub(crate) fn parse(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let raw_filter = settings::get(lookup, "RUST_LOG");
        let filter = raw_filter
            .as_deref()
            .map(normalize_filter)
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter) {
            let shown = raw_filter.as_deref().unwrap_or(&filter);
            return Err(err("RUST_LOG", shown, e.to_string()));
        }
        let format = match settings::get(lookup, "LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(v) => return Err(err("LOG_FORMAT", v, "expected `json` or `pretty`")),
        };
        Ok(LogSettings { filter, format })
    }
}

/// `RUST_LOG` with each comma-separated directive trimmed and empty ones
/// dropped: tracing-subscriber's directive parser panics on some directives
/// with leading whitespace (`" é=info"`, found by tests/properties.rs).
fn normalize_filter(raw: &str) -> String {
    raw.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

/// A destination of formatted lines: stdout ([`LogWriter`]), Kafka. Each
/// sink is bounded and counts what it could not take; it must not block.
pub trait LineSink: Send + Sync + 'static {
    /// `trace_id` is the 32-hex-digit id when the event is inside a trace.
    fn accept(&self, level: Level, target: &str, trace_id: Option<&str>, line: &[u8]);
}

impl LineSink for LogWriter {
    fn accept(&self, level: Level, _: &str, _: Option<&str>, line: &[u8]) {
        self.write_line(level, line);
    }
}

/// Where formatted lines go: every sink gets the same bytes.
pub type Sinks = Arc<[Box<dyn LineSink>]>;

/// The JSON formatter: formats each event once and hands the same bytes to
/// every sink, so stdout and Kafka carry identical lines.
pub struct JsonLogLayer {
    sinks: Sinks,
}

impl JsonLogLayer {
    pub fn new(sinks: Vec<Box<dyn LineSink>>) -> Self {
        JsonLogLayer {
            sinks: sinks.into(),
        }
    }

    /// Its sinks, for the access line (`telemetry::access`), which is
    /// formatted without an event.
    pub fn sinks(&self) -> Sinks {
        Arc::clone(&self.sinks)
    }
}

thread_local! {
    static BUF: RefCell<(Vec<u8>, String)> = RefCell::new((Vec::with_capacity(512), String::with_capacity(128)));
}

/// Runs `f` with this thread's line buffers (fresh ones when re-entered: a
/// sink that logs while a line is being formatted).
pub(super) fn with_buffers<R>(f: impl FnOnce(&mut Vec<u8>, &mut String) -> R) -> R {
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => {
            let (buf, scratch) = &mut *g;
            f(buf, scratch)
        }
        Err(_) => f(&mut Vec::new(), &mut String::new()),
    })
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
        for sink in self.sinks.iter() {
            sink.accept(*meta.level(), meta.target(), trace_id, buf);
        }
    }
}

/// The W3C ids (lower-case hex) the request middleware assigned to a request
/// when no OpenTelemetry layer runs (see `telemetry::http`): carried by the
/// request's span, or, when nothing reads span fields, by the request's task
/// ([`in_request`]).
#[derive(Clone, Copy)]
pub struct RequestIds {
    pub trace: [u8; 32],
    pub span: [u8; 16],
}

tokio::task_local! {
    static REQUEST: RequestIds;
}

/// Runs `f` (a request) with `ids` as the ids of every line logged while
/// it runs outside a span that carries its own: a task-local instead of a
/// tracing span, which would cost a registry entry, an enter and an exit on
/// every poll, and its removal (about 2.7k instructions a request,
/// bench/README.md) just to carry 48 bytes. Not an `async fn`: one would
/// keep `f` as its argument beside the scope that holds it too, doubling the
/// request's future (every byte of it is copied when the request starts).
pub fn in_request<F: Future>(ids: RequestIds, f: F) -> impl Future<Output = F::Output> {
    REQUEST.scope(ids, f)
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

impl JsonLogLayer {
    /// Keeps the ids a span was given (at creation or recorded later) in
    /// its extensions, where `on_event` finds them for the lines inside it.
    fn keep_ids<S: Subscriber + for<'a> LookupSpan<'a>>(
        found: IdVisitor,
        id: &span::Id,
        ctx: Context<'_, S>,
    ) {
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
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JsonLogLayer {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut found = IdVisitor::default();
        attrs.record(&mut found);
        Self::keep_ids(found, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let mut found = IdVisitor::default();
        values.record(&mut found);
        Self::keep_ids(found, id, ctx);
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
        if local.is_none() {
            local = REQUEST.try_with(|ids| (ids.trace, ids.span)).ok();
        }
        with_buffers(|buf, scratch| self.emit(buf, scratch, event, local));
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
    write_head(buf, *meta.level(), meta.target());
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
    let trace_id = span_id.and_then(|span_id| write_ids(buf, ids, &span_id));
    buf.extend_from_slice(b"}\n");
    trace_id
}

/// A line's opening: `{"timestamp":"…","level":"…","target":"…"`, the
/// members every line starts with in this order (fluentd reads the prefix).
pub(super) fn write_head(buf: &mut Vec<u8>, level: Level, target: &str) {
    buf.extend_from_slice(b"{\"timestamp\":\"");
    write_timestamp(buf, std::time::SystemTime::now());
    buf.extend_from_slice(b"\",\"level\":\"");
    buf.extend_from_slice(level.as_str().as_bytes());
    buf.extend_from_slice(b"\",\"target\":");
    write_str(buf, target);
}

/// The `trace_id` and `span_id` members; returns the trace id as text.
pub(super) fn write_ids<'a>(
    buf: &mut Vec<u8>,
    trace: &'a [u8; 32],
    span: &[u8; 16],
) -> Option<&'a str> {
    buf.extend_from_slice(b",\"trace_id\":\"");
    buf.extend_from_slice(trace);
    buf.extend_from_slice(b"\",\"span_id\":\"");
    buf.extend_from_slice(span);
    buf.push(b'"');
    std::str::from_utf8(trace).ok()
}

/// A number: `duration_ms` (`is_duration_ms`) with microsecond precision
/// when in range, else as Rust prints it; `null` when not finite (JSON has
/// no NaN).
pub(super) fn write_f64(buf: &mut Vec<u8>, is_duration_ms: bool, value: f64) {
    if is_duration_ms && (0.0..1e12).contains(&value) {
        write_duration_ms(buf, value);
    } else if value.is_finite() {
        let _ = write!(buf, "{value}");
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// `duration_ms` with microsecond precision, by integer formatting: float
/// printing costs more than the rest of the access line.
fn write_duration_ms(buf: &mut Vec<u8>, value: f64) {
    let micros = (value * 1000.0).round() as u64;
    let mut digits = itoa::Buffer::new();
    buf.extend_from_slice(digits.format(micros / 1000).as_bytes());
    let frac = micros % 1000;
    buf.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

struct JsonVisitor<'a> {
    buf: &'a mut Vec<u8>,
    scratch: &'a mut String,
}

impl JsonVisitor<'_> {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        if !needs_escape(name) {
            // The common case in one reservation: `,"name":`.
            self.buf.reserve(name.len() + 4);
            self.buf.extend_from_slice(b",\"");
            self.buf.extend_from_slice(name.as_bytes());
            self.buf.extend_from_slice(b"\":");
        } else {
            self.buf.push(b',');
            write_str(self.buf, name);
            self.buf.push(b':');
        }
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        self.key(field);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        write_str(self.buf, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        write_f64(self.buf, field.name() == "duration_ms", value);
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

/// Whether `s` holds a byte JSON must escape (a control character, `"` or
/// `\\`). Eight bytes at a time: every key and most values of every line go
/// through here, and a byte-by-byte loop was ~3 % of a request's instructions.
fn needs_escape(s: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const SPACE: u64 = u64::from_ne_bytes([0x20; 8]);
    const QUOTE: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASH: u64 = u64::from_ne_bytes([b'\\'; 8]);
    // Nonzero when some byte of `x` is below `n` (exact for n <= 0x80).
    let below = |x: u64, n: u64| x.wrapping_sub(n) & !x & HIGH;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        if below(x, SPACE) | below(x ^ QUOTE, ONES) | below(x ^ BACKSLASH, ONES) != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

pub(super) fn write_str(buf: &mut Vec<u8>, s: &str) {
    // Most strings (field names, routes, ids, messages) need no escaping:
    // copy them as they are; anything else goes through serde_json's
    // escaper, correct for control characters and quotes.
    if !needs_escape(s) {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

thread_local! {
    /// The formatted `YYYY-MM-DDTHH:MM:SS.` of the last second a line was
    /// written in, per thread: only the nanoseconds change within a second.
    static SECOND: RefCell<(u64, [u8; 20])> = const { RefCell::new((u64::MAX, [0; 20])) };
}

/// RFC 3339, UTC, nanoseconds: `2026-12-02T05:52:21.123456789Z`.
pub(super) fn write_timestamp(buf: &mut Vec<u8>, now: std::time::SystemTime) {
    let since = now
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, nanos) = (since.as_secs(), since.subsec_nanos());
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let text = humantime::format_rfc3339_seconds(whole).to_string(); // ...SSZ
            cached.1[..19].copy_from_slice(&text.as_bytes()[..19]);
            cached.1[19] = b'.';
            cached.0 = secs;
        }
        buf.extend_from_slice(&cached.1);
    });
    let mut digits = [b'0'; 9];
    let mut n = nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf.extend_from_slice(&digits);
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {

    #[test]
    fn needs_escape_finds_every_byte_json_escapes_at_every_position() {
        let simple = |s: &str| s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        for len in 0..24 {
            for pos in 0..len {
                for special in (0u8..0x20).chain([b'"', b'\\']) {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = special;
                    let s = std::str::from_utf8(&bytes).unwrap();
                    assert!(needs_escape(s), "{s:?}");
                }
                // Neighbours of the special bytes and non-ASCII need nothing.
                for plain in [b' ', b'!', b'#', b'[', b']', b'~', 0x7f] {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = plain;
                    let s = std::str::from_utf8(&bytes).unwrap();
                    assert!(!needs_escape(s), "{s:?}");
                }
            }
        }
        for s in [
            "",
            "héllo wörld ✓ 🦀",
            "http.request.method",
            "a\u{7f}b",
            "é\"",
            "✓\n",
        ] {
            assert_eq!(needs_escape(s), simple(s), "{s:?}");
        }
    }
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// What a sink received: level, target, trace id, line.
    type Received = (Level, String, Option<String>, String);

    /// A sink that keeps what it is given.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Received>>>);

    impl LineSink for Capture {
        fn accept(&self, level: Level, target: &str, trace_id: Option<&str>, line: &[u8]) {
            self.0.lock().unwrap().push((
                level,
                target.to_owned(),
                trace_id.map(str::to_owned),
                String::from_utf8(line.to_vec()).unwrap(),
            ));
        }
    }

    /// Runs `f` under a subscriber with the JSON formatter feeding two
    /// sinks; returns what each received.
    fn capture(f: impl FnOnce()) -> (Vec<Received>, Vec<String>) {
        let (a, b) = (Capture::default(), Capture::default());
        let layer = JsonLogLayer::new(vec![Box::new(a.clone()), Box::new(b.clone())]);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let first = a.0.lock().unwrap().clone();
        let second = b.0.lock().unwrap().iter().map(|e| e.3.clone()).collect();
        (first, second)
    }

    fn json(line: &str) -> serde_json::Value {
        assert!(
            line.ends_with('\n') && !line[..line.len() - 1].contains('\n'),
            "{line:?}"
        );
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn one_json_object_per_line_with_the_contract_fields() {
        let (got, second) = capture(|| {
            tracing::warn!(target: "hello::test", count = 3_u64, ok = true, ratio = 0.5, "plain");
        });
        assert_eq!(got.len(), 1);
        let (level, target, trace_id, line) = &got[0];
        assert_eq!(
            (*level, target.as_str(), trace_id),
            (Level::WARN, "hello::test", &None)
        );
        assert_eq!(second, vec![line.clone()], "every sink gets the same bytes");
        let v = json(line);
        // The contract fields first, in this order (fluentd reads the prefix).
        let at = |k: &str| line.find(&format!("\"{k}\":")).unwrap();
        assert!(line.starts_with("{\"timestamp\":\""), "{line}");
        assert!(
            at("timestamp") < at("level") && at("level") < at("target"),
            "{line}"
        );
        assert!(
            at("target") < at("message") && at("message") < at("count"),
            "{line}"
        );
        assert_eq!(
            (v["level"].as_str(), v["message"].as_str()),
            (Some("WARN"), Some("plain"))
        );
        assert_eq!(
            (v["count"].as_u64(), v["ok"].as_bool()),
            (Some(3), Some(true))
        );
        assert_eq!(v["ratio"].as_f64(), Some(0.5));
        // RFC 3339, UTC, nanoseconds.
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(
            (ts.len(), &ts[10..11], &ts[19..20], &ts[29..]),
            (30, "T", ".", "Z"),
            "{ts}"
        );
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
        assert!(v.get("trace_id").is_none(), "no ids outside a request");
    }

    #[test]
    fn hostile_text_stays_one_valid_line() {
        let evil = "quote \" backslash \\ newline \n cr \r nul \0 bell \u{7} é 😀 </script>";
        let (got, _) = capture(|| tracing::info!(target: "hello::test", field = evil, "{evil}"));
        let v = json(&got[0].3);
        assert_eq!(v["message"], evil);
        assert_eq!(v["field"], evil);
    }

    #[test]
    fn duration_ms_keeps_microseconds_and_non_finite_numbers_are_null() {
        let (got, _) = capture(|| {
            tracing::info!(target: "hello::test", duration_ms = 1.23456, other = f64::NAN, "timed");
        });
        let line = &got[0].3;
        assert!(line.contains("\"duration_ms\":1.235"), "{line}");
        assert_eq!(json(line)["other"], serde_json::Value::Null);
    }

    #[test]
    fn the_cached_timestamp_is_humantimes_rfc3339_nanos() {
        let base = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_189_541);
        for nanos in [0, 1, 999_999_999, 123_456_789, 500_000_000] {
            for t in [
                base + std::time::Duration::from_nanos(nanos),
                base + std::time::Duration::from_secs(86_399)
                    + std::time::Duration::from_nanos(nanos),
            ] {
                let mut buf = Vec::new();
                write_timestamp(&mut buf, t);
                let want = humantime::format_rfc3339_nanos(t).to_string();
                assert_eq!(String::from_utf8(buf).unwrap(), want);
            }
        }
    }

    #[test]
    fn lines_inside_a_request_span_carry_its_ids() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span_id = "00f067aa0ba902b7";
        let (got, _) = capture(|| {
            let span = tracing::info_span!(target: "hello::http", "request", trace_id = tracing::field::Empty, span_id = tracing::field::Empty);
            span.record("trace_id", trace);
            span.record("span_id", span_id);
            span.in_scope(|| tracing::error!(target: "hello::test", "inside"));
            tracing::info!(target: "hello::test", "outside");
        });
        let (inside, outside) = (json(&got[0].3), json(&got[1].3));
        assert_eq!(inside["trace_id"], trace);
        assert_eq!(inside["span_id"], span_id);
        assert_eq!(
            got[0].2.as_deref(),
            Some(trace),
            "the sinks get the key (Kafka)"
        );
        assert!(outside.get("trace_id").is_none());
        assert_eq!(got[1].2, None);
    }

    #[test]
    fn lines_inside_a_request_task_carry_its_ids() {
        let ids = RequestIds {
            trace: *b"4bf92f3577b34da6a3ce929d0e0e4736",
            span: *b"00f067aa0ba902b7",
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (got, _) = capture(|| {
            rt.block_on(in_request(ids, async {
                tracing::error!(target: "hello::test", "inside");
                tokio::task::yield_now().await; // still there after a poll
                tracing::warn!(target: "hello::test", "after a yield");
            }));
            tracing::info!(target: "hello::test", "outside");
        });
        for (_, _, trace_id, line) in &got[..2] {
            let v = json(line);
            assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{line}");
            assert_eq!(v["span_id"], "00f067aa0ba902b7", "{line}");
            assert_eq!(
                trace_id.as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );
        }
        assert!(json(&got[2].3).get("trace_id").is_none(), "{}", got[2].3);
    }

    /// The access line formatted without an event is, byte for byte, the
    /// line the formatter writes for the access event inside a span with the
    /// same ids (the timestamp aside).
    #[test]
    fn the_direct_access_line_is_the_access_events_line() {
        use super::super::access::Access;
        let ids = RequestIds {
            trace: *b"0af7651916cd43dd8448eb211c80319c",
            span: *b"b7ad6b7169203331",
        };
        let evil = "quote \" backslash \\ newline \n nul \0 é 😀 </script>";
        let cases = [
            Access {
                duration_ms: 1.23456,
                method: "GET",
                path: "/",
                route: "/",
                status: 200,
                user_agent: "curl/8.5.0",
            },
            Access {
                duration_ms: 0.0,
                method: "_OTHER",
                path: evil,
                route: "unmatched",
                status: 404,
                user_agent: evil,
            },
            Access {
                duration_ms: 12_345.678_9,
                method: "PUT",
                path: "/v1/scratch/a.b",
                route: "/v1/scratch/{key}",
                status: 507,
                user_agent: "",
            },
            Access {
                duration_ms: 0.0004,
                method: "DELETE",
                path: "/v1/scratch/x",
                route: "/v1/scratch/{key}",
                status: 65535,
                user_agent: "ua",
            },
        ];
        let strip = |line: &str| -> String {
            let v = line.find("\",\"level\"").unwrap();
            line[v..].to_owned()
        };
        for access in &cases {
            let (got, _) = capture(|| {
                let span = tracing::info_span!(target: "hello::http", "request", trace_id = tracing::field::Empty, span_id = tracing::field::Empty);
                span.record("trace_id", std::str::from_utf8(&ids.trace).unwrap());
                span.record("span_id", std::str::from_utf8(&ids.span).unwrap());
                span.in_scope(|| access.event());
            });
            let event_line = &got[0].3;
            let mut buf = Vec::new();
            let trace_id = access.format(&mut buf, &ids).map(str::to_owned);
            let direct = String::from_utf8(buf).unwrap();
            assert_eq!(strip(&direct), strip(event_line));
            assert_eq!(trace_id, got[0].2);
            assert_eq!(got[0].0, Level::INFO);
            assert_eq!(got[0].1, "hello::access");
            json(&direct);
        }
    }
}
