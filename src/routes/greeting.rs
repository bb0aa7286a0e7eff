//! `GET /`: the next greeting from `MESSAGES`, as text or JSON.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use super::AppState;
use crate::build_info::VERSION;
use crate::settings::{self, ConfigError, Lookup, err};

pub const DEFAULT_MESSAGE: &str = "Hello, World!";

/// `MESSAGES` and `HOSTNAME`.
#[derive(Debug, Clone)]
pub struct GreetingSettings {
    /// `MESSAGES`: newline-separated greetings, rotated per request.
    pub messages: Vec<String>,
    /// `HOSTNAME`, else the kernel's host name.
    pub hostname: String,
}

impl GreetingSettings {
    pub(crate) fn parse(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        // Unlike the others, a set-but-blank MESSAGES is an error, not the default.
        let messages = match lookup("MESSAGES") {
            None => vec![DEFAULT_MESSAGE.to_owned()],
            Some(v) => parse_messages(&v).map_err(|reason| err("MESSAGES", &v, reason))?,
        };
        let hostname = settings::get(lookup, "HOSTNAME")
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(GreetingSettings { messages, hostname })
    }
}

/// Splits `MESSAGES` into greetings: one per non-blank line, trimmed.
/// A value with no greeting at all is a configuration mistake, not a default.
pub fn parse_messages(raw: &str) -> Result<Vec<String>, &'static str> {
    let messages: Vec<String> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if messages.is_empty() {
        return Err("holds no message (one greeting per line)");
    }
    if messages.iter().any(|m| m.len() > 4096) {
        return Err("a message is longer than 4096 bytes");
    }
    Ok(messages)
}

/// The greetings, each already rendered as both bodies: a request costs a
/// reference count, not a formatting pass.
pub struct Greeter {
    bodies: Vec<(Bytes, Bytes)>,
    next: AtomicUsize,
}

#[derive(Serialize)]
struct Greeting<'a> {
    message: &'a str,
    hostname: &'a str,
    version: &'a str,
}

impl Greeter {
    /// `messages` is never empty (the config guarantees it).
    pub fn new(messages: Vec<String>, hostname: &str) -> Self {
        let bodies = messages
            .iter()
            .map(|message| {
                let json = serde_json::to_vec(&Greeting {
                    message,
                    hostname,
                    version: VERSION,
                })
                .unwrap_or_default();
                (Bytes::from(format!("{message}\n")), Bytes::from(json))
            })
            .collect();
        Greeter {
            bodies,
            next: AtomicUsize::new(0),
        }
    }

    /// Rotates through the messages, one per call: (text, JSON).
    pub fn next(&self) -> &(Bytes, Bytes) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bodies.len();
        &self.bodies[i]
    }
}

// The whole request, not the `HeaderMap` extractor: that one clones every header.
pub async fn greet(State(state): State<AppState>, req: Request) -> Response {
    let (text, json) = state.greeter.next();
    let (content_type, body) = if wants_json(req.headers()) {
        ("application/json", json)
    } else {
        ("text/plain; charset=utf-8", text)
    };
    // Built directly: `(headers, Bytes).into_response()` sets the content
    // type twice (octet-stream first).
    let mut response = Response::new(Body::from(body.clone()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
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
    fn rotation_and_both_bodies() {
        let g = Greeter::new(vec!["a".into(), "b \"q\"".into()], "h");
        let texts: Vec<_> = (0..3).map(|_| g.next().0.clone()).collect();
        assert_eq!(texts, ["a\n", "b \"q\"\n", "a\n"]);
        let json: serde_json::Value = serde_json::from_slice(&g.next().1).unwrap();
        assert_eq!(json["message"], "b \"q\"");
        assert_eq!(json["hostname"], "h");
        assert_eq!(json["version"], VERSION);
    }
}
