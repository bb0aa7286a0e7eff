//! Fault injection for drills and alert tests: only mounted when
//! `FAULT_INJECTION=true` (404 otherwise, like any unknown path).

use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::Routes;
use crate::error::ApiError;
use crate::settings::{self, ConfigError, Lookup, parse_bool};

pub const MAX_DELAY_MS: u64 = 10_000;

/// `FAULT_INJECTION` (default off): whether the routes below are mounted.
pub(crate) fn enabled(lookup: Lookup<'_>) -> Result<bool, ConfigError> {
    match settings::get(lookup, "FAULT_INJECTION") {
        None => Ok(false),
        Some(v) => parse_bool("FAULT_INJECTION", &v),
    }
}

pub fn routes() -> Routes {
    Routes::new()
        .route("/v1/status/{code}", get(status))
        .route("/v1/delay/{ms}", get(delay))
        .route("/v1/panic", get(panic))
}

/// Answers with the requested status (200–599); error statuses carry the
/// usual JSON error body, so they are counted as what they are.
async fn status(code: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let code = number(code, "status code must be a number between 200 and 599")?;
    let status = u16::try_from(code)
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| {
            ApiError::BadRequest("status code must be a number between 200 and 599".into())
        })?;
    if status.as_u16() >= 400 {
        return Err(ApiError::Injected(status));
    }
    Ok((status, Json(json!({ "status": status.as_u16() }))).into_response())
}

/// Sleeps, then answers 200: slow requests on demand (capped at 10 s).
async fn delay(
    ms: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let reason = "delay must be a number of milliseconds from 0 to 10000";
    let ms = number(ms, reason)?;
    if ms > MAX_DELAY_MS {
        return Err(ApiError::BadRequest(reason.into()));
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Json(json!({ "delayed_ms": ms })))
}

/// Panics inside the handler: the panic guard must turn it into a 500.
async fn panic() -> Response {
    panic!("injected panic (GET /v1/panic)");
}

fn number(path: Result<Path<String>, PathRejection>, reason: &str) -> Result<u64, ApiError> {
    path.ok()
        .and_then(|Path(s)| s.parse().ok())
        .ok_or_else(|| ApiError::BadRequest(reason.into()))
}
