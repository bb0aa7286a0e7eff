//! The Prometheus recorder and the per-route metric handles the HTTP
//! middleware records into.
//!
//! Handles are registered once per (method, route, status) and then reused:
//! the request path does a read-locked lookup of ready handles instead of a
//! registry lookup with freshly built string labels.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

/// How often raw histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

use axum::http::Method;
use metrics::{Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";
pub const BUILD_INFO: &str = "hello_build_info";
pub const LOG_EVENTS: &str = "hello_log_events_total";
pub const EXPORT_ERRORS: &str = "hello_telemetry_export_errors_total";
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of requests no route matched: bounded cardinality.
pub const UNMATCHED: &str = "unmatched";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once per process and returns its handle
/// (tests build several apps in one process; they share it).
pub fn install_recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), &BUCKETS)
                .expect("static bucket list is valid") // start-up invariant
                .build_recorder();
            let handle = recorder.handle();
            // Err only if another recorder was installed first; then ours just
            // stays unused and /metrics renders nothing, which tests would catch.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!(BUILD_INFO, "version" => crate::build_info::VERSION, "revision" => crate::build_info::REVISION).set(1.0);
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Duration of HTTP server requests."
    );
    metrics::describe_gauge!(ACTIVE_REQUESTS, "Number of HTTP server requests in flight.");
    metrics::describe_gauge!(BUILD_INFO, "Build information; always 1.");
    metrics::describe_gauge!(
        "hello_scratch_bytes",
        metrics::Unit::Bytes,
        "Bytes held in the scratch store."
    );
    metrics::describe_gauge!(
        "hello_scratch_quota_bytes",
        metrics::Unit::Bytes,
        "Scratch store quota (SCRATCH_QUOTA_BYTES)."
    );
    metrics::describe_counter!(LOG_EVENTS, "Log events handed to a sink, by outcome.");
    metrics::describe_counter!(
        EXPORT_ERRORS,
        "Telemetry that could not be exported, by signal."
    );
}

/// Renders `/metrics`: process metrics are sampled at scrape time.
#[derive(Clone)]
pub struct MetricsRenderer {
    handle: PrometheusHandle,
    process: Arc<metrics_process::Collector>,
}

impl MetricsRenderer {
    pub fn new(handle: PrometheusHandle) -> Self {
        let process = metrics_process::Collector::default();
        process.describe();
        MetricsRenderer {
            handle,
            process: Arc::new(process),
        }
    }

    pub fn render(&self) -> String {
        self.process.collect();
        self.handle.render()
    }

    /// Drains raw histogram samples between scrapes so memory stays flat
    /// even when nobody scrapes.
    /// (Every sample is kept until drained: at 100k requests/s, 5 s of
    /// them held about 8 MiB; 1 s holds a fifth of that.)
    pub fn spawn_upkeep(&self) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// OpenTelemetry's method set; anything else is `_OTHER` (bounded labels).
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "_OTHER",
];

/// The index of `_OTHER`: any method outside the set, or none known.
pub const OTHER_METHOD: usize = METHODS.len() - 1;

pub fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        Method::TRACE => 7,
        Method::CONNECT => 8,
        _ => OTHER_METHOD,
    }
}

pub fn method_label(index: usize) -> &'static str {
    METHODS[index]
}

/// Handles of one (method, route): its span name and a histogram per status.
pub struct RouteMetrics {
    /// Static so that a span takes it without a copy: one per (method,
    /// route) the router knows, made once and kept for the process's life.
    pub span_name: &'static str,
    method: &'static str,
    route: Box<str>,
    by_status: RwLock<Vec<(u16, Histogram)>>,
}

impl RouteMetrics {
    pub fn record(&self, status: u16, seconds: f64) {
        if let Some((_, h)) = self.read().iter().find(|(s, _)| *s == status) {
            h.record(seconds);
            return;
        }
        let h = metrics::histogram!(
            REQUEST_DURATION,
            "http_request_method" => self.method,
            "http_route" => self.route.to_string(),
            "http_response_status_code" => status.to_string()
        );
        h.record(seconds);
        let mut w = self.by_status.write().unwrap_or_else(|p| p.into_inner());
        if !w.iter().any(|(s, _)| *s == status) {
            w.push((status, h));
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(u16, Histogram)>> {
        self.by_status.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// A route's label (its pattern, or [`UNMATCHED`]) with its metric handles
/// per method, resolved from [`HttpMetrics`] on first use: the edge keeps one
/// per route, so a request finds its handles without a lock or a hash.
pub struct RouteLabel {
    pub pattern: &'static str,
    handles: [OnceLock<Arc<RouteMetrics>>; METHODS.len()],
}

impl RouteLabel {
    pub fn new(pattern: &'static str) -> Self {
        RouteLabel {
            pattern,
            handles: Default::default(),
        }
    }

    pub fn handles(&self, metrics: &HttpMetrics, method: usize) -> &RouteMetrics {
        self.handles[method].get_or_init(|| metrics.route(method, self.pattern))
    }
}

/// The HTTP server metrics: in-flight gauges per method and route handles.
pub struct HttpMetrics {
    active: Vec<Gauge>,
    routes: Vec<RwLock<HashMap<Box<str>, Arc<RouteMetrics>>>>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            active: METHODS
                .iter()
                .map(|m| metrics::gauge!(ACTIVE_REQUESTS, "http_request_method" => *m))
                .collect(),
            routes: METHODS
                .iter()
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
        }
    }
}

/// One process-wide copy of each span name, so that a span takes it without
/// an allocation. Bounded: names come from the routes the router declares.
fn intern_span_name(name: String) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let name: &'static str = Box::leak(name.into_boxed_str());
    names.insert(name);
    name
}

impl HttpMetrics {
    pub fn active(&self, method: usize) -> &Gauge {
        &self.active[method]
    }

    pub fn route(&self, method: usize, route: &str) -> Arc<RouteMetrics> {
        let map = &self.routes[method];
        if let Some(r) = map.read().unwrap_or_else(|p| p.into_inner()).get(route) {
            return Arc::clone(r);
        }
        let mut w = map.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(w.entry(route.into()).or_insert_with(|| {
            Arc::new(RouteMetrics {
                // Semantic conventions: `{method} {route}`, or just the method
                // when no route matched.
                span_name: if route == UNMATCHED {
                    METHODS[method]
                } else {
                    intern_span_name(format!("{} {route}", METHODS[method]))
                },
                method: METHODS[method],
                route: route.into(),
                by_status: RwLock::new(Vec::new()),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_names_are_kept_once_per_process() {
        let a = intern_span_name("GET /interned".to_owned());
        let b = intern_span_name(String::from("GET /interned"));
        assert_eq!(a, "GET /interned");
        assert!(
            std::ptr::eq(a, b),
            "the second lookup reuses the first copy"
        );
        assert!(!std::ptr::eq(
            a,
            intern_span_name("PUT /interned".to_owned())
        ));
    }
}
