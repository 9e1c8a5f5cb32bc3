//! Repository and cache instruments: exact counts per outcome, deadlines,
//! cancellation, the slow-operation counter, the operation cap, and output
//! that promtool accepts.

use std::time::Duration;

use pf_metrics::{CacheResult, Format, MetricsRegistry, Outcome};

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn repository_outcomes_are_counted_exactly() {
    let registry = MetricsRegistry::new();
    let users = registry.repository("users");
    for i in 0..10 {
        let result: Result<i32, &str> = users
            .time("find_by_id", async move {
                if i < 7 { Ok(i) } else { Err("boom") }
            })
            .await;
        assert_eq!(result.is_ok(), i < 7);
    }
    let text = registry.encode(Format::Prometheus);
    let count = |outcome: &str| {
        sample(
            &text,
            &format!(
                r#"pivotal_repository_operation_duration_seconds_count{{repository="users",operation="find_by_id",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(count("ok"), Some(7.0));
    assert_eq!(count("error"), Some(3.0));
    // Written only once they happen.
    assert_eq!(count("timeout"), None);
    assert_eq!(count("cancelled"), None);
    assert_eq!(
        sample(
            &text,
            r#"pivotal_repository_slow_operations_total{repository="users",operation="find_by_id"}"#
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_deadline_counts_as_timeout_and_a_dropped_call_as_cancelled() {
    let registry = MetricsRegistry::new();
    let users = registry.repository("users");
    let hung = std::future::pending::<Result<(), std::io::Error>>();
    let err = users
        .time_with_timeout("find_by_id", Duration::from_millis(20), hung)
        .await
        .unwrap_err();
    assert_eq!(err.limit(), Duration::from_millis(20));

    // A timeout *around* the call drops it mid-flight: counted, as cancelled.
    let around = tokio::time::timeout(
        Duration::from_millis(10),
        users.time("find_by_id", std::future::pending::<Result<(), ()>>()),
    )
    .await;
    assert!(around.is_err());

    // A call never polled never started: nothing is recorded.
    drop(users.time("never_polled", async { Ok::<_, ()>(()) }));

    let text = registry.encode(Format::Prometheus);
    let count = |outcome: &str| {
        sample(
            &text,
            &format!(
                r#"pivotal_repository_operation_duration_seconds_count{{repository="users",operation="find_by_id",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(count("timeout"), Some(1.0));
    assert_eq!(count("cancelled"), Some(1.0));
    assert_eq!(count("ok"), Some(0.0));
    // The timed-out call waited at least its limit.
    let sum = sample(
        &text,
        r#"pivotal_repository_operation_duration_seconds_sum{repository="users",operation="find_by_id",outcome="timeout"}"#,
    )
    .unwrap();
    assert!(sum >= 0.020, "timeout duration {sum}");
    assert!(!text.contains(r#"operation="never_polled",outcome="ok"} 1"#));
}

#[tokio::test]
async fn durations_come_from_the_registry_clock_and_slow_calls_are_counted() {
    let (clock, mock) = quanta::Clock::mock();
    let registry = MetricsRegistry::builder()
        .clock(clock)
        .slow_operation_threshold(Duration::from_millis(100))
        .build()
        .unwrap();
    let users = registry.repository("users");
    for millis in [1u64, 99, 100, 101, 2_000] {
        let m = mock.clone();
        users
            .time("list", async move {
                m.increment(Duration::from_millis(millis));
                Ok::<_, ()>(())
            })
            .await
            .unwrap();
    }
    let text = registry.encode(Format::Prometheus);
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"pivotal_repository_operation_duration_seconds_bucket{{repository="users",operation="list",outcome="ok",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.001"), Some(1.0));
    assert_eq!(bucket("0.1"), Some(3.0)); // 1, 99 and exactly 100 ms
    assert_eq!(bucket("2.5"), Some(5.0));
    // Strictly slower than the threshold: 101 ms and 2 s.
    assert_eq!(
        sample(
            &text,
            r#"pivotal_repository_slow_operations_total{repository="users",operation="list"}"#
        ),
        Some(2.0)
    );
    let sum = sample(
        &text,
        r#"pivotal_repository_operation_duration_seconds_sum{repository="users",operation="list",outcome="ok"}"#,
    )
    .unwrap();
    assert!((sum - 2.301).abs() < 1e-9, "sum {sum}");
}

#[tokio::test]
async fn cache_lookups_and_writes_are_counted_by_result() {
    let registry = MetricsRegistry::new();
    let cache = registry.cache("redis");
    assert_eq!(
        cache
            .lookup("get", async { Ok::<_, ()>(None::<String>) })
            .await,
        Ok(None)
    );
    cache.time("set", async { Ok::<_, ()>(()) }).await.unwrap();
    for _ in 0..3 {
        let hit = cache.lookup("get", async { Ok::<_, ()>(Some(1)) }).await;
        assert_eq!(hit, Ok(Some(1)));
    }
    let failed = cache
        .lookup("get", async { Err::<Option<u8>, _>("down") })
        .await;
    assert!(failed.is_err());
    let frozen = std::future::pending::<Result<Option<u8>, ()>>();
    assert!(
        cache
            .lookup_with_timeout("get", Duration::from_millis(5), frozen)
            .await
            .is_err()
    );
    cache.record("get", CacheResult::Hit, Duration::from_micros(2));

    let text = registry.encode(Format::Prometheus);
    let count = |op: &str, result: &str| {
        sample(
            &text,
            &format!(
                r#"pivotal_cache_operations_total{{cache_type="redis",operation="{op}",result="{result}"}}"#
            ),
        )
    };
    assert_eq!(count("get", "hit"), Some(4.0));
    assert_eq!(count("get", "miss"), Some(1.0));
    assert_eq!(count("get", "error"), Some(1.0));
    assert_eq!(count("get", "timeout"), Some(1.0));
    assert_eq!(count("get", "ok"), None, "a lookup is never `ok`");
    assert_eq!(count("set", "ok"), Some(1.0));
    assert_eq!(count("set", "error"), Some(0.0));
    assert_eq!(count("set", "hit"), None, "a write is never a hit or miss");
    assert_eq!(
        sample(
            &text,
            r#"pivotal_cache_operation_duration_seconds_count{cache_type="redis",operation="get"}"#
        ),
        Some(7.0)
    );
}

#[test]
fn the_operation_cap_holds_and_overflow_is_counted() {
    let registry = MetricsRegistry::builder()
        .max_operations(3)
        .build()
        .unwrap();
    let users = registry.repository("users");
    for i in 0..50 {
        users.record(&format!("op_{i}"), Outcome::Ok, Duration::from_millis(1));
    }
    let text = registry.encode(Format::Prometheus);
    let series = text
        .lines()
        .filter(|l| {
            l.starts_with("pivotal_repository_operation_duration_seconds_count{")
                && l.contains(r#"outcome="ok""#)
        })
        .count();
    assert_eq!(series, 4, "3 operations and the overflow series:\n{text}");
    assert_eq!(
        sample(
            &text,
            r#"pivotal_repository_operation_duration_seconds_count{repository="users",operation="__overflow__",outcome="ok"}"#
        ),
        Some(47.0)
    );
    assert_eq!(registry.dropped_series(), 47);
    assert_eq!(sample(&text, "pf_metrics_dropped_series_total"), Some(47.0));
}

#[test]
fn one_name_one_series_and_hostile_names_are_escaped() {
    let registry = MetricsRegistry::builder()
        .const_label("service", "api")
        .unwrap()
        .operation_prefix("")
        .unwrap()
        .build()
        .unwrap();
    registry
        .repository("users")
        .record("find", Outcome::Ok, Duration::from_millis(1));
    registry
        .repository("users")
        .record("find", Outcome::Error, Duration::from_millis(1));
    registry
        .repository("we\"ird\nname\\")
        .record("q", Outcome::Ok, Duration::from_millis(1));
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = registry.encode(format);
        assert!(text.contains(
            r#"repository_operation_duration_seconds_count{service="api",repository="users",operation="find",outcome="ok"} 1"#
        ));
        assert!(text.contains(
            r#"repository_operation_duration_seconds_count{service="api",repository="users",operation="find",outcome="error"} 1"#
        ));
        assert!(text.contains(r#"repository="we\"ird\nname\\""#));
        pf_tests::promtool::promtool_check_exposition(&text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

#[test]
fn bad_operation_configuration_is_refused() {
    assert!(MetricsRegistry::builder().operation_prefix("1bad").is_err());
    assert!(
        MetricsRegistry::builder()
            .operation_buckets([0.1, 0.01])
            .is_err()
    );
}
