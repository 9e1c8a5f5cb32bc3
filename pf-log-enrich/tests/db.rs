//! Database and cache operation helpers through the real JSON formatter.

mod support;

use pf_log_enrich::LogConfig;
use pf_log_enrich::Logging;
use pf_log_enrich::db::DbOperation;
use serde_json::Value;
use support::Capture;

#[test]
fn operations_are_logged_without_literal_values() {
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| match k {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("debug".into()),
        _ => None,
    });
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let op = DbOperation::sql(
            "postgresql",
            "UPDATE users SET password = 'hunter2-literal' WHERE email = 'a@b.example' AND id = 42",
        );
        op.finish(Some(1));
        let op = DbOperation::sql("postgresql", "SELECT 1");
        op.fail(&"connection reset");
        DbOperation::cache("redis", "get", "session:token:abc").finish_cache(false);
        DbOperation::cache("redis", "get", "user:1234:profile").finish_cache(true);
    });
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    for secret in [
        "hunter2-literal",
        "a@b.example",
        "session:token:abc",
        "1234",
    ] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let update = &lines[0];
    assert_eq!(update["message"], "db operation completed");
    assert_eq!(update["db.system.name"], "postgresql");
    assert_eq!(update["db.operation.name"], "UPDATE");
    assert_eq!(
        update["db.query.summary"],
        "UPDATE users SET password = ? WHERE email = ? AND id = ?"
    );
    assert_eq!(update["db.response.returned_rows"], 1);
    assert!(update["duration_ms"].as_f64().unwrap() >= 0.0);
    let failed = &lines[1];
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["error"], "connection reset");
    let miss = &lines[2];
    assert_eq!(miss["db.query.summary"], "[REDACTED]");
    assert_eq!(miss["cache.hit"], false);
    let hit = &lines[3];
    assert_eq!(hit["db.operation.name"], "GET");
    assert_eq!(hit["db.query.summary"], "user:????:profile");
    assert_eq!(hit["cache.hit"], true);
}

#[test]
fn a_recurring_failure_is_one_warning_per_operation_and_error_class() {
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".into()));
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        // A dead cache: every request's command fails the same way.
        for _ in 0..20 {
            DbOperation::cache("redis", "HGETALL", "pf-test:limit").fail(&"Response timed out");
        }
        // Another class of failure of the same operation is reported at once.
        DbOperation::cache("redis", "HGETALL", "pf-test:limit")
            .fail(&"Connection refused (os error 111)");
        // And the same class of another operation.
        DbOperation::cache("redis", "HSET", "pf-test:limit").fail(&"Response timed out");
    });
    let lines = capture.lines();
    let warned: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "db operation failed")
        .map(|l| {
            (
                l["db.operation.name"].as_str().unwrap().to_owned(),
                l["error.type"].as_str().unwrap().to_owned(),
                l["warnings_suppressed"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        warned,
        [
            ("HGETALL".to_owned(), "timeout".to_owned(), 0),
            ("HGETALL".to_owned(), "refused".to_owned(), 0),
            ("HSET".to_owned(), "timeout".to_owned(), 0),
        ],
        "22 failures, 3 lines:\n{}",
        capture.text()
    );
}
