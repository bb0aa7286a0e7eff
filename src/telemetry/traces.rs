//! OTLP traces, configured only through the standard `OTEL_*` variables.
//!
//! Without an endpoint the provider has no exporter: spans still get ids (so
//! log lines carry `trace_id`) and are dropped when they end. With one,
//! spans go through the SDK's batch processor, which queues them (bounded)
//! and exports on its own thread: a slow or black-holed collector costs
//! dropped spans, never a blocked request. Every span that does not reach the
//! collector (failed export, or dropped because the queue is full) is counted
//! in `hello_telemetry_export_errors_total{signal="traces"}`: the SDK only
//! logs a total at shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, Span, SpanData,
    SpanExporter, SpanProcessor,
};

use super::metrics::EXPORT_ERRORS;
use crate::config::{Config, OtlpProtocol, SamplerConfig};

pub fn build_provider(config: &Config) -> Result<SdkTracerProvider, ExporterBuildError> {
    let mut attrs = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
    for (key, value) in [
        ("k8s.pod.name", &config.pod_name),
        ("k8s.namespace.name", &config.pod_namespace),
        ("k8s.node.name", &config.node_name),
    ] {
        if let Some(v) = value {
            attrs.push(KeyValue::new(key, v.clone()));
        }
    }
    // Resource::builder() reads OTEL_RESOURCE_ATTRIBUTES; the service name is
    // Config's (OTEL_SERVICE_NAME, else service.name of those attributes).
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attributes(attrs)
        .build();

    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.sampler));
    if let Some(otlp) = &config.otlp {
        // The endpoint and headers come from the OTEL_* variables, read by
        // the exporter itself (validated in `Config`); the timeouts and the
        // batch settings are `Config`'s reading of theirs.
        let tuning = &config.trace_tuning;
        let exporter = match otlp.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_timeout(tuning.export_timeout)
                .build()?,
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout(tuning.export_timeout)
                .build()?,
        };
        let backlog = Arc::new(AtomicUsize::new(0));
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(tuning.max_queue)
            .with_scheduled_delay(tuning.schedule_delay)
            .with_max_export_batch_size(tuning.max_batch)
            .build();
        let exporter = CountingExporter {
            inner: exporter,
            backlog: backlog.clone(),
        };
        builder = builder.with_span_processor(BoundedProcessor {
            inner: BatchSpanProcessor::new(exporter, batch),
            backlog,
            max_queue: tuning.max_queue,
        });
    }
    Ok(builder.build())
}

fn sampler(s: SamplerConfig) -> Sampler {
    match s {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

fn count_lost(spans: u64) {
    metrics::counter!(EXPORT_ERRORS, "signal" => "traces").increment(spans);
}

/// Keeps the batch processor's queue from overflowing silently: `backlog`
/// counts spans handed to it and not yet taken by the exporter (never below
/// the queue's real length), so a span that would not fit is dropped and
/// counted here instead.
#[derive(Debug)]
struct BoundedProcessor {
    inner: BatchSpanProcessor,
    backlog: Arc<AtomicUsize>,
    /// The batch processor's queue size (`OTEL_BSP_MAX_QUEUE_SIZE`).
    max_queue: usize,
}

impl SpanProcessor for BoundedProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.backlog.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.backlog.fetch_sub(1, Ordering::AcqRel);
            count_lost(1);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Counts the spans of failed exports, and releases the batch from the
/// processor's backlog as the exporter takes it.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    backlog: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        // Saturating: spans exported by a flush may never have been counted in.
        let _ = self
            .backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(spans))
            });
        let result = self.inner.export(batch).await;
        if result.is_err() {
            count_lost(spans as u64);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
