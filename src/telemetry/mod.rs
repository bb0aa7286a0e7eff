//! Telemetry set-up: JSON logs, Prometheus metrics, OTLP traces, and the
//! guard that flushes them at shutdown.

pub mod http;
pub mod kafka;
pub mod logs;
pub mod metrics;
pub mod throttle;
pub mod traces;

use std::io::BufWriter;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use self::kafka::KafkaSink;
use self::metrics::MetricsRenderer;
use crate::config::{Config, ConfigError, LogFormat};

/// Lines queued for stdout before new ones are dropped (and counted): the
/// bound on log memory when stdout is slower than the service.
const LOG_QUEUE_LINES: usize = 8192;

/// How long shutdown waits for queued Kafka log events before purging them
/// (counted `failed`); runs alongside the trace flush.
pub const KAFKA_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("Kafka log sink: {0}")]
    Kafka(#[from] ConfigError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

static LOG_DROPS: OnceLock<ErrorCounter> = OnceLock::new();

/// Stdout log lines dropped because the writer queue was full.
pub fn dropped_log_lines() -> u64 {
    LOG_DROPS.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Everything that must be flushed before exit.
pub struct Telemetry {
    pub metrics: MetricsRenderer,
    tracer_provider: SdkTracerProvider,
    kafka: Option<KafkaSink>,
    log_guard: WorkerGuard,
}

/// Installs the global subscriber, recorder and tracer provider. Call once,
/// inside the Tokio runtime (the gRPC exporter needs it).
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let handle = metrics::install_recorder();
    let renderer = MetricsRenderer::new(handle);
    renderer.spawn_upkeep();

    let provider = traces::build_provider(config)?;
    // The OpenTelemetry layer only when spans are exported: without an
    // endpoint, the request middleware gives each request its W3C ids itself
    // (continuing `traceparent`) and logs carry them, at a fraction of the cost.
    let otel = config.otlp.is_some().then(|| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("hello"))
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            // Our spans, and warnings/errors inside them as span events; the
            // access-log line stays out of the trace (it repeats the span).
            .with_filter(filter_fn(|m| {
                m.target().starts_with("hello") && (m.is_span() || *m.level() <= Level::WARN)
            }))
    });

    let (writer, log_guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("hello-log-writer")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stdout()));
    let _ = LOG_DROPS.set(writer.error_counter());

    // Only when KAFKA_BROKERS is set does any Kafka code run.
    let kafka = config.kafka.as_ref().map(KafkaSink::new).transpose()?;
    let line_sink = kafka
        .clone()
        .map(|k| Box::new(k) as Box<dyn logs::LineSink>);

    // The request span always reaches the log layer, whatever RUST_LOG says:
    // it carries the ids that a WARN or ERROR line inside a request needs.
    let filter = EnvFilter::try_new(&config.log_filter)?
        .or(filter_fn(|m| m.is_span() && m.target() == "hello::http"));
    let registry = tracing_subscriber::registry().with(otel);
    let installed = match config.log_format {
        LogFormat::Json => registry
            .with(logs::JsonLogLayer::new(writer, line_sink).with_filter(filter))
            .try_init(),
        LogFormat::Pretty => {
            // Kafka still gets JSON lines: formatted by a JSON layer whose
            // own output is discarded.
            let kafka_json = line_sink.map(|sink| {
                let (null, _) = NonBlockingBuilder::default()
                    .lossy(true)
                    .finish(std::io::sink());
                logs::JsonLogLayer::new(null, Some(sink))
            });
            registry
                .with(fmt::layer().with_writer(writer).with_filter(filter))
                .with(kafka_json.with_filter(EnvFilter::try_new(&config.log_filter)?))
                .try_init()
        }
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;
    install_panic_hook();

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
