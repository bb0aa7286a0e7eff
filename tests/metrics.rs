//! `/metrics`: valid Prometheus text (checked by the real `promtool`) with
//! the contract's names and labels, and errors counted with their real status.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{TestServer, get};

type Labels = BTreeMap<String, String>;

/// Parses exposition lines into (name, labels, value).
fn samples(text: &str) -> Vec<(String, Labels, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                None => (series.to_owned(), Labels::new()),
                Some((n, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').unwrap();
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (n.to_owned(), labels)
                }
            };
            (name, labels, value.parse().unwrap())
        })
        .collect()
}

fn find<'a>(
    all: &'a [(String, Labels, f64)],
    name: &str,
    want: &[(&str, &str)],
) -> Vec<&'a (String, Labels, f64)> {
    all.iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

#[tokio::test]
async fn exposition_carries_the_contract_and_passes_promtool() {
    let s = TestServer::start(&[("FAULT_INJECTION", "true"), ("SCRATCH_MAX_BYTES", "10")]).await;
    for path in [
        "/",
        "/",
        "/v1/status/503",
        "/v1/status/503",
        "/v1/status/503",
        "/definitely/not/a/route",
        "/v1/panic",
    ] {
        get(s.addr, path).await;
    }
    common::send(s.addr, "PUT", "/v1/scratch/m", b"12345").await;
    let r = get(s.admin_addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let all = samples(&r.body);

    let count = |route: &str, status: &str| {
        find(
            &all,
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("http_route", route),
                ("http_response_status_code", status),
            ],
        )
        .first()
        .map(|s| s.2)
    };
    // Errors are counted with their real status, never as 200.
    assert!(
        count("/v1/status/{code}", "503").is_some_and(|n| n >= 3.0),
        "{}",
        r.body
    );
    assert!(count("/v1/status/{code}", "200").is_none());
    assert!(count("/v1/panic", "500").is_some_and(|n| n >= 1.0));
    assert!(count("/", "200").is_some_and(|n| n >= 2.0));
    // Unmatched paths share one label value: bounded cardinality.
    assert!(count("unmatched", "404").is_some_and(|n| n >= 1.0));
    assert!(
        !r.body.contains("/definitely/not/a/route"),
        "raw paths never become labels"
    );

    let buckets: Vec<String> = find(
        &all,
        "http_server_request_duration_seconds_bucket",
        &[("http_route", "/")],
    )
    .iter()
    .map(|s| s.1["le"].clone())
    .collect();
    assert_eq!(
        buckets,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"
        ]
    );

    assert_eq!(
        find(
            &all,
            "http_server_active_requests",
            &[("http_request_method", "GET")]
        )
        .len(),
        1
    );
    let info = find(
        &all,
        "hello_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
    );
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].2, 1.0);
    assert!(info[0].1.contains_key("revision"));
    assert!(
        find(&all, "hello_scratch_bytes", &[])
            .first()
            .is_some_and(|s| s.2 >= 5.0)
    );
    assert!(
        find(&all, "hello_scratch_quota_bytes", &[])
            .first()
            .is_some_and(|s| s.2 > 0.0)
    );
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert_eq!(find(&all, name, &[]).len(), 1, "{name} missing");
    }

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: run scripts/install-tools.sh");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(r.body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
