//! The stdout writer behind every log formatter: formatted lines are appended
//! to bounded in-memory buffers that one background thread writes out, so a
//! slow or blocked stdout never stalls a request; when a buffer is full the
//! line is dropped and counted.
//!
//! Two buffers, because not all lines are equal: access lines come by the
//! thousand per second, while a warning or an error (a broker down, the
//! connection cap) is rare and is the line an operator needs. Warnings and
//! errors have their own budget and are written first, so a burst of traffic
//! cannot push an outage report out. (tracing-appender's non-blocking writer,
//! used before, has one queue for all lines.)
//!
//! The budgets are bytes, not lines, because bytes are the memory; and a line
//! is copied into the buffer rather than queued as its own allocation: one
//! lock and one copy per line, no allocation and no free on another thread.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Bytes of access (and other info and below) lines waiting for stdout
/// before new ones are dropped: the bound on log memory when stdout is slower
/// than the service (about 2,000 access lines; the writer empties it every
/// few milliseconds while stdout keeps up).
pub const QUEUE_BYTES: usize = 1024 * 1024;
/// The budget of warnings and errors, apart from the one above.
pub const PRIORITY_QUEUE_BYTES: usize = 256 * 1024;
/// How long the writer naps when the buffers run empty before it sleeps
/// until woken: the most a line waits for its batch.
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
struct Dropped {
    normal: AtomicU64,
    priority: AtomicU64,
}

/// What the service's threads append to and the writer thread takes.
#[derive(Default)]
struct Pending {
    normal: Vec<u8>,
    priority: Vec<u8>,
    /// The writer is waiting on the condition variable: the next line must
    /// wake it. While it writes or naps, lines are only appended.
    idle: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    normal_bytes: usize,
    priority_bytes: usize,
    dropped: Dropped,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only whole lines behind.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side; cheap to clone, shared by every formatter.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread after it wrote everything pending (on drop).
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread on `out` (stdout in the service).
    pub fn spawn(out: impl Write + Send + 'static) -> io::Result<(LogWriter, WriterGuard)> {
        Self::with_capacity(out, QUEUE_BYTES, PRIORITY_QUEUE_BYTES)
    }

    /// With the given budgets in bytes (info and below; warn and error).
    pub fn with_capacity(
        out: impl Write + Send + 'static,
        normal_bytes: usize,
        priority_bytes: usize,
    ) -> io::Result<(LogWriter, WriterGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            normal_bytes,
            priority_bytes,
            dropped: Dropped::default(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("hello-log-writer".into())
                .spawn(move || run(out, &shared))?
        };
        Ok((
            LogWriter {
                shared: Arc::clone(&shared),
            },
            WriterGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }

    /// Appends one formatted line (with its newline); never blocks on stdout.
    pub fn write_line(&self, level: Level, line: &[u8]) {
        let shared = &*self.shared;
        let mut pending = shared.lock();
        let priority = level <= Level::WARN;
        let (buf, budget, dropped) = if priority {
            (
                &mut pending.priority,
                shared.priority_bytes,
                &shared.dropped.priority,
            )
        } else {
            (
                &mut pending.normal,
                shared.normal_bytes,
                &shared.dropped.normal,
            )
        };
        if buf.len() + line.len() > budget {
            dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        buf.extend_from_slice(line);
        if pending.idle {
            pending.idle = false;
            drop(pending);
            shared.wake.notify_one();
        }
    }

    /// Lines dropped because a budget was full: (info and below, warn and error).
    pub fn dropped(&self) -> (u64, u64) {
        let d = &self.shared.dropped;
        (
            d.normal.load(Ordering::Relaxed),
            d.priority.load(Ordering::Relaxed),
        )
    }
}

fn run(mut out: impl Write, shared: &Shared) {
    // Swapped with the pending buffers under the lock, written without it.
    let (mut normal, mut priority) = (Vec::new(), Vec::new());
    let mut wrote = false;
    loop {
        if wrote {
            // Let lines gather before the next write: at most one write per
            // nap however fast they come, instead of a write (and, once the
            // writer sleeps, a futex call and a context switch) per request.
            std::thread::sleep(BATCH_WAIT);
        }
        let stop = {
            let mut pending = shared.lock();
            if pending.normal.is_empty() && pending.priority.is_empty() && !pending.stop {
                // Nothing came during the nap: sleep until a line does.
                pending.idle = true;
                while pending.idle && !pending.stop {
                    pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
                pending.idle = false;
            }
            std::mem::swap(&mut pending.priority, &mut priority);
            std::mem::swap(&mut pending.normal, &mut normal);
            pending.stop
        };
        // Warnings and errors first. A failing stdout (closed pipe) loses
        // lines; there is nowhere to say so.
        for buf in [&mut priority, &mut normal] {
            if !buf.is_empty() {
                let _ = out.write_all(buf);
            }
            buf.clear();
            // A burst's buffer is not kept for ever: memory flat after it.
            buf.shrink_to(64 * 1024);
        }
        let _ = out.flush();
        wrote = true;
        if stop {
            let pending = shared.lock();
            if pending.normal.is_empty() && pending.priority.is_empty() {
                return;
            }
        }
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// For the pretty formatter: each event is one `write`, queued by its level.
pub struct LevelWriter<'a> {
    writer: &'a LogWriter,
    level: Level,
}

impl Write for LevelWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write_line(self.level, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LevelWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LevelWriter {
            writer: self,
            level: Level::INFO,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LevelWriter {
            writer: self,
            level: *meta.level(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A stdout that blocks until released, then records what it got.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        entered: Arc<std::sync::atomic::AtomicBool>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Gate {
        /// Queues one line and waits until the writer thread is stuck
        /// writing it: from then on, the queues alone hold what comes.
        fn jam(&self, w: &LogWriter) {
            w.write_line(Level::INFO, b"first\n");
            while !self.entered.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
        }

        fn release(&self) {
            let (lock, cv) = &*self.open;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.entered.store(true, Ordering::SeqCst);
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_of_access_lines_cannot_push_out_an_error() {
        let gate = Gate::default();
        // Room for 16 access lines of 11 bytes and 4 errors of 12.
        let (w, guard) = LogWriter::with_capacity(gate.clone(), 16 * 11, 4 * 12).unwrap();
        gate.jam(&w);
        // stdout is stuck; traffic fills the normal budget and overflows it.
        for i in 0..100 {
            w.write_line(Level::INFO, format!("access {i:03}\n").as_bytes());
        }
        w.write_line(Level::ERROR, b"broker down\n");
        assert_eq!(w.dropped(), (84, 0), "the error had its own budget");
        gate.release();
        drop(guard); // writes everything queued, then stops
        let got = String::from_utf8(gate.got.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = got.lines().collect();
        // The error first, then the queued access lines in order.
        assert_eq!(lines[..3], ["first", "broker down", "access 000"]);
        assert_eq!(lines.len(), 1 + 1 + 16, "every queued line written once");
        assert_eq!(lines.last(), Some(&"access 015"));
    }

    /// Counts the writes that reach stdout.
    #[derive(Clone, Default)]
    struct Counting(Arc<std::sync::atomic::AtomicUsize>);

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_stdout_in_batches_not_one_write_each() {
        // One write (and one wake-up of the writer) per line cost about a
        // context switch per request under load.
        let out = Counting::default();
        let (w, guard) = LogWriter::spawn(out.clone()).unwrap();
        // Paced like requests (one line per 20 µs), so that a writer that
        // keeps up with each line would flush each one.
        let start = std::time::Instant::now();
        for i in 0..2000u32 {
            while start.elapsed() < std::time::Duration::from_micros(20) * i {
                std::hint::spin_loop();
            }
            w.write_line(Level::INFO, format!("line {i}\n").as_bytes());
        }
        drop(guard);
        let elapsed = start.elapsed();
        let writes = out.0.load(Ordering::SeqCst);
        assert_eq!(w.dropped(), (0, 0));
        // At most one batch per nap, whatever the pace turned out to be: on
        // a busy machine the 40 ms of pacing can stretch, and the writer
        // then writes more, smaller batches (one write per line would be
        // 2000, however long it took).
        let naps = (elapsed.as_micros() / BATCH_WAIT.as_micros()) as usize;
        assert!(
            writes <= naps + 10 && writes < 1000,
            "{writes} writes for 2000 lines in {elapsed:?}"
        );
    }

    #[test]
    fn the_priority_budget_overflows_on_its_own_and_is_counted() {
        let gate = Gate::default();
        // Room for 2 warnings of 2 bytes.
        let (w, guard) = LogWriter::with_capacity(gate.clone(), 64, 2 * 2).unwrap();
        gate.jam(&w);
        for _ in 0..10 {
            w.write_line(Level::WARN, b"w\n");
        }
        assert_eq!(w.dropped(), (0, 8));
        gate.release();
        drop(guard);
        assert_eq!(gate.got.lock().unwrap().len(), "first\nw\nw\n".len());
    }

    #[test]
    fn the_budget_is_bytes_so_a_few_long_lines_fill_it() {
        let gate = Gate::default();
        let (w, guard) = LogWriter::with_capacity(gate.clone(), 1000, 64).unwrap();
        gate.jam(&w);
        let long = [b'x'; 399];
        for _ in 0..3 {
            w.write_line(Level::INFO, &[&long[..], b"\n"].concat());
        }
        assert_eq!(
            w.dropped(),
            (1, 0),
            "two 400-byte lines fit in 1000 bytes, not three"
        );
        gate.release();
        drop(guard);
        assert_eq!(gate.got.lock().unwrap().len(), "first\n".len() + 2 * 400);
    }
}
