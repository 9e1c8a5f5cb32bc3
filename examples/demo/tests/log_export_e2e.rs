//! Cloud shipping never fails silently: the demo *binary* with `LOG_CLOUD_SHIPPING=true` says
//! at start where logs and traces go (without credentials), warns when export fails or its
//! queue drops, and counts exported / failed / dropped spans and log records on `/metrics`,
//! against a real OTLP receiver, a closed port and a collector that never answers.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pf_tests::otlp::{OtlpReceiver, Received};
use pf_tests::process::CapturedDemo;
use serde_json::Value;

fn demo_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pf-demo"))
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `pf_log_export_<family>_total{...,result="<result>"}` from the demo's `/metrics`.
fn export_count(c: &reqwest::blocking::Client, demo: &CapturedDemo, family: &str) -> [u64; 3] {
    let text = c
        .get(demo.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("metrics body");
    ["exported", "failed", "dropped"].map(|result| {
        let name = format!("pf_log_export_{family}_total{{");
        let label = format!("result=\"{result}\"}} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&name) && l.contains(&label))
            .unwrap_or_else(|| panic!("no {name}..{label} on /metrics:\n{text}"));
        let value = &line[line.find(&label).expect("label") + label.len()..];
        value.trim().parse::<f64>().expect("a number") as u64
    })
}

/// Polls `/metrics` until `done` holds for the (spans, log records) counts, at most 30 s.
fn wait_for_counts(
    c: &reqwest::blocking::Client,
    demo: &CapturedDemo,
    done: impl Fn([u64; 3], [u64; 3]) -> bool,
) -> ([u64; 3], [u64; 3]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = export_count(c, demo, "spans");
        let logs = export_count(c, demo, "log_records");
        if done(spans, logs) {
            return (spans, logs);
        }
        assert!(
            Instant::now() < deadline,
            "counts never reached the expected state: spans {spans:?}, log records {logs:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

fn export_lines<'a>(lines: &'a [Value], level: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["target"] == "pf_log_enrich::export" && v["level"] == level)
        .collect()
}

/// Sends `n` requests that each make one request span and one completion log record.
fn send_requests(c: &reqwest::blocking::Client, demo: &CapturedDemo, n: usize) {
    for i in 0..n {
        let status = c
            .get(demo.url(&format!("/api/v1/users/{}", i % 100 + 1)))
            .send()
            .expect("request")
            .status();
        assert_eq!(status, 200);
    }
}

#[test]
fn collector_up_exported_counts_equal_what_the_receiver_got() {
    const SECRET: &str = "ExPw42sEcr3tV";
    let receiver = OtlpReceiver::start();
    // Credentials in the endpoint URL (basic auth to a collector) must not be printed.
    let endpoint = receiver
        .http_endpoint()
        .replace("http://", &format!("http://shipper:{SECRET}@"));
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ],
    );
    let c = client();
    send_requests(&c, &demo, 40);

    // Every request span arrived; then the counters agree with the receiver exactly.
    let (received, complete) = receiver.wait_until(Duration::from_secs(30), |r: &Received| {
        r.spans().len() >= 40
    });
    assert!(complete, "40 request spans arrived");
    let (spans, logs) = wait_for_counts(&c, &demo, |spans, logs| {
        let r = receiver.snapshot();
        spans[0] == r.spans().len() as u64 && logs[0] == r.log_records().len() as u64
    });
    assert!(spans[0] >= 40 && logs[0] >= 40, "{spans:?} {logs:?}");
    assert_eq!([spans[1], spans[2], logs[1], logs[2]], [0, 0, 0, 0]);
    drop(received);

    let (stdout, stderr) = demo.stop(Duration::from_secs(30));
    let lines = json_lines(&stdout);
    let start = export_lines(&lines, "INFO");
    assert_eq!(start.len(), 1, "one start-up line: {start:?}");
    let base = receiver.http_endpoint();
    assert_eq!(
        start[0]["traces_endpoint"],
        format!("{base}/v1/traces"),
        "{}",
        start[0]
    );
    assert_eq!(start[0]["logs_endpoint"], format!("{base}/v1/logs"));
    assert_eq!(start[0]["traces_protocol"], "http/protobuf");
    assert!(
        start[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("{base}/v1/traces"))),
        "{}",
        start[0]
    );
    assert!(export_lines(&lines, "WARN").is_empty(), "no export warning");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    // The start-up line goes to stdout only: it is not shipped.
    assert!(
        !format!("{:?}", receiver.snapshot().logs).contains("log shipping"),
        "the export's own lines are not exported"
    );
}

#[test]
fn collector_down_warns_once_and_counts_failed_spans_and_log_records() {
    let started = Instant::now();
    let closed = pf_tests::process::free_port();
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                &format!("http://127.0.0.1:{closed}"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ],
    );
    let c = client();
    send_requests(&c, &demo, 40);
    let (spans, logs) = wait_for_counts(&c, &demo, |spans, logs| spans[1] >= 40 && logs[1] >= 40);
    assert_eq!([spans[0], logs[0]], [0, 0], "nothing exported");
    let (stdout, _) = demo.stop(Duration::from_secs(30));

    let lines = json_lines(&stdout);
    let warnings = export_lines(&lines, "WARN");
    let span_warnings: Vec<_> = warnings.iter().filter(|w| w["signal"] == "spans").collect();
    let log_warnings: Vec<_> = warnings
        .iter()
        .filter(|w| w["signal"] == "log records")
        .collect();
    assert!(
        !span_warnings.is_empty() && !log_warnings.is_empty(),
        "a warning per signal: {warnings:?}"
    );
    // Rate-limited: at most one per signal and minute (the default interval), however many
    // batches failed.
    let minutes = started.elapsed().as_secs() / 60;
    assert!(
        span_warnings.len() as u64 <= 1 + minutes && log_warnings.len() as u64 <= 1 + minutes,
        "{warnings:?}"
    );
    let w = span_warnings[0];
    assert_eq!(
        w["endpoint"],
        format!("http://127.0.0.1:{closed}/v1/traces")
    );
    assert_eq!(w["protocol"], "http/protobuf");
    assert!(w["message"].as_str().is_some_and(|m| m.contains("failed")));
    assert!(w["failed_total"].as_u64().is_some_and(|n| n >= 1));
}

#[test]
fn collector_that_never_answers_counts_and_warns_dropped_spans_and_log_records() {
    // Accepts connections, never answers: the first export blocks for its whole timeout,
    // the queue (8 here) fills, and everything past it is dropped.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", blackhole.local_addr().expect("addr"));
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "600000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ],
    );
    let c = client();
    send_requests(&c, &demo, 40);
    let (spans, logs) = wait_for_counts(&c, &demo, |spans, logs| spans[2] >= 32 && logs[2] >= 32);
    // Nothing settled while the collector hangs; at most 8 of each are queued or in flight.
    assert_eq!([spans[0], spans[1], logs[0], logs[1]], [0, 0, 0, 0]);
    // Wait for the drop warnings (written by a short-lived thread) before stopping.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = json_lines(&demo.stdout_lines().join("\n"));
        let warned = |signal: &str| {
            export_lines(&lines, "WARN").iter().any(|w| {
                w["signal"] == signal
                    && w["message"].as_str().is_some_and(|m| m.contains("dropped"))
            })
        };
        if warned("spans") && warned("log records") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no drop warnings: {:?}",
            export_lines(&lines, "WARN")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The guard bounds the final flush: the demo still exits.
    let _ = demo.stop(Duration::from_secs(30));
    drop(blackhole);
}
