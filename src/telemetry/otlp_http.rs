//! The OTLP/HTTP client (`http/protobuf`, the default protocol).
//!
//! It does what `opentelemetry-otlp`'s HTTP exporter does — POST the batch as
//! an `ExportTraceServiceRequest` to the traces URL with the configured
//! headers, within the export timeout — but the batch arrives already encoded
//! (`otlp_proto`, byte for byte what that exporter would send, built by
//! `otlp_batch` as spans end). The URL and headers are `Config`'s reading of
//! the `OTEL_EXPORTER_OTLP_*` variables, with the exporter's rules
//! (`traces::OtlpConfig`). gRPC still goes through `opentelemetry-otlp`.
//!
//! It runs on the span batches' own thread, on a single-threaded runtime of
//! its own: the post is made by that thread, not handed to a client thread
//! and waited for (two thread switches per batch fewer), and never holds up
//! a request. A failed export is an error the caller counts.

use std::time::Duration;

use reqwest::Client;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use tokio::runtime::Runtime;

#[derive(Debug, thiserror::Error)]
pub enum HttpExporterError {
    #[error("OTLP header {0:?}: {1}")]
    Header(String, String),
    #[error("cannot build the OTLP/HTTP client: {0}")]
    Client(String),
    #[error("cannot build the OTLP/HTTP client's runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Why a batch did not reach the collector (its spans are counted lost).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("OTLP/HTTP export failed: {0}")]
    Send(#[from] reqwest::Error),
    #[error("OTLP/HTTP export failed with status code {0}")]
    Status(u16),
}

#[derive(Debug)]
pub struct HttpExporter {
    client: Client,
    url: String,
    runtime: Runtime,
}

impl HttpExporter {
    pub fn new(
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, HttpExporterError> {
        let mut map = HeaderMap::new();
        map.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        map.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("hello/", env!("CARGO_PKG_VERSION"), " OTLP/HTTP")),
        );
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| HttpExporterError::Header(k.clone(), e.to_string()))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| HttpExporterError::Header(k.clone(), e.to_string()))?;
            map.insert(name, value);
        }
        let client = Client::builder()
            .timeout(timeout)
            .default_headers(map)
            .build()
            .map_err(|e| HttpExporterError::Client(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(HttpExporter {
            client,
            url: url.to_owned(),
            runtime,
        })
    }

    /// Posts one encoded `ExportTraceServiceRequest`. Blocks for at most the
    /// export timeout: call it from a thread that is not a runtime's worker.
    pub fn export(&self, body: Vec<u8>) -> Result<(), ExportError> {
        self.runtime.block_on(async {
            let response = self.client.post(&self.url).body(body).send().await?;
            let status = response.status();
            // Read to the end, so the connection is reused.
            let _ = response.bytes().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(ExportError::Status(status.as_u16()))
            }
        })
    }
}
