//! The one error type that becomes the JSON error response
//! `{"error": "...", "status": N}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid key: must match [A-Za-z0-9._-]{{1,128}} and not start with '.'")]
    BadKey,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("scratch space full: quota of {quota} bytes reached")]
    QuotaExceeded { quota: u64 },
    #[error("scratch storage has no space left")]
    NoSpace,
    #[error("request body was not received completely")]
    BodyIncomplete,
    #[error("internal error")]
    Internal(#[source] std::io::Error),
    /// Fault injection: an error status chosen by the client.
    #[error("injected fault")]
    Injected(StatusCode),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadKey | ApiError::BadRequest(_) | ApiError::BodyIncomplete => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::QuotaExceeded { .. } | ApiError::NoSpace => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Injected(s) => *s,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            // The client gets a generic message; the cause goes to the log.
            tracing::error!(error = %e, "internal error");
        }
        json_error(self.status(), &self.to_string())
    }
}

/// The body of every error: `{"error": message, "status": N}`.
pub fn json_error_body(status: StatusCode, message: &str) -> String {
    serde_json::json!({ "error": message, "status": status.as_u16() }).to_string()
}

/// Builds the JSON error response with the given status.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = json_error_body(status, message);
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Any error response that is not already JSON (a layer's
/// 408/413/503, axum's 405 or a rejected path parameter) gets the JSON body,
/// so every error a client sees has one shape. Headers such as `Retry-After`
/// are kept. Success responses pass through untouched.
pub fn ensure_json_errors(res: Response) -> Response {
    if res.status().as_u16() < 400 || is_json(&res) {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let reason = parts
        .status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let fresh = json_error(parts.status, &reason);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, fresh.into_body())
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}
