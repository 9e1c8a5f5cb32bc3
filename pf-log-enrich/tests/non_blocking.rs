//! The non-blocking writer under the real pipeline: every JSON line written once the guard is
//! dropped, lines dropped (and counted, on `/metrics` too) when the queue is full.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pf_log_enrich::{LogConfig, Logging};

fn json_config() -> LogConfig {
    LogConfig::from_lookup(|k| match k {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    })
}

/// A destination that can hold the writer thread until opened (a slow terminal or pipe).
#[derive(Clone, Default)]
struct Gate {
    out: Arc<Mutex<Vec<u8>>>,
    open: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<AtomicBool>,
}

impl Gate {
    fn open(&self) {
        *self.open.0.lock().unwrap() = true;
        self.open.1.notify_all();
    }
    fn text(&self) -> String {
        String::from_utf8(self.out.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Gate {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.entered.store(true, Ordering::SeqCst);
        let (lock, cv) = &*self.open;
        let open = cv
            .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(30), |o| !*o)
            .unwrap()
            .0;
        assert!(*open, "the test never opened the gate");
        drop(open);
        self.out.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_line_is_written_when_the_guard_drops() {
    let gate = Gate::default();
    gate.open();
    let dest = gate.clone();
    let (subscriber, guard) = Logging::from_config(json_config())
        .writer(move || dest.clone())
        .non_blocking(1000)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..500 {
            tracing::info!(n, "line");
        }
    });
    let stats = guard.writer_stats().expect("non-blocking writer");
    drop(guard);
    assert_eq!(stats.lines_dropped(), 0);
    assert_eq!(stats.lines_written(), 500);
    let text = gate.text();
    assert_eq!(text.lines().count(), 500);
    assert!(text.lines().last().unwrap().contains("\"n\":499"), "{text}");
}

#[test]
fn a_full_queue_drops_lines_and_counts_them() {
    let gate = Gate::default();
    let dest = gate.clone();
    let (subscriber, guard) = Logging::from_config(json_config())
        .writer(move || dest.clone())
        .non_blocking(8)
        .build()
        .unwrap();
    let stats = guard.writer_stats().expect("non-blocking writer");
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(n = 0, "line");
        // wait until the writer thread holds line 0 at the gate (10 s at most)
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !gate.entered.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "writer thread idle");
            std::thread::sleep(Duration::from_millis(1));
        }
        // 8 fill the queue, 12 are dropped; the logging thread never waits
        for n in 1..=20 {
            tracing::info!(n, "line");
        }
    });
    assert_eq!(stats.lines_dropped(), 12);
    #[cfg(feature = "metrics")]
    {
        let registry = pf_metrics::MetricsRegistry::new();
        registry.register_collector(stats.clone());
        let text = registry.encode(pf_metrics::Format::Prometheus);
        assert!(
            text.contains("pf_log_lines_total{result=\"dropped\"} 12"),
            "{text}"
        );
    }
    gate.open();
    drop(guard);
    assert_eq!(stats.lines_written(), 9);
    assert_eq!(gate.text().lines().count(), 9);
}
