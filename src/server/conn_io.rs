//! The socket under each HTTP connection, with what hyper does not offer:
//!
//! - **One error shape below the router.** hyper answers a request it cannot
//!   parse (400, 414, 431) itself, with an empty body, before any layer runs.
//!   Those bodiless heads are rewritten here into the same JSON error every
//!   other layer answers, and counted and logged like any request.
//! - **A send timeout.** A client that stops reading its response would hold
//!   the connection, its buffers and the file being streamed forever: a write
//!   that makes no progress for the send timeout fails the connection.
//! - **Lingering close.** When the server closes a connection whose client is
//!   still sending (a 413 answered before the body was read), closing at once
//!   makes the kernel reset the connection and the client may never read its
//!   answer. Instead the write side is shut, and the rest of the input is read
//!   and discarded, bounded in bytes and time, before the socket closes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use crate::error::json_error_body;
use crate::telemetry::http::HttpTelemetry;

/// How long, and how many bytes, a closing connection keeps reading what its
/// client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(2);
pub const LINGER_BYTES: u64 = 8 * 1024 * 1024;

pub struct ConnIo {
    /// `None` only after `Drop` handed the socket to the lingering task.
    stream: Option<TcpStream>,
    send_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    /// A rewritten error response still being written, and the length of
    /// hyper's original head to report once it is out.
    replacement: Option<(Vec<u8>, usize, usize)>,
    telemetry: Arc<HttpTelemetry>,
    /// The client closed its side: nothing left to drain on close.
    read_eof: bool,
    /// The connection slot, held until the socket is really closed.
    slot: Option<OwnedSemaphorePermit>,
}

impl ConnIo {
    pub fn new(
        stream: TcpStream,
        send_timeout: Duration,
        telemetry: Arc<HttpTelemetry>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Self {
        ConnIo {
            stream: Some(stream),
            send_timeout,
            stalled: None,
            replacement: None,
            telemetry,
            read_eof: false,
            slot,
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        // Only `Drop` takes the stream out, and nothing polls after it.
        Pin::new(self.stream.as_mut().expect("stream present until drop"))
    }

    /// Writes the pending replacement; Ready once it is all out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((bytes, mut written, original)) = self.replacement.take() else {
            return Poll::Ready(Ok(()));
        };
        while written < bytes.len() {
            match self.poll_timed_write(cx, &bytes[written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.replacement = Some((bytes, written, original));
                    return Poll::Pending;
                }
            }
        }
        self.replacement = Some((bytes, written, original));
        Poll::Ready(Ok(()))
    }

    /// A write that fails with `TimedOut` once no byte could be written for
    /// the send timeout.
    fn poll_timed_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.stream().poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let timeout = self.send_timeout;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client did not read its response within the send timeout",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = ready!(this.stream().poll_read(cx, buf));
        if res.is_ok() && buf.filled().len() == before && buf.remaining() > 0 {
            this.read_eof = true;
        }
        Poll::Ready(res)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none()
            && let Some(status) = hyper_error_status(buf)
        {
            this.telemetry.record_rejected(status);
            this.replacement = Some((json_error_head(status, buf), 0, buf.len()));
        }
        if this.replacement.is_some() {
            ready!(this.poll_replacement(cx))?;
            let original = this.replacement.take().map_or(0, |(_, _, len)| len);
            return Poll::Ready(Ok(original));
        }
        this.poll_timed_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_shutdown(cx)
    }

    // Not vectored: hyper then hands each response head over in one buffer,
    // which is what `hyper_error_status` inspects.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        let (Some(stream), slot) = (self.stream.take(), self.slot.take()) else {
            return;
        };
        if self.read_eof {
            return;
        }
        // The client may still be sending: drain before closing (see the
        // module docs). Outside a runtime (never in the server) just close.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(stream, slot));
        }
    }
}

/// Shuts the write side (the response is out, the client sees FIN), then
/// reads and discards until the client closes, `LINGER_BYTES` or
/// `LINGER_TIME`, whichever first; the connection slot is held meanwhile.
async fn linger(mut stream: TcpStream, slot: Option<OwnedSemaphorePermit>) {
    let _slot = slot;
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    let drain = async {
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n as u64),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// The status of a head hyper wrote by itself for a request it could not
/// parse: `HTTP/1.1 400|414|431` without a body. Every response of the
/// service's own layers is JSON with a `content-type`, so a bodiless head
/// with one of these statuses can only be hyper's.
fn hyper_error_status(buf: &[u8]) -> Option<u16> {
    let status = match buf.get(..13)? {
        b"HTTP/1.1 400 " => 400,
        b"HTTP/1.1 414 " => 414,
        b"HTTP/1.1 431 " => 431,
        _ => return None,
    };
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    let own_body = head.contains("\r\ncontent-type:") || end + 4 != buf.len();
    (!own_body).then_some(status)
}

/// The service's JSON error for `status`, keeping hyper's `date` header.
fn json_error_head(status: u16, hyper_head: &[u8]) -> Vec<u8> {
    let code = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let reason = code.canonical_reason().unwrap_or("error");
    let body = json_error_body(code, &reason.to_ascii_lowercase());
    let date = std::str::from_utf8(hyper_head)
        .ok()
        .and_then(|h| {
            h.split("\r\n")
                .find(|l| l.to_ascii_lowercase().starts_with("date:"))
        })
        .map(|l| format!("{l}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{date}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_error_heads_are_rewritten() {
        let hyper_431 =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(hyper_error_status(hyper_431), Some(431));
        assert_eq!(
            hyper_error_status(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"),
            Some(400)
        );
        // The service's own JSON errors, and anything else, pass untouched.
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(hyper_error_status(own), None);
        let own_head_only =
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\ncontent-length: 31\r\n\r\n";
        assert_eq!(hyper_error_status(own_head_only), None);
        assert_eq!(hyper_error_status(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(
            hyper_error_status(b"HTTP/1.1 431 Req"),
            None,
            "partial head"
        );
    }

    #[test]
    fn the_rewritten_head_is_the_json_error() {
        let out = json_error_head(
            431,
            b"HTTP/1.1 431 X\r\ndate: Wed, 02 Dec 2026 05:00:00 GMT\r\n\r\n",
        );
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(head.contains("date: Wed, 02 Dec 2026"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 431);
        assert_eq!(v["error"], "request header fields too large");
    }
}
