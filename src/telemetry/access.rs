//! The access line: one JSON line per request, written at its end.
//!
//! It is the busiest line by far (one per request), so with the JSON
//! formatter (with or without an exporter; no `tracing` span carries the
//! request then, see `telemetry::http`) it is formatted here straight into
//! the line buffer with its keys as constants and handed to the JSON
//! formatter's sinks (stdout, Kafka), instead of going through a tracing
//! event whose fields are visited one by one through `dyn` calls (about 3k
//! instructions a request without an exporter, 4k with one;
//! bench/README.md). The bytes are the event's, field for field and in the
//! same order: a test formats both and compares them.
//!
//! `RUST_LOG` decides as it does for the event (`hello::access` at INFO),
//! asked once at start-up ([`enabled_by`]) rather than per request with
//! `tracing::enabled!`: under per-layer filters (the exporter's arrangement)
//! that macro leaves the filters' per-callsite state behind for the next
//! span, which then lost its OpenTelemetry span (`tests/otlp.rs` checks a
//! series of requests for it).
//!
//! Otherwise (the pretty formatter, or a process without the JSON formatter
//! such as the in-process tests) it is the tracing event [`Access::event`],
//! which a layer of your own also sees.

use std::sync::OnceLock;

use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

use super::logs::{self, RequestIds, Sinks};

/// The target of access lines (`RUST_LOG=hello::access=off` silences them).
pub const TARGET: &str = "hello::access";

/// Where access lines go, if anywhere (`None`: `RUST_LOG` turns them off).
static SINKS: OnceLock<Option<Sinks>> = OnceLock::new();

/// Access lines go straight to `sinks` from now on, or nowhere when `enabled`
/// is false ([`enabled_by`]): call it when the JSON formatter, whose sinks
/// they are, writes the logs.
pub fn install(sinks: Sinks, enabled: bool) {
    let _ = SINKS.set(enabled.then_some(sinks));
}

/// Whether the filter `directives` (`RUST_LOG`'s syntax) let access lines
/// through: asked of the filter itself, on a subscriber of its own.
pub fn enabled_by(directives: &str) -> Result<bool, tracing_subscriber::filter::ParseError> {
    let probe = tracing_subscriber::registry().with(EnvFilter::try_new(directives)?);
    Ok(tracing::subscriber::with_default(
        probe,
        || tracing::enabled!(target: TARGET, Level::INFO),
    ))
}

/// One request's access line.
pub struct Access<'a> {
    pub duration_ms: f64,
    pub method: &'static str,
    pub path: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub user_agent: &'a str,
}

impl Access<'_> {
    /// Writes the line with the request's own `ids`: formatted here when the
    /// JSON formatter is installed, else as [`Access::event`].
    pub fn log(&self, ids: &RequestIds) {
        let Some(sinks) = SINKS.get() else {
            self.event();
            return;
        };
        let Some(sinks) = sinks else {
            return;
        };
        logs::with_buffers(|buf, _| {
            buf.clear();
            let trace_id = self.format(buf, ids);
            for sink in sinks.iter() {
                sink.accept(Level::INFO, TARGET, trace_id, buf);
            }
        });
    }

    /// The line as a tracing event (its ids come from the current span).
    pub fn event(&self) {
        tracing::info!(
            target: TARGET,
            duration_ms = self.duration_ms,
            http.request.method = self.method,
            url.path = self.path,
            http.route = self.route,
            http.response.status_code = self.status,
            user_agent.original = self.user_agent,
            "request completed"
        );
    }

    /// What the JSON formatter writes for [`Access::event`] inside a span
    /// carrying `ids`; returns the trace id.
    pub(super) fn format<'i>(&self, buf: &mut Vec<u8>, ids: &'i RequestIds) -> Option<&'i str> {
        logs::write_head(buf, Level::INFO, TARGET);
        buf.extend_from_slice(b",\"message\":\"request completed\",\"duration_ms\":");
        logs::write_f64(buf, true, self.duration_ms);
        buf.extend_from_slice(b",\"http.request.method\":");
        logs::write_str(buf, self.method);
        buf.extend_from_slice(b",\"url.path\":");
        logs::write_str(buf, self.path);
        buf.extend_from_slice(b",\"http.route\":");
        logs::write_str(buf, self.route);
        buf.extend_from_slice(b",\"http.response.status_code\":");
        buf.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        buf.extend_from_slice(b",\"user_agent.original\":");
        logs::write_str(buf, self.user_agent);
        let trace_id = logs::write_ids(buf, &ids.trace, &ids.span);
        buf.extend_from_slice(b"}\n");
        trace_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_decides_whether_access_lines_are_written() {
        for (directives, expected) in [
            ("info", true),
            ("warn", false),
            ("info,hello::access=off", false),
            ("warn,hello::access=info", true),
            ("warn,hello=info", true),
            ("hello::access=debug", true),
            ("off", false),
        ] {
            assert_eq!(enabled_by(directives).unwrap(), expected, "{directives}");
        }
        assert!(enabled_by("info,hello=loud").is_err());
    }
}
