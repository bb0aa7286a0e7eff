//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::error::json_error;
use crate::shutdown::NotReady;

/// Liveness: the process answers, so it can serve.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: started, not draining, scratch directory writable.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let reason = match state.readiness.check() {
        Err(NotReady::Starting) => "starting",
        Err(NotReady::Draining) => "shutting down",
        Ok(()) if !state.scratch.is_writable() => "scratch directory not writable",
        Ok(()) => return Json(json!({ "status": "ready" })).into_response(),
    };
    json_error(StatusCode::SERVICE_UNAVAILABLE, reason)
}
