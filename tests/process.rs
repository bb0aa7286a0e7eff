//! The built binary as a process: JSON logs on stdout with trace ids,
//! graceful shutdown on SIGTERM, start-up refusal on bad configuration,
//! and the `healthcheck` subcommand.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Proc, get, get_with};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

fn is_rfc3339_nanos_utc(ts: &str) -> bool {
    // 2026-11-26T17:00:16.714784626Z
    let b = ts.as_bytes();
    b.len() == 30
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[29] == b'Z'
        && b[20..29].iter().all(u8::is_ascii_digit)
}

#[tokio::test]
async fn every_stdout_line_is_json_with_trace_ids() {
    let p = Proc::start(&[("FAULT_INJECTION", "true")]);
    let traceparent =
        format!("traceparent: 00-{TRACE_ID}-{PARENT_SPAN}-01\r\nUser-Agent: probe/1.0\r\n");
    assert_eq!(
        get_with(p.addr(), "/?token=hunter2", &traceparent)
            .await
            .status,
        200
    );
    assert_eq!(get(p.addr(), "/v1/panic").await.status, 500);
    assert_eq!(get(p.addr(), "/v1/status/502").await.status, 502);

    let access = p.wait_line("for the traced request", |v| {
        v["target"] == "hello::access" && v["url.path"] == "/"
    });
    assert_eq!(
        access["trace_id"], TRACE_ID,
        "the incoming traceparent is continued"
    );
    let span_id = access["span_id"].as_str().unwrap();
    assert!(
        span_id.len() == 16 && span_id != PARENT_SPAN,
        "a new server span: {span_id}"
    );
    assert_eq!(access["http.request.method"], "GET");
    assert_eq!(access["http.route"], "/");
    assert_eq!(access["http.response.status_code"], 200);
    assert!(access["duration_ms"].as_f64().is_some_and(|d| d >= 0.0));
    assert_eq!(access["user_agent.original"], "probe/1.0");
    assert_eq!(access["level"], "INFO");

    let failed = p.wait_line("for the 502", |v| v["url.path"] == "/v1/status/502");
    assert_eq!(failed["http.response.status_code"], 502);
    assert_eq!(failed["http.route"], "/v1/status/{code}");

    let panic_access = p.wait_line("for the panic's 500", |v| v["url.path"] == "/v1/panic");
    assert_eq!(panic_access["http.response.status_code"], 500);
    let panic_line = p.wait_line("ERROR for the panic", |v| v["level"] == "ERROR");
    assert_eq!(
        panic_line["trace_id"], panic_access["trace_id"],
        "the panic's log leads to its trace"
    );

    let lines = p.lines();
    assert!(lines.len() >= 5, "{lines:#?}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object());
        assert!(
            v["timestamp"].as_str().is_some_and(is_rfc3339_nanos_utc),
            "{line}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&v["level"].as_str().unwrap_or_default()),
            "{line}"
        );
        assert!(
            v["target"].is_string() && v["message"].is_string(),
            "{line}"
        );
        assert!(
            !line.contains("hunter2"),
            "query strings are never logged: {line}"
        );
    }
}

#[tokio::test]
async fn sigterm_drains_then_exits_zero() {
    // The delay outlives the drain: the request is still in flight when the
    // listener closes, and must complete anyway.
    let drain = 1;
    let mut p = Proc::start(&[("FAULT_INJECTION", "true"), ("SHUTDOWN_DRAIN_SECONDS", "1")]);
    let addr = p.addr();
    assert_eq!(get(p.admin_addr(), "/readyz").await.status, 200);
    let in_flight = tokio::spawn(async move { get(addr, "/v1/delay/1500").await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    p.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    get(p.admin_addr(), "/readyz").await.assert_json_error(503);
    assert_eq!(
        get(addr, "/").await.status,
        200,
        "still serving while endpoints are removed"
    );
    assert_eq!(
        get(p.admin_addr(), "/healthz").await.status,
        200,
        "alive while draining"
    );

    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight request completes: {r:?}");
    let (code, _) = p.wait_exit(Duration::from_secs(drain + 2));
    assert_eq!(code, Some(0));
    p.wait_line("announcing the drain", |v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("draining"))
            && v["signal"] == "SIGTERM"
    });
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn sigint_also_stops_gracefully() {
    let mut p = Proc::start(&[]);
    p.signal("INT");
    let (code, _) = p.wait_exit(Duration::from_secs(2));
    assert_eq!(code, Some(0));
}

#[test]
fn bad_configuration_exits_before_listening() {
    for (var, value) in [
        ("PORT", "abc"),
        ("PORT", "443"),
        ("SCRATCH_MAX_BYTES", "-1"),
        ("SCRATCH_QUOTA_BYTES", "1x"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("FAULT_INJECTION", "maybe"),
        ("RUST_LOG", "hello=verbose"),
        ("MESSAGES", "\n  \n"),
    ] {
        let mut p = Proc::spawn(&[(var, value)]);
        let (code, _) = p.wait_exit(Duration::from_secs(5));
        assert_eq!(code, Some(78), "{var}={value:?} must exit with EX_CONFIG");
        let stderr = p.stderr.lock().unwrap().join("\n");
        assert!(
            stderr.contains(var),
            "{var}: message must name the variable: {stderr}"
        );
        let err: serde_json::Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
        assert_eq!(
            (err["level"].as_str(), err["variable"].as_str()),
            (Some("ERROR"), Some(var))
        );
        assert!(
            !p.lines().iter().any(|l| l.contains("listening")),
            "{var}: it must not listen"
        );
    }
}

#[tokio::test]
async fn healthcheck_subcommand() {
    let mut p = Proc::start(&[]);
    let run = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_hello"))
            .arg("healthcheck")
            .env("ADMIN_PORT", port.to_string())
            .output()
            .unwrap()
    };
    let ok = run(p.admin_port);
    assert!(ok.status.success(), "{ok:?}");
    // It probes the admin listener: the public port has no /healthz.
    let public = run(p.port);
    assert_eq!(public.status.code(), Some(1), "{public:?}");
    p.signal("TERM");
    p.wait_exit(Duration::from_secs(3));
    let down = run(p.admin_port);
    assert_eq!(down.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("cannot reach"),
        "{down:?}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_hello"))
        .arg("healthcheck")
        .env("ADMIN_PORT", "nope")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let help = Command::new(env!("CARGO_BIN_EXE_hello"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    let text = String::from_utf8_lossy(&help.stdout);
    for v in hello::settings::table::VARIABLES {
        assert!(text.contains(v.name), "--help lists {}", v.name);
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_hello"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[tokio::test]
async fn errors_keep_their_trace_id_when_info_lines_are_filtered() {
    let p = Proc::start(&[
        ("FAULT_INJECTION", "true"),
        (
            "RUST_LOG",
            "warn,hello=info,hello::access=warn,hello::http=warn",
        ),
    ]);
    let tp = format!("traceparent: 00-{TRACE_ID}-{PARENT_SPAN}-01\r\n");
    assert_eq!(get_with(p.addr(), "/v1/panic", &tp).await.status, 500);
    let err = p.wait_line("ERROR for the panic", |v| v["level"] == "ERROR");
    assert_eq!(err["trace_id"], TRACE_ID);
    assert!(err["span_id"].as_str().is_some_and(|s| s.len() == 16));
    assert!(
        !p.lines().iter().any(|l| l.contains("hello::access")),
        "access lines are filtered out"
    );
}

#[tokio::test]
async fn otel_propagators_none_starts_a_trace_per_request() {
    let p = Proc::start(&[("OTEL_PROPAGATORS", "none")]);
    let tp = format!("traceparent: 00-{TRACE_ID}-{PARENT_SPAN}-01\r\n");
    assert_eq!(get_with(p.addr(), "/", &tp).await.status, 200);
    let line = p.wait_line("access line", |v| v["target"] == "hello::access");
    let id = line["trace_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, TRACE_ID, "the incoming traceparent is not continued");
}
