//! Warnings and errors logged inside a request become events of its exported
//! span.
//!
//! The request span is built with the OpenTelemetry SDK directly
//! (`telemetry::http`), not as a `tracing` span, so `tracing-opentelemetry`
//! does not see it: it attaches an event only to a `tracing` span in scope.
//! This layer attaches the events it would have attached to the span that is
//! current in OpenTelemetry's context, which the request's future carries on
//! every poll, and records them the way `tracing-opentelemetry` does (the
//! message is the event's name, `level` and `target` come first, fields keep
//! their types, an ERROR marks the span's status). Inside a `tracing` span
//! of your own, `tracing-opentelemetry` handles the event and this layer
//! leaves it alone.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The layer; give it the filter of the OpenTelemetry layer, so that both
/// see the same `tracing` spans.
pub struct SpanEvents;

impl<S> Layer<S> for SpanEvents
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let in_tracing_span =
            event.parent().is_some() || (event.is_contextual() && ctx.lookup_current().is_some());
        if in_tracing_span {
            return; // tracing-opentelemetry's
        }
        let cx = opentelemetry::Context::current();
        if !cx.has_active_span() {
            return;
        }
        let meta = event.metadata();
        let mut visitor = EventVisitor {
            name: Cow::Borrowed(""),
            attributes: vec![
                KeyValue::new("level", meta.level().as_str()),
                KeyValue::new("target", meta.target()),
            ],
            status: None,
            span_attributes: Vec::new(),
        };
        event.record(&mut visitor);
        let name = if visitor.name.is_empty() {
            Cow::Borrowed(meta.name())
        } else {
            visitor.name
        };
        let span = cx.span();
        // The SDK keeps the first error status; OK and unset do not undo it.
        if let Some(status) = visitor.status {
            span.set_status(status);
        } else if *meta.level() == Level::ERROR {
            span.set_status(Status::error(""));
        }
        if !visitor.span_attributes.is_empty() {
            span.set_attributes(visitor.span_attributes);
        }
        span.add_event(name, visitor.attributes);
    }
}

/// An event's fields as `tracing-opentelemetry` records them.
struct EventVisitor {
    name: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    status: Option<Status>,
    /// An error value's message and source chain also go on the span.
    span_attributes: Vec<KeyValue>,
}

impl EventVisitor {
    fn push(&mut self, field: &Field, value: impl Into<Value>) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    /// A text value; `error` on an event without a message is an exception.
    fn text(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.name = Cow::Owned(value),
            "error" if self.name.is_empty() => {
                self.name = Cow::Borrowed("exception");
                self.status = Some(Status::error(value.clone()));
                self.attributes
                    .push(KeyValue::new("exception.message", value));
            }
            _ => self.push(field, value),
        }
    }
}

impl Visit for EventVisitor {
    fn record_bool(&mut self, field: &Field, value: bool) {
        match field.name() {
            "message" => self.name = Cow::Owned(value.to_string()),
            _ => self.push(field, value),
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        match field.name() {
            "message" => self.name = Cow::Owned(value.to_string()),
            _ => self.push(field, value),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        match field.name() {
            "message" => self.name = Cow::Owned(value.to_string()),
            _ => self.push(field, value),
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // A `&str` error is quoted, as its Debug form.
        match field.name() {
            "error" if self.name.is_empty() => self.text(field, format!("{value:?}")),
            _ => self.text(field, value.to_owned()),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, format!("{value:?}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut chain: Vec<StringValue> = Vec::new();
        let mut next = value.source();
        while let Some(e) = next {
            chain.push(e.to_string().into());
            next = e.source();
        }
        let message = value.to_string();
        self.span_attributes
            .push(KeyValue::new("exception.message", message.clone()));
        self.span_attributes.push(KeyValue::new(
            "exception.stacktrace",
            Value::Array(Array::String(chain.clone())),
        ));
        self.attributes
            .push(KeyValue::new("exception.message", message.clone()));
        self.attributes.push(KeyValue::new(
            "exception.stacktrace",
            Value::Array(Array::String(chain.clone())),
        ));
        self.push(field, message);
        self.attributes.push(KeyValue::new(
            format!("{}.chain", field.name()),
            Value::Array(Array::String(chain)),
        ));
    }
}
