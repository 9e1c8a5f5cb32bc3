//! The demo on a dependency outage, with a PostgreSQL cluster and a redis-server of the
//! test's own (stopped or frozen here): after a few connection failures the circuit breaker
//! opens, calls fail at once without reaching the dependency, and the log names the real
//! reason ("connection refused", "timed out"), never "pool timed out". No timing threshold:
//! the assertions are on the breaker's state, the error kinds and the calls that reached
//! the pool or the cache.

use std::path::Path;
use std::time::{Duration, Instant};

use pf_tests::process::{CapturedDemo, wait_until_ready};
use pf_tests::services::{PgCluster, RedisServer};

const BINARY: &str = env!("CARGO_BIN_EXE_pf-demo");
const TOKEN: &str = "outage-details-token";

/// Sum of the samples of every series whose line contains all of `parts`.
fn sum(metrics: &str, parts: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn metrics(demo: &CapturedDemo) -> String {
    client()
        .get(demo.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn health(demo: &CapturedDemo) -> serde_json::Value {
    client()
        .get(demo.url("/health?verbose"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// The report of check `name` in a health+json body.
fn check<'a>(health: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    health["checks"]
        .as_object()
        .and_then(|checks| checks.iter().find(|(k, _)| k.starts_with(name)))
        .map(|(_, v)| v.get(0).unwrap_or(v))
        .unwrap_or_else(|| panic!("no check {name} in {health:#}"))
}

#[test]
fn postgres_refusing_connections_opens_the_breaker_and_fails_at_once_with_the_real_reason() {
    let mut pg = PgCluster::start();
    let url = pg.url();
    let demo = CapturedDemo::start(
        Path::new(BINARY),
        &[
            ("DATABASE_URL", &url),
            ("LOG_FORMAT", "json"),
            ("HEALTH_DETAILS_TOKEN", TOKEN),
            ("PF_DEMO_BREAKER_THRESHOLD", "3"),
            // No probe during the test: every call after the third is refused by the breaker.
            ("PF_DEMO_BREAKER_COOL_DOWN_MS", "600000"),
        ],
    );
    wait_until_ready(&demo.url("/readyz"));
    let projects = || {
        client()
            .get(demo.url("/api/v1/projects"))
            .bearer_auth("demo-token-1-outage")
            .send()
            .unwrap()
    };
    assert_eq!(projects().status(), 200);

    pg.stop(); // PostgreSQL refuses connections from now on
    // Reported, not asserted (no timing threshold in a test): what a caller waits for.
    let mut closed_ms = Vec::new();
    for attempt in 1..=3 {
        let started = Instant::now();
        assert_eq!(
            projects().status(),
            500,
            "attempt {attempt} reaches the pool"
        );
        closed_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let opened = metrics(&demo);
    let state = |m: &str, s: &str| {
        sum(
            m,
            &[
                "pf_health_circuit_breaker_state{",
                r#"breaker="postgres""#,
                &format!(r#"state="{s}""#),
            ],
        )
    };
    assert_eq!(state(&opened, "open"), 1.0, "{opened}");
    let failures = |kind: &str| {
        sum(
            &opened,
            &[
                "pf_health_circuit_breaker_failures_total{",
                r#"breaker="postgres""#,
                kind,
            ],
        )
    };
    assert_eq!(failures("kind="), 3.0, "three failures counted:\n{opened}");
    // (The first may be the pooled connection breaking; new ones are refused.)
    assert!(failures(r#"kind="refused""#) >= 2.0, "{opened}");
    let pool_calls = |m: &str| {
        sum(
            m,
            &[
                "pivotal_repository_operation_duration_seconds_count{",
                r#"repository="projects""#,
                r#"operation="list_by_org""#,
            ],
        )
    };

    // Open: every call fails at once with 503, and none reaches the pool, even once
    // PostgreSQL is back (the cool-down has not ended: no probe yet).
    pg.start_server();
    let mut open_ms = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let r = projects();
        open_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
    }
    open_ms.sort_by(f64::total_cmp);
    eprintln!(
        "PostgreSQL refusing: time to fail, breaker closed (reaching the pool) {closed_ms:.1?} ms; \
         breaker open: median {:.1} ms, max {:.1} ms over 10 calls",
        open_ms[5], open_ms[9]
    );
    let after = metrics(&demo);
    assert_eq!(
        pool_calls(&after),
        pool_calls(&opened),
        "no call reached the pool while the breaker was open"
    );
    assert_eq!(
        sum(
            &after,
            &[
                "pf_health_circuit_breaker_rejected_total{",
                r#"breaker="postgres""#
            ]
        ),
        10.0
    );

    // The breaker is a health detail, with the real reason.
    let health = health(&demo);
    let circuit = check(&health, "postgres-circuit");
    assert_eq!(circuit["status"], "warn", "{health:#}");
    let output = circuit["output"].as_str().unwrap_or_default();
    assert!(output.contains("connection refused"), "{health:#}");

    let (stdout, _) = demo.stop(Duration::from_secs(10));
    assert!(
        stdout.contains("PostgreSQL unreachable: connection refused"),
        "the failures name the real reason:\n{stdout}"
    );
    assert!(
        !stdout.contains("pool timed out"),
        "a pool timeout never hides the reason:\n{stdout}"
    );
    let unavailable = stdout
        .lines()
        .filter(|l| l.contains("dependency unavailable"))
        .count();
    assert_eq!(unavailable, 1, "one line for 10 refused calls:\n{stdout}");
}

#[test]
fn a_frozen_redis_costs_one_timeout_per_request_then_none() {
    let redis = RedisServer::start();
    let url = redis.url();
    // In-memory repository: only the cache is a network dependency here.
    let demo = CapturedDemo::start(
        Path::new(BINARY),
        &[
            ("REDIS_URL", &url),
            ("LOG_FORMAT", "json"),
            ("PF_DEMO_BREAKER_THRESHOLD", "3"),
            ("PF_DEMO_BREAKER_COOL_DOWN_MS", "600000"),
        ],
    );
    wait_until_ready(&demo.url("/readyz"));
    let user = |id: u32| {
        let r = client()
            .get(demo.url(&format!("/api/v1/users/{id}")))
            .send()
            .unwrap_or_else(|e| panic!("user {id}: {e}"));
        assert_eq!(r.status(), 200, "user {id} is served without the cache");
    };
    user(1);
    let cache_ops = |m: &str, op: &str| {
        sum(
            m,
            &[
                "pivotal_cache_operations_total{",
                r#"cache_type="redis""#,
                &format!(r#"operation="{op}""#),
            ],
        )
    };
    let before = metrics(&demo);
    assert_eq!(
        cache_ops(&before, "set"),
        1.0,
        "the first read filled the cache"
    );

    redis.freeze(); // resumed on drop, also when the test fails
    for id in 2..=4 {
        user(id);
    }
    let frozen = metrics(&demo);
    assert_eq!(
        cache_ops(&frozen, "get") - cache_ops(&before, "get"),
        3.0,
        "one read per request"
    );
    assert_eq!(
        cache_ops(&frozen, "set"),
        cache_ops(&before, "set"),
        "no cache write after a failed read in the same request"
    );
    assert_eq!(
        sum(
            &frozen,
            &[
                "pf_health_circuit_breaker_failures_total{",
                r#"breaker="redis""#,
                r#"kind="timed_out""#
            ]
        ),
        3.0,
        "{frozen}"
    );
    assert_eq!(
        sum(
            &frozen,
            &[
                "pf_health_circuit_breaker_state{",
                r#"breaker="redis""#,
                r#"state="open""#
            ]
        ),
        1.0
    );

    // Open: the cache is skipped, not waited for.
    for id in 5..=9 {
        user(id);
    }
    let open = metrics(&demo);
    assert_eq!(
        cache_ops(&open, "get"),
        cache_ops(&frozen, "get"),
        "no cache call while the breaker is open"
    );
    assert_eq!(
        sum(
            &open,
            &[
                "pf_health_circuit_breaker_rejected_total{",
                r#"breaker="redis""#
            ]
        ),
        5.0
    );
    redis.thaw();
    let (stdout, _) = demo.stop(Duration::from_secs(10));
    let cache_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("cache unavailable"))
        .collect();
    assert_eq!(cache_lines.len(), 1, "{stdout}");
    let db_warnings = stdout
        .lines()
        .filter(|l| l.contains("db operation failed"))
        .count();
    // One WARN at most for three failed GETs (limited per operation and class; none when
    // the demo's own deadline dropped the operation before the client's timeout failed it).
    assert!(db_warnings <= 1, "{stdout}");
}
