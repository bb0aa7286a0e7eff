//! `GET /metrics`: Prometheus text exposition, served by the app itself (no
//! second listener to expose, secure or probe).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::telemetry::metrics::EXPORT_ERRORS;

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    metrics::counter!(EXPORT_ERRORS, "signal" => "logs")
        .absolute(crate::telemetry::dropped_log_lines());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
