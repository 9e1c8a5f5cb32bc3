//! Tokio runtime metrics: the scheduling-lag histogram rises when a task
//! blocks the runtime, and the whole exposition passes promtool.

use std::time::Duration;

use pf_metrics::{Format, MetricsRegistry, ProcessCollector, RuntimeCollector};

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"))
}

/// Observations above 0.25 s, and the lag sum.
fn late_wakeups(registry: &MetricsRegistry) -> (f64, f64) {
    let text = registry.encode(Format::Prometheus);
    let total = sample(
        &text,
        r#"tokio_runtime_scheduling_lag_seconds_bucket{le="+Inf"}"#,
    );
    let quick = sample(
        &text,
        r#"tokio_runtime_scheduling_lag_seconds_bucket{le="0.25"}"#,
    );
    let sum = sample(&text, "tokio_runtime_scheduling_lag_seconds_sum");
    (total - quick, sum)
}

#[test]
fn scheduling_lag_rises_when_a_task_blocks_the_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let registry = MetricsRegistry::new();
    registry.register_collector(
        RuntimeCollector::new(runtime.handle()).scheduling_lag(Duration::from_millis(5)),
    );
    // Let the probe take a few idle samples.
    std::thread::sleep(Duration::from_millis(100));
    let (late_before, sum_before) = late_wakeups(&registry);

    // Block the only worker, as synchronous I/O in a handler would.
    runtime
        .block_on(runtime.spawn(async { std::thread::sleep(Duration::from_millis(600)) }))
        .unwrap();
    // The probe wakes after the block; give it a moment to record.
    let mut after = late_wakeups(&registry);
    for _ in 0..100 {
        if after.0 > late_before {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = late_wakeups(&registry);
    }
    let (late_after, sum_after) = after;
    assert!(
        late_after >= late_before + 1.0,
        "a wake-up later than 0.25 s was recorded ({late_before} -> {late_after})"
    );
    assert!(
        sum_after - sum_before >= 0.3,
        "the blocked time shows in the lag sum ({sum_before} -> {sum_after})"
    );
    let text = registry.encode(Format::Prometheus);
    assert_eq!(sample(&text, "tokio_runtime_workers"), 1.0);
    assert!(sample(&text, "tokio_runtime_worker_busy_seconds_total") >= 0.5);
    drop(runtime);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_exposition_passes_promtool() {
    let registry = MetricsRegistry::new();
    registry.register_collector(ProcessCollector::new());
    registry
        .register_collector(RuntimeCollector::current().scheduling_lag(Duration::from_millis(5)));
    let users = registry.repository("users");
    users
        .time("find_by_id", async { Ok::<_, ()>(()) })
        .await
        .unwrap();
    let cache = registry.cache("redis");
    let _ = cache.lookup("get", async { Ok::<_, ()>(Some(1)) }).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = registry.encode(format);
        assert!(text.contains("tokio_runtime_alive_tasks"));
        assert!(text.contains("tokio_runtime_global_queue_depth"));
        assert!(text.contains("tokio_runtime_worker_park"));
        pf_tests::promtool::promtool_check_exposition(&text)
            .unwrap_or_else(|e| panic!("{format:?}: {e}\n{text}"));
    }
}
