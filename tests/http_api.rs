//! The HTTP contract of DESIGN.md, against the production router and
//! listener on a real port: every route, every error path, every limit.

mod common;

use std::time::Duration;

use common::{TestServer, eventually, get, get_with, raw, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn greeting_rotates_and_negotiates_json() {
    let s = TestServer::start(&[("MESSAGES", "Hello\nBonjour\n\nHola\n")]).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let r = get(s.addr, "/").await;
        assert_eq!(r.status, 200);
        assert!(r.headers["content-type"].starts_with("text/plain"));
        seen.push(r.body.trim().to_owned());
    }
    assert_eq!(seen, ["Hello", "Bonjour", "Hola", "Hello"]);

    let r = get_with(s.addr, "/", "Accept: application/json\r\n").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["message"], "Bonjour");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["hostname"].as_str().is_some_and(|h| !h.is_empty()));
}

#[tokio::test]
async fn default_greeting() {
    let s = TestServer::start(&[]).await;
    assert_eq!(get(s.addr, "/").await.body, "Hello, World!\n");
}

#[tokio::test]
async fn probes_and_version() {
    let s = TestServer::start(&[]).await;
    let r = get(s.admin_addr, "/healthz").await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = get(s.admin_addr, "/readyz").await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("ready"))
    );
    let v = get(s.addr, "/version").await.json();
    for field in ["version", "revision", "build_date", "rustc"] {
        assert!(
            v[field].as_str().is_some_and(|x| !x.is_empty()),
            "{field} in {v}"
        );
    }
    assert!(v["rustc"].as_str().unwrap().starts_with("rustc "));
}

#[tokio::test]
async fn readiness_fails_when_scratch_dir_is_not_writable() {
    let s = TestServer::start(&[]).await;
    assert_eq!(get(s.admin_addr, "/readyz").await.status, 200);
    // Replace the directory by a file: creating anything inside fails, even for root.
    std::fs::remove_dir_all(s.scratch_dir()).unwrap();
    std::fs::write(s.scratch_dir(), b"not a dir").unwrap();
    get(s.admin_addr, "/readyz").await.assert_json_error(503);
    assert_eq!(
        get(s.admin_addr, "/healthz").await.status,
        200,
        "liveness is unaffected"
    );
    std::fs::remove_file(s.scratch_dir()).unwrap();
    std::fs::create_dir(s.scratch_dir()).unwrap();
    assert_eq!(get(s.admin_addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_json_errors() {
    let s = TestServer::start(&[]).await;
    get(s.addr, "/nope").await.assert_json_error(404);
    let r = send(s.admin_addr, "POST", "/healthz", b"").await;
    r.assert_json_error(405);
    assert!(
        r.headers.contains_key("allow"),
        "405 keeps its Allow header: {r:?}"
    );
    send(s.addr, "DELETE", "/", b"")
        .await
        .assert_json_error(405);
}

#[tokio::test]
async fn fault_routes_are_absent_unless_enabled() {
    let s = TestServer::start(&[]).await;
    for p in ["/v1/status/500", "/v1/delay/1", "/v1/panic"] {
        get(s.addr, p).await.assert_json_error(404);
    }
    let s = TestServer::start(&[("FAULT_INJECTION", "false")]).await;
    get(s.addr, "/v1/panic").await.assert_json_error(404);
}

#[tokio::test]
async fn fault_injection() {
    let s = TestServer::start(&[("FAULT_INJECTION", "true")]).await;
    for code in [400u16, 404, 418, 500, 502, 503, 599] {
        get(s.addr, &format!("/v1/status/{code}"))
            .await
            .assert_json_error(code);
    }
    let r = get(s.addr, "/v1/status/201").await;
    assert_eq!((r.status, r.json()["status"].as_u64()), (201, Some(201)));
    for bad in [
        "/v1/status/abc",
        "/v1/status/99",
        "/v1/status/600",
        "/v1/status/-1",
        "/v1/delay/10001",
        "/v1/delay/x",
    ] {
        get(s.addr, bad).await.assert_json_error(400);
    }
    let r = get(s.addr, "/v1/delay/50").await;
    assert_eq!((r.status, r.json()["delayed_ms"].as_u64()), (200, Some(50)));
}

#[tokio::test]
async fn a_panic_is_a_500_and_the_server_keeps_serving() {
    let s = TestServer::start(&[("FAULT_INJECTION", "true")]).await;
    for _ in 0..3 {
        get(s.addr, "/v1/panic").await.assert_json_error(500);
        assert_eq!(get(s.addr, "/").await.status, 200);
    }
}

#[tokio::test]
async fn scratch_round_trip() {
    let s = TestServer::start(&[]).await;
    let r = send(s.addr, "PUT", "/v1/scratch/report.v1_a-b", b"first").await;
    assert_eq!((r.status, r.json()["bytes"].as_u64()), (201, Some(5)));
    let r = get(s.addr, "/v1/scratch/report.v1_a-b").await;
    assert_eq!((r.status, r.body.as_str()), (200, "first"));
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    let r = send(s.addr, "PUT", "/v1/scratch/report.v1_a-b", b"second!").await;
    assert_eq!(
        (r.status, r.json()["bytes"].as_u64()),
        (200, Some(7)),
        "replacing answers 200"
    );
    assert_eq!(
        get(s.addr, "/v1/scratch/report.v1_a-b").await.body,
        "second!"
    );
    assert_eq!(
        std::fs::read(s.scratch_dir().join("report.v1_a-b")).unwrap(),
        b"second!",
        "data lands under $TMPDIR"
    );
    assert_eq!(
        send(s.addr, "DELETE", "/v1/scratch/report.v1_a-b", b"")
            .await
            .status,
        204
    );
    get(s.addr, "/v1/scratch/report.v1_a-b")
        .await
        .assert_json_error(404);
    send(s.addr, "DELETE", "/v1/scratch/report.v1_a-b", b"")
        .await
        .assert_json_error(404);
    assert!(s.scratch_files().is_empty());
}

#[tokio::test]
async fn bad_scratch_keys_are_rejected() {
    let s = TestServer::start(&[]).await;
    let long = "k".repeat(129);
    for key in [
        "..",
        ".x",
        ".hidden",
        "a%2Fb",
        "a%2fb",
        "%2E%2E",
        "a%00b",
        "a%5Cb",
        "%C3%A9",
        "%FF",
        "a%20b",
        long.as_str(),
    ] {
        for method in ["PUT", "GET", "DELETE"] {
            send(s.addr, method, &format!("/v1/scratch/{key}"), b"x")
                .await
                .assert_json_error(400);
        }
    }
    // Separators never reach the handler as one key.
    send(s.addr, "PUT", "/v1/scratch/a/b", b"x")
        .await
        .assert_json_error(404);
    send(s.addr, "PUT", "/v1/scratch/../../etc/passwd", b"x")
        .await
        .assert_json_error(404);
    assert!(s.scratch_files().is_empty(), "{:?}", s.scratch_files());
    assert_eq!(
        send(
            s.addr,
            "PUT",
            &format!("/v1/scratch/{}", "k".repeat(128)),
            b"x"
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn scratch_body_limit_is_413() {
    let s = TestServer::start(&[("SCRATCH_MAX_BYTES", "10"), ("SCRATCH_QUOTA_BYTES", "100")]).await;
    send(s.addr, "PUT", "/v1/scratch/big", &[b'x'; 11])
        .await
        .assert_json_error(413);
    // Chunked, so the size is only known while streaming.
    let r = raw(
        s.addr,
        b"PUT /v1/scratch/big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n",
    )
    .await;
    r.assert_json_error(413);
    assert!(s.scratch_files().is_empty(), "{:?}", s.scratch_files());
    assert_eq!(
        send(s.addr, "PUT", "/v1/scratch/ok", &[b'x'; 10])
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn scratch_quota_is_507() {
    let s = TestServer::start(&[("SCRATCH_MAX_BYTES", "10"), ("SCRATCH_QUOTA_BYTES", "20")]).await;
    assert_eq!(
        send(s.addr, "PUT", "/v1/scratch/a", &[b'a'; 10])
            .await
            .status,
        201
    );
    assert_eq!(
        send(s.addr, "PUT", "/v1/scratch/b", &[b'b'; 10])
            .await
            .status,
        201
    );
    send(s.addr, "PUT", "/v1/scratch/c", b"c")
        .await
        .assert_json_error(507);
    assert_eq!(s.scratch_files(), ["a", "b"], "nothing partial left behind");
    // Freeing space makes room again; replacing a file counts only the new size.
    assert_eq!(
        send(s.addr, "DELETE", "/v1/scratch/a", b"").await.status,
        204
    );
    assert_eq!(send(s.addr, "PUT", "/v1/scratch/c", b"c").await.status, 201);
    assert_eq!(
        send(s.addr, "PUT", "/v1/scratch/b", &[b'B'; 9])
            .await
            .status,
        200
    );
    assert_eq!(get(s.addr, "/v1/scratch/b").await.body, "BBBBBBBBB");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_leaves_nothing() {
    let s = TestServer::start(&[]).await;
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"PUT /v1/scratch/cut HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .await
        .unwrap();
    stream.write_all(&[b'x'; 5000]).await.unwrap();
    stream.flush().await.unwrap();
    // The temp file exists while the body streams in...
    assert!(
        eventually(Duration::from_secs(5), || !s.scratch_files().is_empty()).await,
        "write never started"
    );
    drop(stream);
    // ...and is gone once the client is.
    assert!(
        eventually(Duration::from_secs(5), || s.scratch_files().is_empty()).await,
        "debris left: {:?}",
        s.scratch_files()
    );
    // The quota reservation was returned too: a full-quota write still fits.
    let s2 = TestServer::start(&[("SCRATCH_MAX_BYTES", "10"), ("SCRATCH_QUOTA_BYTES", "10")]).await;
    let mut stream = tokio::net::TcpStream::connect(s2.addr).await.unwrap();
    stream
        .write_all(b"PUT /v1/scratch/cut HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nxxxx")
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || !s2.scratch_files().is_empty()).await);
    drop(stream);
    assert!(eventually(Duration::from_secs(5), || s2.scratch_files().is_empty()).await);
    assert_eq!(
        send(s2.addr, "PUT", "/v1/scratch/full", &[b'x'; 10])
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn oversized_headers_are_431() {
    let s = TestServer::start(&[("MAX_HEADER_BYTES", "4096")]).await;
    let big = format!("X-Filler: {}\r\n", "a".repeat(5000));
    get_with(s.addr, "/", &big).await.assert_json_error(431);
    // Far beyond the limit, hyper refuses before the router (no JSON body possible there).
    let huge = format!("X-Filler: {}\r\n", "a".repeat(64 * 1024));
    assert_eq!(get_with(s.addr, "/", &huge).await.status, 431);
    assert_eq!(get_with(s.addr, "/", "X-Small: yes\r\n").await.status, 200);
}

#[tokio::test]
async fn out_of_budget_is_503_and_a_slow_client_body_408() {
    let s = TestServer::start(&[
        ("FAULT_INJECTION", "true"),
        ("REQUEST_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    // The service ran out of time: not the client's fault.
    get(s.addr, "/v1/delay/3000").await.assert_json_error(503);
    assert_eq!(get(s.addr, "/v1/delay/10").await.status, 200);
    // The client announced a body and sent only part of it: 408.
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"PUT /v1/scratch/slow HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly-some")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), c.read_to_end(&mut buf)).await;
    common::parse_response(&buf).assert_json_error(408);
    assert!(s.scratch_files().is_empty(), "nothing partial kept");
}

#[tokio::test]
async fn overload_is_shed_with_503_and_retry_after() {
    let s = TestServer::start(&[
        ("FAULT_INJECTION", "true"),
        ("MAX_CONCURRENT_REQUESTS", "1"),
    ])
    .await;
    let addr = s.addr;
    let slow = tokio::spawn(async move { get(addr, "/v1/delay/1500").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = get(s.addr, "/").await;
    r.assert_json_error(503);
    assert_eq!(r.headers.get("retry-after").map(String::as_str), Some("1"));
    // Probes and metrics are never shed.
    assert_eq!(get(s.admin_addr, "/healthz").await.status, 200);
    assert_eq!(get(s.admin_addr, "/readyz").await.status, 200);
    assert_eq!(get(s.admin_addr, "/metrics").await.status, 200);
    assert_eq!(slow.await.unwrap().status, 200);
    assert_eq!(get(s.addr, "/").await.status, 200, "capacity is back");
}

#[tokio::test]
async fn an_unusable_scratch_volume_means_not_ready_not_a_crash() {
    let base = tempfile::tempdir().unwrap();
    let blocker = base.path().join("tmp");
    std::fs::write(&blocker, b"a file where the volume should be").unwrap();
    let s = TestServer::start(&[("TMPDIR", blocker.to_str().unwrap())]).await;
    get(s.admin_addr, "/readyz").await.assert_json_error(503);
    assert_eq!(get(s.admin_addr, "/healthz").await.status, 200);
    assert_eq!(
        get(s.addr, "/").await.status,
        200,
        "the rest of the service works"
    );
    send(s.addr, "PUT", "/v1/scratch/k", b"x")
        .await
        .assert_json_error(500);
    // The volume appears: readiness recovers without a restart.
    std::fs::remove_file(&blocker).unwrap();
    std::fs::create_dir(&blocker).unwrap();
    assert_eq!(get(s.admin_addr, "/readyz").await.status, 200);
    assert_eq!(send(s.addr, "PUT", "/v1/scratch/k", b"x").await.status, 201);
}
