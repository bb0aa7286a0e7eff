//! The Kafka log sink: every log line at or above `KAFKA_LOG_LEVEL` is also
//! produced to `KAFKA_LOG_TOPIC`, value = the stdout line (without its
//! newline), key = the trace id when there is one.
//!
//! Built only when `KAFKA_BROKERS` is set. Production never waits: the line
//! is copied into librdkafka's bounded queue (`KAFKA_QUEUE_MAX_EVENTS`
//! messages, [`QUEUE_MAX_KBYTES`]) or, when that is full, dropped and
//! counted. A polling thread turns delivery reports into
//! `hello_log_events_total{sink="kafka",outcome="sent|failed"}`. Delivery is
//! at most once: the durable path for logs is stdout → fluentd.
//!
//! librdkafka's own log lines go to stdout under the [`CLIENT_TARGET`]
//! target and are never produced (a broker outage would otherwise feed
//! "broker down" lines into the queue of the broker that is down).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use metrics::Counter;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
    ThreadedProducer,
};
use tracing::Level;

use super::logs::LineSink;
use super::metrics::LOG_EVENTS;
use super::throttle::LogThrottle;
use crate::settings::{self, ConfigError, Lookup, bounded, err, err_owned};

/// The target of librdkafka's own log lines: shown on stdout, never produced.
pub const CLIENT_TARGET: &str = "hello::kafka::client";
/// The target of the sink's own lines (start, shutdown summary): same rule.
pub const SINK_TARGET: &str = "hello::kafka";
/// Memory bound of the producer queue besides its message count (librdkafka's
/// default is 1 GiB, far more than a log sink should ever hold).
pub const QUEUE_MAX_KBYTES: u32 = 16 * 1024;

/// librdkafka's alternative names for the properties in [`defaults`].
const ALIASES: &[(&str, &str)] = &[
    ("acks", "request.required.acks"),
    ("linger.ms", "queue.buffering.max.ms"),
    ("compression.type", "compression.codec"),
    ("message.timeout.ms", "delivery.timeout.ms"),
    ("sasl.mechanisms", "sasl.mechanism"),
];

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

impl KafkaConfig {
    /// `None` unless `KAFKA_BROKERS` is set. `names`: every variable name, to
    /// find the `KAFKA_PROP_*` ones.
    pub(crate) fn parse(
        lookup: Lookup<'_>,
        names: &[&str],
    ) -> Result<Option<KafkaConfig>, ConfigError> {
        parse_kafka(&|name: &str| settings::get(lookup, name), names)
    }
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
    validate(&kafka)?;
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

/// Producer defaults; every one can be overridden with `KAFKA_PROP_<NAME>`.
fn defaults(cfg: &KafkaConfig) -> Vec<(&'static str, String)> {
    let mut d = vec![
        ("client.id", "hello".to_owned()),
        // Durable once acknowledged, no duplicates from retries.
        ("acks", "all".to_owned()),
        ("enable.idempotence", "true".to_owned()),
        // Batching: a little latency buys far fewer requests at high rates.
        ("linger.ms", "50".to_owned()),
        // lz4 is compiled into the bundled librdkafka (no zlib/zstd linked).
        ("compression.type", "lz4".to_owned()),
        // The Java client's hash of the key (`trace_id`): a trace's lines go to
        // the partition a Java producer would pick for it, and murmur2 costs
        // less per line than librdkafka's default CRC32. No key: random.
        ("partitioner", "murmur2_random".to_owned()),
        // A log line older than this is not worth delivering: count it failed.
        ("message.timeout.ms", "30000".to_owned()),
        // Reconnect at least every second once a broker is back (librdkafka
        // backs off up to 10 s): after an outage, delivery resumes within
        // about a second (docs/RELIABILITY.md, "Kafka down").
        ("reconnect.backoff.max.ms", "1000".to_owned()),
        (
            "queue.buffering.max.messages",
            cfg.queue_max_events.to_string(),
        ),
        ("queue.buffering.max.kbytes", QUEUE_MAX_KBYTES.to_string()),
    ];
    // librdkafka defaults to GSSAPI, which is not built in: with
    // `security.protocol=SASL_*` and no mechanism, PLAIN is the one that works.
    // Only then: a SASL setting on a plaintext client makes librdkafka warn at
    // every start.
    let sasl = cfg.props.iter().any(|p| {
        p.name == "security.protocol" && p.value.trim().to_ascii_lowercase().starts_with("sasl")
    });
    if sasl {
        d.push(("sasl.mechanisms", "PLAIN".to_owned()));
    }
    d
}

fn client_config(cfg: &KafkaConfig, with_brokers: bool) -> ClientConfig {
    let mut c = ClientConfig::new();
    if with_brokers {
        c.set("bootstrap.servers", &cfg.brokers);
    }
    for (k, v) in defaults(cfg) {
        // A property the user sets, under its name or an alias, replaces the
        // default (ClientConfig is a map: both names would race).
        let alias = ALIASES
            .iter()
            .find_map(|&(a, b)| (a == k).then_some(b).or((b == k).then_some(a)));
        if !cfg
            .props
            .iter()
            .any(|p| p.name == k || Some(p.name.as_str()) == alias)
        {
            c.set(k, v);
        }
    }
    for p in &cfg.props {
        if with_brokers || p.name != "bootstrap.servers" {
            c.set(&p.name, &p.value);
        }
    }
    // Warnings and errors (broker down, auth failures); `KAFKA_PROP_DEBUG`
    // raises it for troubleshooting.
    c.set_log_level(if cfg.props.iter().any(|p| p.name == "debug") {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Notice
    });
    c
}

/// Names that hold credentials: their values never appear in messages.
fn is_secret(name: &str) -> bool {
    ["password", "secret", "key", "token", "jaas", "pem", "jwt"]
        .iter()
        .any(|s| name.contains(s))
}

/// Asks librdkafka to accept the settings by creating (and dropping) a
/// producer that has no brokers, so it connects nowhere. Errors name the
/// variable that set the offending property.
pub fn validate(cfg: &KafkaConfig) -> Result<(), ConfigError> {
    // librdkafka takes C strings: say which variable holds a NUL byte.
    if let Some(p) = cfg.props.iter().find(|p| p.value.contains('\0')) {
        let shown = if is_secret(&p.name) { "<redacted>" } else { "" };
        return Err(err_owned(
            p.var.clone(),
            shown,
            "the value contains a NUL byte",
        ));
    }
    match client_config(cfg, false).create::<BaseProducer>() {
        Ok(_) => Ok(()),
        Err(e) => Err(to_config_error(cfg, &e)),
    }
}

fn to_config_error(cfg: &KafkaConfig, e: &KafkaError) -> ConfigError {
    let (key, reason) = match e {
        // One property was refused by name (unknown, or an invalid value).
        KafkaError::ClientConfig(_, desc, key, _) => (Some(key.as_str()), desc.clone()),
        // Properties that do not fit together, found when the client is built.
        KafkaError::ClientCreation(msg) => (None, msg.clone()),
        other => (None, other.to_string()),
    };
    let prop = cfg
        .props
        .iter()
        .find(|p| Some(p.name.as_str()) == key)
        .or_else(|| {
            // Named in the message: prefer the longest name (`acks` vs
            // `request.required.acks`).
            cfg.props
                .iter()
                .filter(|p| reason.contains(&p.name))
                .max_by_key(|p| p.name.len())
        })
        .or_else(|| {
            // Or its value is ("No provider for SASL mechanism SCRAM-SHA-256").
            cfg.props.iter().find(|p| {
                !is_secret(&p.name) && p.value.len() >= 3 && reason.contains(p.value.as_str())
            })
        });
    match prop {
        Some(p) if is_secret(&p.name) => err_owned(
            p.var.clone(),
            "<redacted>",
            format!("librdkafka rejects {}", p.name),
        ),
        Some(p) => err_owned(
            p.var.clone(),
            &p.value,
            format!("librdkafka rejects {}={}: {reason}", p.name, p.value),
        ),
        None => match mentioned_property(&reason) {
            // A property that must be set too ("sasl.username and
            // sasl.password must be set"): name the variable that sets it.
            Some(name) => err_owned(
                format!("KAFKA_PROP_{}", name.replace('.', "_").to_ascii_uppercase()),
                "",
                reason,
            ),
            // Not a pass-through property: one of ours, from KAFKA_* settings.
            None => err_owned("KAFKA_BROKERS", &cfg.brokers, reason),
        },
    }
}

/// The first word of `text` that looks like a property name (`a.b[.c…]`).
fn mentioned_property(text: &str) -> Option<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            w.contains('.')
                && w.starts_with(|c: char| c.is_ascii_lowercase())
                && w.split('.').all(|part| {
                    !part.is_empty()
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                })
        })
}

/// Counters of one sink (the metric, plus a copy for the shutdown summary).
struct Outcome {
    counter: Counter,
    total: AtomicU64,
}

impl Outcome {
    fn new(outcome: &'static str) -> Outcome {
        let counter = metrics::counter!(LOG_EVENTS, "sink" => "kafka", "outcome" => outcome);
        counter.increment(0); // visible on /metrics from the start
        Outcome {
            counter,
            total: AtomicU64::new(0),
        }
    }

    fn add(&self, n: u64) {
        self.counter.increment(n);
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// librdkafka's callbacks: logs, global errors, delivery reports.
struct SinkContext {
    sent: Outcome,
    failed: Outcome,
    // librdkafka repeats a global error several times a second while a
    // broker is away, and rdkafka calls `error` twice per event.
    errors: LogThrottle,
}

impl ClientContext for SinkContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: CLIENT_TARGET, facility = fac, "{message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: CLIENT_TARGET, facility = fac, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: CLIENT_TARGET, facility = fac, "{message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: CLIENT_TARGET, facility = fac, "{message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error.to_string();
        if let Some(suppressed) = self.errors.admit(&kind, Instant::now()) {
            tracing::error!(target: CLIENT_TARGET, error = %kind, suppressed, "{reason}");
        }
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    // No log line per failure: that would be one more event per lost event.
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.sent.add(1),
            Err(_) => self.failed.add(1),
        }
    }
}

/// The sink handed to the JSON log layer; clones share one producer.
#[derive(Clone)]
pub struct KafkaSink {
    inner: Arc<Inner>,
}

struct Inner {
    producer: ThreadedProducer<SinkContext>,
    topic: String,
    level: Level,
    dropped: Outcome,
    closed: AtomicBool,
}

/// What happened to the events the sink took (for the shutdown summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
}

impl KafkaSink {
    /// Creates the producer. It connects in the background: a missing broker
    /// is not an error here (events are dropped/failed and counted), and the
    /// service's readiness never depends on it.
    pub fn new(cfg: &KafkaConfig) -> Result<KafkaSink, ConfigError> {
        let context = SinkContext {
            sent: Outcome::new("sent"),
            failed: Outcome::new("failed"),
            errors: LogThrottle::new(LogThrottle::WINDOW),
        };
        let producer = client_config(cfg, true)
            .create_with_context(context)
            .map_err(|e| to_config_error(cfg, &e))?;
        Ok(KafkaSink {
            inner: Arc::new(Inner {
                producer,
                topic: cfg.topic.clone(),
                level: cfg.level,
                dropped: Outcome::new("dropped"),
                closed: AtomicBool::new(false),
            }),
        })
    }

    pub fn totals(&self) -> Totals {
        let ctx = self.inner.producer.context();
        Totals {
            sent: ctx.sent.get(),
            failed: ctx.failed.get(),
            dropped: self.inner.dropped.get(),
        }
    }

    /// Stops taking events and waits up to `timeout` for queued ones; what
    /// is still undelivered then is purged and counted `failed`. Blocks:
    /// call it off the async workers.
    pub fn close(&self, timeout: Duration) -> Totals {
        let started = Instant::now();
        self.inner.closed.store(true, Ordering::SeqCst);
        let producer = &self.inner.producer;
        let queued = producer.in_flight_count();
        if producer.flush(timeout).is_err() {
            producer.purge(PurgeConfig::default().queue().inflight());
            // Serves the purged messages' delivery reports (→ `failed`).
            let _ = producer.flush(Duration::from_millis(500));
        }
        let totals = self.totals();
        tracing::info!(
            target: SINK_TARGET,
            queued_at_close = queued,
            sent = totals.sent,
            failed = totals.failed,
            dropped = totals.dropped,
            close_ms = started.elapsed().as_millis() as u64,
            "kafka log sink closed"
        );
        totals
    }
}

/// Lines that must never be produced: librdkafka's own and the sink's.
fn is_own(target: &str) -> bool {
    target.starts_with(SINK_TARGET) || target.starts_with("rdkafka") || target == "librdkafka"
}

impl LineSink for KafkaSink {
    fn accept(&self, level: Level, target: &str, trace_id: Option<&str>, line: &[u8]) {
        // tracing orders levels by verbosity: TRACE > DEBUG > INFO > WARN > ERROR.
        if level > self.inner.level || is_own(target) {
            return;
        }
        if self.inner.closed.load(Ordering::Relaxed) {
            self.inner.dropped.add(1);
            return;
        }
        let value = line.strip_suffix(b"\n").unwrap_or(line);
        let mut record = BaseRecord::<str, [u8]>::to(&self.inner.topic).payload(value);
        if let Some(key) = trace_id {
            record = record.key(key);
        }
        // Never blocks: librdkafka copies the bytes or refuses (queue full).
        if self.inner.producer.send(record).is_err() {
            self.inner.dropped.add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(props: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9".into(),
            topic: "t".into(),
            level: Level::INFO,
            queue_max_events: 10,
            props: props
                .iter()
                .map(|(n, v)| KafkaProp {
                    var: format!("KAFKA_PROP_{}", n.to_ascii_uppercase().replace('.', "_")),
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn defaults_are_accepted_by_librdkafka() {
        validate(&cfg(&[])).unwrap();
        validate(&cfg(&[("linger.ms", "5"), ("compression.type", "snappy")])).unwrap();
    }

    #[test]
    fn rejected_properties_name_their_variable() {
        for (props, var) in [
            (vec![("acks", "banana")], "KAFKA_PROP_ACKS"),
            (
                vec![("no.such.property", "1")],
                "KAFKA_PROP_NO_SUCH_PROPERTY",
            ),
            // Valid alone, refused together with our idempotence default.
            (vec![("linger.ms", "5"), ("acks", "1")], "KAFKA_PROP_ACKS"),
            // Not compiled in (no zstd library linked).
            (
                vec![("compression.type", "zstd")],
                "KAFKA_PROP_COMPRESSION_TYPE",
            ),
        ] {
            let e = validate(&cfg(&props)).expect_err(&format!("{props:?}"));
            assert_eq!(e.var, var, "{e}");
        }
    }

    #[test]
    fn a_property_set_under_an_alias_replaces_the_default() {
        let c = client_config(
            &cfg(&[
                ("request.required.acks", "1"),
                ("sasl.mechanism", "SCRAM-SHA-256"),
            ]),
            true,
        );
        assert_eq!(c.get("acks"), None);
        assert_eq!(c.get("request.required.acks"), Some("1"));
        assert_eq!(c.get("sasl.mechanisms"), None);
        let d = client_config(&cfg(&[]), true);
        assert_eq!(d.get("acks"), Some("all"));
        assert_eq!(d.get("partitioner"), Some("murmur2_random"));
        let own = client_config(&cfg(&[("partitioner", "consistent_random")]), true);
        assert_eq!(own.get("partitioner"), Some("consistent_random"));
        assert_eq!(
            d.get("sasl.mechanisms"),
            None,
            "no SASL setting on a plaintext client (librdkafka warns at start)"
        );
        let sasl = client_config(&cfg(&[("security.protocol", "SASL_PLAINTEXT")]), true);
        assert_eq!(sasl.get("sasl.mechanisms"), Some("PLAIN"));
    }

    #[cfg(not(feature = "kafka-tls"))]
    #[test]
    fn tls_and_scram_need_the_kafka_tls_feature() {
        for (props, var) in [
            (
                vec![("security.protocol", "SSL")],
                "KAFKA_PROP_SECURITY_PROTOCOL",
            ),
            (
                vec![
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "SCRAM-SHA-256"),
                ],
                "KAFKA_PROP_SASL_MECHANISM",
            ),
        ] {
            let e = validate(&cfg(&props)).expect_err(&format!("{props:?}"));
            assert_eq!(e.var, var, "{e}");
        }
        // SASL PLAIN is built in.
        validate(&cfg(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ]))
        .unwrap();
    }

    #[test]
    fn a_missing_companion_property_is_named() {
        let e = validate(&cfg(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
        ]))
        .unwrap_err();
        assert_eq!(e.var, "KAFKA_PROP_SASL_USERNAME", "{e}");
        assert_eq!(
            mentioned_property("see `enable.idempotence`."),
            Some("enable.idempotence")
        );
        assert_eq!(mentioned_property("Local: Invalid argument"), None);
    }

    #[test]
    fn secret_values_are_not_shown() {
        let e = validate(&cfg(&[("sasl.passwordd", "hunter2")])).unwrap_err();
        assert_eq!(e.var, "KAFKA_PROP_SASL_PASSWORDD");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn own_lines_are_never_produced() {
        assert!(is_own(CLIENT_TARGET));
        assert!(is_own(SINK_TARGET));
        assert!(!is_own("hello::access"));
        assert!(!is_own("hello"));
    }
}
