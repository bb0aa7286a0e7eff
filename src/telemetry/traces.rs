//! OTLP traces, configured only through the standard `OTEL_*` variables.
//!
//! Without an endpoint the provider has no exporter: spans still get ids (so
//! log lines carry `trace_id`) and are dropped when they end. With one,
//! spans are queued (bounded) and exported on a thread of their own: over
//! OTLP/HTTP by `otlp_batch` (spans encoded as they end), over gRPC by the
//! SDK's batch processor and `opentelemetry-otlp`. A slow or black-holed
//! collector costs dropped spans, never a blocked request. Every span that
//! does not reach the collector (failed export, or dropped because the queue
//! is full) is counted in `hello_telemetry_export_errors_total{signal="traces"}`:
//! the SDK only logs a total at shutdown.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, Span, SpanData,
    SpanExporter, SpanProcessor,
};

use super::TelemetryError;
use super::metrics::EXPORT_ERRORS;
use super::otlp_batch::BatchProcessor;
use super::otlp_http::HttpExporter;
use crate::config::Config;
use crate::settings::{self, ConfigError, Lookup, bounded, err, parse_bool};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

/// `OTEL_TRACES_SAMPLER` (+ `_ARG`), validated here so a typo is a start-up
/// error rather than the SDK's silent fallback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

/// The trace exporter's and batch processor's settings (`OTEL_EXPORTER_OTLP_*TIMEOUT`,
/// `OTEL_BSP_*`): read here, with the service's defaults where it has its own,
/// so the SDK never silently overrides what the operator set.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceTuning {
    /// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (ms; default 5000).
    pub export_timeout: Duration,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms; default 1000: spans reach the collector within a second).
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (default 2048): spans held before new ones are dropped and counted.
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (default 512, at most the queue size).
    pub max_batch: usize,
}

#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`) or the traces-specific
    /// one (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used verbatim by the SDK).
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Where OTLP/HTTP posts spans: the traces-specific endpoint verbatim,
    /// else the base endpoint with `/v1/traces` (the specification's rule).
    pub http_traces_url: String,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`:
    /// `key=value` pairs, values percent-decoded, sent with every export.
    pub headers: Vec<(String, String)>,
}

/// The OpenTelemetry variables (`OTEL_*`) and the downward-API names that
/// become resource attributes.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// Present only when an endpoint is set (and the SDK and exporter are on).
    pub otlp: Option<OtlpConfig>,
    pub sampler: SamplerConfig,
    pub tuning: TraceTuning,
    /// `OTEL_PROPAGATORS` includes `tracecontext` (the default): an incoming
    /// W3C `traceparent` is continued. With `none`, every request starts a trace.
    pub propagate_tracecontext: bool,
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else `hello`.
    pub service_name: String,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    pub node_name: Option<String>,
}

impl TraceSettings {
    pub(crate) fn parse(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let get = |name: &str| settings::get(lookup, name);
        Ok(TraceSettings {
            otlp: parse_otlp(&get)?,
            tuning: parse_trace_tuning(&get)?,
            propagate_tracecontext: parse_propagators(get("OTEL_PROPAGATORS"))?,
            sampler: parse_sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))?,
            service_name: get("OTEL_SERVICE_NAME")
                .or_else(|| resource_service_name(get("OTEL_RESOURCE_ATTRIBUTES")?))
                .unwrap_or_else(|| "hello".to_owned()),
            pod_name: get("POD_NAME"),
            pod_namespace: get("POD_NAMESPACE"),
            node_name: get("NODE_NAME"),
        })
    }
}

fn parse_otlp(get: &impl Fn(&str) -> Option<String>) -> Result<Option<OtlpConfig>, ConfigError> {
    // The signal-specific variable wins; an error names the one that was read.
    let (var, value) = match get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
        Some(v) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(v)),
        None => (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            get("OTEL_EXPORTER_OTLP_PROTOCOL"),
        ),
    };
    let protocol = match value {
        None => OtlpProtocol::HttpProtobuf, // the specification's default
        Some(v) => match v.as_str() {
            "grpc" => OtlpProtocol::Grpc,
            "http/protobuf" => OtlpProtocol::HttpProtobuf,
            "http/json" => {
                return Err(err(
                    var,
                    &v,
                    "http/json is not built in; use `grpc` or `http/protobuf`",
                ));
            }
            _ => {
                return Err(err(var, &v, "expected `grpc` or `http/protobuf`"));
            }
        },
    };
    if let Some(v) = get("OTEL_SDK_DISABLED")
        && parse_bool("OTEL_SDK_DISABLED", &v)?
    {
        return Ok(None);
    }
    if let Some(v) = get("OTEL_TRACES_EXPORTER") {
        match v.trim() {
            "otlp" => {}
            "none" => return Ok(None),
            _ => {
                return Err(err(
                    "OTEL_TRACES_EXPORTER",
                    &v,
                    "expected `otlp` or `none` (no other exporter is built in)",
                ));
            }
        }
    }
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        if let Some(endpoint) = get(var) {
            let uri: http::Uri = endpoint
                .parse()
                .map_err(|e: http::uri::InvalidUri| err(var, &endpoint, e.to_string()))?;
            if !matches!(uri.scheme_str(), Some("http" | "https"))
                || uri.host().is_none_or(str::is_empty)
            {
                return Err(err(
                    var,
                    &endpoint,
                    "expected an http:// or https:// URL with a host",
                ));
            }
            let http_traces_url = if var == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
                endpoint.clone()
            } else {
                format!(
                    "{}/v1/traces",
                    endpoint.strip_suffix('/').unwrap_or(&endpoint)
                )
            };
            parse_compression(get)?;
            return Ok(Some(OtlpConfig {
                endpoint,
                protocol,
                http_traces_url,
                headers: parse_headers(get)?,
            }));
        }
    }
    Ok(None)
}

/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`
/// (the exporter's rule: the traces variable replaces the other, it does not
/// add to it): `key=value` pairs separated by commas, values percent-decoded.
/// A pair the exporter would silently skip is a start-up error here.
fn parse_headers(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let (var, value) = match get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
        Some(v) => ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", v),
        None => match get("OTEL_EXPORTER_OTLP_HEADERS") {
            Some(v) => ("OTEL_EXPORTER_OTLP_HEADERS", v),
            None => return Ok(Vec::new()),
        },
    };
    let mut headers = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(err(var, &value, format!("`{pair}` is not key=value")));
        };
        let (key, raw) = (key.trim(), raw.trim());
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_or_else(|_| raw.to_owned(), |v| v.into_owned());
        if key.is_empty() || decoded.is_empty() {
            return Err(err(
                var,
                &value,
                format!("`{pair}` has an empty key or value"),
            ));
        }
        if http::HeaderName::from_bytes(key.as_bytes()).is_err()
            || http::HeaderValue::from_str(&decoded).is_err()
        {
            return Err(err(
                var,
                &value,
                format!("`{pair}` is not a valid HTTP header"),
            ));
        }
        headers.push((key.to_owned(), decoded));
    }
    Ok(headers)
}

/// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else
/// `OTEL_EXPORTER_OTLP_COMPRESSION`: only `none` (no compression is built in;
/// the exporter would refuse `gzip` and `zstd` too).
fn parse_compression(get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ] {
        if let Some(v) = get(var) {
            if v.trim().eq_ignore_ascii_case("none") {
                return Ok(());
            }
            return Err(err(var, &v, "only `none`: no compression is built in"));
        }
    }
    Ok(())
}

fn parse_trace_tuning(get: &impl Fn(&str) -> Option<String>) -> Result<TraceTuning, ConfigError> {
    const MAX_MS: u64 = 600_000;
    let ms = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(bounded(
            var,
            get(var),
            default,
            1,
            MAX_MS,
        )?))
    };
    let base_timeout = ms("OTEL_EXPORTER_OTLP_TIMEOUT", 5000)?;
    let export_timeout = match get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
        None => base_timeout,
        Some(_) => ms("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 5000)?,
    };
    let count = |var: &'static str, default: u64| -> Result<usize, ConfigError> {
        Ok(bounded(var, get(var), default, 1, 1_000_000)? as usize)
    };
    let max_queue = count("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
    Ok(TraceTuning {
        export_timeout,
        schedule_delay: ms("OTEL_BSP_SCHEDULE_DELAY", 1000)?,
        max_queue,
        // The SDK's rule: a batch larger than the queue is the queue.
        max_batch: count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.min(max_queue),
    })
}

/// `OTEL_PROPAGATORS`: a comma-separated list; `tracecontext` and `baggage`
/// (the default pair) and `none` are understood. Returns whether W3C trace
/// context is propagated.
fn parse_propagators(value: Option<String>) -> Result<bool, ConfigError> {
    let Some(v) = value else { return Ok(true) };
    let mut tracecontext = false;
    for p in v.split(',').map(str::trim) {
        match p {
            "tracecontext" => tracecontext = true,
            "baggage" | "none" => {}
            _ => {
                return Err(err(
                    "OTEL_PROPAGATORS",
                    &v,
                    "expected a comma-separated list of `tracecontext`, `baggage`, `none` (no other propagator is built in)",
                ));
            }
        }
    }
    Ok(tracecontext)
}

/// `service.name` from `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`).
fn resource_service_name(attrs: String) -> Option<String> {
    attrs.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == "service.name" && !v.trim().is_empty()).then(|| v.trim().to_owned())
    })
}

fn parse_sampler(name: Option<String>, arg: Option<String>) -> Result<SamplerConfig, ConfigError> {
    let ratio = || -> Result<f64, ConfigError> {
        match &arg {
            None => Ok(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(err(
                    "OTEL_TRACES_SAMPLER_ARG",
                    a,
                    "expected a ratio between 0 and 1",
                )),
            },
        }
    };
    Ok(match name.as_deref() {
        None | Some("parentbased_always_on") => SamplerConfig::ParentBasedAlwaysOn,
        Some("always_on") => SamplerConfig::AlwaysOn,
        Some("always_off") => SamplerConfig::AlwaysOff,
        Some("traceidratio") => SamplerConfig::TraceIdRatio(ratio()?),
        Some("parentbased_always_off") => SamplerConfig::ParentBasedAlwaysOff,
        Some("parentbased_traceidratio") => SamplerConfig::ParentBasedTraceIdRatio(ratio()?),
        Some(v) => {
            return Err(err(
                "OTEL_TRACES_SAMPLER",
                v,
                "expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
            ));
        }
    })
}

/// The tracer of request spans, once spans are exported (`telemetry::init`).
static REQUEST_TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Request spans are built with `tracer` from now on (`telemetry::http`).
pub fn install_request_tracer(tracer: SdkTracer) {
    let _ = REQUEST_TRACER.set(tracer);
}

/// The tracer of request spans, if spans are exported.
pub fn request_tracer() -> Option<SdkTracer> {
    REQUEST_TRACER.get().cloned()
}

pub fn build_provider(config: &Config) -> Result<SdkTracerProvider, TelemetryError> {
    let mut attrs = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
    for (key, value) in [
        ("k8s.pod.name", &config.traces.pod_name),
        ("k8s.namespace.name", &config.traces.pod_namespace),
        ("k8s.node.name", &config.traces.node_name),
    ] {
        if let Some(v) = value {
            attrs.push(KeyValue::new(key, v.clone()));
        }
    }
    // Resource::builder() reads OTEL_RESOURCE_ATTRIBUTES; the service name is
    // Config's (OTEL_SERVICE_NAME, else service.name of those attributes).
    let resource = Resource::builder()
        .with_service_name(config.traces.service_name.clone())
        .with_attributes(attrs)
        .build();

    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(config.traces.sampler));
    if let Some(otlp) = &config.traces.otlp {
        // The endpoint and headers come from the OTEL_* variables, read by
        // the exporter itself (validated in `Config`); the timeouts and the
        // batch settings are `Config`'s reading of theirs.
        let tuning = &config.traces.tuning;
        builder = match otlp.protocol {
            OtlpProtocol::Grpc => builder.with_span_processor(bounded_batches(
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_timeout(tuning.export_timeout)
                    .build()?,
                tuning,
            )),
            OtlpProtocol::HttpProtobuf => builder.with_span_processor(
                BatchProcessor::new(
                    HttpExporter::new(&otlp.http_traces_url, &otlp.headers, tuning.export_timeout)?,
                    tuning,
                )
                .map_err(TelemetryError::ExportThread)?,
            ),
        };
    }
    Ok(builder.build())
}

/// The batch processor around `exporter`, its queue bounded and its losses
/// counted.
fn bounded_batches<E: SpanExporter + 'static>(
    exporter: E,
    tuning: &TraceTuning,
) -> BoundedProcessor {
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
    BoundedProcessor {
        inner: BatchSpanProcessor::new(exporter, batch),
        backlog,
        max_queue: tuning.max_queue,
    }
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

pub(crate) fn count_lost(spans: u64) {
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
