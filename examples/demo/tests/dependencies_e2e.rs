//! The demo binary when its dependencies are down, misconfigured or frozen, and the
//! repository / cache metrics it records on the real PostgreSQL and Redis.
//!
//! Start-up policy: the server listens at once and answers `/livez`; `/startupz` and
//! `/readyz` stay 503 while PostgreSQL or Redis do not answer (retried with backoff, each
//! failure logged with its reason); a configuration no retry can fix (unknown database, wrong
//! Redis password) ends the process with a clear message that never echoes the password.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pf_tests::process::{Demo, demo_command, free_port, wait_until_ready};
use pf_tests::services::RedisServer;

const BINARY: &str = env!("CARGO_BIN_EXE_pf-demo");
const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_frozen_redis_degrades_to_the_database_and_is_counted() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/", redis.port());
    let demo = Demo::start(
        Path::new(BINARY),
        &[("DATABASE_URL", DATABASE_URL), ("REDIS_URL", &url)],
    );
    let client = reqwest::blocking::Client::builder()
        // The budget a request must answer within: far above the demo's 250 ms cache
        // deadline, far below the 30 s and more it hung before.
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    wait_until_ready(&demo.url("/readyz"));
    assert_eq!(
        client
            .get(demo.url("/api/v1/users/3"))
            .send()
            .unwrap()
            .status(),
        200
    );

    redis.freeze(); // resumed when dropped, also when the test fails
    for id in [4, 5, 6, 7] {
        let response = client
            .get(demo.url(&format!("/api/v1/users/{id}")))
            .send()
            .unwrap_or_else(|e| panic!("user {id} with Redis frozen: {e}"));
        assert_eq!(response.status(), 200, "user {id} comes from PostgreSQL");
        let user: serde_json::Value = response.json().unwrap();
        assert_eq!(user["id"], id);
    }
    let metrics = client
        .get(demo.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let timeouts = sample(
        &metrics,
        r#"pivotal_cache_operations_total{service="pf-demo",cache_type="redis",operation="get",result="timeout"}"#,
    ) + sample(
        &metrics,
        r#"pivotal_cache_operations_total{service="pf-demo",cache_type="redis",operation="get",result="error"}"#,
    );
    assert!(
        timeouts >= 4.0,
        "every frozen lookup is counted:\n{metrics}"
    );
    // Every database read ran while the cache was frozen.
    assert!(
        sample(
            &metrics,
            r#"pivotal_repository_operation_duration_seconds_count{service="pf-demo",repository="users",operation="find_by_id",outcome="ok"}"#
        ) >= 5.0,
        "{metrics}"
    );
    // The cache failure is logged once per interval, not once per request.
    let logged = demo
        .stdout
        .try_iter()
        .filter(|l| l.contains("cache unavailable"))
        .count();
    assert_eq!(logged, 1, "one cache-failure line for 8 failed cache calls");
}

#[test]
fn repository_and_cache_metrics_count_exactly_on_postgres_and_redis() {
    // A Redis of this test's own: the first read is a miss for sure, and the shared server's
    // keys are never touched.
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let demo = Demo::start(
        Path::new(BINARY),
        &[("DATABASE_URL", DATABASE_URL), ("REDIS_URL", &redis_url)],
    );
    let client = reqwest::blocking::Client::new();
    wait_until_ready(&demo.url("/readyz"));
    let id = 42;
    let before = client
        .get(demo.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for _ in 0..2 {
        let r = client
            .get(demo.url(&format!("/api/v1/users/{id}")))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // PostgreSQL refuses a text value with a NUL byte: a real database error.
    let refused = client
        .post(demo.url("/api/v1/projects"))
        .bearer_auth("demo-token-1-deps")
        .json(&serde_json::json!({ "name": "nul\u{0}byte" }))
        .header("x-request-id", "deps-internal-1")
        .send()
        .unwrap();
    assert_eq!(refused.status(), 500);
    // The cause goes through the logging pipeline, inside the request span: with the
    // request ID, never only to stderr (issue 14 item 3).
    let cause = std::iter::from_fn(|| demo.stdout.recv_timeout(Duration::from_secs(5)).ok())
        .find(|l| l.contains("internal error"))
        .expect("an internal-error log line on stdout");
    assert!(cause.contains("deps-internal-1"), "{cause}");
    assert!(cause.contains("ERROR"), "{cause}");
    let after = client
        .get(demo.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    let cache = |result: &str| {
        delta(&format!(
            r#"pivotal_cache_operations_total{{service="pf-demo",cache_type="redis",operation="get",result="{result}"}}"#
        ))
    };
    assert_eq!(cache("miss"), 1.0, "first read misses");
    assert_eq!(cache("hit"), 1.0, "second read hits");
    assert_eq!(
        delta(
            r#"pivotal_cache_operations_total{service="pf-demo",cache_type="redis",operation="set",result="ok"}"#
        ),
        1.0
    );
    assert_eq!(
        delta(
            r#"pivotal_repository_operation_duration_seconds_count{service="pf-demo",repository="users",operation="find_by_id",outcome="ok"}"#
        ),
        1.0,
        "one database read: the second came from the cache"
    );
    assert_eq!(
        delta(
            r#"pivotal_repository_operation_duration_seconds_count{service="pf-demo",repository="projects",operation="insert",outcome="error"}"#
        ),
        1.0,
        "the refused insert is an error outcome"
    );
    assert!(after.contains("# TYPE tokio_runtime_scheduling_lag_seconds histogram"));
    assert!(after.contains("tokio_runtime_workers{service=\"pf-demo\"}"));
}

#[test]
fn an_unreachable_database_keeps_readiness_failing_and_says_why() {
    let port = free_port();
    let url = format!("postgres://app:S3cr3tPw@127.0.0.1:{port}/test");
    let demo = Demo::start(Path::new(BINARY), &[("DATABASE_URL", &url)]);
    let client = reqwest::blocking::Client::new();
    assert_eq!(client.get(demo.url("/livez")).send().unwrap().status(), 200);
    for probe in ["/readyz", "/startupz"] {
        assert_eq!(
            client.get(demo.url(probe)).send().unwrap().status(),
            503,
            "{probe}"
        );
    }
    let reason = demo
        .stdout
        .recv_timeout(Duration::from_secs(10))
        .into_iter()
        .chain(std::iter::from_fn(|| {
            demo.stdout.recv_timeout(Duration::from_secs(5)).ok()
        }))
        .find(|l| l.contains("dependency not ready"))
        .expect("a log line saying why the demo is not ready");
    assert!(reason.contains("PostgreSQL"), "{reason}");
    assert!(!reason.contains("S3cr3tPw"), "{reason}");
}

#[test]
fn an_unknown_database_ends_the_process_with_a_clear_message() {
    let out = run_to_exit(&[(
        "DATABASE_URL",
        "postgres://postgres:S3cr3tPw@127.0.0.1:5432/pf_demo_no_such_database",
    )]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("PostgreSQL refused the configuration"),
        "{text}"
    );
    assert!(!text.contains("S3cr3tPw"), "{text}");
}

#[test]
fn a_wrong_redis_password_ends_the_process_with_a_clear_message() {
    let redis = RedisServer::start_with(&["--requirepass", "right-password"]);
    let url = format!("redis://:Wr0ngPw@127.0.0.1:{}/", redis.port());
    let out = run_to_exit(&[("REDIS_URL", &url)]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Redis refused the configuration"), "{text}");
    assert!(!text.contains("Wr0ngPw"), "{text}");
}

/// Runs the demo until it exits by itself (killed after 30 s: it must not hang).
fn run_to_exit(envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = demo_command(Path::new(BINARY), envs);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("run the demo");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(out) => out.expect("demo output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the demo did not exit within 30 s: it hangs on a misconfiguration");
        }
    }
}
