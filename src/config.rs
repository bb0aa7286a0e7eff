//! Reading and validating the environment into one typed [`Config`].
//!
//! Everything is read once at start. An invalid value is an error that names
//! the variable, so `PORT=abc` stops the process before it listens instead of
//! surfacing later as a confusing runtime failure. Empty values count as unset
//! (Kubernetes manifests often render `value: ""`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

pub const DEFAULT_MESSAGE: &str = "Hello, World!";

/// A configuration error: which variable, what it held, and why it is wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    /// Owned for variables named at run time (`KAFKA_PROP_<name>`).
    pub var: Cow<'static, str>,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

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
}

/// The Kafka log sink (`KAFKA_*`); present only when `KAFKA_BROKERS` is set.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`: librdkafka's `bootstrap.servers` (`host:port,...`).
    pub brokers: String,
    /// `KAFKA_LOG_TOPIC` (default `hello-logs`).
    pub topic: String,
    /// `KAFKA_LOG_LEVEL` (default `info`): events at this level or more severe.
    pub level: tracing::Level,
    /// `KAFKA_QUEUE_MAX_EVENTS` (default 10000): librdkafka's
    /// `queue.buffering.max.messages`; a full queue drops new events.
    pub queue_max_events: u32,
    /// `KAFKA_PROP_<NAME>=value` pass-through, in variable-name order.
    pub props: Vec<KafkaProp>,
}

/// One `KAFKA_PROP_<NAME>` variable and the librdkafka property it sets.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaProp {
    pub var: String,
    /// `<NAME>` lower-cased with `_` → `.` (`SECURITY_PROTOCOL` → `security.protocol`).
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for KafkaProp {
    // Values may be credentials (`sasl.password`): never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}=<{} bytes>", self.name, self.value.len())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`: the public API listener; 0 asks the kernel for a free port
    /// (tests); otherwise ≥ 1024.
    pub port: u16,
    /// `ADMIN_PORT`: probes and `/metrics`, never published; same rules.
    pub admin_port: u16,
    /// `MESSAGES`: newline-separated greetings, rotated per request.
    pub messages: Vec<String>,
    pub fault_injection: bool,
    /// `TMPDIR`: scratch data lives in `$TMPDIR/hello-scratch`.
    pub tmp_dir: PathBuf,
    pub scratch_max_bytes: u64,
    pub scratch_quota_bytes: u64,
    pub shutdown_drain: Duration,
    pub request_timeout: Duration,
    /// Time a client gets to send a request's headers (slowloris bound).
    pub header_read_timeout: Duration,
    pub max_concurrent_requests: usize,
    /// Open connections before the listener stops accepting (memory bound).
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub otlp: Option<OtlpConfig>,
    pub kafka: Option<KafkaConfig>,
    pub sampler: SamplerConfig,
    pub trace_tuning: TraceTuning,
    /// `OTEL_PROPAGATORS` includes `tracecontext` (the default): an incoming
    /// W3C `traceparent` is continued. With `none`, every request starts a trace.
    pub propagate_tracecontext: bool,
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else `hello`.
    pub service_name: String,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    pub node_name: Option<String>,
    pub hostname: String,
}

impl Config {
    /// Reads the process environment (variables that are not UTF-8 count
    /// as unset).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Reads from a list of variables, so tests configure without touching
    /// the process environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let map: HashMap<String, String> = vars.into_iter().collect();
        let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
        names.sort_unstable();
        Self::parse(|k| map.get(k).cloned(), &names)
    }

    /// Reads from any lookup. A lookup cannot list variables, so
    /// `KAFKA_PROP_*` pass-through needs [`Config::from_vars`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::parse(lookup, &[])
    }

    /// `names`: every variable name, to find the `KAFKA_PROP_*` ones.
    fn parse(lookup: impl Fn(&str) -> Option<String>, names: &[&str]) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let port = parse_port("PORT", get("PORT"), 8080)?;
        let admin_raw = get("ADMIN_PORT");
        let admin_port = parse_port("ADMIN_PORT", admin_raw.clone(), 8081)?;
        if port == admin_port && port != 0 {
            return Err(err(
                "ADMIN_PORT",
                admin_raw.as_deref().unwrap_or("8081"),
                "must differ from PORT (probes and metrics get their own listener)",
            ));
        }

        let messages = match lookup("MESSAGES") {
            None => vec![DEFAULT_MESSAGE.to_owned()],
            Some(v) => parse_messages(&v).map_err(|reason| err("MESSAGES", &v, reason))?,
        };

        let fault_injection = match get("FAULT_INJECTION") {
            None => false,
            Some(v) => parse_bool("FAULT_INJECTION", &v)?,
        };

        let tmp_dir = PathBuf::from(get("TMPDIR").unwrap_or_else(|| "/tmp".to_owned()));
        if !tmp_dir.is_absolute() {
            return Err(err(
                "TMPDIR",
                &tmp_dir.display().to_string(),
                "must be an absolute path",
            ));
        }

        let scratch_max_bytes =
            positive("SCRATCH_MAX_BYTES", get("SCRATCH_MAX_BYTES"), 1024 * 1024)?;
        let scratch_quota_bytes = positive(
            "SCRATCH_QUOTA_BYTES",
            get("SCRATCH_QUOTA_BYTES"),
            32 * 1024 * 1024,
        )?;
        if scratch_quota_bytes < scratch_max_bytes {
            return Err(err(
                "SCRATCH_QUOTA_BYTES",
                &scratch_quota_bytes.to_string(),
                format!("must be at least SCRATCH_MAX_BYTES ({scratch_max_bytes})"),
            ));
        }

        let shutdown_drain = Duration::from_secs(bounded(
            "SHUTDOWN_DRAIN_SECONDS",
            get("SHUTDOWN_DRAIN_SECONDS"),
            5,
            0,
            300,
        )?);
        let request_timeout = Duration::from_secs(bounded(
            "REQUEST_TIMEOUT_SECONDS",
            get("REQUEST_TIMEOUT_SECONDS"),
            10,
            1,
            300,
        )?);
        let header_read_timeout = Duration::from_secs(bounded(
            "HEADER_READ_TIMEOUT_SECONDS",
            get("HEADER_READ_TIMEOUT_SECONDS"),
            5,
            1,
            60,
        )?);
        let max_concurrent_requests = bounded(
            "MAX_CONCURRENT_REQUESTS",
            get("MAX_CONCURRENT_REQUESTS"),
            512,
            1,
            1_000_000,
        )? as usize;
        let max_connections = bounded(
            "MAX_CONNECTIONS",
            get("MAX_CONNECTIONS"),
            16_384,
            1,
            1_000_000,
        )? as usize;
        let max_header_bytes = bounded(
            "MAX_HEADER_BYTES",
            get("MAX_HEADER_BYTES"),
            16 * 1024,
            1024,
            1024 * 1024,
        )? as usize;

        let raw_filter = get("RUST_LOG");
        let log_filter = raw_filter
            .as_deref()
            .map(normalize_filter)
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "info".to_owned());
        if let Err(e) = EnvFilter::try_new(&log_filter) {
            let shown = raw_filter.as_deref().unwrap_or(&log_filter);
            return Err(err("RUST_LOG", shown, e.to_string()));
        }
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(v) => return Err(err("LOG_FORMAT", v, "expected `json` or `pretty`")),
        };

        let otlp = parse_otlp(&get)?;
        let trace_tuning = parse_trace_tuning(&get)?;
        let propagate_tracecontext = parse_propagators(get("OTEL_PROPAGATORS"))?;
        let kafka = parse_kafka(&get, names)?;
        let sampler = parse_sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))?;

        let hostname = get("HOSTNAME")
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());

        Ok(Config {
            port,
            admin_port,
            messages,
            fault_injection,
            tmp_dir,
            scratch_max_bytes,
            scratch_quota_bytes,
            shutdown_drain,
            request_timeout,
            header_read_timeout,
            max_concurrent_requests,
            max_connections,
            max_header_bytes,
            log_filter,
            log_format,
            otlp,
            kafka,
            sampler,
            trace_tuning,
            propagate_tracecontext,
            service_name: get("OTEL_SERVICE_NAME")
                .or_else(|| resource_service_name(get("OTEL_RESOURCE_ATTRIBUTES")?))
                .unwrap_or_else(|| "hello".to_owned()),
            pod_name: get("POD_NAME"),
            pod_namespace: get("POD_NAMESPACE"),
            node_name: get("NODE_NAME"),
            hostname,
        })
    }

    /// The directory that holds scratch data (created at start).
    pub fn scratch_dir(&self) -> PathBuf {
        self.tmp_dir.join("hello-scratch")
    }
}

/// A listen port: 0 asks the kernel for a free one (tests); otherwise ≥ 1024.
fn parse_port(var: &'static str, value: Option<String>, default: u16) -> Result<u16, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    let p: u16 = parse_num(var, &v)?;
    if p != 0 && p < 1024 {
        return Err(err(
            var,
            &v,
            "must be 1024..65535 (the service never needs a privileged port)",
        ));
    }
    Ok(p)
}

/// Splits `MESSAGES` into greetings: one per non-blank line, trimmed.
/// A value with no greeting at all is a configuration mistake, not a default.
pub fn parse_messages(raw: &str) -> Result<Vec<String>, &'static str> {
    let messages: Vec<String> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if messages.is_empty() {
        return Err("holds no message (one greeting per line)");
    }
    if messages.iter().any(|m| m.len() > 4096) {
        return Err("a message is longer than 4096 bytes");
    }
    Ok(messages)
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
            return Ok(Some(OtlpConfig { endpoint, protocol }));
        }
    }
    Ok(None)
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

fn parse_kafka(
    get: &impl Fn(&str) -> Option<String>,
    names: &[&str],
) -> Result<Option<KafkaConfig>, ConfigError> {
    let Some(brokers) = get("KAFKA_BROKERS") else {
        return Ok(None);
    };
    let brokers =
        parse_brokers(&brokers).map_err(|reason| err("KAFKA_BROKERS", &brokers, reason))?;
    let topic = get("KAFKA_LOG_TOPIC").unwrap_or_else(|| "hello-logs".to_owned());
    // Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, but not `.` or `..`.
    if topic.len() > 249
        || topic == "."
        || topic == ".."
        || !topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(err(
            "KAFKA_LOG_TOPIC",
            &topic,
            "a topic name is 1 to 249 characters of [a-zA-Z0-9._-]",
        ));
    }
    let level = match get("KAFKA_LOG_LEVEL") {
        None => tracing::Level::INFO,
        Some(v) => v.trim().parse().map_err(|_| {
            err(
                "KAFKA_LOG_LEVEL",
                &v,
                "expected trace, debug, info, warn or error",
            )
        })?,
    };
    let queue_max_events = bounded(
        "KAFKA_QUEUE_MAX_EVENTS",
        get("KAFKA_QUEUE_MAX_EVENTS"),
        10_000,
        1,
        10_000_000,
    )? as u32;
    let mut props = Vec::new();
    for var in names.iter().filter(|n| n.starts_with("KAFKA_PROP_")) {
        let Some(value) = get(var) else { continue };
        let raw = &var["KAFKA_PROP_".len()..];
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(err_owned(
                var.to_string(),
                "<not shown>",
                "expected KAFKA_PROP_<NAME> with NAME of [A-Za-z0-9_] (`_` becomes `.`)",
            ));
        }
        props.push(KafkaProp {
            var: var.to_string(),
            name: raw.to_ascii_lowercase().replace('_', "."),
            value,
        });
    }
    let kafka = KafkaConfig {
        brokers,
        topic,
        level,
        queue_max_events,
        props,
    };
    // Let librdkafka itself judge the settings now, so a rejected value
    // stops the process here (exit 78, variable named) and not later.
    crate::telemetry::kafka::validate(&kafka)?;
    Ok(Some(kafka))
}

/// `host:port[,host:port...]` (IPv6 as `[addr]:port`), spaces around
/// entries trimmed. librdkafka accepts an empty or port-less list and then
/// retries forever: catch the typo here.
fn parse_brokers(raw: &str) -> Result<String, &'static str> {
    let mut out = Vec::new();
    for entry in raw.split(',').map(str::trim) {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or("each broker is host:port, comma-separated")?;
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_[]:".contains(&b));
        if !host_ok || !matches!(port.parse::<u16>(), Ok(p) if p != 0) {
            return Err("each broker is host:port, comma-separated");
        }
        out.push(entry);
    }
    Ok(out.join(","))
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

fn err(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    err_owned(Cow::Borrowed(var), value, reason)
}

pub(crate) fn err_owned(
    var: impl Into<Cow<'static, str>>,
    value: &str,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError {
        var: var.into(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn parse_num<T: FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| err(var, v, "not a whole number in range"))
}

fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(err(var, v, "expected `true` or `false`")),
    }
}

fn positive(var: &'static str, v: Option<String>, default: u64) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => match parse_num::<u64>(var, &v)? {
            0 => Err(err(var, &v, "must be greater than 0")),
            n => Ok(n),
        },
    }
}

fn bounded(
    var: &'static str,
    v: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => {
            let n: u64 = parse_num(var, &v)?;
            if n < min || n > max {
                return Err(err(var, &v, format!("must be between {min} and {max}")));
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_match_the_design() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.port, 8080);
        assert_eq!(c.admin_port, 8081);
        assert_eq!(c.messages, vec![DEFAULT_MESSAGE]);
        assert!(!c.fault_injection);
        assert_eq!(c.tmp_dir, PathBuf::from("/tmp"));
        assert_eq!(c.scratch_max_bytes, 1024 * 1024);
        assert_eq!(c.scratch_quota_bytes, 32 * 1024 * 1024);
        assert_eq!(c.shutdown_drain, Duration::from_secs(5));
        assert!(c.otlp.is_none());
        assert_eq!(c.service_name, "hello");
        assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            ("PORT", "abc"),
            ("PORT", "80"),
            ("PORT", "70000"),
            ("ADMIN_PORT", "443"),
            ("ADMIN_PORT", "8080"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://:4317"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://:4318/v1/traces",
            ),
            ("SCRATCH_MAX_BYTES", "-1"),
            ("SCRATCH_MAX_BYTES", "0"),
            ("SCRATCH_QUOTA_BYTES", "10"),
            ("FAULT_INJECTION", "yes please"),
            ("TMPDIR", "relative/dir"),
            ("SHUTDOWN_DRAIN_SECONDS", "1.5"),
            ("REQUEST_TIMEOUT_SECONDS", "0"),
            ("MAX_CONCURRENT_REQUESTS", "0"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "lots"),
            ("MAX_HEADER_BYTES", "10"),
            ("RUST_LOG", "hello=loud"),
            ("LOG_FORMAT", "xml"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("MESSAGES", " \n \n"),
        ] {
            let e = cfg(&[(var, value)]).expect_err(&format!("{var}={value} must be rejected"));
            assert_eq!(e.var, var, "{var}={value}");
            assert!(e.to_string().contains(var), "{e}");
        }
        // Kafka settings are only read with brokers set.
        for (var, value) in [
            ("KAFKA_BROKERS", ","),
            ("KAFKA_BROKERS", "a:9092,,b:9092"),
            ("KAFKA_BROKERS", "kafka:port"),
            ("KAFKA_BROKERS", "a b:9092"),
            ("KAFKA_LOG_TOPIC", ".."),
            ("KAFKA_LOG_TOPIC", "."),
        ] {
            let mut vars = vec![(var, value)];
            if var != "KAFKA_BROKERS" {
                vars.push(("KAFKA_BROKERS", "kafka:9092"));
            }
            let e = cfg(&vars).expect_err(&format!("{var}={value} must be rejected"));
            assert_eq!(e.var, var, "{var}={value}");
        }
        let c = cfg(&[("KAFKA_BROKERS", " kafka-0:9092, kafka-1:9092 ,[::1]:9092")]).unwrap();
        assert_eq!(
            c.kafka.unwrap().brokers,
            "kafka-0:9092,kafka-1:9092,[::1]:9092"
        );
        let e = cfg(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn opentelemetry_variables_as_the_specification_says() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            c.trace_tuning,
            TraceTuning {
                export_timeout: Duration::from_millis(5000),
                schedule_delay: Duration::from_millis(1000),
                max_queue: 2048,
                max_batch: 512,
            }
        );
        assert!(c.propagate_tracecontext);
        // Each variable the operator sets is what the SDK gets.
        let t = cfg(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
        ])
        .unwrap()
        .trace_tuning;
        assert_eq!(t.export_timeout, Duration::from_millis(2500));
        assert_eq!(t.schedule_delay, Duration::from_millis(200));
        assert_eq!((t.max_queue, t.max_batch), (100, 100), "batch ≤ queue");
        let t = cfg(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
        ])
        .unwrap()
        .trace_tuning;
        assert_eq!(
            t.export_timeout,
            Duration::from_millis(700),
            "signal-specific wins"
        );
        // OTEL_TRACES_EXPORTER=none: no exporter even with an endpoint.
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert!(cfg(&[endpoint]).unwrap().otlp.is_some());
        assert!(
            cfg(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")])
                .unwrap()
                .otlp
                .is_none()
        );
        assert!(
            cfg(&[endpoint, ("OTEL_TRACES_EXPORTER", "otlp")])
                .unwrap()
                .otlp
                .is_some()
        );
        // OTEL_PROPAGATORS.
        for (v, tc) in [
            ("tracecontext,baggage", true),
            ("baggage, tracecontext", true),
            ("none", false),
            ("baggage", false),
        ] {
            assert_eq!(
                cfg(&[("OTEL_PROPAGATORS", v)])
                    .unwrap()
                    .propagate_tracecontext,
                tc,
                "{v}"
            );
        }
        // service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else hello.
        let attrs = (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=sre, service.name=shop ,x=y",
        );
        assert_eq!(cfg(&[attrs]).unwrap().service_name, "shop");
        assert_eq!(
            cfg(&[attrs, ("OTEL_SERVICE_NAME", "front")])
                .unwrap()
                .service_name,
            "front"
        );
        assert_eq!(
            cfg(&[("OTEL_RESOURCE_ATTRIBUTES", "a=b")])
                .unwrap()
                .service_name,
            "hello"
        );
        for (var, value) in [
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_PROPAGATORS", "b3"),
            ("OTEL_PROPAGATORS", "tracecontext,xray"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5s"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
        ] {
            let mut vars = vec![(var, value)];
            if var == "OTEL_TRACES_EXPORTER" {
                vars.push(endpoint);
            }
            let e = cfg(&vars).expect_err(&format!("{var}={value} must be rejected"));
            assert_eq!(e.var, var, "{var}={value}");
        }
    }

    #[test]
    fn otlp_endpoint_and_protocol() {
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap();
        let o = c.otlp.unwrap();
        assert_eq!(o.protocol, OtlpProtocol::Grpc);
        assert_eq!(o.endpoint, "http://collector:4317");
        let c = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).unwrap();
        assert_eq!(c.otlp.unwrap().protocol, OtlpProtocol::HttpProtobuf);
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])
        .unwrap();
        assert!(c.otlp.is_none());
    }

    #[test]
    fn kafka_is_off_unless_brokers_are_set() {
        // Not even the pass-through is looked at: no Kafka code runs.
        let c = cfg(&[("KAFKA_PROP_ACKS", "banana"), ("KAFKA_LOG_LEVEL", "x")]).unwrap();
        assert!(c.kafka.is_none());
    }

    #[test]
    fn kafka_settings_and_pass_through() {
        let c = cfg(&[
            ("KAFKA_BROKERS", " k1:9092,k2:9092 "),
            ("KAFKA_PROP_SECURITY_PROTOCOL", "PLAINTEXT"),
            ("KAFKA_PROP_LINGER_MS", "5"),
            ("KAFKA_PROP_ACKS", ""), // empty: unset
        ])
        .unwrap();
        let k = c.kafka.unwrap();
        assert_eq!(k.brokers, "k1:9092,k2:9092");
        assert_eq!(k.topic, "hello-logs");
        assert_eq!(k.level, tracing::Level::INFO);
        assert_eq!(k.queue_max_events, 10_000);
        let props: Vec<(&str, &str, &str)> = k
            .props
            .iter()
            .map(|p| (p.var.as_str(), p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            props,
            [
                ("KAFKA_PROP_LINGER_MS", "linger.ms", "5"),
                (
                    "KAFKA_PROP_SECURITY_PROTOCOL",
                    "security.protocol",
                    "PLAINTEXT"
                ),
            ]
        );
        let k = cfg(&[
            ("KAFKA_BROKERS", "k:9092"),
            ("KAFKA_LOG_TOPIC", "app.logs-v1"),
            ("KAFKA_LOG_LEVEL", "WARN"),
            ("KAFKA_QUEUE_MAX_EVENTS", "50"),
        ])
        .unwrap()
        .kafka
        .unwrap();
        assert_eq!(
            (k.topic.as_str(), k.level, k.queue_max_events),
            ("app.logs-v1", tracing::Level::WARN, 50)
        );
    }

    #[test]
    fn each_bad_kafka_value_names_its_variable() {
        for (var, value) in [
            ("KAFKA_LOG_TOPIC", "no spaces"),
            ("KAFKA_LOG_LEVEL", "loud"),
            ("KAFKA_QUEUE_MAX_EVENTS", "0"),
            ("KAFKA_PROP_ACKS", "banana"),
            ("KAFKA_PROP_NO_SUCH_PROPERTY", "1"),
            ("KAFKA_PROP_", "1"),
            ("KAFKA_PROP_LINGER-MS", "1"),
        ] {
            let e = cfg(&[("KAFKA_BROKERS", "k:9092"), (var, value)])
                .expect_err(&format!("{var}={value} must be rejected"));
            assert_eq!(e.var, var, "{var}={value}: {e}");
            assert!(e.to_string().contains(var), "{e}");
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = cfg(&[("PORT", ""), ("OTEL_EXPORTER_OTLP_ENDPOINT", "")]).unwrap();
        assert_eq!(c.port, 8080);
        assert!(c.otlp.is_none());
    }

    #[test]
    fn messages_split_on_lines() {
        assert_eq!(
            parse_messages("Hi\n\n  Hola  \r\nSalut\n").unwrap(),
            vec!["Hi", "Hola", "Salut"]
        );
        assert!(parse_messages("").is_err());
    }
}
