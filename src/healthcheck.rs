//! `hello healthcheck`: the image has no shell or curl, so the binary checks
//! itself. GET /healthz on the admin listener, 127.0.0.1:$ADMIN_PORT;
//! success is an HTTP 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("invalid ADMIN_PORT={0:?}")]
    Port(String),
    #[error("cannot reach {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("unhealthy: {0}")]
    Status(String),
}

pub fn check(port_env: Option<String>) -> Result<(), HealthcheckError> {
    let port: u16 = match port_env.filter(|p| !p.is_empty()) {
        None => 8081,
        Some(p) => p.parse().map_err(|_| HealthcheckError::Port(p))?,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let io = |e| HealthcheckError::Io(addr, e);
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io)?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hello-healthcheck\r\nConnection: close\r\n\r\n")
        .map_err(io)?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(io)?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    let status_line = status_line.lines().next().unwrap_or_default();
    if status_line.starts_with("HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(HealthcheckError::Status(status_line.to_owned()))
    }
}
