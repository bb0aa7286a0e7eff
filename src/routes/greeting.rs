//! `GET /`: the next greeting from `MESSAGES`, as text or JSON.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use crate::build_info::VERSION;

pub struct Greeter {
    messages: Vec<String>,
    next: AtomicUsize,
}

impl Greeter {
    /// `messages` is never empty (the config guarantees it).
    pub fn new(messages: Vec<String>) -> Self {
        Greeter {
            messages,
            next: AtomicUsize::new(0),
        }
    }

    /// Rotates through the messages, one per call.
    pub fn next(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.messages.len();
        &self.messages[i]
    }
}

#[derive(Serialize)]
struct Greeting<'a> {
    message: &'a str,
    hostname: &'a str,
    version: &'a str,
}

pub async fn greet(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let message = state.greeter.next();
    if wants_json(&headers) {
        Json(Greeting {
            message,
            hostname: &state.hostname,
            version: VERSION,
        })
        .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{message}\n"),
        )
            .into_response()
    }
}

/// True when `Accept` lists `application/json` with a non-zero quality.
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let quality = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok());
            media.eq_ignore_ascii_case("application/json") && quality.is_none_or(|q| q > 0.0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("text/html, Application/JSON;q=0.9")));
        assert!(!wants_json(&accept("application/json;q=0")));
        assert!(!wants_json(&accept("text/plain")));
        assert!(!wants_json(&accept("*/*")));
        assert!(!wants_json(&HeaderMap::new()));
    }

    #[test]
    fn rotation() {
        let g = Greeter::new(vec!["a".into(), "b".into()]);
        assert_eq!([g.next(), g.next(), g.next()], ["a", "b", "a"]);
    }
}
