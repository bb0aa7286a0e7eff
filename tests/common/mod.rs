//! Test helpers: a real server on an ephemeral port, in-process (`App`) or
//! as the built binary, and a raw HTTP/1.1 client for requests that
//! ordinary clients refuse to send (bad paths, huge headers, cut bodies).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// An in-process server built with the production `Application`,
/// both listeners on loopback ports the kernel picks.
pub struct TestServer {
    /// The public API listener.
    pub addr: SocketAddr,
    /// The admin listener: probes and `/metrics`.
    pub admin_addr: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start(vars: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("TMPDIR".into())
            .or_insert_with(|| dir.path().display().to_string());
        map.entry("SHUTDOWN_DRAIN_SECONDS".into())
            .or_insert_with(|| "0".into());
        map.entry("PORT".into()).or_insert_with(|| "0".into());
        map.entry("ADMIN_PORT".into()).or_insert_with(|| "0".into());
        let config = hello::Config::from_lookup(|k| map.get(k).cloned()).unwrap();
        let renderer = hello::telemetry::metrics::MetricsRenderer::new(
            hello::telemetry::metrics::install_recorder(),
        );
        let application = hello::Application::build(&config, renderer, [127, 0, 0, 1].into())
            .await
            .unwrap();
        let addr = application.public_addr();
        let admin_addr = application.admin_addr();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(application.run(async move {
            let _ = rx.await;
            "test"
        }));
        TestServer {
            addr,
            admin_addr,
            dir,
            stop: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_addr, path)
    }

    pub fn scratch_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("hello-scratch")
    }

    /// Names in the scratch directory (including temp files).
    pub fn scratch_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.scratch_dir())
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A raw response: status, lower-cased headers, body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the DESIGN error shape `{"error": "...", "status": N}`.
    pub fn assert_json_error(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        let v = self.json();
        assert_eq!(v["status"], status, "{self:?}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{self:?}"
        );
        assert!(
            self.headers
                .get("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{self:?}"
        );
    }
}

/// Sends `request` verbatim on a new connection and reads the response
/// until the server closes it (requests should say `Connection: close`).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut buf)).await;
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<HashMap<_, _>>();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t == "chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
}

pub async fn get_with(addr: SocketAddr, path: &str, headers: &str) -> RawResponse {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n").as_bytes(),
    )
    .await
}

pub async fn send(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req).await
}

/// The built `hello` binary running as a child process, its stdout lines
/// collected as they come.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub admin_port: u16,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub dir: tempfile::TempDir,
}

impl Proc {
    /// Starts `hello` with `PORT=0`, `ADMIN_PORT=0` and a private `TMPDIR`,
    /// and waits for its `listening` log line to learn both ports.
    pub fn start(vars: &[(&str, &str)]) -> Proc {
        let mut proc = Proc::spawn(vars);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((port, admin)) = proc.lines().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening")
                    .then(|| Some((v["port"].as_u64()?, v["admin_port"].as_u64()?)))?
            }) {
                proc.port = port as u16;
                proc.admin_port = admin as u16;
                return proc;
            }
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!(
                    "hello exited early with {status}: {:?} {:?}",
                    proc.lines(),
                    proc.stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "hello did not start: {:?}",
                proc.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Spawns without waiting (for tests of failing start-ups).
    pub fn spawn(vars: &[(&str, &str)]) -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hello"));
        cmd.env_clear()
            .env("PORT", "0")
            .env("ADMIN_PORT", "0")
            .env("TMPDIR", dir.path())
            .env("SHUTDOWN_DRAIN_SECONDS", "0");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Proc::spawn_command(cmd, dir)
    }

    /// Spawns any program (a test peer such as the mock Kafka cluster),
    /// collecting its stdout and stderr lines; killed when dropped.
    pub fn spawn_command(mut cmd: Command, dir: tempfile::TempDir) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        Proc {
            child,
            port: 0,
            admin_port: 0,
            stdout,
            stderr,
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_port))
    }

    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for exit, at most `limit`; returns the exit code and how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), start.elapsed());
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "{:?} did not exit within {limit:?}; stdout: {:?}",
                    self.child.id(),
                    self.lines()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a stdout line satisfies `pred` (log lines are written
    /// by a background thread, so they trail the response a little).
    pub fn wait_line(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        self.wait_lines(what, 1, pred).remove(0)
    }

    /// Waits (at most 10 s) until `n` JSON lines satisfy `pred`; returns them.
    pub fn wait_lines(
        &self,
        what: &str,
        n: usize,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<serde_json::Value> = self
                .lines()
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| pred(v))
                .take(n)
                .collect();
            if found.len() == n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no log line {what}: {:#?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(pipe: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
}

/// Polls `f` until it returns true or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// A loopback port that refuses every connection and that nothing else can
/// take while this value lives: a TCP socket bound to it but not listening.
/// (Binding a listener and dropping it frees the port, and a test running in
/// parallel — a mock Kafka cluster, a receiver — may get it next: the "absent"
/// peer is then someone else's live one.)
pub struct RefusingPort {
    fd: i32,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        // SAFETY: plain socket calls on a fresh descriptor, with a zeroed
        // sockaddr_in of the right size; every result is checked.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, (&raw const addr).cast(), len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut got_len = len;
            let rc = libc::getsockname(fd, (&raw mut got).cast(), &mut got_len);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            RefusingPort {
                fd,
                port: u16::from_be(got.sin_port),
            }
        }
    }
}

impl Drop for RefusingPort {
    fn drop(&mut self) {
        // SAFETY: `fd` is ours and closed once.
        unsafe {
            libc::close(self.fd);
        }
    }
}
