//! The service under hostile or unlucky clients: the admin listener under a
//! public connection flood, requests the HTTP parser rejects, abuse of the
//! scratch store (stalled writers and readers), clients that do not wait for
//! `100 Continue`, and shutdown under connection-per-request load.
//! Criteria are behaviour (statuses, counts, bounded memory), never time.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Proc, TestServer, get, parse_response, raw, send};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The value of one sample line of `/metrics` (exact label set match).
async fn sample(admin: SocketAddr, series: &str) -> Option<f64> {
    let body = get(admin, "/metrics").await.body;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn probes_and_metrics_live_on_the_admin_port_only() {
    let s = TestServer::start(&[]).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(s.admin_addr, path).await.status, 200, "{path} on admin");
        get(s.addr, path).await.assert_json_error(404);
    }
    for path in ["/", "/version", "/v1/scratch/k"] {
        get(s.admin_addr, path).await.assert_json_error(404);
    }
    assert_eq!(get(s.addr, "/").await.status, 200);
}

#[tokio::test]
async fn the_admin_port_answers_while_the_public_port_is_at_its_cap() {
    let s = TestServer::start(&[
        ("MAX_CONNECTIONS", "4"),
        ("HEADER_READ_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    // Four idle connections take every public slot (they would be held for
    // the 60 s header timeout); a fifth request waits in the backlog.
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        idle.push(c);
    }
    let addr = s.addr;
    let queued = tokio::spawn(async move { get(addr, "/").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!queued.is_finished(), "the public port is at its cap");
    // The kubelet's probe and Prometheus's scrape still get through.
    assert_eq!(get(s.admin_addr, "/healthz").await.status, 200);
    assert_eq!(get(s.admin_addr, "/readyz").await.status, 200);
    assert_eq!(get(s.admin_addr, "/metrics").await.status, 200);
    assert!(
        !queued.is_finished(),
        "still capped while the probes passed"
    );
    drop(idle);
    assert_eq!(
        queued.await.unwrap().status,
        200,
        "served once a slot frees"
    );
}

#[tokio::test]
async fn requests_the_parser_rejects_get_the_json_error_and_a_count() {
    let s = TestServer::start(&[]).await;
    let series = |status: u16| {
        format!(
            "http_server_request_duration_seconds_count{{http_request_method=\"_OTHER\",http_route=\"unmatched\",http_response_status_code=\"{status}\"}}"
        )
    };
    let before_400 = sample(s.admin_addr, &series(400)).await.unwrap_or(0.0);
    let before_431 = sample(s.admin_addr, &series(431)).await.unwrap_or(0.0);
    // A request line hyper cannot parse.
    raw(s.addr, b"GET / HTTP/1.1 trailing-garbage\r\n\r\n")
        .await
        .assert_json_error(400);
    raw(s.addr, b"\x01\x02\x03 / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .assert_json_error(400);
    // A header block beyond the parser's buffer (MAX_HEADER_BYTES + 16 KiB).
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let r = raw(s.addr, huge.as_bytes()).await;
    r.assert_json_error(431);
    assert_eq!(
        r.headers.get("connection").map(String::as_str),
        Some("close")
    );
    // Just over MAX_HEADER_BYTES, below the buffer: the edge layer's 431, same shape.
    let over = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(17 * 1024)
    );
    raw(s.addr, over.as_bytes()).await.assert_json_error(431);
    assert_eq!(
        sample(s.admin_addr, &series(400)).await,
        Some(before_400 + 2.0)
    );
    assert_eq!(
        sample(s.admin_addr, &series(431)).await,
        Some(before_431 + 1.0)
    );
}

#[tokio::test]
async fn a_parser_rejection_writes_one_access_line() {
    let p = Proc::start(&[]);
    raw(p.addr(), b"NOT-HTTP\r\n\r\n")
        .await
        .assert_json_error(400);
    let line = p.wait_line("for the rejected request", |v| {
        v["target"] == "hello::access" && v["http.response.status_code"] == 400
    });
    assert_eq!(line["http.route"], "unmatched");
    assert_eq!(line["http.request.method"], "_OTHER");
    assert_eq!(line["level"], "INFO");
}

/// One request on an open keep-alive connection; returns the response head.
async fn keep_alive_get(c: &mut TcpStream) -> String {
    c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&chunk[..n]);
        let r = parse_response(&buf);
        let want: usize = r.headers["content-length"].parse().unwrap();
        if r.body.len() >= want {
            return String::from_utf8_lossy(&buf).to_ascii_lowercase();
        }
    }
}

#[tokio::test]
async fn draining_responses_say_connection_close() {
    let mut p = Proc::start(&[("SHUTDOWN_DRAIN_SECONDS", "2")]);
    let mut c = TcpStream::connect(p.addr()).await.unwrap();
    let head = keep_alive_get(&mut c).await;
    assert!(!head.contains("connection: close"), "{head}");
    p.signal("TERM");
    p.wait_line("draining", |v| {
        v["message"] == "shutdown: not ready, draining"
    });
    let head = keep_alive_get(&mut c).await;
    assert!(head.contains("connection: close"), "{head}");
    // The server closes the connection after that response.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
        .await
        .expect("closed by the server")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert_eq!(p.wait_exit(Duration::from_secs(10)).0, Some(0));
}

#[tokio::test]
async fn stalled_writers_hold_no_quota() {
    let s = TestServer::start(&[
        ("SCRATCH_MAX_BYTES", "1048576"),
        ("SCRATCH_QUOTA_BYTES", "4194304"),
        ("REQUEST_TIMEOUT_SECONDS", "60"),
    ])
    .await;
    // 40 clients announce 1 MiB each (10× the quota together) and stall.
    let mut stalled = Vec::new();
    for i in 0..40 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(
            format!(
                "PUT /v1/scratch/stall-{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\nx"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        stalled.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = send(s.addr, "PUT", "/v1/scratch/normal", &vec![b'n'; 1 << 20]).await;
    assert_eq!(r.status, 201, "{r:?}");
    drop(stalled);
}

#[tokio::test]
async fn stalled_readers_of_large_files_keep_memory_bounded() {
    let p = Proc::start(&[
        ("SCRATCH_MAX_BYTES", "16777216"),
        ("SCRATCH_QUOTA_BYTES", "33554432"),
        ("REQUEST_TIMEOUT_SECONDS", "3"),
    ]);
    let r = send(p.addr(), "PUT", "/v1/scratch/big", &vec![b'b'; 16 << 20]).await;
    assert_eq!(r.status, 201);
    let rss = || sample(p.admin_addr(), "process_resident_memory_bytes");
    let before = rss().await.unwrap();
    // 16 clients ask for the 16 MiB file and never read.
    let mut readers = Vec::new();
    for _ in 0..16 {
        let mut c = TcpStream::connect(p.addr()).await.unwrap();
        c.write_all(b"GET /v1/scratch/big HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        readers.push(c);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = rss().await.unwrap();
    let grown = (during - before) / 1048576.0;
    eprintln!(
        "RSS {:.1} MiB before, +{grown:.1} MiB with 16 stalled readers of 16 MiB",
        before / 1048576.0
    );
    // Whole files in memory would be +256 MiB; streamed, each reader holds
    // a chunk or two. The bound leaves room for the allocator.
    assert!(grown < 32.0, "RSS grew {grown:.1} MiB");
    // The send timeout (3 s without progress) closes them: each reader,
    // reading only now, gets less than the file.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for mut c in readers {
        let mut got = Vec::new();
        let res = tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut got)).await;
        assert!(res.is_ok(), "the server closed a stalled reader");
        assert!(got.len() < 16 << 20, "{} bytes", got.len());
    }
    assert_eq!(get(p.addr(), "/").await.status, 200);
}

/// A blocking client that, like Python's `http.client`, sends the whole
/// body without waiting for `100 Continue`, then reads the response.
fn put_without_expect(addr: SocketAddr, len: usize) -> Result<(u16, String), String> {
    let mut c = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!("PUT /v1/scratch/big HTTP/1.1\r\nHost: t\r\nContent-Length: {len}\r\n\r\n");
    c.write_all(head.as_bytes())
        .map_err(|e| format!("head: {e}"))?;
    let body = vec![b'x'; len];
    // A server that closes without reading makes this write fail (EPIPE or
    // ECONNRESET), or the reset destroys the response before it is read.
    c.write_all(&body).map_err(|e| format!("body: {e}"))?;
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let r = parse_response(&buf);
    Ok((r.status, r.body))
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_uploads_without_expect_always_read_their_413() {
    for (limit, reps) in [("1048576", 40), ("65536", 60)] {
        let s = TestServer::start(&[("SCRATCH_MAX_BYTES", limit)]).await;
        let addr = s.addr;
        let outcomes = tokio::task::spawn_blocking(move || {
            (0..reps)
                .map(|_| put_without_expect(addr, 2 << 20))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let failed: Vec<_> = outcomes
            .iter()
            .filter(|o| !matches!(o, Ok((413, _))))
            .collect();
        assert!(failed.is_empty(), "limit {limit}: {failed:?}");
        for (_, body) in outcomes.into_iter().flatten() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], 413);
        }
        assert!(s.scratch_files().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_never_resets_a_request_it_had_queued() {
    // Clients that open a connection per request and ignore readiness, as
    // during a rolling update with a lagging load balancer.
    for run in 0..3 {
        let mut p = Proc::start(&[("SHUTDOWN_DRAIN_SECONDS", "1")]);
        let addr = p.addr();
        let counts: Arc<[AtomicU64; 3]> = Arc::default(); // answered, refused, reset after send
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = match std::net::TcpStream::connect(addr) {
                            Err(_) => 1,
                            Ok(mut c) => {
                                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                                let mut buf = [0u8; 512];
                                let sent = c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                                match sent.and_then(|()| c.read(&mut buf)) {
                                    Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200") => 0,
                                    _ => 2,
                                }
                            }
                        };
                        counts[outcome].fetch_add(1, Ordering::Relaxed);
                        if outcome == 1 {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        p.signal("TERM");
        assert_eq!(p.wait_exit(Duration::from_secs(15)).0, Some(0));
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
        let [ok, refused, reset] = [0, 1, 2].map(|i| counts[i].load(Ordering::Relaxed));
        eprintln!("run {run}: {ok} answered, {refused} refused, {reset} reset after send");
        assert!(
            ok > 0 && refused > 0,
            "the run covered serving and stopping"
        );
        assert_eq!(reset, 0, "run {run}: a request that was sent got a reset");
    }
}
