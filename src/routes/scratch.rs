//! `PUT/GET/DELETE /v1/scratch/{key}`: temp data in the scratch store.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::error::ApiError;

/// A key that does not even decode (bad percent-encoding, invalid UTF-8)
/// is a bad key like any other.
fn key(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(k)| k).map_err(|_| ApiError::BadKey)
}

pub async fn write(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = key(path)?;
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let outcome = state.scratch.put(&key, body, content_length).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "key": key, "bytes": outcome.bytes }))).into_response())
}

pub async fn read(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let stored = state.scratch.get(&key(path)?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, stored.len.to_string()),
        ],
        stored.body,
    )
        .into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    state.scratch.delete(&key(path)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
