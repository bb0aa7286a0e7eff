//! Every environment variable the service reads, declared once: name,
//! default, meaning and the component that owns it. `hello --help` prints
//! this table, and the README's configuration table is generated from it
//! (a test fails when the README differs).

pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub owner: &'static str,
    pub meaning: &'static str,
}

const fn v(
    name: &'static str,
    default: &'static str,
    owner: &'static str,
    meaning: &'static str,
) -> Variable {
    Variable {
        name,
        default,
        owner,
        meaning,
    }
}

pub const VARIABLES: &[Variable] = &[
    v(
        "PORT",
        "8080",
        "server",
        "public listen port: the API (1024–65535; `0` = any free port, for tests)",
    ),
    v(
        "ADMIN_PORT",
        "8081",
        "server",
        "admin listen port: probes and `/metrics`, never published (same rules; must differ from `PORT`)",
    ),
    v(
        "MAX_CONNECTIONS",
        "16384",
        "server",
        "open public connections before the listener stops accepting (new ones wait in the kernel backlog); about 13 KiB each",
    ),
    v(
        "MAX_CONCURRENT_REQUESTS",
        "512",
        "server",
        "in-flight requests before shedding with 503 + `Retry-After: 1`",
    ),
    v(
        "MAX_HEADER_BYTES",
        "16384",
        "server",
        "request header block size (431 above it)",
    ),
    v(
        "REQUEST_TIMEOUT_SECONDS",
        "10",
        "server",
        "per-request budget (503 after it; 408 when the client's body was still missing); also how long a response may wait for its client to read",
    ),
    v(
        "HEADER_READ_TIMEOUT_SECONDS",
        "5",
        "server",
        "time a client gets to send its headers (slowloris bound); idle keep-alive connections close after it",
    ),
    v(
        "SHUTDOWN_DRAIN_SECONDS",
        "5",
        "server",
        "how long to keep serving after SIGTERM with readiness 503 and `Connection: close`",
    ),
    v(
        "MESSAGES",
        "Hello, World!",
        "greeting",
        "greetings, one per line (from ConfigMap `message-config` on Kubernetes)",
    ),
    v(
        "HOSTNAME",
        "the kernel's host name",
        "greeting",
        "the `hostname` of the JSON greeting (the pod name on Kubernetes)",
    ),
    v(
        "TMPDIR",
        "/tmp",
        "scratch",
        "scratch data lives in `$TMPDIR/hello-scratch` (an `emptyDir` on Kubernetes)",
    ),
    v(
        "SCRATCH_MAX_BYTES",
        "1048576",
        "scratch",
        "largest body a scratch `PUT` may send (413 above it)",
    ),
    v(
        "SCRATCH_QUOTA_BYTES",
        "33554432",
        "scratch",
        "all scratch data together (507 above it)",
    ),
    v(
        "FAULT_INJECTION",
        "false",
        "faults",
        "mount the fault-injection routes `/v1/status`, `/v1/delay`, `/v1/panic`",
    ),
    v(
        "RUST_LOG",
        "info",
        "logs",
        "log filter (`tracing-subscriber` `EnvFilter` syntax)",
    ),
    v(
        "LOG_FORMAT",
        "json",
        "logs",
        "`pretty` for humans at a terminal",
    ),
    v(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "unset",
        "traces",
        "OTLP collector; unset = no exporter, nothing else changes",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "unset",
        "traces",
        "the traces endpoint, used verbatim (wins over the one above)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "http/protobuf",
        "traces",
        "`http/protobuf` or `grpc`",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "unset",
        "traces",
        "the same, for traces only (wins over the one above)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "unset",
        "traces",
        "`key=value,...` sent with every export (values percent-decoded)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "unset",
        "traces",
        "the same, for traces only (used instead of the one above)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "unset",
        "traces",
        "`none` only: no compression is built in (`OTEL_EXPORTER_OTLP_TRACES_COMPRESSION` wins)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "unset",
        "traces",
        "the same, for traces only",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "5000",
        "traces",
        "export timeout in ms (`OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` wins)",
    ),
    v(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "unset",
        "traces",
        "export timeout in ms, traces only",
    ),
    v(
        "OTEL_BSP_SCHEDULE_DELAY",
        "1000",
        "traces",
        "ms between exports of the batch processor",
    ),
    v(
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "2048",
        "traces",
        "spans queued for export before new ones are dropped (and counted)",
    ),
    v(
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "512",
        "traces",
        "spans per export (at most the queue size)",
    ),
    v(
        "OTEL_TRACES_EXPORTER",
        "otlp",
        "traces",
        "`otlp` or `none` (no export even with an endpoint)",
    ),
    v(
        "OTEL_TRACES_SAMPLER",
        "parentbased_always_on",
        "traces",
        "`always_on`, `always_off`, `traceidratio`, `parentbased_*`",
    ),
    v(
        "OTEL_TRACES_SAMPLER_ARG",
        "1.0",
        "traces",
        "the ratio of the `*traceidratio` samplers (0..1)",
    ),
    v(
        "OTEL_PROPAGATORS",
        "tracecontext,baggage",
        "traces",
        "`tracecontext` continues an incoming W3C `traceparent`; `none` starts a trace per request",
    ),
    v(
        "OTEL_SERVICE_NAME",
        "hello",
        "traces",
        "`service.name` (wins over the one in `OTEL_RESOURCE_ATTRIBUTES`)",
    ),
    v(
        "OTEL_RESOURCE_ATTRIBUTES",
        "unset",
        "traces",
        "`key=value,...` resource attributes of every span",
    ),
    v(
        "OTEL_SDK_DISABLED",
        "false",
        "traces",
        "`true`: no exporter whatever else is set",
    ),
    v(
        "POD_NAME",
        "unset",
        "traces",
        "downward API: resource attribute `k8s.pod.name`",
    ),
    v(
        "POD_NAMESPACE",
        "unset",
        "traces",
        "downward API: resource attribute `k8s.namespace.name`",
    ),
    v(
        "NODE_NAME",
        "unset",
        "traces",
        "downward API: resource attribute `k8s.node.name`",
    ),
    v(
        "KAFKA_BROKERS",
        "unset",
        "kafka",
        "`host:port,...`: turns the Kafka log sink on ([docs/KAFKA.md](docs/KAFKA.md)); unset = no Kafka code runs",
    ),
    v(
        "KAFKA_LOG_TOPIC",
        "hello-logs",
        "kafka",
        "the topic each log line is produced to",
    ),
    v(
        "KAFKA_LOG_LEVEL",
        "info",
        "kafka",
        "the least severe level produced",
    ),
    v(
        "KAFKA_QUEUE_MAX_EVENTS",
        "10000",
        "kafka",
        "events queued for the broker before new ones are dropped (and counted)",
    ),
    v(
        "KAFKA_PROP_<NAME>",
        "unset",
        "kafka",
        "any librdkafka property, `_` → `.` (`KAFKA_PROP_SECURITY_PROTOCOL`)",
    ),
];

/// The README's configuration table.
pub fn markdown() -> String {
    let mut out =
        String::from("| variable | default | owner | meaning |\n| --- | --- | --- | --- |\n");
    for v in VARIABLES {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            v.name,
            if v.default == "unset" || v.default.contains(' ') {
                v.default.to_owned()
            } else {
                format!("`{}`", v.default)
            },
            v.owner,
            v.meaning
        ));
    }
    out
}

/// `hello --help`.
pub fn help() -> String {
    let mut out = format!(
        "hello {} — an observability-first HTTP service\n\n\
         usage: hello [serve]        run the service (the default)\n       \
         hello healthcheck    GET /healthz on 127.0.0.1:$ADMIN_PORT, exit 0 when it answers 200\n       \
         hello version        print the version and revision\n       \
         hello --help         this text\n\n\
         environment (read once at start; a bad value exits 78 naming the variable):\n",
        crate::build_info::VERSION
    );
    let width = VARIABLES.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in VARIABLES {
        let meaning = v.meaning.replace('`', "");
        out.push_str(&format!(
            "  {:width$}  {:<8} default {}: {}\n",
            v.name, v.owner, v.default, meaning
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_generated_from_the_declarations() {
        let readme = include_str!("../../README.md");
        let start = "<!-- configuration table: generated from src/settings/table.rs -->\n";
        let end = "<!-- end of configuration table -->";
        let table = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(t, _)| t)
            .expect("README has the configuration table markers");
        assert_eq!(
            table,
            markdown(),
            "README.md's configuration table differs from src/settings/table.rs; replace it with:\n{}",
            markdown()
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = VARIABLES.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len());
    }

    /// The table is the parsers' contract, not a copy that may drift: every
    /// variable a parser reads is declared, and every declared default is
    /// the value the service uses when the variable is unset.
    #[test]
    fn the_declared_names_and_defaults_are_what_the_parsers_read() {
        use std::cell::RefCell;
        use std::collections::BTreeSet;

        use crate::config::Config;

        // Defaults that are not a literal value.
        let computed = ["HOSTNAME", "KAFKA_PROP_<NAME>"];
        let literal = |v: &&Variable| v.default != "unset" && !computed.contains(&v.name);
        let parse = |set: &[(&str, &str)], read: &RefCell<BTreeSet<String>>| {
            Config::from_lookup(|name| {
                read.borrow_mut().insert(name.to_owned());
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .map(|c| format!("{c:?}"))
        };
        let declared: BTreeSet<String> = VARIABLES.iter().map(|v| v.name.to_owned()).collect();

        let read = RefCell::new(BTreeSet::new());
        let unset = parse(&[], &read).unwrap();
        // With an endpoint and a broker, the variables read only then are read too.
        let exporting = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("KAFKA_BROKERS", "127.0.0.1:9092"),
        ];
        let unset_exporting = parse(&exporting, &read).unwrap();
        let undeclared: Vec<_> = read.borrow().difference(&declared).cloned().collect();
        assert!(
            undeclared.is_empty(),
            "read but not declared: {undeclared:?}"
        );

        for v in VARIABLES.iter().filter(literal) {
            let base = if v.owner == "traces" || v.owner == "kafka" {
                (&exporting[..], &unset_exporting)
            } else {
                (&[][..], &unset)
            };
            let mut set = base.0.to_vec();
            set.push((v.name, v.default));
            let parsed = parse(&set, &RefCell::default()).unwrap_or_else(|e| {
                panic!("{}={:?} (its declared default): {e}", v.name, v.default)
            });
            assert_eq!(
                &parsed, base.1,
                "{} set to its declared default {:?} differs from unset",
                v.name, v.default
            );
        }
    }
}
