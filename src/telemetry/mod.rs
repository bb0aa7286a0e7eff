//! Telemetry set-up: JSON logs, Prometheus metrics, OTLP traces, and the
//! guard that flushes them at shutdown.

pub mod access;
pub mod http;
pub mod kafka;
pub mod log_writer;
pub mod logs;
pub mod metrics;
pub mod otlp_batch;
pub mod otlp_http;
pub mod otlp_proto;
pub mod span_events;
pub mod throttle;
pub mod traces;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use self::kafka::KafkaSink;
use self::log_writer::{LogWriter, WriterGuard};
use self::logs::LogFormat;
use self::metrics::MetricsRenderer;
use crate::config::{Config, ConfigError};

/// How long shutdown waits for queued Kafka log events before purging them
/// (counted `failed`); runs alongside the trace flush.
pub const KAFKA_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("OTLP exporter: {0}")]
    HttpExporter(#[from] otlp_http::HttpExporterError),
    #[error("Kafka log sink: {0}")]
    Kafka(#[from] ConfigError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("cannot start the log writer thread: {0}")]
    Writer(#[from] std::io::Error),
    #[error("cannot start the span export thread: {0}")]
    ExportThread(std::io::Error),
}

static LOG_WRITER: OnceLock<LogWriter> = OnceLock::new();

/// Stdout log lines dropped because a writer queue was full (all levels).
pub fn dropped_log_lines() -> u64 {
    LOG_WRITER.get().map_or(0, |w| {
        let (normal, priority) = w.dropped();
        normal + priority
    })
}

/// Everything that must be flushed before exit.
pub struct Telemetry {
    pub metrics: MetricsRenderer,
    tracer_provider: SdkTracerProvider,
    kafka: Option<KafkaSink>,
    log_guard: WriterGuard,
}

/// The request span's target (`telemetry::http`): always enabled.
const REQUEST_SPAN_TARGET: &str = "hello::http";

/// Installs the global subscriber, recorder and tracer provider. Call once,
/// inside the Tokio runtime (the gRPC exporter needs it).
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let handle = metrics::install_recorder();
    let renderer = MetricsRenderer::new(handle);
    renderer.spawn_upkeep();

    let provider = traces::build_provider(config)?;
    // The OpenTelemetry layers only when spans are exported: without an
    // endpoint, the request middleware gives each request its W3C ids itself
    // (continuing `traceparent`) and logs carry them, at a fraction of the cost.
    // With one, the request span is the SDK's, built by the middleware with
    // this tracer (a `tracing` span through `tracing-opentelemetry` costs
    // about twice as much, bench/README.md); spans of your own still go
    // through `tracing-opentelemetry`, children of the request's.
    let otel = config.traces.otlp.is_some().then(|| {
        traces::install_request_tracer(provider.tracer("hello"));
        // Our spans, and warnings/errors inside them as span events; the
        // access-log line stays out of the trace (it repeats the span).
        let ours = |m: &Metadata<'_>| {
            m.target().starts_with("hello") && (m.is_span() || *m.level() <= Level::WARN)
        };
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("hello"))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(filter_fn(ours))
            .and_then(span_events::SpanEvents.with_filter(filter_fn(ours)))
    });

    let (writer, log_guard) = LogWriter::spawn(std::io::stdout())?;
    let _ = LOG_WRITER.set(writer.clone());

    // The Kafka producer is created only once the subscriber is installed:
    // librdkafka starts connecting at once, and its first report of a broker
    // that is down (logged once, then suppressed by librdkafka itself) must
    // not be emitted into a process that has no subscriber yet. Until then,
    // the layer's slot is empty and lines go to stdout only.
    let kafka_slot = Arc::new(OnceLock::new());
    let kafka_line_sink = || {
        config
            .kafka
            .as_ref()
            .map(|_| Box::new(KafkaSlot(Arc::clone(&kafka_slot))) as Box<dyn logs::LineSink>)
    };

    // RUST_LOG, and the request span whatever RUST_LOG says: it carries the
    // ids that a WARN or ERROR line inside a request needs.
    let directives = format!("{},{REQUEST_SPAN_TARGET}=trace", config.logs.filter);
    let filter = EnvFilter::try_new(&directives)?;
    let installed = match config.logs.format {
        LogFormat::Json => {
            let mut sinks: Vec<Box<dyn logs::LineSink>> = vec![Box::new(writer)];
            sinks.extend(kafka_line_sink());
            let json = logs::JsonLogLayer::new(sinks);
            access::install(json.sinks(), access::enabled_by(&directives)?);
            match otel {
                Some(otel) => tracing_subscriber::registry()
                    .with(otel)
                    .with(json.with_filter(filter))
                    .try_init(),
                // One layer: the filter is global, which spares every span
                // and event the bookkeeping of per-layer filters (about 1.2k
                // instructions a request, bench/README.md).
                None => tracing_subscriber::registry()
                    .with(filter)
                    .with(json)
                    .try_init(),
            }
        }
        LogFormat::Pretty => {
            // The pretty formatter for stdout; Kafka still gets JSON lines.
            let kafka_json = kafka_line_sink().map(|sink| logs::JsonLogLayer::new(vec![sink]));
            tracing_subscriber::registry()
                .with(otel)
                .with(fmt::layer().with_writer(writer).with_filter(filter))
                .with(kafka_json.with_filter(EnvFilter::try_new(&config.logs.filter)?))
                .try_init()
        }
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    install_panic_hook();
    // Only when KAFKA_BROKERS is set does any Kafka code run.
    let kafka = config.kafka.as_ref().map(KafkaSink::new).transpose()?;
    if let Some(sink) = &kafka {
        let _ = kafka_slot.set(sink.clone());
    }

    Ok(Telemetry {
        metrics: renderer,
        tracer_provider: provider,
        kafka,
        log_guard,
    })
}

impl Telemetry {
    /// Flushes queued spans (bounded by `timeout`) and, at the same time,
    /// queued Kafka log events (bounded by [`KAFKA_CLOSE_TIMEOUT`]), then the
    /// log writer.
    pub async fn shutdown(self, timeout: Duration) {
        let provider = self.tracer_provider.clone();
        // The SDK's shutdown blocks: keep it off the async workers.
        let flush = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout));
        let traces = async {
            match tokio::time::timeout(timeout + Duration::from_millis(500), flush).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "trace flush at shutdown failed"),
                _ => tracing::warn!("trace flush at shutdown timed out"),
            }
        };
        let kafka = async {
            if let Some(sink) = self.kafka {
                let close = tokio::task::spawn_blocking(move || sink.close(KAFKA_CLOSE_TIMEOUT));
                let bound = KAFKA_CLOSE_TIMEOUT + Duration::from_secs(1);
                if tokio::time::timeout(bound, close).await.is_err() {
                    tracing::warn!(target: kafka::SINK_TARGET, "kafka log sink close timed out");
                }
            }
        };
        tokio::join!(traces, kafka);
        drop(self.log_guard); // joins the writer thread after it drains
    }
}

/// The Kafka sink as the log layer sees it: empty until the producer exists.
struct KafkaSlot(Arc<OnceLock<KafkaSink>>);

impl logs::LineSink for KafkaSlot {
    fn accept(&self, level: Level, target: &str, trace_id: Option<&str>, line: &[u8]) {
        if let Some(sink) = self.0.get() {
            sink.accept(level, target, trace_id, line);
        }
    }
}

/// Panics become one ERROR log line (with the request's trace id) instead of
/// unstructured text on stderr; the panic guard layer answers 500.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(target: "hello::panic", location, exception.message = message, "handler panicked");
    }));
}
