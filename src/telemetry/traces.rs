//! OTLP traces, configured only through the standard `OTEL_*` variables.
//!
//! Without an endpoint the provider has no exporter: spans still get ids (so
//! log lines carry `trace_id`) and are dropped when they end. With one,
//! spans go through the SDK's batch processor, which queues them (bounded)
//! and exports on its own thread: a slow or black-holed collector costs
//! dropped spans, never a blocked request.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
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
    // Resource::builder() also reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attributes(attrs)
        .build();

    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.sampler));
    if let Some(otlp) = &config.otlp {
        // The endpoint, headers and timeout come from the OTEL_* variables,
        // read by the exporter itself (already validated in `Config`).
        let exporter = match otlp.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_timeout(Duration::from_secs(5))
                .build()?,
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout(Duration::from_secs(5))
                .build()?,
        };
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(2048)
            .with_scheduled_delay(Duration::from_secs(1))
            .build();
        builder =
            builder.with_span_processor(BatchSpanProcessor::new(CountingExporter(exporter), batch));
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

/// Counts failed exports in `hello_telemetry_export_errors_total{signal="traces"}`.
#[derive(Debug)]
struct CountingExporter<E>(E);

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.0.export(batch).await;
        if result.is_err() {
            metrics::counter!(EXPORT_ERRORS, "signal" => "traces").increment(spans);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}
