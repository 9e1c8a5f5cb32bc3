//! Health metrics on pf-metrics' `/metrics`, accepted by `promtool check metrics`; scrapes
//! never run checks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{PG_URL, client};
use pf_health::checks::PgPoolCheck;
use pf_health::{CheckOptions, CheckResult, HealthLayer, HealthRegistry, Status, check_fn};
use pf_tests::loopback::serve;
use pf_tests::promtool::promtool_check_metrics;
use sqlx::postgres::PgPoolOptions;

#[tokio::test]
async fn health_metrics_appear_on_metrics_and_pass_promtool() {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(PG_URL)
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = {
        let runs = runs.clone();
        check_fn(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            async { CheckResult::fail("broken") }
        })
    };
    let health = HealthRegistry::builder()
        .check("postgres", PgPoolCheck::new(pool), CheckOptions::new())
        .check(
            "broken",
            counted,
            CheckOptions::new()
                .critical(false)
                .on_demand(Duration::ZERO),
        )
        .check(
            "slow",
            check_fn(std::future::pending::<Status>),
            CheckOptions::new()
                .critical(false)
                .timeout(Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    health.lifecycle().mark_ready();
    let metrics = pf_metrics::MetricsRegistry::new();
    pf_health::metrics::register(&health, &metrics);

    let app = axum::Router::new()
        .route_service("/metrics", metrics.exposition())
        .layer(HealthLayer::new(health.clone()));
    let server = serve(app).await;
    let addr = server.addr();
    let client = client();
    assert_eq!(
        client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let runs_after_probe = runs.load(Ordering::SeqCst);

    let mut text = String::new();
    for _ in 0..3 {
        text = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        runs_after_probe,
        "a scrape never runs a check"
    );

    for expected in [
        r#"pf_health_check_status{check="postgres",state="pass"} 1"#,
        r#"pf_health_check_status{check="broken",state="fail"} 1"#,
        r#"pf_health_check_status{check="broken",state="pass"} 0"#,
        r#"pf_health_check_failures_total{check="slow",reason="timeout"} 1"#,
        r#"pf_health_check_failures_total{check="broken",reason="error"} 1"#,
        r#"pf_health_check_duration_seconds_count{check="postgres"} 1"#,
        r#"pf_health_check_last_success_timestamp_seconds{check="postgres"}"#,
        r#"pf_health_lifecycle_phase{phase="ready"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(!text.contains(r#"pf_health_check_last_success_timestamp_seconds{check="broken"}"#));

    if let Err(complaint) = promtool_check_metrics(&text) {
        panic!("promtool rejected the exposition:\n{complaint}\n{text}");
    }
}

/// The four `pf_health_check_status` series of `check`, in the order pass, warn, fail, unknown.
fn status_series(text: &str, check: &str) -> [f64; 4] {
    ["pass", "warn", "fail", "unknown"].map(|state| {
        let prefix = format!(r#"pf_health_check_status{{check="{check}",state="{state}"}} "#);
        let line = text
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no series {prefix} in:\n{text}"));
        line[prefix.len()..].parse().unwrap()
    })
}

#[tokio::test]
async fn check_status_is_unknown_until_the_first_result() {
    // A periodic check whose first run waits for the test, and an on-demand check nobody asked.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let periodic = {
        let gate = gate.clone();
        check_fn(move || {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await.unwrap();
                Status::Fail
            }
        })
    };
    let health = HealthRegistry::builder()
        .check(
            "on_demand",
            check_fn(|| async { Status::Pass }),
            CheckOptions::new(),
        )
        .check(
            "periodic",
            periodic,
            CheckOptions::new()
                .critical(false)
                .timeout(Duration::from_secs(3600))
                .periodic(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let metrics = pf_metrics::MetricsRegistry::new();
    pf_health::metrics::register(&health, &metrics);
    let scrape = || metrics.encode(pf_metrics::Format::Prometheus);

    let text = scrape();
    assert_eq!(status_series(&text, "on_demand"), [0.0, 0.0, 0.0, 1.0]);
    assert_eq!(status_series(&text, "periodic"), [0.0, 0.0, 0.0, 1.0]);

    assert_eq!(
        health.check("on_demand").await.unwrap().status(),
        Status::Pass
    );
    let text = scrape();
    assert_eq!(status_series(&text, "on_demand"), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(
        status_series(&text, "periodic"),
        [0.0, 0.0, 0.0, 1.0],
        "the periodic check's first run has not finished"
    );

    gate.add_permits(1);
    assert_eq!(
        health.check("periodic").await.unwrap().status(),
        Status::Fail
    );
    let text = scrape();
    assert_eq!(status_series(&text, "periodic"), [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(status_series(&text, "on_demand"), [1.0, 0.0, 0.0, 0.0]);
}
