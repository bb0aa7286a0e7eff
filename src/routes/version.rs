//! `GET /version`: what is running.

use axum::Json;
use serde_json::json;

use crate::build_info::{BUILD_DATE, REVISION, RUSTC, VERSION};

pub async fn version() -> Json<serde_json::Value> {
    Json(
        json!({ "version": VERSION, "revision": REVISION, "build_date": BUILD_DATE, "rustc": RUSTC }),
    )
}
