//! Property-based tests (the "fuzzing" row): the parsers that take input from
//! outside the process — scratch keys (a URL path segment), `MESSAGES`, and
//! every configuration variable — never panic, and accept exactly what an
//! oracle written here, independently of `src/`, accepts.
//!
//! Cases per property: `PROPTEST_CASES` when set, else each test's default
//! (the whole file runs in seconds in the debug profile; the Kafka
//! properties build a librdkafka client per case, about 0.3 ms).
//! Inputs are random on every run; a failure prints the minimal (shrunk)
//! input, and nothing is written to disk (no regression files).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Debug;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hello::Config;
use hello::config::ConfigError;
use hello::routes::greeting::parse_messages;
use hello::scratch::validate_key;
use hello::telemetry::logs::LogFormat;
use hello::telemetry::traces::{OtlpProtocol, SamplerConfig};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

// ---------------------------------------------------------------- harness

/// `PROPTEST_CASES` if set (every property runs that many), else `default`.
/// (proptest's own `Config::with_cases` would ignore the variable.)
fn cases(default: u32) -> u32 {
    match std::env::var("PROPTEST_CASES") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PROPTEST_CASES={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs `test` on `cases` inputs from `strategy`; a failure panics with the
/// reason and the minimal failing input.
fn check<S>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    if let Err(e) = TestRunner::new(config).run(&strategy, test) {
        panic!("{e}");
    }
}

/// Any Unicode text up to `max` chars, biased (by proptest) towards NUL,
/// control characters, `/`, `.`, `%`, BOMs, surrogate neighbours and ASCII.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Whitespace in its many forms, plus one look-alike that is not whitespace
/// (U+200B ZERO WIDTH SPACE) and NUL.
fn padding() -> impl Strategy<Value = String> {
    prop::collection::vec(
        select(vec![
            ' ', '\t', '\n', '\r', '\u{b}', '\u{c}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
            '\u{200b}', '\0',
        ]),
        0..3,
    )
    .prop_map(String::from_iter)
}

// ------------------------------------------------------------ scratch keys

const KEY_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

/// The documented contract: `[A-Za-z0-9._-]{1,128}`, not starting with `.`.
fn key_oracle(key: &str) -> bool {
    let n = key.chars().count();
    (1..=128).contains(&n) && !key.starts_with('.') && key.chars().all(|c| KEY_CHARS.contains(c))
}

/// Exactly the contract's language, as a regex.
const VALID_KEY: &str = "[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}";

/// Keys around the length limit (127..=130 chars).
const LONG_KEY: &str = "[A-Za-z0-9_-][A-Za-z0-9._-]{126,129}";

/// Path-traversal and encoding tricks glued together.
fn key_tokens() -> impl Strategy<Value = String> {
    prop::collection::vec(
        select(vec![
            "a", "Z", "9", "_", "-", ".", "..", "/", "\\", "%2F", "%2e%2e", "%00", "\0", " ", "é",
            "\u{ff0e}", "\u{2215}", "key.txt", "~", ":", "*", "\n", ".tmp-1-2", "\u{feff}",
        ]),
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// A valid key with at most one mutation: a leading dot, one char inserted
/// or replaced by any char, pushed past 128 chars, or emptied.
fn near_key() -> impl Strategy<Value = String> {
    (VALID_KEY, 0..6u8, any::<Index>(), any::<char>(), 1..80usize).prop_map(
        |(key, how, at, c, n)| {
            let mut chars: Vec<char> = key.chars().collect();
            match how {
                0 => {}
                1 => chars.insert(0, '.'),
                2 => chars.insert(at.index(chars.len() + 1), c),
                3 => {
                    let i = at.index(chars.len());
                    chars[i] = c;
                }
                4 => chars.extend(std::iter::repeat_n('k', n)),
                _ => chars.clear(),
            }
            chars.into_iter().collect()
        },
    )
}

fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any_text(600),
        2 => key_tokens(),
        4 => near_key(),
        1 => LONG_KEY,
    ]
}

#[test]
fn validate_key_accepts_exactly_the_contract() {
    let (accepted, rejected) = (Cell::new(0u32), Cell::new(0u32));
    check(cases(10_000), any_key(), |key| {
        let got = validate_key(&key).is_ok();
        prop_assert_eq!(got, key_oracle(&key), "validate_key({:?})", key);
        let n = if got { &accepted } else { &rejected };
        n.set(n.get() + 1);
        Ok(())
    });
    // Not vacuous: both answers were exercised.
    let (a, r) = (accepted.get(), rejected.get());
    assert!(
        a * 10 >= a + r && r * 10 >= a + r,
        "accepted {a}, rejected {r}"
    );
}

#[test]
fn every_key_of_the_contract_is_accepted() {
    check(cases(5_000), VALID_KEY, |key| {
        prop_assert!(validate_key(&key).is_ok(), "rejected {:?}", key);
        Ok(())
    });
}

#[test]
fn an_accepted_key_is_one_plain_file_name_inside_the_directory() {
    let dir = Path::new("/tmp/hello-scratch");
    let accepted = Cell::new(0u32);
    check(cases(5_000), any_key(), |key| {
        if validate_key(&key).is_err() {
            return Ok(());
        }
        accepted.set(accepted.get() + 1);
        let joined = dir.join(&key);
        let rest: Vec<Component> = joined.strip_prefix(dir).unwrap().components().collect();
        prop_assert_eq!(rest, vec![Component::Normal(OsStr::new(&key))], "{:?}", key);
        prop_assert_eq!(joined.parent(), Some(dir));
        prop_assert_eq!(joined.file_name(), Some(OsStr::new(&key)));
        prop_assert_eq!(joined.components().count(), dir.components().count() + 1);
        // Never the store's own temp files (`.tmp-<pid>-<seq>`) or hidden names.
        prop_assert!(!key.starts_with('.'));
        Ok(())
    });
    assert!(
        accepted.get() * 10 >= cases(5_000),
        "{} accepted",
        accepted.get()
    );
}

// ----------------------------------------------------------------- MESSAGES

const MAX_MESSAGE_BYTES: usize = 4096;

/// The documented contract: one greeting per non-blank line, trimmed; none
/// at all, or one over 4096 bytes, is an error.
fn messages_oracle(raw: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for line in raw.split('\n') {
        let t = line.trim_matches(char::is_whitespace);
        if !t.is_empty() {
            out.push(t.to_string());
        }
    }
    if out.is_empty() || out.iter().any(|m| m.len() > MAX_MESSAGE_BYTES) {
        None
    } else {
        Some(out)
    }
}

/// A line exactly `bytes` long (±padding) of a 1- to 4-byte char.
fn long_line() -> impl Strategy<Value = String> {
    (
        padding(),
        MAX_MESSAGE_BYTES - 4..=MAX_MESSAGE_BYTES + 4,
        select(vec!['a', 'é', '€', '😀']),
        padding(),
    )
        .prop_map(|(left, bytes, c, right)| {
            let core: String = std::iter::repeat_n(c, bytes / c.len_utf8())
                .chain(std::iter::repeat_n('x', bytes % c.len_utf8()))
                .collect();
            format!("{left}{core}{right}")
        })
}

fn messages_input() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => any_text(40),
        2 => padding(),
        1 => long_line(),
    ];
    let sep = select(vec!["\n", "\r\n", "\r", "\n\n", "\n \n"]);
    prop_oneof![
        3 => prop::collection::vec((line, sep), 0..8).prop_map(|v| {
            v.into_iter().map(|(l, s)| l + s).collect::<String>()
        }),
        1 => any_text(600),
        1 => padding(),
    ]
}

#[test]
fn parse_messages_matches_its_contract() {
    let (ok, err) = (Cell::new(0u32), Cell::new(0u32));
    check(cases(5_000), messages_input(), |raw| {
        match (parse_messages(&raw), messages_oracle(&raw)) {
            (Ok(got), Some(want)) => {
                prop_assert!(!got.is_empty());
                prop_assert!(got.iter().all(|m| !m.contains('\n')), "{:?}", got);
                prop_assert_eq!(got, want);
                ok.set(ok.get() + 1);
            }
            (Err(reason), None) => {
                prop_assert!(!reason.trim().is_empty());
                err.set(err.get() + 1);
            }
            (got, want) => prop_assert!(false, "got {:?}, oracle {:?}", got, want),
        }
        Ok(())
    });
    let (o, e) = (ok.get(), err.get());
    assert!(o * 10 >= o + e && e * 10 >= o + e, "ok {o}, err {e}");
}

// ------------------------------------------------------------ configuration

/// Every variable `Config` reads (checked by `every_variable_read_is_fuzzed`).
const KNOWN_VARS: &[&str] = &[
    "PORT",
    "ADMIN_PORT",
    "MESSAGES",
    "FAULT_INJECTION",
    "TMPDIR",
    "SCRATCH_MAX_BYTES",
    "SCRATCH_QUOTA_BYTES",
    "SHUTDOWN_DRAIN_SECONDS",
    "REQUEST_TIMEOUT_SECONDS",
    "HEADER_READ_TIMEOUT_SECONDS",
    "MAX_CONCURRENT_REQUESTS",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "RUST_LOG",
    "LOG_FORMAT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_EXPORTER",
    "OTEL_PROPAGATORS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "POD_NAME",
    "POD_NAMESPACE",
    "NODE_NAME",
    "HOSTNAME",
    "KAFKA_BROKERS",
    "KAFKA_LOG_TOPIC",
    "KAFKA_LOG_LEVEL",
    "KAFKA_QUEUE_MAX_EVENTS",
];

/// Read only when `KAFKA_BROKERS` is set: each case builds a librdkafka client.
const KAFKA_VARS: &[&str] = &[
    "KAFKA_BROKERS",
    "KAFKA_LOG_TOPIC",
    "KAFKA_LOG_LEVEL",
    "KAFKA_QUEUE_MAX_EVENTS",
];

/// Fuzzed apart, see `traces_protocol_error_names_the_variable_read`.
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";

const MIB: u128 = 1024 * 1024;

/// The whole-number variables: (name, default, min, max).
const NUMBERS: &[(&str, u128, u128, u128)] = &[
    ("SCRATCH_MAX_BYTES", MIB, 1, u64::MAX as u128),
    ("SCRATCH_QUOTA_BYTES", 32 * MIB, 1, u64::MAX as u128),
    ("SHUTDOWN_DRAIN_SECONDS", 5, 0, 300),
    ("REQUEST_TIMEOUT_SECONDS", 10, 1, 300),
    ("HEADER_READ_TIMEOUT_SECONDS", 5, 1, 60),
    ("MAX_CONCURRENT_REQUESTS", 512, 1, 1_000_000),
    ("MAX_CONNECTIONS", 16_384, 1, 1_000_000),
    ("MAX_HEADER_BYTES", 16 * 1024, 1024, MIB),
    ("KAFKA_QUEUE_MAX_EVENTS", 10_000, 1, 10_000_000),
    ("OTEL_EXPORTER_OTLP_TIMEOUT", 5000, 1, 600_000),
    ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 5000, 1, 600_000),
    ("OTEL_BSP_SCHEDULE_DELAY", 1000, 1, 600_000),
    ("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1_000_000),
];

const SAMPLERS: &[&str] = &[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// Blank values (only whitespace) count as unset, except for `MESSAGES`.
fn blank(v: &str) -> bool {
    v.chars().all(char::is_whitespace)
}

/// A whole number the way a person writes it: surrounding whitespace, an
/// optional `+`, ASCII digits. `None` if it is not one. Exact (no overflow).
fn whole_number(v: &str) -> Option<u128> {
    let t = v.trim_matches(char::is_whitespace);
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.chars().try_fold(0u128, |n, c| {
        n.checked_mul(10)?.checked_add(c.to_digit(10)? as u128)
    })
}

/// A ratio written as plain decimal with few digits, compared exactly.
/// `None`: not that simple form (no oracle; exponents, `inf`, long digits).
fn simple_ratio(v: &str) -> Option<bool> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str, max: usize| s.len() <= max && s.chars().all(|c| c.is_ascii_digit());
    if int.is_empty() || !digits(int, 6) || !digits(frac, 6) || (v.contains('.') && frac.is_empty())
    {
        return None;
    }
    let int: u32 = int.parse().ok()?;
    Some(int == 0 || (int == 1 && frac.chars().all(|c| c == '0')))
}

fn parse_bool_oracle(v: &str) -> Option<bool> {
    let t = v.trim_matches(char::is_whitespace);
    match () {
        _ if t.eq_ignore_ascii_case("true") || t == "1" => Some(true),
        _ if t.eq_ignore_ascii_case("false") || t == "0" => Some(false),
        _ => None,
    }
}

/// Kafka's topic rule as documented: 1 to 249 chars of `[a-zA-Z0-9._-]`.
fn topic_ok(t: &str) -> bool {
    (1..=249).contains(&t.chars().count())
        && t.chars().all(|c| KEY_CHARS.contains(c))
        && t != "."
        && t != ".."
}

/// `host:port` entries, comma-separated; host of name/IP characters
/// (`[v6]` allowed), port 1..65535. Returns the list as the service keeps it.
fn brokers_oracle(v: &str) -> Option<String> {
    let entries: Vec<&str> = v.split(',').map(|e| e.trim()).collect();
    for e in &entries {
        let colon = e.rfind(':')?;
        let (host, port) = (&e[..colon], &e[colon + 1..]);
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_[]:".contains(c));
        let port_ok = whole_number(port).is_some_and(|n| (1..=65535).contains(&n))
            && port.chars().all(|c| c.is_ascii_digit());
        if !(host_ok && port_ok) {
            return None;
        }
    }
    Some(entries.join(","))
}

fn port_oracle(v: &str) -> Option<u128> {
    whole_number(v).filter(|n| *n == 0 || (1024..=65535).contains(n))
}

type Env = BTreeMap<String, String>;

/// Set and not blank.
fn value<'a>(env: &'a Env, var: &str) -> Option<&'a str> {
    env.get(var).map(String::as_str).filter(|v| !blank(v))
}

fn number(env: &Env, var: &str) -> u128 {
    let (_, default, ..) = NUMBERS.iter().find(|(n, ..)| *n == var).unwrap();
    value(env, var).map_or(*default, |v| whole_number(v).unwrap())
}

fn kafka_on(env: &Env) -> bool {
    value(env, "KAFKA_BROKERS").is_some()
}

fn ratio_sampler(env: &Env) -> bool {
    matches!(
        value(env, "OTEL_TRACES_SAMPLER"),
        Some("traceidratio" | "parentbased_traceidratio")
    )
}

/// Whether the exporter's own settings (headers, compression) are read:
/// an endpoint is set and spans are exported. `None`: a variable read
/// before them is invalid, so either is fine.
fn exporter_settings_read(env: &Env) -> Option<bool> {
    match value(env, "OTEL_SDK_DISABLED").map(parse_bool_oracle) {
        Some(None) => return None,
        Some(Some(true)) => return Some(false),
        _ => {}
    }
    match value(env, "OTEL_TRACES_EXPORTER").map(str::trim) {
        Some("none") => return Some(false),
        Some("otlp") | None => {}
        Some(_) => return None,
    }
    Some(
        value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || value(env, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
    )
}

/// `key=value` pairs, comma-separated (empty ones skipped): a header name
/// token, and a value that is a valid header value once percent-decoded.
fn headers_oracle(v: &str) -> bool {
    let token = |k: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .all(|pair| {
            let Some((k, raw)) = pair.split_once('=') else {
                return false;
            };
            let raw = raw.trim();
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_or_else(|_| raw.to_owned(), |d| d.into_owned());
            token(k.trim())
                && !decoded.is_empty()
                && decoded
                    .bytes()
                    .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        })
}

/// What the configuration must do with one variable of `env`:
/// `Some(true)` accept, `Some(false)` reject (naming it), `None` no oracle
/// (either is fine, but an error must name it).
fn var_oracle(env: &Env, var: &str) -> Option<bool> {
    let raw = env.get(var).map(String::as_str).unwrap_or("");
    if var == "MESSAGES" {
        return Some(env.get(var).is_none() || messages_oracle(raw).is_some());
    }
    if KAFKA_VARS.contains(&var) && !kafka_on(env) {
        return Some(true); // not read at all
    }
    if var == "OTEL_TRACES_SAMPLER_ARG" && !ratio_sampler(env) {
        return Some(true); // ignored by the samplers that take no ratio
    }
    let Some(v) = value(env, var) else {
        return Some(true); // unset or blank: the default
    };
    if let Some((_, _, min, max)) = NUMBERS.iter().find(|(n, ..)| *n == var) {
        return Some(whole_number(v).is_some_and(|n| (*min..=*max).contains(&n)));
    }
    match var {
        "PORT" | "ADMIN_PORT" => Some(port_oracle(v).is_some()),
        "FAULT_INJECTION" | "OTEL_SDK_DISABLED" => Some(parse_bool_oracle(v).is_some()),
        "TMPDIR" => Some(v.starts_with('/')),
        "LOG_FORMAT" => Some(v == "json" || v == "pretty"),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => {
            Some(value(env, TRACES_PROTOCOL).is_some() || v == "grpc" || v == "http/protobuf")
        }
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => Some(v == "grpc" || v == "http/protobuf"),
        "OTEL_TRACES_SAMPLER" => Some(SAMPLERS.contains(&v)),
        "OTEL_TRACES_EXPORTER" => match value(env, "OTEL_SDK_DISABLED").map(parse_bool_oracle) {
            // Read only when the SDK is on; an invalid OTEL_SDK_DISABLED fails first.
            Some(Some(true)) => Some(true),
            Some(None) => None,
            _ => Some(matches!(v.trim(), "otlp" | "none")),
        },
        "OTEL_PROPAGATORS" => Some(
            v.split(',')
                .all(|p| matches!(p.trim(), "tracecontext" | "baggage" | "none")),
        ),
        "OTEL_RESOURCE_ATTRIBUTES" => Some(true),
        "OTEL_EXPORTER_OTLP_HEADERS" | "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => {
            let used = var == "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
                || value(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS").is_none();
            match exporter_settings_read(env) {
                Some(true) if used => Some(headers_oracle(v)),
                Some(_) => Some(true),
                None => None,
            }
        }
        "OTEL_EXPORTER_OTLP_COMPRESSION" | "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => {
            let used = var == "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
                || value(env, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION").is_none();
            match exporter_settings_read(env) {
                Some(true) if used => Some(v.trim().eq_ignore_ascii_case("none")),
                Some(_) => Some(true),
                None => None,
            }
        }
        "OTEL_TRACES_SAMPLER_ARG" => simple_ratio(v),
        "KAFKA_LOG_TOPIC" => Some(topic_ok(v)),
        "KAFKA_BROKERS" => Some(brokers_oracle(v).is_some()),
        "OTEL_SERVICE_NAME" | "POD_NAME" | "POD_NAMESPACE" | "NODE_NAME" | "HOSTNAME" => Some(true),
        // RUST_LOG (EnvFilter's grammar), the endpoints (URI grammar),
        // KAFKA_LOG_LEVEL (tracing's Level parser): no oracle here.
        _ => None,
    }
}

/// The verdict on a whole environment: the variables an error may name
/// (empty: it must be accepted) and whether rejection is certain.
fn env_oracle(env: &Env) -> (BTreeSet<String>, bool) {
    let mut may_name = BTreeSet::new();
    let mut must_fail = false;
    for var in env.keys() {
        match var_oracle(env, var) {
            Some(true) => {}
            Some(false) => {
                may_name.insert(var.clone());
                must_fail = true;
            }
            None => {
                may_name.insert(var.clone());
            }
        }
    }
    // Two listeners, two ports (0 = any free one), reported on ADMIN_PORT.
    let ports_ok = ["PORT", "ADMIN_PORT"]
        .iter()
        .all(|v| var_oracle(env, v) == Some(true));
    let port = |var, default| value(env, var).map_or(default, |v| whole_number(v).unwrap());
    if ports_ok && port("PORT", 8080) == port("ADMIN_PORT", 8081) && port("PORT", 8080) != 0 {
        may_name.insert("ADMIN_PORT".to_owned());
        must_fail = true;
    }
    // Quota ≥ per-body limit, reported on the quota.
    let numbers_ok = ["SCRATCH_MAX_BYTES", "SCRATCH_QUOTA_BYTES"]
        .iter()
        .all(|v| var_oracle(env, v) == Some(true));
    if numbers_ok && number(env, "SCRATCH_QUOTA_BYTES") < number(env, "SCRATCH_MAX_BYTES") {
        may_name.insert("SCRATCH_QUOTA_BYTES".to_owned());
        must_fail = true;
    }
    (may_name, must_fail)
}

/// An accepted configuration holds exactly the values the oracle expects.
fn check_fields(env: &Env, c: &Config) -> Result<(), TestCaseError> {
    let text = |var: &str, default: &str| value(env, var).unwrap_or(default).to_owned();
    let port = value(env, "PORT").map_or(8080, |v| whole_number(v).unwrap());
    prop_assert_eq!(c.server.port as u128, port);
    let admin_port = value(env, "ADMIN_PORT").map_or(8081, |v| whole_number(v).unwrap());
    prop_assert_eq!(c.server.admin_port as u128, admin_port);
    let messages = match env.get("MESSAGES") {
        None => vec!["Hello, World!".to_owned()],
        Some(m) => messages_oracle(m).unwrap(),
    };
    prop_assert_eq!(&c.greeting.messages, &messages);
    let fault = value(env, "FAULT_INJECTION").is_some_and(|v| parse_bool_oracle(v).unwrap());
    prop_assert_eq!(c.fault_injection, fault);
    prop_assert_eq!(&c.scratch.tmp_dir, &PathBuf::from(text("TMPDIR", "/tmp")));
    prop_assert_eq!(
        c.scratch.max_bytes as u128,
        number(env, "SCRATCH_MAX_BYTES")
    );
    prop_assert_eq!(
        c.scratch.quota_bytes as u128,
        number(env, "SCRATCH_QUOTA_BYTES")
    );
    let secs = |var| Duration::from_secs(number(env, var) as u64);
    prop_assert_eq!(c.server.shutdown_drain, secs("SHUTDOWN_DRAIN_SECONDS"));
    prop_assert_eq!(c.server.request_timeout, secs("REQUEST_TIMEOUT_SECONDS"));
    prop_assert_eq!(
        c.server.header_read_timeout,
        secs("HEADER_READ_TIMEOUT_SECONDS")
    );
    prop_assert_eq!(
        c.server.max_concurrent_requests as u128,
        number(env, "MAX_CONCURRENT_REQUESTS")
    );
    prop_assert_eq!(
        c.server.max_connections as u128,
        number(env, "MAX_CONNECTIONS")
    );
    prop_assert_eq!(
        c.server.max_header_bytes as u128,
        number(env, "MAX_HEADER_BYTES")
    );
    // Each directive trimmed, empty ones dropped; nothing left means the default.
    let filter = without_blanks(&text("RUST_LOG", "info"));
    let filter = if filter.is_empty() {
        "info".to_owned()
    } else {
        filter
    };
    prop_assert_eq!(&c.logs.filter, &filter);
    let pretty = value(env, "LOG_FORMAT") == Some("pretty");
    prop_assert_eq!(
        c.logs.format,
        if pretty {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        }
    );

    // No exporter when the SDK is disabled or OTEL_TRACES_EXPORTER=none.
    let disabled = value(env, "OTEL_SDK_DISABLED").is_some_and(|v| parse_bool_oracle(v).unwrap())
        || value(env, "OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
    let endpoint = value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| value(env, "OTEL_EXPORTER_OTLP_ENDPOINT"));
    match (&c.traces.otlp, endpoint.filter(|_| !disabled)) {
        (None, None) => {}
        (Some(o), Some(e)) => {
            prop_assert_eq!(&o.endpoint, e);
            let lower = e.to_ascii_lowercase();
            prop_assert!(lower.starts_with("http://") || lower.starts_with("https://"));
            let protocol = value(env, TRACES_PROTOCOL)
                .or_else(|| value(env, "OTEL_EXPORTER_OTLP_PROTOCOL"))
                .unwrap_or("http/protobuf");
            let want = if protocol == "grpc" {
                OtlpProtocol::Grpc
            } else {
                OtlpProtocol::HttpProtobuf
            };
            prop_assert_eq!(o.protocol, want);
            // OTLP/HTTP: the traces endpoint verbatim, else the base one + the signal's path.
            let url = match value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                Some(t) => t.to_owned(),
                None => format!("{}/v1/traces", e.strip_suffix('/').unwrap_or(e)),
            };
            prop_assert_eq!(&o.http_traces_url, &url);
        }
        (got, want) => prop_assert!(false, "otlp {:?}, expected endpoint {:?}", got, want),
    }

    // Read only with a ratio sampler (else it may be anything).
    let ratio = || value(env, "OTEL_TRACES_SAMPLER_ARG").map_or(1.0, |a| a.parse().unwrap());
    let sampler = match value(env, "OTEL_TRACES_SAMPLER") {
        None | Some("parentbased_always_on") => SamplerConfig::ParentBasedAlwaysOn,
        Some("always_on") => SamplerConfig::AlwaysOn,
        Some("always_off") => SamplerConfig::AlwaysOff,
        Some("parentbased_always_off") => SamplerConfig::ParentBasedAlwaysOff,
        Some("traceidratio") => SamplerConfig::TraceIdRatio(ratio()),
        Some(_) => SamplerConfig::ParentBasedTraceIdRatio(ratio()),
    };
    prop_assert_eq!(c.traces.sampler, sampler);
    if let SamplerConfig::TraceIdRatio(r) | SamplerConfig::ParentBasedTraceIdRatio(r) =
        c.traces.sampler
    {
        prop_assert!((0.0..=1.0).contains(&r));
    }

    let from_attributes = value(env, "OTEL_RESOURCE_ATTRIBUTES").and_then(|a| {
        a.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == "service.name" && !v.trim().is_empty()).then(|| v.trim().to_owned())
        })
    });
    let service = value(env, "OTEL_SERVICE_NAME")
        .map(str::to_owned)
        .or(from_attributes)
        .unwrap_or_else(|| "hello".to_owned());
    prop_assert_eq!(&c.traces.service_name, &service);
    prop_assert_eq!(c.traces.pod_name.as_deref(), value(env, "POD_NAME"));
    prop_assert_eq!(
        c.traces.pod_namespace.as_deref(),
        value(env, "POD_NAMESPACE")
    );
    prop_assert_eq!(c.traces.node_name.as_deref(), value(env, "NODE_NAME"));
    if let Some(h) = value(env, "HOSTNAME") {
        prop_assert_eq!(&c.greeting.hostname, h);
    }

    match (&c.kafka, value(env, "KAFKA_BROKERS")) {
        (None, None) => {}
        (Some(k), Some(b)) => {
            prop_assert_eq!(Some(k.brokers.clone()), brokers_oracle(b));
            prop_assert_eq!(&k.topic, &text("KAFKA_LOG_TOPIC", "hello-logs"));
            prop_assert!(topic_ok(&k.topic));
            prop_assert_eq!(
                k.queue_max_events as u128,
                number(env, "KAFKA_QUEUE_MAX_EVENTS")
            );
        }
        (got, want) => prop_assert!(false, "kafka {:?}, brokers {:?}", got, want),
    }
    Ok(())
}

/// The error names one of the variables it may name, in `var` and in its text.
fn check_error(
    env: &Env,
    may_name: &BTreeSet<String>,
    e: &ConfigError,
) -> Result<(), TestCaseError> {
    prop_assert!(
        may_name.contains(e.var.as_ref()),
        "error names {:?}, expected one of {:?}: {}",
        e.var,
        may_name,
        e
    );
    let text = e.to_string();
    let prefix = format!("invalid {}=", e.var);
    prop_assert!(text.starts_with(&prefix), "{}", text);
    prop_assert!(!e.reason.trim().is_empty(), "{}", text);
    // A value given is echoed as given (the quota rule shows the number).
    if let Some(v) = env.get(e.var.as_ref()) {
        prop_assert!(e.value == *v || e.var == "SCRATCH_QUOTA_BYTES", "{}", text);
    }
    Ok(())
}

/// Parses `env` through `from_lookup` (and `from_vars`, which must agree)
/// and checks the outcome against the oracle. Returns whether it was accepted.
fn check_config(env: &Env, both_paths: bool) -> Result<bool, TestCaseError> {
    let got = Config::from_lookup(|k| env.get(k).cloned());
    if both_paths {
        let again = Config::from_vars(env.clone());
        prop_assert_eq!(
            got.as_ref().map(|_| ()).map_err(|e| e.var.clone()),
            again.as_ref().map(|_| ()).map_err(|e| e.var.clone()),
            "from_lookup and from_vars disagree"
        );
    }
    let (may_name, must_fail) = env_oracle(env);
    match got {
        Ok(c) => {
            prop_assert!(
                !must_fail,
                "accepted, but the oracle rejects {:?}",
                may_name
            );
            check_fields(env, &c)?;
            Ok(true)
        }
        Err(e) => {
            prop_assert!(
                !may_name.is_empty(),
                "rejected, but the oracle accepts: {}",
                e
            );
            check_error(env, &may_name, &e)?;
            Ok(false)
        }
    }
}

/// Padding, absent most of the time.
fn some_padding() -> impl Strategy<Value = String> {
    prop_oneof![3 => Just(String::new()), 1 => padding()]
}

/// Numbers as people (and typos) write them: padded, signed, leading
/// zeros, around common bounds, huge, with separators or units.
fn numberish() -> impl Strategy<Value = String> {
    let n = prop_oneof![
        (0i128..70_000).prop_map(|n| n.to_string()),
        any::<i128>().prop_map(|n| n.to_string()),
        select(vec![
            u32::MAX as i128,
            u64::MAX as i128,
            1 << 64,
            i64::MIN as i128
        ])
        .prop_map(|n| n.to_string()),
        "[0-9]{15,45}",
        "[0-9]{1,4}[._,eE x][0-9]{1,3}|0x[0-9a-f]{1,4}|[0-9]{1,3}(k|M|MiB|s|ms)",
    ];
    (some_padding(), sign(), n, some_padding())
        .prop_map(|(l, sign, n, r)| format!("{l}{sign}{n}{r}"))
}

fn sign() -> impl Strategy<Value = &'static str> {
    select(vec!["", "", "", "", "+", "-", "++", "0", "00", "-0"])
}

/// `bound - 1`, `bound` or `bound + 1` for one of `bounds`, spelled as
/// `numberish` spells numbers.
fn near(bounds: Vec<u128>) -> impl Strategy<Value = String> {
    (
        some_padding(),
        sign(),
        select(bounds),
        -1i128..=1,
        some_padding(),
    )
        .prop_map(|(l, sign, b, d, r)| format!("{l}{sign}{}{r}", b as i128 + d))
}

/// `word`, sometimes in another case and padded.
fn spelled(words: Vec<&'static str>) -> impl Strategy<Value = String> {
    (some_padding(), select(words), 0..4u8, some_padding()).prop_map(|(l, w, case, r)| {
        let w = match case {
            1 => w.to_ascii_uppercase(),
            2 => {
                let mut chars = w.chars();
                chars.next().map_or(String::new(), |c| {
                    c.to_uppercase().chain(chars).collect::<String>()
                })
            }
            _ => w.to_owned(),
        };
        format!("{l}{w}{r}")
    })
}

/// The words one variable takes, and their near misses.
fn words(var: &str) -> Vec<&'static str> {
    let bools = vec![
        "true", "false", "1", "0", "yes", "no", "on", "off", "t", "truee",
    ];
    let endpoints = vec![
        "http://collector:4318",
        "https://c:4317/v1/traces",
        "HTTP://c",
        "collector:4317",
        "http://",
        "http://:80",
        "unix:///x",
        "http://[::1]:4317",
        "grpc://c:4317",
        "http:// c",
        "https://c/p?q=1#f",
        "//c:4317",
    ];
    let protocols = vec![
        "grpc",
        "http/protobuf",
        "http/json",
        "http",
        "protobuf",
        "grpc ",
    ];
    let names = vec!["hello", "pod-0", "ns", "node.local", "a b", "ünï"];
    match var {
        "FAULT_INJECTION" | "OTEL_SDK_DISABLED" => bools,
        "LOG_FORMAT" => vec!["json", "pretty", "text", "compact", "jsonl"],
        "OTEL_TRACES_EXPORTER" => {
            vec!["otlp", "none", "zipkin", "console", "otlp,console", " otlp"]
        }
        "OTEL_PROPAGATORS" => vec![
            "tracecontext",
            "baggage",
            "none",
            "tracecontext,baggage",
            "b3",
            "tracecontext,",
            " tracecontext , baggage",
        ],
        "OTEL_RESOURCE_ATTRIBUTES" => vec![
            "service.name=shop",
            "a=b,service.name= x ",
            "service.name=",
            "=,=",
            "k8s.pod.name=p",
        ],
        "OTEL_EXPORTER_OTLP_PROTOCOL" | "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" => protocols,
        "OTEL_EXPORTER_OTLP_HEADERS" | "OTEL_EXPORTER_OTLP_TRACES_HEADERS" => vec![
            "api-key=s3cr%3Dt",
            " a = b , c=d%2C%20e ,",
            "a=b,,c=d",
            "novalue",
            "=v",
            "k=",
            "k=%20",
            "bad key=v",
            "k=%0A",
            "k=%ZZ",
            "k=%FF",
            "k=ünï",
            "ü=v",
        ],
        "OTEL_EXPORTER_OTLP_COMPRESSION" | "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION" => {
            vec!["none", "NONE", " none ", "gzip", "zstd", "gz", "no"]
        }
        "OTEL_EXPORTER_OTLP_ENDPOINT" | "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" => endpoints,
        "OTEL_TRACES_SAMPLER" => {
            let mut v = SAMPLERS.to_vec();
            v.extend(["always-on", "ratio", "parentbased"]);
            v
        }
        "OTEL_TRACES_SAMPLER_ARG" => vec![
            "0",
            "1",
            "0.5",
            "1.0",
            "1.",
            ".5",
            "1e-1",
            "5e-1",
            "inf",
            "NaN",
            "-0",
            "1.0000001",
            "0.999999",
            "2",
            "-0.5",
            "0,5",
        ],
        "TMPDIR" => vec![
            "/tmp",
            "/",
            "tmp",
            "./x",
            "//x",
            "/var/tmp/",
            "~/tmp",
            "../x",
        ],
        "RUST_LOG" => vec![
            "info",
            "hello=debug,tower=warn",
            "off",
            "hello=loud",
            "=",
            ",",
            "a=b=c",
            "[span]=debug",
            "hello[{f=1}]=trace",
            "x[{a=/re(/}]=info",
            "warn,hello::access=off",
            "TRACE",
        ],
        "MESSAGES" => vec!["Hello", "a\nb", "\n", "Hi\r\nHola\r\n", " \n x \n "],
        "KAFKA_BROKERS" => vec!["k:9092", "k1:9092,k2:9092", ",", "localhost", "k:99999"],
        "KAFKA_LOG_TOPIC" => vec![
            "hello-logs",
            "app.logs-v1",
            ".",
            "..",
            "a b",
            "a/b",
            "__consumer_offsets",
            "é",
        ],
        "KAFKA_LOG_LEVEL" => vec![
            "trace", "debug", "info", "warn", "error", "0", "1", "5", "6", "warning", "off",
        ],
        "OTEL_SERVICE_NAME" | "POD_NAME" | "POD_NAMESPACE" | "NODE_NAME" | "HOSTNAME" => names,
        _ => vec![
            "5", "1.5", "1e3", "0x10", "1_000", "10k", "1MiB", "ten", "-",
        ],
    }
}

/// Its bounds and default, for a number variable.
fn bounds(var: &str) -> Vec<u128> {
    if var == "PORT" || var == "ADMIN_PORT" {
        return vec![0, 1024, 8080, 8081, 65535];
    }
    match NUMBERS.iter().find(|(n, ..)| *n == var) {
        Some((_, default, min, max)) => vec![*default, *min, *max, u64::MAX as u128],
        None => vec![0, 1, 300, 1024, 65535, u64::MAX as u128],
    }
}

/// A value aimed at `var`: its words and their misspellings, numbers at its
/// bounds, other variables' words, and arbitrary text.
fn value_for(var: &'static str) -> BoxedStrategy<String> {
    let special = match var {
        "MESSAGES" => messages_input().boxed(),
        "KAFKA_LOG_TOPIC" => "[a-zA-Z0-9._-]{247,251}".boxed(),
        "OTEL_TRACES_SAMPLER_ARG" => {
            "0(\\.[0-9]{0,6})?|1(\\.0{0,6})?|[0-9]{1,2}\\.[0-9]{1,6}".boxed()
        }
        "TMPDIR" => "/?[./~a-z ]{0,12}".boxed(),
        _ => any_text(16).boxed(),
    };
    let other_words = select(KNOWN_VARS).prop_flat_map(|v| spelled(words(v)));
    prop_oneof![
        4 => spelled(words(var)),
        3 => near(bounds(var)),
        2 => numberish(),
        2 => special,
        2 => other_words,
        2 => any_text(64),
        1 => any_text(600),
        1 => padding(),
    ]
    .boxed()
}

fn var_value(vars: Vec<&'static str>) -> impl Strategy<Value = (String, String)> {
    select(vars).prop_flat_map(|var| value_for(var).prop_map(move |v| (var.to_owned(), v)))
}

/// The comma-separated directives, each trimmed, the empty ones dropped.
fn without_blanks(filter: &str) -> String {
    let mut out = String::new();
    for d in filter.split(',') {
        let d = d.trim();
        if !d.is_empty() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(d);
        }
    }
    out
}

fn env_of(vars: Vec<&'static str>, size: std::ops::Range<usize>) -> impl Strategy<Value = Env> {
    prop::collection::vec(var_value(vars), size).prop_map(Env::from_iter)
}

fn non_kafka_vars() -> Vec<&'static str> {
    KNOWN_VARS
        .iter()
        .copied()
        .filter(|v| !KAFKA_VARS.contains(v) && *v != TRACES_PROTOCOL)
        .collect()
}

#[test]
fn each_variable_alone_is_accepted_exactly_as_the_oracle_says() {
    // The sampler's ratio is only read with a ratio sampler: give it one.
    let env = prop_oneof![
        5 => env_of(non_kafka_vars(), 1..2),
        1 => (select(SAMPLERS), value_for("OTEL_TRACES_SAMPLER_ARG")).prop_map(|(s, a)| {
            Env::from([
                ("OTEL_TRACES_SAMPLER".to_owned(), s.to_owned()),
                ("OTEL_TRACES_SAMPLER_ARG".to_owned(), a),
            ])
        }),
    ];
    let (ok, err) = (Cell::new(0u32), Cell::new(0u32));
    check(cases(4_000), env, |env| {
        let n = if check_config(&env, true)? { &ok } else { &err };
        n.set(n.get() + 1);
        Ok(())
    });
    let (o, e) = (ok.get(), err.get());
    assert!(o * 10 >= o + e && e * 10 >= o + e, "ok {o}, err {e}");
}

#[test]
fn random_combinations_of_variables() {
    check(cases(3_000), env_of(non_kafka_vars(), 0..8), |env| {
        check_config(&env, true).map(drop)
    });
}

#[test]
fn the_port_rule() {
    // PORT alone, through its whole range and around it.
    let port = prop_oneof![
        (0u32..70_000).prop_map(|n| n.to_string()),
        value_for("PORT"),
    ];
    check(cases(3_000), port, |v| {
        let got = Config::from_lookup(|k| (k == "PORT").then(|| v.clone()));
        let want = if blank(&v) {
            Some(8080)
        } else {
            port_oracle(&v)
        };
        match (got, want) {
            // The admin listener's default port is taken: named on ADMIN_PORT.
            (Err(e), Some(8081)) => prop_assert_eq!(e.var.as_ref(), "ADMIN_PORT"),
            (Ok(c), Some(p)) => prop_assert_eq!(c.server.port as u128, p),
            (Err(e), None) => prop_assert_eq!(e.var.as_ref(), "PORT"),
            (got, want) => prop_assert!(false, "PORT={:?}: {:?}, oracle {:?}", v, got, want),
        }
        Ok(())
    });
}

#[test]
fn the_word_rules() {
    // The variables that take one of a few words, in all their spellings.
    let vars = vec![
        "FAULT_INJECTION",
        "OTEL_SDK_DISABLED",
        "LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_TRACES_SAMPLER",
        "TMPDIR",
    ];
    let env = select(vars).prop_flat_map(|var| {
        spelled(words(var)).prop_map(move |v| Env::from([(var.to_owned(), v)]))
    });
    check(cases(2_000), env, |env| check_config(&env, true).map(drop));
}

#[test]
fn the_scratch_limits() {
    // Both byte limits together: positive whole numbers, quota ≥ per-body limit.
    let limit = prop_oneof![
        3 => (0u64..64 * MIB as u64).prop_map(|n| n.to_string()),
        2 => numberish(),
        1 => Just(String::new()),
    ];
    let equalish = (1..64 * MIB as i128, -1i128..=1)
        .prop_map(|(max, d)| (max.to_string(), (max + d).to_string()));
    let limits = prop_oneof![(limit.clone(), limit), equalish];
    check(cases(3_000), limits, |(max, quota)| {
        let env = Env::from([
            ("SCRATCH_MAX_BYTES".to_owned(), max),
            ("SCRATCH_QUOTA_BYTES".to_owned(), quota),
        ]);
        check_config(&env, false).map(drop)
    });
}

#[test]
fn every_variable_read_is_fuzzed() {
    // A lookup that records what is asked, with every optional branch on.
    let seen = RefCell::new(BTreeSet::new());
    let env = Env::from([
        ("KAFKA_BROKERS".to_owned(), "k:9092".to_owned()),
        ("OTEL_TRACES_SAMPLER".to_owned(), "traceidratio".to_owned()),
        ("OTEL_TRACES_SAMPLER_ARG".to_owned(), "0.5".to_owned()),
        ("OTEL_SDK_DISABLED".to_owned(), "false".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            "http://c:4318".to_owned(),
        ),
        ("HOSTNAME".to_owned(), "h".to_owned()),
    ]);
    Config::from_lookup(|k| {
        seen.borrow_mut().insert(k.to_owned());
        env.get(k).cloned()
    })
    .unwrap();
    let known: BTreeSet<String> = KNOWN_VARS.iter().map(|v| v.to_string()).collect();
    let seen = seen.into_inner();
    assert_eq!(seen, known, "update KNOWN_VARS and the oracles");
    // ... and every one is declared (README table, `hello --help`).
    let declared: BTreeSet<String> = hello::settings::table::VARIABLES
        .iter()
        .map(|v| v.name.to_owned())
        .collect();
    let undeclared: Vec<_> = seen.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "not in src/settings/table.rs: {undeclared:?}"
    );
}

// -------------------------------------------------------------------- Kafka

fn with_brokers(env: Env) -> Env {
    let mut env = env;
    env.entry("KAFKA_BROKERS".to_owned())
        .or_insert_with(|| "k:9092".to_owned());
    env
}

#[test]
fn kafka_variables() {
    let vars: Vec<&'static str> = KNOWN_VARS
        .iter()
        .copied()
        .filter(|v| *v != TRACES_PROTOCOL)
        .collect();
    let env = prop_oneof![
        2 => env_of(KAFKA_VARS.to_vec(), 1..2),
        1 => env_of(vars, 0..6),
    ];
    check(cases(2_000), env.prop_map(with_brokers), |env| {
        check_config(&env, false).map(drop)
    });
}

/// librdkafka properties, as `KAFKA_PROP_<NAME>` spells them, with a value
/// librdkafka takes.
const GOOD_PROPS: &[(&str, &str)] = &[
    ("ACKS", "all"),
    ("LINGER_MS", "5"),
    ("COMPRESSION_TYPE", "lz4"),
    ("MESSAGE_TIMEOUT_MS", "1000"),
    ("BATCH_SIZE", "1000"),
    ("CLIENT_ID", "x"),
    ("SECURITY_PROTOCOL", "PLAINTEXT"),
    ("SASL_USERNAME", "u"),
];

/// More names: needing other settings, or unknown.
const OTHER_PROPS: &[&str] = &[
    "ENABLE_IDEMPOTENCE",
    "SASL_MECHANISM",
    "BOOTSTRAP_SERVERS",
    "QUEUE_BUFFERING_MAX_MESSAGES",
    "DEBUG",
    "SSL_CA_LOCATION",
    "NO_SUCH_PROPERTY",
];

/// Names whose values are credentials: never shown.
const SECRET_PROPS: &[&str] = &[
    "SASL_PASSWORD",
    "SSL_KEY_PASSWORD",
    "SSL_KEYSTORE_PASSWORD",
    "SASL_OAUTHBEARER_CLIENT_SECRET",
    "SSL_KEY_PEM",
    "SASL_KERBEROS_KEYTAB",
];

/// The documented rule for `KAFKA_PROP_<NAME>`: NAME of `[A-Za-z0-9_]`.
fn prop_name_ok(name: &str) -> bool {
    const NAME_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    !name.is_empty() && name.chars().all(|c| NAME_CHARS.contains(c))
}

/// `name` in another case, sometimes with one char that is not allowed,
/// or emptied.
fn misspelled(names: Vec<&'static str>) -> impl Strategy<Value = String> {
    let bad = select(vec!['-', '.', ' ', 'é', '$', '=', '\u{0}', '\u{130}']);
    (select(names), 0..3u8, 0..5u8, any::<Index>(), bad).prop_map(|(n, case, how, at, c)| {
        let mut n = match case {
            1 => n.to_ascii_lowercase(),
            2 => n[..1].to_owned() + &n[1..].to_ascii_lowercase(),
            _ => n.to_owned(),
        };
        match how {
            0 => n.insert(at.index(n.len() + 1), c),
            1 => n.clear(),
            _ => {}
        }
        n
    })
}

#[test]
fn kafka_pass_through_names() {
    // With a value librdkafka takes, the name alone decides.
    let good = select(GOOD_PROPS)
        .prop_flat_map(|(name, v)| misspelled(vec![name]).prop_map(move |n| (n, v.to_owned())));
    let (ok, err) = (Cell::new(0u32), Cell::new(0u32));
    check(cases(1_000), good, |(name, v)| {
        let var = format!("KAFKA_PROP_{name}");
        let got = Config::from_vars(with_brokers(Env::from([(var.clone(), v.clone())])));
        match got {
            Ok(c) => {
                prop_assert!(prop_name_ok(&name), "{}={:?} accepted", var, v);
                let p = &c.kafka.unwrap().props[0];
                prop_assert_eq!(&p.name, &name.to_ascii_lowercase().replace('_', "."));
                prop_assert_eq!(&p.value, &v);
                ok.set(ok.get() + 1);
            }
            Err(e) => {
                prop_assert!(!prop_name_ok(&name), "{}={:?} rejected: {}", var, v, e);
                prop_assert_eq!(e.var.as_ref(), var.as_str(), "{}", e);
                err.set(err.get() + 1);
            }
        }
        Ok(())
    });
    let (o, e) = (ok.get(), err.get());
    assert!(o * 10 >= o + e && e * 10 >= o + e, "ok {o}, err {e}");
}

#[test]
fn kafka_pass_through_values() {
    let mut names: Vec<&str> = GOOD_PROPS.iter().map(|(n, _)| *n).collect();
    names.extend(OTHER_PROPS.iter().chain(SECRET_PROPS));
    let words = vec![
        "all",
        "-1",
        "0",
        "1",
        "lz4",
        "gzip",
        "zstd",
        "snappy",
        "none",
        "PLAINTEXT",
        "SSL",
        "SASL_SSL",
        "SASL_PLAINTEXT",
        "PLAIN",
        "SCRAM-SHA-256",
        "GSSAPI",
        "OAUTHBEARER",
        "true",
        "false",
        "broker,topic",
        "all,-1",
        "k:9092",
        "/etc/ssl/ca.pem",
    ];
    let value = prop_oneof![
        3 => spelled(words),
        2 => numberish(),
        2 => any_text(64),
        1 => padding(),
    ];
    let name =
        prop_oneof![3 => select(names.clone()).prop_map(str::to_owned), 1 => misspelled(names)];
    let input = (name, value);
    check(cases(2_000), input, |(name, v)| {
        let var = format!("KAFKA_PROP_{name}");
        match Config::from_vars(with_brokers(Env::from([(var.clone(), v.clone())]))) {
            Ok(_) => prop_assert!(prop_name_ok(&name) || blank(&v), "{}={:?} accepted", var, v),
            Err(e) => {
                // The variable given, or one it makes necessary
                // (SASL_PLAINTEXT → "sasl.username and sasl.password must be set").
                prop_assert!(
                    e.var == var
                        || (e.var.starts_with("KAFKA_PROP_") && e.reason.contains("must be set")),
                    "{}",
                    e
                );
                let var = e.var.as_ref();
                let prefix = format!("invalid {var}=");
                prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
            }
        }
        Ok(())
    });
}

#[test]
fn kafka_secrets_are_never_shown() {
    // A recognisable secret, sometimes with a byte librdkafka cannot take.
    let secret = (
        "[A-Za-z0-9]{12}",
        select(vec!["", "\0", "\n", " x", "\u{7f}"]),
    )
        .prop_map(|(s, tail)| format!("S3cr{s}{tail}"));
    check(cases(500), (select(SECRET_PROPS), secret), |(name, v)| {
        let var = format!("KAFKA_PROP_{name}");
        let marker = &v[..16];
        let env = with_brokers(Env::from([(var.clone(), v.clone())]));
        let shown = match Config::from_vars(env) {
            Ok(c) => format!("{c:?}"),
            Err(e) => format!("{e} {e:?}"),
        };
        prop_assert!(!shown.contains(marker), "{} leaked: {}", var, shown);
        Ok(())
    });
}

// ------------------------------------------------ regressions (found by these properties, fixed)

/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=<bad>` was rejected with an error
/// naming `OTEL_EXPORTER_OTLP_PROTOCOL` (a variable the operator may not have
/// set).
#[test]
fn traces_protocol_error_names_the_variable_read() {
    check(cases(1_000), env_of(vec![TRACES_PROTOCOL], 1..2), |env| {
        check_config(&env, true).map(drop)
    });
}

/// A `KAFKA_PROP_<NAME>` value holding a NUL byte (possible through
/// `Config::from_vars`, not from a real environment) is rejected by
/// librdkafka's FFI layer, but the error names `KAFKA_BROKERS` and shows the
/// brokers: `to_config_error` found no property in "FFI nul error".
#[test]
fn kafka_value_with_nul_names_its_variable() {
    let env = (select(GOOD_PROPS), any_text(8)).prop_map(|((name, v), junk)| {
        with_brokers(Env::from([(
            format!("KAFKA_PROP_{name}"),
            format!("{v}\0{junk}"),
        )]))
    });
    check(cases(200), env, |env| {
        let var = env
            .keys()
            .find(|k| k.starts_with("KAFKA_PROP_"))
            .unwrap()
            .clone();
        if let Err(e) = Config::from_vars(env) {
            prop_assert_eq!(e.var.as_ref(), var.as_str(), "{}", e);
        }
        Ok(())
    });
}

/// `RUST_LOG` with whitespace before a directive and a non-ASCII char soon
/// after (`" é=info"`, `"info, é=debug"`) panics inside `EnvFilter::try_new`
/// (tracing-subscriber 0.3.23, filter/env/directive.rs:151: it iterates over
/// the trimmed directive but slices the untrimmed one), so `Config` panics
/// instead of answering "invalid RUST_LOG". Without the non-ASCII char the
/// same shift rejected valid filters: `"info, hello=debug"` was an error.
/// `Config` now trims each directive before parsing.
#[test]
fn rust_log_with_leading_whitespace_does_not_panic() {
    let filter = (padding(), value_for("RUST_LOG"))
        .prop_map(|(pad, v)| format!("{pad}{v}"))
        .prop_filter("reaches the parser", |v| !blank(v));
    check(cases(1_000), filter, |v| {
        let env = Env::from([("RUST_LOG".to_owned(), v)]);
        check_config(&env, false).map(drop)
    });
}

/// `KAFKA_PROP_SECURITY_PROTOCOL=SASL_PLAINTEXT` without
/// `KAFKA_PROP_SASL_MECHANISM` (librdkafka's default mechanism is GSSAPI,
/// not built in) was rejected with an error naming `KAFKA_BROKERS`: "No
/// provider for SASL mechanism GSSAPI" names no property. PLAIN is now the
/// default mechanism, so the error names the credentials it needs.
#[test]
fn sasl_without_mechanism_names_a_kafka_prop() {
    let env = with_brokers(Env::from([(
        "KAFKA_PROP_SECURITY_PROTOCOL".to_owned(),
        "SASL_PLAINTEXT".to_owned(),
    )]));
    let e = Config::from_vars(env).unwrap_err();
    assert!(e.var.starts_with("KAFKA_PROP_"), "{e}");
}
