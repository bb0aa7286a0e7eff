//! The stdout writer behind every log formatter: formatted lines go through
//! bounded queues to one background thread, so a slow or blocked stdout never
//! stalls a request; when a queue is full the line is dropped and counted.
//!
//! Two queues, because not all lines are equal: access lines come by the
//! thousand per second, while a warning or an error (a broker down, the
//! connection cap) is rare and is the line an operator needs. Warnings and
//! errors have their own budget and are written first, so a burst of traffic
//! cannot push an outage report out. (tracing-appender's non-blocking writer,
//! used before, has one queue for all lines.)

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select_biased};
use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Lines queued for stdout before new ones are dropped: the bound on log
/// memory when stdout is slower than the service.
pub const QUEUE_LINES: usize = 8192;
/// The budget of warnings and errors, apart from the one above.
pub const PRIORITY_QUEUE_LINES: usize = 1024;
/// How long the writer naps when the queues run empty before it blocks: the
/// most a line waits for its batch (the queues hold 8192 lines, far more
/// than arrive in this time).
const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Default)]
struct Dropped {
    normal: AtomicU64,
    priority: AtomicU64,
}

/// The sending side; cheap to clone, shared by every formatter.
#[derive(Clone)]
pub struct LogWriter {
    normal: Sender<Vec<u8>>,
    priority: Sender<Vec<u8>>,
    dropped: Arc<Dropped>,
}

/// Stops the writer thread after it wrote everything queued (on drop).
pub struct WriterGuard {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the writer thread on `out` (stdout in the service).
    pub fn spawn(out: impl Write + Send + 'static) -> io::Result<(LogWriter, WriterGuard)> {
        Self::with_capacity(out, QUEUE_LINES, PRIORITY_QUEUE_LINES)
    }

    pub fn with_capacity(
        out: impl Write + Send + 'static,
        lines: usize,
        priority_lines: usize,
    ) -> io::Result<(LogWriter, WriterGuard)> {
        let (normal, normal_rx) = bounded(lines);
        let (priority, priority_rx) = bounded(priority_lines);
        let (stop, stop_rx) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("hello-log-writer".into())
            .spawn(move || run(out, &priority_rx, &normal_rx, &stop_rx))?;
        Ok((
            LogWriter {
                normal,
                priority,
                dropped: Arc::default(),
            },
            WriterGuard {
                stop: Some(stop),
                thread: Some(thread),
            },
        ))
    }

    /// Queues one formatted line (with its newline); never blocks.
    pub fn write_line(&self, level: Level, line: Vec<u8>) {
        let (queue, dropped) = if level <= Level::WARN {
            (&self.priority, &self.dropped.priority)
        } else {
            (&self.normal, &self.dropped.normal)
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(line) {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped because a queue was full: (info and below, warn and error).
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.dropped.normal.load(Ordering::Relaxed),
            self.dropped.priority.load(Ordering::Relaxed),
        )
    }
}

fn run(
    out: impl Write,
    priority: &Receiver<Vec<u8>>,
    normal: &Receiver<Vec<u8>>,
    stop: &Receiver<()>,
) {
    // Lines are batched in the buffer and flushed whenever the queues run
    // empty: one write(2) per burst instead of one per line.
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    loop {
        let line = match priority.try_recv().or_else(|_| normal.try_recv()) {
            Ok(line) => line,
            Err(_) => {
                let _ = out.flush();
                // Let lines gather before waiting again: blocking at once
                // makes every line a wake-up of this thread (a futex call for
                // the request that queued it), about a context switch per
                // request under load. A short nap batches them instead.
                std::thread::sleep(BATCH_WAIT);
                if let Ok(line) = priority.try_recv().or_else(|_| normal.try_recv()) {
                    let _ = out.write_all(&line);
                    continue;
                }
                select_biased! {
                    recv(priority) -> l => match l { Ok(l) => l, Err(_) => break },
                    recv(normal) -> l => match l { Ok(l) => l, Err(_) => break },
                    recv(stop) -> _ => break,
                }
            }
        };
        // A failing stdout (closed pipe) loses lines; there is nowhere to say so.
        let _ = out.write_all(&line);
    }
    while let Ok(line) = priority.try_recv().or_else(|_| normal.try_recv()) {
        let _ = out.write_all(&line);
    }
    let _ = out.flush();
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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
        self.writer.write_line(self.level, buf.to_vec());
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
            w.write_line(Level::INFO, b"first\n".to_vec());
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
        let (w, guard) = LogWriter::with_capacity(gate.clone(), 16, 4).unwrap();
        gate.jam(&w);
        // stdout is stuck; traffic fills the normal queue and overflows it.
        for i in 0..100 {
            w.write_line(Level::INFO, format!("access {i}\n").into_bytes());
        }
        w.write_line(Level::ERROR, b"broker down\n".to_vec());
        assert_eq!(w.dropped(), (84, 0), "the error had its own budget");
        gate.release();
        drop(guard); // writes everything queued, then stops
        let got = String::from_utf8(gate.got.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = got.lines().collect();
        // The error first, then the queued access lines in order.
        assert_eq!(lines[..3], ["first", "broker down", "access 0"]);
        assert_eq!(lines.len(), 1 + 1 + 16, "every queued line written once");
        assert_eq!(lines.last(), Some(&"access 15"));
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
            w.write_line(Level::INFO, format!("line {i}\n").into_bytes());
        }
        drop(guard);
        let writes = out.0.load(Ordering::SeqCst);
        assert_eq!(w.dropped(), (0, 0));
        assert!(writes < 200, "{writes} writes for 2000 lines");
    }

    #[test]
    fn the_priority_budget_overflows_on_its_own_and_is_counted() {
        let gate = Gate::default();
        let (w, guard) = LogWriter::with_capacity(gate.clone(), 4, 2).unwrap();
        gate.jam(&w);
        for _ in 0..10 {
            w.write_line(Level::WARN, b"w\n".to_vec());
        }
        assert_eq!(w.dropped(), (0, 8));
        gate.release();
        drop(guard);
        assert_eq!(gate.got.lock().unwrap().len(), "first\nw\nw\n".len());
    }
}
