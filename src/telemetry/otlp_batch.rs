//! The span processor of OTLP/HTTP export: each span is encoded into the
//! current batch as it ends, and a thread of its own posts full batches.
//!
//! It keeps the SDK batch processor's rules and settings (`OTEL_BSP_*`): a
//! bounded queue, batches of at most `max_batch` spans, an export at least
//! every `schedule_delay`, one batch at a time out of the queue. What it
//! saves is the `SpanData`: the SDK's processor moves every span through a
//! channel into a batch and keeps it until the exporter encodes it; here the
//! span is encoded while it is still in cache and dropped, and the queue
//! holds bytes (`otlp_proto::EncodedSpans`, about 300 bytes per span).
//!
//! A span that finds the queue full, or arrives after shutdown, is dropped
//! and counted in `hello_telemetry_export_errors_total{signal="traces"}`, as
//! are the spans of a batch the collector did not take: a request never
//! waits for the collector.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::otlp_http::HttpExporter;
use super::otlp_proto::{EncodedResource, EncodedSpans};
use super::traces::{TraceTuning, count_lost};

/// Emptied batches kept for reuse (a full batch's buffer is ~150 KiB).
const SPARE_BATCHES: usize = 2;

#[derive(Debug)]
pub struct BatchProcessor {
    shared: Arc<Shared>,
    /// Counts spans that do not reach the collector (`traces::count_lost`).
    lost: fn(u64),
    max_queue: usize,
    max_batch: usize,
    export_timeout: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the export thread: a batch is full, a flush is asked, or shutdown.
    wake: Condvar,
    /// Wakes callers of `force_flush` and `shutdown`: the thread has drained.
    drained: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Batches waiting for export, oldest first; only the last is filling.
    queue: VecDeque<EncodedSpans>,
    /// Spans in `queue`.
    queued: usize,
    spare: Vec<EncodedSpans>,
    resource: Arc<EncodedResource>,
    flushes_asked: u64,
    flushes_done: u64,
    stopping: bool,
    stopped: bool,
}

impl Shared {
    /// The state; a panic elsewhere while holding it leaves nothing half-done
    /// that matters more than losing spans, so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BatchProcessor {
    /// Starts the export thread, which owns `exporter`.
    pub fn new(exporter: HttpExporter, tuning: &TraceTuning) -> std::io::Result<Self> {
        Self::counting_with(exporter, tuning, count_lost)
    }

    fn counting_with(
        exporter: HttpExporter,
        tuning: &TraceTuning,
        lost: fn(u64),
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("hello-otlp-export".to_owned())
            .spawn({
                let shared = shared.clone();
                let (delay, max_batch) = (tuning.schedule_delay, tuning.max_batch);
                move || export_loop(&shared, &exporter, delay, max_batch, lost)
            })?;
        Ok(BatchProcessor {
            shared,
            lost,
            max_queue: tuning.max_queue,
            max_batch: tuning.max_batch,
            export_timeout: tuning.export_timeout,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Waits until the export thread has drained the `flush`th time (or
    /// stopped), for at most `limit`.
    fn wait_drained(
        &self,
        mut state: MutexGuard<'_, State>,
        done: impl Fn(&State) -> bool,
        limit: Duration,
    ) -> OTelSdkResult {
        let deadline = Instant::now() + limit;
        while !done(&state) {
            let now = Instant::now();
            if now >= deadline {
                return Err(OTelSdkError::Timeout(limit));
            }
            state = self
                .shared
                .drained
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut state = self.shared.lock();
        if state.stopping || state.queued >= self.max_queue {
            drop(state);
            (self.lost)(1);
            return;
        }
        if state.queue.back().is_none_or(|b| b.len() >= self.max_batch) {
            let batch = state.spare.pop().unwrap_or_default();
            state.queue.push_back(batch);
        }
        let full = match state.queue.back_mut() {
            Some(batch) => {
                batch.push(&span);
                batch.len() >= self.max_batch
            }
            None => false, // pushed just above
        };
        state.queued += 1;
        drop(state);
        if full {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.flushes_asked += 1;
        let asked = state.flushes_asked;
        // Each batch waiting may take the export timeout.
        let limit = self.export_timeout * (state.queue.len() as u32 + 1);
        self.shared.wake.notify_one();
        self.wait_drained(state, |s| s.flushes_done >= asked || s.stopped, limit)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut state = self.shared.lock();
        if state.stopping {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.stopping = true;
        self.shared.wake.notify_one();
        self.wait_drained(state, |s| s.stopped, timeout)?;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join(); // it has stopped: this does not wait
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.lock().resource = Arc::new(EncodedResource::new(resource));
    }
}

/// The export thread: waits for a full batch, the schedule, a flush or
/// shutdown, then posts batches one at a time (so at most one batch is out
/// of the bounded queue), and at shutdown drains the queue and returns.
fn export_loop(
    shared: &Shared,
    exporter: &HttpExporter,
    delay: Duration,
    max_batch: usize,
    lost: fn(u64),
) {
    let mut next = Instant::now() + delay;
    let mut state = shared.lock();
    loop {
        let now = Instant::now();
        let due = now >= next;
        let flush = state.flushes_asked > state.flushes_done;
        let stopping = state.stopping;
        let full = state.queue.front().is_some_and(|b| b.len() >= max_batch);
        if !(due || flush || stopping || full) {
            state = shared
                .wake
                .wait_timeout(state, next - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            continue;
        }
        // On the schedule, a flush or shutdown every batch queued now goes,
        // the one still filling included (not those started meanwhile, or a
        // steady stream would be sent a few spans at a time); otherwise only
        // full batches.
        let mut now_queued = if due || flush || stopping {
            state.queue.len()
        } else {
            0
        };
        let asked = state.flushes_asked;
        while state
            .queue
            .front()
            .is_some_and(|b| now_queued > 0 || b.len() >= max_batch)
        {
            let Some(mut batch) = state.queue.pop_front() else {
                break;
            };
            now_queued = now_queued.saturating_sub(1);
            state.queued -= batch.len();
            let resource = state.resource.clone();
            drop(state);
            if !batch.is_empty() {
                let body = batch.request(&resource);
                if exporter.export(body).is_err() {
                    lost(batch.len() as u64);
                }
                batch.clear();
            }
            state = shared.lock();
            if state.spare.len() < SPARE_BATCHES {
                state.spare.push(batch);
            }
        }
        if due {
            next = Instant::now() + delay;
        }
        state.flushes_done = asked;
        if stopping {
            state.stopped = true;
            shared.drained.notify_all();
            return;
        }
        shared.drained.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::time::UNIX_EPOCH;

    use axum::http::StatusCode;
    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use prost::Message;

    use super::*;

    #[derive(Clone)]
    enum Answer {
        Ok,
        Unavailable,
        Never,
        /// 200 once the test adds a permit.
        Held(Arc<tokio::sync::Semaphore>),
    }

    /// A collector on loopback answering every export with `answer`; each
    /// request's span names arrive on the receiver (before the answer).
    fn collector(answer: Answer) -> (String, mpsc::Receiver<Vec<String>>) {
        let (tx, rx) = mpsc::channel();
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let post = move |body: axum::body::Bytes| {
                    let (tx, answer) = (tx.clone(), answer.clone());
                    async move {
                        let request = ExportTraceServiceRequest::decode(body).unwrap();
                        let names = request
                            .resource_spans
                            .iter()
                            .flat_map(|r| &r.scope_spans)
                            .flat_map(|s| &s.spans)
                            .map(|s| s.name.clone())
                            .collect();
                        tx.send(names).unwrap();
                        match answer {
                            Answer::Ok => StatusCode::OK,
                            Answer::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                            Answer::Never => std::future::pending().await,
                            Answer::Held(gate) => {
                                gate.acquire().await.unwrap().forget();
                                StatusCode::OK
                            }
                        }
                    }
                };
                let app = axum::Router::new().route("/v1/traces", axum::routing::post(post));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        (format!("http://{addr}/v1/traces"), rx)
    }

    fn processor(url: &str, max_batch: usize, max_queue: usize, lost: fn(u64)) -> BatchProcessor {
        let tuning = TraceTuning {
            export_timeout: Duration::from_secs(30),
            schedule_delay: Duration::from_secs(600),
            max_queue,
            max_batch,
        };
        let exporter = HttpExporter::new(url, &[], tuning.export_timeout).unwrap();
        BatchProcessor::counting_with(exporter, &tuning, lost).unwrap()
    }

    fn span(name: &str) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                TraceFlags::SAMPLED,
                false,
                Default::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Owned(name.to_owned()),
            start_time: UNIX_EPOCH,
            end_time: UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("hello").build(),
        }
    }

    fn end(p: &BatchProcessor, names: &[&str]) {
        for name in names {
            p.on_end(span(name));
        }
    }

    fn recv(rx: &mpsc::Receiver<Vec<String>>) -> Vec<String> {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("an export reaches the collector")
    }

    #[test]
    fn full_batches_go_at_once_and_a_flush_sends_the_rest() {
        static LOST: AtomicU64 = AtomicU64::new(0);
        let (url, rx) = collector(Answer::Ok);
        let p = processor(&url, 3, 100, |n| {
            LOST.fetch_add(n, Ordering::SeqCst);
        });
        end(&p, &["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
        assert_eq!(recv(&rx), ["s0", "s1", "s2"]);
        assert_eq!(recv(&rx), ["s3", "s4", "s5"]);
        // The schedule (600 s) is far off: s6 waits for the flush.
        p.force_flush().unwrap();
        assert_eq!(rx.try_recv().unwrap(), ["s6"]);
        assert!(rx.try_recv().is_err(), "each span once");
        assert_eq!(LOST.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_flush_sends_what_was_queued_not_what_comes_meanwhile() {
        static LOST: AtomicU64 = AtomicU64::new(0);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (url, rx) = collector(Answer::Held(gate.clone()));
        let p = Arc::new(processor(&url, 100, 1000, |n| {
            LOST.fetch_add(n, Ordering::SeqCst);
        }));
        end(&p, &["a", "b"]);
        let flush = std::thread::spawn({
            let p = p.clone();
            move || p.force_flush()
        });
        assert_eq!(recv(&rx), ["a", "b"]);
        // While that export waits for its answer, a span ends.
        end(&p, &["c"]);
        gate.add_permits(1);
        flush.join().unwrap().unwrap();
        assert!(
            rx.try_recv().is_err(),
            "c went with the flush, a batch of one"
        );
        gate.add_permits(1);
        p.force_flush().unwrap();
        assert_eq!(rx.try_recv().unwrap(), ["c"]);
        assert_eq!(LOST.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_schedule_sends_a_batch_that_is_not_full() {
        let (url, rx) = collector(Answer::Ok);
        let tuning = TraceTuning {
            export_timeout: Duration::from_secs(30),
            schedule_delay: Duration::from_millis(50),
            max_queue: 2048,
            max_batch: 512,
        };
        let exporter = HttpExporter::new(&url, &[], tuning.export_timeout).unwrap();
        let p = BatchProcessor::new(exporter, &tuning).unwrap();
        end(&p, &["a", "b"]);
        assert_eq!(recv(&rx), ["a", "b"]);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        static LOST: AtomicU64 = AtomicU64::new(0);
        let (url, rx) = collector(Answer::Never);
        let p = processor(&url, 2, 4, |n| {
            LOST.fetch_add(n, Ordering::SeqCst);
        });
        end(&p, &["a", "b"]);
        // That batch is out of the queue, its export hanging.
        assert_eq!(recv(&rx), ["a", "b"]);
        end(&p, &["c", "d", "e", "f", "g"]);
        assert_eq!(LOST.load(Ordering::SeqCst), 1, "g found the queue (4) full");
        assert!(matches!(
            p.shutdown_with_timeout(Duration::from_millis(100)),
            Err(OTelSdkError::Timeout(_))
        ));
        end(&p, &["late"]);
        assert_eq!(
            LOST.load(Ordering::SeqCst),
            2,
            "a span after shutdown is lost"
        );
    }

    #[test]
    fn a_refused_export_counts_its_spans() {
        static LOST: AtomicU64 = AtomicU64::new(0);
        let (url, rx) = collector(Answer::Unavailable);
        let p = processor(&url, 3, 100, |n| {
            LOST.fetch_add(n, Ordering::SeqCst);
        });
        end(&p, &["a", "b", "c"]);
        assert_eq!(recv(&rx), ["a", "b", "c"]);
        p.force_flush().unwrap(); // drained: the 503 has been read
        assert_eq!(LOST.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn shutdown_sends_what_is_queued_then_refuses_more() {
        static LOST: AtomicU64 = AtomicU64::new(0);
        let (url, rx) = collector(Answer::Ok);
        let p = processor(&url, 512, 2048, |n| {
            LOST.fetch_add(n, Ordering::SeqCst);
        });
        end(&p, &["a", "b"]);
        p.shutdown_with_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(rx.try_recv().unwrap(), ["a", "b"]);
        assert!(matches!(
            p.shutdown_with_timeout(Duration::from_secs(1)),
            Err(OTelSdkError::AlreadyShutdown)
        ));
        assert!(matches!(
            p.force_flush(),
            Err(OTelSdkError::AlreadyShutdown)
        ));
        end(&p, &["late"]);
        assert_eq!(LOST.load(Ordering::SeqCst), 1);
    }
}
