//! The configuration: one value composed of every component's own settings,
//! each parsed by its component ([`crate::settings`] has the shared helpers
//! and the declared table of variables). Read once at start; an invalid value
//! is a [`ConfigError`] naming the variable, before anything listens.

use std::collections::HashMap;

use crate::routes::faults;
use crate::routes::greeting::GreetingSettings;
use crate::scratch::ScratchSettings;
use crate::server::settings::ServerSettings;
pub use crate::settings::ConfigError;
use crate::settings::Lookup;
use crate::telemetry::kafka::KafkaConfig;
use crate::telemetry::logs::LogSettings;
use crate::telemetry::traces::TraceSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub greeting: GreetingSettings,
    /// `FAULT_INJECTION`: mount the fault-injection routes.
    pub fault_injection: bool,
    pub scratch: ScratchSettings,
    pub logs: LogSettings,
    pub traces: TraceSettings,
    /// The Kafka log sink; present only when `KAFKA_BROKERS` is set.
    pub kafka: Option<KafkaConfig>,
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
        Self::parse(&|k| map.get(k).cloned(), &names)
    }

    /// Reads from any lookup. A lookup cannot list variables, so
    /// `KAFKA_PROP_*` pass-through needs [`Config::from_vars`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::parse(&lookup, &[])
    }

    /// `names`: every variable name, to find the `KAFKA_PROP_*` ones.
    fn parse(lookup: Lookup<'_>, names: &[&str]) -> Result<Self, ConfigError> {
        Ok(Config {
            server: ServerSettings::parse(lookup)?,
            greeting: GreetingSettings::parse(lookup)?,
            fault_injection: faults::enabled(lookup)?,
            scratch: ScratchSettings::parse(lookup)?,
            logs: LogSettings::parse(lookup)?,
            traces: TraceSettings::parse(lookup)?,
            kafka: KafkaConfig::parse(lookup, names)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::routes::greeting::{DEFAULT_MESSAGE, parse_messages};
    use crate::telemetry::traces::{OtlpProtocol, SamplerConfig, TraceTuning};

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_match_the_design() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.server.port, 8080);
        assert_eq!(c.server.admin_port, 8081);
        assert_eq!(c.greeting.messages, vec![DEFAULT_MESSAGE]);
        assert!(!c.fault_injection);
        assert_eq!(c.scratch.tmp_dir, PathBuf::from("/tmp"));
        assert_eq!(c.scratch.max_bytes, 1024 * 1024);
        assert_eq!(c.scratch.quota_bytes, 32 * 1024 * 1024);
        assert_eq!(c.server.shutdown_drain, Duration::from_secs(5));
        assert!(c.traces.otlp.is_none());
        assert_eq!(c.traces.service_name, "hello");
        assert_eq!(c.traces.sampler, SamplerConfig::ParentBasedAlwaysOn);
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
    fn port_clash_echoes_admin_port_as_given() {
        // A blank ADMIN_PORT stands for its default: the error shows the blank
        // the operator wrote and says which port it meant.
        for (given, env) in [
            ("", vec![("PORT", "8081"), ("ADMIN_PORT", "")]),
            ("  ", vec![("PORT", "8081"), ("ADMIN_PORT", "  ")]),
            ("8080", vec![("ADMIN_PORT", "8080")]),
            ("8081", vec![("PORT", "8081")]),
        ] {
            let e = cfg(&env).unwrap_err();
            assert_eq!((e.var.as_ref(), e.value.as_str()), ("ADMIN_PORT", given));
            assert!(e.reason.contains("must differ from PORT"), "{e}");
            if given.trim().is_empty() {
                assert!(e.reason.contains("8081"), "{e}");
            }
        }
    }

    #[test]
    fn opentelemetry_variables_as_the_specification_says() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            c.traces.tuning,
            TraceTuning {
                export_timeout: Duration::from_millis(5000),
                schedule_delay: Duration::from_millis(1000),
                max_queue: 2048,
                max_batch: 512,
            }
        );
        assert!(c.traces.propagate_tracecontext);
        // Each variable the operator sets is what the SDK gets.
        let t = cfg(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000"),
        ])
        .unwrap()
        .traces
        .tuning;
        assert_eq!(t.export_timeout, Duration::from_millis(2500));
        assert_eq!(t.schedule_delay, Duration::from_millis(200));
        assert_eq!((t.max_queue, t.max_batch), (100, 100), "batch ≤ queue");
        let t = cfg(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
        ])
        .unwrap()
        .traces
        .tuning;
        assert_eq!(
            t.export_timeout,
            Duration::from_millis(700),
            "signal-specific wins"
        );
        // OTEL_TRACES_EXPORTER=none: no exporter even with an endpoint.
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert!(cfg(&[endpoint]).unwrap().traces.otlp.is_some());
        assert!(
            cfg(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")])
                .unwrap()
                .traces
                .otlp
                .is_none()
        );
        assert!(
            cfg(&[endpoint, ("OTEL_TRACES_EXPORTER", "otlp")])
                .unwrap()
                .traces
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
                    .traces
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
        assert_eq!(cfg(&[attrs]).unwrap().traces.service_name, "shop");
        assert_eq!(
            cfg(&[attrs, ("OTEL_SERVICE_NAME", "front")])
                .unwrap()
                .traces
                .service_name,
            "front"
        );
        assert_eq!(
            cfg(&[("OTEL_RESOURCE_ATTRIBUTES", "a=b")])
                .unwrap()
                .traces
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
        let o = c.traces.otlp.unwrap();
        assert_eq!(o.protocol, OtlpProtocol::Grpc);
        assert_eq!(o.endpoint, "http://collector:4317");
        let c = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).unwrap();
        assert_eq!(c.traces.otlp.unwrap().protocol, OtlpProtocol::HttpProtobuf);
        let c = cfg(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])
        .unwrap();
        assert!(c.traces.otlp.is_none());
    }

    #[test]
    fn otlp_http_url_headers_and_compression_follow_the_exporter_rules() {
        let otlp = |vars: &[(&str, &str)]| {
            let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
            all.extend_from_slice(vars);
            cfg(&all).map(|c| c.traces.otlp.unwrap())
        };
        // The base endpoint gets the signal's path; the traces one is verbatim.
        assert_eq!(
            otlp(&[]).unwrap().http_traces_url,
            "http://c:4318/v1/traces"
        );
        let o = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/")]).unwrap();
        assert_eq!(
            o.traces.otlp.unwrap().http_traces_url,
            "http://c:4318/base/v1/traces"
        );
        let o = otlp(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:9/custom")]).unwrap();
        assert_eq!(o.http_traces_url, "http://t:9/custom");

        // Pairs split on commas, trimmed, values percent-decoded after the split.
        let o = otlp(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            " api-key = s3cr%3Dt , x-a=b%2C%20c,",
        )]);
        let pairs =
            [("api-key", "s3cr=t"), ("x-a", "b, c")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(o.unwrap().headers, pairs);
        // The traces variable replaces the other, it does not add to it.
        let o = otlp(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=2"),
        ]);
        assert_eq!(o.unwrap().headers, [("b".to_owned(), "2".to_owned())]);
        // What the exporter would drop silently is an error naming the variable.
        for bad in ["novalue", "=v", "k=", "bad key=v", "k=a\nb", "k=%0A"] {
            let e = otlp(&[("OTEL_EXPORTER_OTLP_HEADERS", bad)]).unwrap_err();
            assert_eq!(e.var, "OTEL_EXPORTER_OTLP_HEADERS", "{bad}");
        }

        assert!(otlp(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "None")]).is_ok());
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzp"),
        ] {
            assert_eq!(otlp(&[(var, value)]).unwrap_err().var, var);
        }
        // The traces variable wins.
        let o = otlp(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ]);
        assert!(o.is_ok());
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
        assert_eq!(c.server.port, 8080);
        assert!(c.traces.otlp.is_none());
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
