//! pf-log-enrich's OTLP pipeline in-process against the real receiver: span, span-event and
//! log-record attributes under sensitive keys are redacted before they leave the process, the
//! resource comes from the lookup map, and the guard flushes everything on shutdown.

use std::collections::HashMap;
use std::time::Duration;

use pf_log_enrich::LogConfig;
use pf_log_enrich::Logging;
use pf_tests::otlp::{OtlpReceiver, Received, attr_int, attr_str};

fn pipeline(
    endpoint: &str,
    protocol: &str,
) -> (pf_log_enrich::LogSubscriber, pf_log_enrich::LoggingGuard) {
    let vars: HashMap<&str, String> = [
        ("LOG_CLOUD_SHIPPING", "true".to_owned()),
        ("OTEL_SERVICE_NAME", "otlp-test".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .collect();
    let cfg = LogConfig::from_lookup(|k| vars.get(k).cloned());
    Logging::from_config(cfg)
        .writer(std::io::sink)
        .build()
        .expect("pipeline")
}

fn emit() {
    let span = tracing::info_span!(
        "checkout",
        otel.name = "checkout",
        password = "span-field-secret",
        items = 3
    );
    span.in_scope(|| {
        tracing::info!(api_key = "event-field-secret", order = 7, "order placed");
    });
}

fn check(received: &Received) {
    let spans = received.spans();
    let span = spans
        .iter()
        .find(|s| s.span.name == "checkout")
        .expect("the span");
    assert_eq!(attr_str(&span.resource, "service.name"), Some("otlp-test"));
    assert_eq!(
        attr_str(&span.span.attributes, "password"),
        Some("[REDACTED]")
    );
    assert_eq!(attr_int(&span.span.attributes, "items"), Some(3));
    let event = span
        .span
        .events
        .iter()
        .find(|e| e.name == "order placed")
        .expect("the span event");
    assert_eq!(attr_str(&event.attributes, "api_key"), Some("[REDACTED]"));
    let logs = received.log_records();
    let log = logs
        .iter()
        .find(|l| format!("{:?}", l.record.body).contains("order placed"))
        .expect("the log record");
    assert_eq!(
        attr_str(&log.record.attributes, "api_key"),
        Some("[REDACTED]")
    );
    assert_eq!(attr_int(&log.record.attributes, "order"), Some(7));
    let all = format!("{:?}{:?}", received.traces, received.logs);
    assert!(!all.contains("span-field-secret") && !all.contains("event-field-secret"));
}

fn done(r: &Received) -> bool {
    r.spans().iter().any(|s| s.span.name == "checkout")
        && r.log_records()
            .iter()
            .any(|l| format!("{:?}", l.record.body).contains("order placed"))
}

#[test]
fn http_protobuf_export_is_redacted_and_flushed() {
    let receiver = OtlpReceiver::start();
    let (subscriber, guard) = pipeline(&receiver.http_endpoint(), "http/protobuf");
    tracing::subscriber::with_default(subscriber, emit);
    guard.shutdown();
    let (received, ok) = receiver.wait_until(Duration::from_secs(10), done);
    assert!(ok, "span and log record flushed by the guard");
    check(&received);
}

#[test]
fn grpc_export_is_redacted_and_flushed() {
    let receiver = OtlpReceiver::start();
    // The gRPC exporter needs a Tokio runtime when it is built and while it exports.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (subscriber, guard) = rt.block_on(async { pipeline(&receiver.grpc_endpoint(), "grpc") });
    tracing::subscriber::with_default(subscriber, emit);
    guard.shutdown();
    let (received, ok) = receiver.wait_until(Duration::from_secs(10), done);
    assert!(ok, "span and log record flushed by the guard");
    check(&received);
    drop(rt);
}
