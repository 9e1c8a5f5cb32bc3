//! [`NonBlocking`]: log lines leave the request's thread through a bounded queue; one
//! background thread writes them. A full queue drops the line and counts it (the request never
//! waits on a slow terminal, pipe or disk); [`NonBlockingGuard`] flushes what is queued at
//! shutdown within a deadline and says what was dropped.
//!
//! [`Logging::non_blocking`](crate::Logging::non_blocking) puts it under the pipeline's
//! formatter (JSON, pretty or compact) and hands its guard to the [`LoggingGuard`](crate::LoggingGuard),
//! which flushes it within its shutdown deadline. With the `metrics` feature, [`WriterStats`]
//! is a `pf_metrics::Collector`:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `pf_log_lines_total` | counter | `result` = `written` / `dropped` / `failed` |
//!
//! ```
//! use std::io::Write as _;
//! use tracing_subscriber::fmt::MakeWriter as _;
//! use pf_log_enrich::NonBlocking;
//!
//! let (writer, guard) = NonBlocking::new(std::io::sink, 1024);
//! writer.make_writer().write_all(b"{\"message\":\"hello\"}\n").unwrap(); // one line, queued
//! assert!(guard.flush(std::time::Duration::from_secs(5)), "written within the deadline");
//! assert_eq!(guard.stats().lines_written(), 1);
//! assert_eq!(guard.stats().lines_dropped(), 0);
//! ```

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// The queue's length when none is given: lines, not bytes (about 4 MiB of 512-byte lines).
pub const DEFAULT_QUEUE_LINES: usize = 8192;

enum Msg {
    Line(Vec<u8>),
    /// Everything queued before it is written and flushed: answer.
    Flush(SyncSender<()>),
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// Live counts of a [`NonBlocking`] writer. Cheap to clone (shared counters).
///
/// ```
/// let (_writer, guard) = pf_log_enrich::NonBlocking::new(std::io::sink, 16);
/// let stats = guard.stats();
/// assert_eq!(stats.lines_written() + stats.lines_dropped() + stats.write_errors(), 0);
/// ```
#[derive(Clone, Default)]
pub struct WriterStats {
    inner: Arc<Counters>,
}

impl WriterStats {
    /// Lines the background thread wrote.
    pub fn lines_written(&self) -> u64 {
        self.inner.written.load(Relaxed)
    }

    /// Lines dropped because the queue was full (or the writer thread was gone).
    pub fn lines_dropped(&self) -> u64 {
        self.inner.dropped.load(Relaxed)
    }

    /// Lines whose write failed (the destination returned an error).
    pub fn write_errors(&self) -> u64 {
        self.inner.failed.load(Relaxed)
    }

    /// The shutdown summary: `"log writer: N lines written, M dropped (queue full), K failed"`.
    pub fn summary(&self) -> String {
        format!(
            "log writer: {} lines written, {} dropped (queue full), {} failed",
            self.lines_written(),
            self.lines_dropped(),
            self.write_errors()
        )
    }
}

impl fmt::Debug for WriterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterStats")
            .field("written", &self.lines_written())
            .field("dropped", &self.lines_dropped())
            .field("failed", &self.write_errors())
            .finish()
    }
}

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
impl pf_metrics::Collector for WriterStats {
    fn collect(&self, out: &mut pf_metrics::MetricsEncoder<'_>) {
        let mut family = out.family(
            "pf_log_lines",
            "Log lines of the non-blocking writer, by result (written, dropped: queue full, failed: write error).",
            pf_metrics::MetricType::Counter,
            None,
        );
        family.counter(&[("result", "written")], self.lines_written() as f64);
        family.counter(&[("result", "dropped")], self.lines_dropped() as f64);
        family.counter(&[("result", "failed")], self.write_errors() as f64);
    }
}

/// A `MakeWriter` whose lines go through a bounded queue to a background thread that writes
/// them to the wrapped `MakeWriter` (stdout, a file, ...). Built by [`NonBlocking::new`].
#[derive(Clone)]
pub struct NonBlocking {
    tx: SyncSender<Msg>,
    stats: WriterStats,
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("stats", &self.stats)
            .finish()
    }
}

impl NonBlocking {
    /// Starts the writer thread (`pf-log-writer`) writing to `inner`, with a queue of
    /// `queue_lines` lines (at least 1). Keep the guard: dropping it flushes the queue
    /// (5 s at most; [`NonBlockingGuard::shutdown_timeout`] changes that).
    pub fn new<M>(inner: M, queue_lines: usize) -> (NonBlocking, NonBlockingGuard)
    where
        M: for<'a> MakeWriter<'a> + Send + 'static,
    {
        let (tx, rx) = sync_channel(queue_lines.max(1));
        let stats = WriterStats::default();
        let counters = stats.inner.clone();
        let thread = std::thread::Builder::new()
            .name("pf-log-writer".into())
            .spawn(move || write_lines(&inner, &rx, &counters))
            .expect("spawn the pf-log-writer thread");
        let guard = NonBlockingGuard {
            tx: tx.clone(),
            stats: stats.clone(),
            thread: Some(thread),
            timeout: Duration::from_secs(5),
        };
        (NonBlocking { tx, stats }, guard)
    }

    /// The writer's counts.
    pub fn stats(&self) -> WriterStats {
        self.stats.clone()
    }
}

/// How often the writer thread looks at the queue. It never blocks in `recv`: a thread
/// blocked there is woken by every line (a futex wake on the logging thread and a context
/// switch per line, measured at about +11 µs of CPU per line in the server bench), while a
/// thread that drains the queue on a timer costs the logging thread one queue push. Lines wait
/// at most this long; the queue must hold this long's worth of lines.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(5);

fn write_lines<M>(inner: &M, rx: &Receiver<Msg>, counters: &Counters)
where
    M: for<'a> MakeWriter<'a>,
{
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                std::thread::sleep(DRAIN_INTERVAL);
                continue;
            }
            // every sender (the `NonBlocking` clones and the guard) is gone
            Err(TryRecvError::Disconnected) => return,
        };
        match msg {
            Msg::Line(line) => {
                let mut w = inner.make_writer();
                match w.write_all(&line) {
                    Ok(()) => counters.written.fetch_add(1, Relaxed),
                    Err(_) => counters.failed.fetch_add(1, Relaxed),
                };
            }
            Msg::Flush(done) => {
                let _ = inner.make_writer().flush();
                let _ = done.send(());
            }
        }
    }
}

/// One line on its way: the bytes the formatter writes, queued when it is dropped (the
/// formatters write each event with one `write_all` and drop the writer).
pub struct LineWriter<'a> {
    owner: &'a NonBlocking,
    buf: Vec<u8>,
}

impl fmt::Debug for LineWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineWriter")
            .field("len", &self.buf.len())
            .finish()
    }
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        match self.owner.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.owner.stats.inner.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            owner: self,
            buf: Vec::new(),
        }
    }
}

/// Flushes the [`NonBlocking`] writer's queue when dropped, within its deadline, and prints
/// the [summary](WriterStats::summary) on stderr when lines were dropped or failed.
#[must_use = "dropping the guard flushes the log writer at once"]
pub struct NonBlockingGuard {
    tx: SyncSender<Msg>,
    stats: WriterStats,
    thread: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl fmt::Debug for NonBlockingGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlockingGuard")
            .field("stats", &self.stats)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl NonBlockingGuard {
    /// How long the flush on drop may take (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The writer's counts.
    pub fn stats(&self) -> WriterStats {
        self.stats.clone()
    }

    /// Waits until every line queued before this call is written and the destination
    /// flushed, `timeout` at most; `false` when the deadline passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (done_tx, done_rx) = sync_channel(1);
        let mut msg = Msg::Flush(done_tx);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        done_rx.recv_timeout(left).is_ok()
    }

    /// Flushes within `timeout`; then the summary line on stderr if anything was lost.
    pub(crate) fn finish(&mut self, timeout: Duration) {
        if self.thread.is_none() {
            return;
        }
        let flushed = self.flush(timeout);
        // the thread keeps serving the subscriber's writer if that lives on (a global one)
        self.thread = None;
        let s = &self.stats;
        if !flushed || s.lines_dropped() > 0 || s.write_errors() > 0 {
            let late = if flushed {
                ""
            } else {
                "; lines still queued at the deadline were not written"
            };
            eprintln!("pf-log-enrich: {}{late}", s.summary());
        }
    }
}

impl Drop for NonBlockingGuard {
    fn drop(&mut self) {
        self.finish(self.timeout);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, Mutex};

    use super::*;

    /// A destination that holds the writer thread at a barrier on its first line.
    #[derive(Clone)]
    struct Held {
        lines: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Barrier>,
        first: Arc<AtomicU64>,
    }

    impl Write for Held {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.first.fetch_add(1, Relaxed) == 0 {
                self.gate.wait();
            }
            self.lines.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    type HeldParts = (Held, Arc<Mutex<Vec<u8>>>, Arc<Barrier>, Arc<AtomicU64>);

    fn held() -> HeldParts {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Barrier::new(2));
        let first = Arc::new(AtomicU64::new(0));
        let h = Held {
            lines: lines.clone(),
            gate: gate.clone(),
            first: first.clone(),
        };
        (h, lines, gate, first)
    }

    /// Waits (10 s at most) until the writer thread is inside its first write.
    fn until_taken(first: &AtomicU64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while first.load(Relaxed) == 0 {
            assert!(
                Instant::now() < deadline,
                "the writer thread never took a line"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn line(w: &NonBlocking, n: usize) {
        writeln!(w.make_writer(), "line {n}").unwrap();
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_keeps_the_rest() {
        let (dest, lines, gate, first) = held();
        let (w, guard) = NonBlocking::new(move || dest.clone(), 4);
        // the thread takes line 0 and waits at the gate: 4 more fill the queue, 3 are dropped
        line(&w, 0);
        until_taken(&first);
        for n in 1..=7 {
            line(&w, n);
        }
        assert_eq!(guard.stats().lines_dropped(), 3);
        gate.wait();
        assert!(guard.flush(Duration::from_secs(10)));
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "line 0\nline 1\nline 2\nline 3\nline 4\n");
        assert_eq!(guard.stats().lines_written(), 5);
        assert!(guard.stats().summary().contains("3 dropped"));
    }

    #[test]
    fn nothing_is_lost_below_capacity_and_drop_flushes() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let (w, guard) = NonBlocking::new(move || Shared(sink.clone()), 1000);
        for n in 0..1000 {
            line(&w, n);
        }
        let stats = guard.stats();
        drop(guard); // flushes within its deadline
        assert_eq!(stats.lines_dropped(), 0);
        assert_eq!(stats.lines_written(), 1000);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("line 999"));
    }

    #[test]
    fn flush_gives_up_at_its_deadline() {
        let (dest, _lines, gate, first) = held();
        let (w, guard) = NonBlocking::new(move || dest.clone(), 2);
        line(&w, 0); // holds the thread
        until_taken(&first);
        let start = Instant::now();
        assert!(!guard.flush(Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(5));
        gate.wait();
        assert!(guard.flush(Duration::from_secs(10)));
    }

    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
