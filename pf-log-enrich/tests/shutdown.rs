//! The guard's shutdown is bounded by one total deadline with a collector that accepts
//! connections and never answers (black hole) or answers one byte at a time (tarpit), and it
//! says what it abandoned.
#![cfg(feature = "otlp")]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pf_log_enrich::{LogConfig, Logging};
use support::Capture;

/// A collector on a free loopback port that accepts every connection and then, per
/// connection, runs `serve`; stopped (and its connections closed) on drop.
struct FakeCollector {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeCollector {
    fn start(serve: fn(&mut TcpStream, &AtomicBool)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut workers = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let flag = flag.clone();
                        workers.push(std::thread::spawn(move || serve(&mut conn, &flag)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads and never answers.
fn black_hole(conn: &mut TcpStream, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        if let Ok(0) = conn.read(&mut buf) {
            break;
        }
    }
}

/// Reads, then trickles a response head out one byte every 200 ms.
fn tarpit(conn: &mut TcpStream, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 4096];
    let _ = conn.read(&mut buf);
    for b in b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n"
        .iter()
        .cycle()
    {
        if stop.load(Ordering::Relaxed) || conn.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn shutdown_against(collector: &FakeCollector) -> (pf_log_enrich::ShutdownReport, Capture) {
    let endpoint = format!("http://127.0.0.1:{}", collector.port);
    let cfg = LogConfig::from_lookup(|k| match k {
        "LOG_CLOUD_SHIPPING" => Some("true".into()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        // Far beyond the shutdown deadline: the deadline, not the export timeout, must end it.
        "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("60000".into()),
        "LOG_SHUTDOWN_TIMEOUT_MS" => Some("1000".into()),
        _ => None,
    });
    assert_eq!(cfg.shutdown_timeout, Duration::from_millis(1000));
    let capture = Capture::default();
    let writer = capture.clone();
    let (subscriber, guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    assert!(guard.is_exporting());
    let _default = tracing::subscriber::set_default(subscriber);
    for i in 0..50 {
        tracing::info_span!("work", i).in_scope(|| tracing::info!("event {i}"));
    }
    let started = Instant::now();
    let report = guard.shutdown();
    // Reported, not asserted (no timing threshold in a test).
    eprintln!(
        "shutdown with a 1000 ms deadline took {} ms",
        started.elapsed().as_millis()
    );
    (report, capture)
}

#[test]
fn shutdown_returns_and_reports_abandoned_export_with_a_black_holed_collector() {
    let collector = FakeCollector::start(black_hole);
    let (report, capture) = shutdown_against(&collector);
    assert!(report.abandoned(), "{report:?}");
    assert_eq!(
        report.spans_abandoned(),
        50,
        "no span reached the collector: {report:?}"
    );
    assert_eq!(report.log_records_abandoned(), 50, "{report:?}");
    let warning = capture
        .lines()
        .into_iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("abandoned"))
        })
        .unwrap_or_else(|| panic!("an abandoned-export warning:\n{}", capture.text()));
    assert_eq!(warning["level"], "WARN");
    assert_eq!(warning["spans_abandoned"], 50);
    assert_eq!(warning["timeout_ms"], 1000);
}

#[test]
fn shutdown_returns_and_reports_abandoned_export_with_a_tarpitting_collector() {
    let collector = FakeCollector::start(tarpit);
    let (report, capture) = shutdown_against(&collector);
    assert!(report.abandoned(), "{report:?}");
    assert!(
        report.spans_abandoned() + report.log_records_abandoned() > 0,
        "{report:?}"
    );
    assert!(
        capture.text().contains("OTLP export abandoned"),
        "{}",
        capture.text()
    );
}

#[test]
fn the_default_deadline_is_at_most_two_and_a_half_seconds() {
    let cfg = LogConfig::from_lookup(|_| None);
    assert!(cfg.shutdown_timeout <= Duration::from_millis(2500));
}
