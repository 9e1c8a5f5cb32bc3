//! The demo binary on the machine's real PostgreSQL (127.0.0.1:5432, database `test`) and
//! Redis (127.0.0.1:6379): data round-trips through them, their health checks are the ones
//! reported. (Start-up with dependencies that are down, wrong or frozen: `dependencies_e2e.rs`.)

use std::path::Path;

use pf_tests::process::Demo;

const BINARY: &str = env!("CARGO_BIN_EXE_pf-demo");
const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL: &str = "redis://127.0.0.1:6379/";

#[test]
fn postgres_and_redis_back_the_api_and_the_health_checks() {
    let demo = Demo::start(
        Path::new(BINARY),
        &[
            ("DATABASE_URL", DATABASE_URL),
            ("REDIS_URL", REDIS_URL),
            ("HEALTH_DETAILS_TOKEN", "details-token"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    pf_tests::process::wait_until_ready(&demo.url("/readyz"));
    // A project name unique to this run, so reruns against the same database stay exact.
    let name = format!("storage-e2e-{}", std::process::id());
    let created = client
        .post(demo.url("/api/v1/projects"))
        .bearer_auth("demo-token-5-storagee2e")
        .json(&serde_json::json!({ "name": name }))
        .send()
        .expect("create project");
    assert_eq!(created.status(), 201);
    let listed: serde_json::Value = client
        .get(demo.url("/api/v1/projects"))
        .bearer_auth("demo-token-5-storagee2e")
        .send()
        .and_then(|r| r.json())
        .expect("list projects");
    assert!(
        listed.as_array().unwrap().iter().any(|p| p["name"] == name),
        "{listed}"
    );
    // Read twice: the second read is served by Redis.
    for _ in 0..2 {
        let user: serde_json::Value = client
            .get(demo.url("/api/v1/users/42"))
            .send()
            .and_then(|r| r.json())
            .expect("get user");
        assert_eq!(user["id"], 42);
    }

    let health: serde_json::Value = client
        .get(demo.url("/health"))
        .bearer_auth("details-token")
        .send()
        .and_then(|r| r.json())
        .expect("health report");
    assert_eq!(health["status"], "pass", "{health}");
    let checks = health["checks"].as_object().expect("checks with details");
    assert!(checks.keys().any(|k| k.starts_with("postgres")), "{health}");
    assert!(checks.keys().any(|k| k.starts_with("redis")), "{health}");
    assert!(!health.to_string().contains("memory-store"));

    let metrics = client
        .get(demo.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            r#"pf_health_check_status{service="pf-demo",check="postgres",state="pass"} 1"#
        )
    );
    assert!(
        metrics
            .contains(r#"pf_health_check_status{service="pf-demo",check="redis",state="pass"} 1"#)
    );
}
