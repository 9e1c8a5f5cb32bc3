//! The operations assets of `deploy/` against the real stack: Prometheus with the
//! project's recording and alert rules, Debian's postgres_exporter and redis_exporter
//! on their own loopback ports (against the local PostgreSQL and Redis), node_exporter
//! (the host panels; its textfile collector reads an empty directory), Alertmanager
//! with `deploy/alertmanager/alertmanager.yml`, and the demo with `DATABASE_URL` /
//! `REDIS_URL`, under load with errors, slow requests and cache misses.
//!
//! Asserts: every target up, every rule healthy, every dashboard panel query (variables
//! substituted as Grafana does for "All", `$__rate_interval` = 1m) returns at least one
//! series, HighErrorRate pending under a 5xx burst, and after the demo stops
//! BackendServiceDown pending, firing and received by Alertmanager, which inhibits a
//! backend symptom alert while it fires.
//!
//! The only change to the rules: in the test's copy, BackendServiceDown's `for: 2m` is
//! `for: 10s` (the rule files in `deploy/` are unchanged; their `for` durations are proven
//! by `promtool test rules`). Scrape and evaluation intervals are 1 s.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pf_http_core::internal::text::SubSecond;
use pf_tests::process::{
    ChildGuard, Demo, ScratchDir, free_port, poll, require_tool, wait_for_port,
};
use serde_json::{Value, json};

const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL: &str = "redis://127.0.0.1:6379/";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How often the polls below look again.
const TICK: Duration = Duration::from_millis(250);

struct Api {
    client: reqwest::blocking::Client,
    prometheus: String,
    alertmanager: String,
}

impl Api {
    fn get(&self, url: &str, query: &[(&str, &str)]) -> Value {
        let response: Value = self
            .client
            .get(format!("{url}?{}", pf_tests::http::query(query)))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_else(|e| panic!("GET {url} {query:?}: {e}"));
        response
    }

    fn query(&self, promql: &str) -> Vec<Value> {
        let r = self.get(
            &format!("{}/api/v1/query", self.prometheus),
            &[("query", promql)],
        );
        assert_eq!(r["status"], "success", "query {promql:?}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Prometheus' alerts named `name`, with their state.
    fn alert_states(&self, name: &str) -> Vec<String> {
        let r = self.get(&format!("{}/api/v1/alerts", self.prometheus), &[]);
        r["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| a["state"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Alertmanager's alerts named `name`.
    fn am_alerts(&self, name: &str) -> Vec<Value> {
        let r = self.get(
            &format!("{}/api/v2/alerts", self.alertmanager),
            &[("filter", &format!("alertname=\"{name}\""))],
        );
        r.as_array().cloned().unwrap_or_default()
    }
}

/// Every panel query of every dashboard, with the variables substituted.
fn dashboard_queries() -> Vec<(String, String, String)> {
    let dir = repo().join("deploy/grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/grafana/dashboards")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "four dashboards in {}", dir.display());
    let mut out = Vec::new();
    for file in files {
        let dash: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut vars: Vec<String> = dash["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .map(|v| v["name"].as_str().expect("name").to_owned())
            .collect();
        // Longest first: $redis_instance before $instance.
        vars.sort_by_key(|v| std::cmp::Reverse(v.len()));
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for panel in dash["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let mut expr = target["expr"].as_str().expect("expr").to_owned();
                expr = expr.replace("$__rate_interval", "1m");
                for v in &vars {
                    expr = expr
                        .replace(&format!("${{{v}}}"), ".*")
                        .replace(&format!("${v}"), ".*");
                }
                assert!(
                    !expr.contains('$'),
                    "{name}: unsubstituted variable in {expr}"
                );
                let title = format!(
                    "{name}: {} ({})",
                    panel["title"].as_str().unwrap_or("?"),
                    target["refId"].as_str().unwrap_or("?")
                );
                out.push((title, expr, name.clone()));
            }
        }
    }
    out
}

#[test]
fn rules_dashboards_and_alerting_against_the_real_stack() {
    let prometheus_bin = require_tool("prometheus", "prometheus");
    let alertmanager_bin = require_tool("prometheus-alertmanager", "prometheus-alertmanager");
    let pg_exporter_bin = require_tool(
        "prometheus-postgres-exporter",
        "prometheus-postgres-exporter",
    );
    let redis_exporter_bin = require_tool("prometheus-redis-exporter", "prometheus-redis-exporter");
    let node_exporter_bin = require_tool("prometheus-node-exporter", "prometheus-node-exporter");
    let scratch = ScratchDir::new("ops-e2e");
    let dir = scratch.path();

    // ---- exporters on their own loopback ports ----------------------------------------
    let pg_port = free_port();
    let _pg_exporter = ChildGuard::spawn(
        "postgres_exporter",
        Command::new(pg_exporter_bin)
            .arg(format!("--web.listen-address=127.0.0.1:{pg_port}"))
            .arg("--log.level=warn")
            .env(
                "DATA_SOURCE_NAME",
                "postgresql://postgres@127.0.0.1:5432/test?sslmode=disable",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let redis_port = free_port();
    let _redis_exporter = ChildGuard::spawn(
        "redis_exporter",
        Command::new(redis_exporter_bin)
            .args(["-redis.addr", "redis://127.0.0.1:6379"])
            .args(["-web.listen-address", &format!("127.0.0.1:{redis_port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let node_port = free_port();
    std::fs::create_dir_all(dir.join("textfile")).expect("textfile directory");
    let _node_exporter = ChildGuard::spawn(
        "node_exporter",
        Command::new(node_exporter_bin)
            .arg(format!("--web.listen-address=127.0.0.1:{node_port}"))
            .arg(format!(
                "--collector.textfile.directory={}",
                dir.join("textfile").display()
            ))
            // no systemd in a CI container: its collector would log an error every scrape
            .arg("--no-collector.systemd")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );

    // ---- Alertmanager with the project's config (clustering off: no other port) -------
    let am_port = free_port();
    let _alertmanager = ChildGuard::spawn(
        "alertmanager",
        Command::new(alertmanager_bin)
            .arg(format!(
                "--config.file={}",
                repo()
                    .join("deploy/alertmanager/alertmanager.yml")
                    .display()
            ))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );

    // ---- the demo with PostgreSQL and Redis --------------------------------------------
    let mut demo = Demo::start(
        Path::new(env!("CARGO_BIN_EXE_pf-demo")),
        &[("DATABASE_URL", DATABASE_URL), ("REDIS_URL", REDIS_URL)],
    );

    // ---- Prometheus: the project's rules (BackendServiceDown `for` shortened) ------------
    let alerts =
        std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).expect("alerts.yml");
    let marker = "    rules:\n      - alert: BackendServiceDown\n";
    let start = alerts.find(marker).expect("BackendServiceDown rule") + marker.len();
    let for_at = start + alerts[start..].find("for: 2m").expect("its for: 2m");
    let test_alerts = format!("{}for: 10s{}", &alerts[..for_at], &alerts[for_at + 7..]);
    std::fs::write(dir.join("alerts.yml"), test_alerts).expect("write alerts.yml");
    std::fs::copy(
        repo().join("deploy/prometheus/recording.yml"),
        dir.join("recording.yml"),
    )
    .expect("copy recording.yml");
    let prom_port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files: ['recording.yml', 'alerts.yml']\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n\
         scrape_configs:\n\
         \x20 - job_name: pf-backend\n    static_configs:\n      - targets: ['{demo}']\n\
         \x20 - job_name: postgres-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{pg_port}']\n\
         \x20 - job_name: redis-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{redis_port}']\n\
         \x20 - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n\
         \x20 - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\n\
         \x20 - job_name: alertmanager\n    static_configs:\n      - targets: ['127.0.0.1:{am_port}']\n",
        demo = demo.addr,
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
    let _prometheus = ChildGuard::spawn(
        "prometheus",
        Command::new(prometheus_bin)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    for (name, port) in [
        ("postgres_exporter", pg_port),
        ("redis_exporter", redis_port),
        ("node_exporter", node_port),
        ("alertmanager", am_port),
        ("prometheus", prom_port),
    ] {
        wait_for_port(name, port);
    }
    let api = Api {
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        prometheus: format!("http://127.0.0.1:{prom_port}"),
        alertmanager: format!("http://127.0.0.1:{am_port}"),
    };

    // ---- load: reads with cache misses then hits, 404s, writes, slow requests ------------
    let client = &api.client;
    let base = demo.url("");
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .status()
            .as_u16()
    };
    std::thread::scope(|s| {
        // slow requests (over the 0.5 s latency objective) alongside the rest
        s.spawn(|| {
            for _ in 0..4 {
                assert_eq!(get("/api/v1/slow?ms=700"), 200);
            }
        });
        for round in 0..3 {
            for id in 1..=40 {
                assert_eq!(get(&format!("/api/v1/users/{}", id + round * 20)), 200);
            }
            assert_eq!(get("/api/v1/users/999"), 404);
            assert_eq!(get("/no/such/route"), 404);
            let created = client
                .post(demo.url("/api/v1/projects"))
                .bearer_auth("demo-token-42-7")
                .json(&json!({"name": format!("ops-e2e-{round}")}))
                .send()
                .expect("POST /api/v1/projects")
                .status()
                .as_u16();
            assert_eq!(created, 201);
            let listed = client
                .get(demo.url("/api/v1/projects"))
                .bearer_auth("demo-token-42-7")
                .send()
                .expect("GET /api/v1/projects")
                .status()
                .as_u16();
            assert_eq!(listed, 200);
            assert_eq!(get("/api/v1/stream?chunks=3&interval_ms=5"), 200);
            std::thread::sleep(Duration::from_millis(700));
        }
    });

    // ---- every target up -------------------------------------------------------------------
    let jobs = [
        "alertmanager",
        "node",
        "pf-backend",
        "postgres-exporter",
        "prometheus",
        "redis-exporter",
    ];
    let all_up = poll(Duration::from_secs(30), TICK, || {
        let up: BTreeSet<String> = api
            .query("up == 1")
            .iter()
            .map(|r| r["metric"]["job"].as_str().unwrap_or("").to_owned())
            .collect();
        (up == jobs.iter().map(|j| j.to_string()).collect()).then_some(())
    });
    assert!(
        all_up.is_some(),
        "not every target is up: {:?}",
        api.query("up")
    );

    // ---- HighErrorRate pending under a 5xx burst -----------------------------------------
    let mut burst_sent = 0;
    let pending = poll(Duration::from_secs(40), TICK, || {
        for _ in 0..20 {
            assert_eq!(get("/api/v1/fail"), 500);
            burst_sent += 1;
        }
        let states = api.alert_states("HighErrorRate");
        states
            .iter()
            .any(|s| s == "pending" || s == "firing")
            .then_some(states)
    });
    assert!(
        pending.is_some(),
        "HighErrorRate not pending after {burst_sent} 5xx responses; alerts: {}",
        api.get(&format!("{}/api/v1/alerts", api.prometheus), &[])
    );
    // It waits for its `for: 5m` (unchanged): pending, not firing.
    assert_eq!(pending.unwrap(), vec!["pending".to_owned()]);

    // ---- every rule healthy ------------------------------------------------------------------
    let rule_count: usize = ["alerts.yml", "recording.yml"]
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(repo().join("deploy/prometheus").join(f))
                .expect("rule file");
            text.lines()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with("- alert:") || l.starts_with("- record:")
                })
                .count()
        })
        .sum();
    let mut last_rules = Value::Null;
    let healthy = poll(Duration::from_secs(30), TICK, || {
        let r = api.get(&format!("{}/api/v1/rules", api.prometheus), &[]);
        let rules: Vec<&Value> = r["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        let ok = rules.len() == rule_count && rules.iter().all(|rule| rule["health"] == "ok");
        last_rules = r.clone();
        ok.then_some(rules.len())
    });
    assert!(
        healthy.is_some(),
        "not every rule ({rule_count}) is healthy: {last_rules}"
    );

    // ---- every dashboard panel query returns data ------------------------------------------
    let queries = dashboard_queries();
    let mut empty = Vec::new();
    let returned = poll(Duration::from_secs(30), TICK, || {
        empty = queries
            .iter()
            .filter(|(_, expr, _)| api.query(expr).is_empty())
            .map(|(title, expr, _)| format!("{title}: {expr}"))
            .collect();
        empty.is_empty().then_some(())
    });
    assert!(
        returned.is_some(),
        "{} of {} panel queries return no series:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );
    eprintln!(
        "ops e2e: {} panel queries of 4 dashboards return data",
        queries.len()
    );

    // ---- stop the demo: BackendServiceDown pending, firing, received by Alertmanager ---------
    assert!(
        demo.process.terminate(Duration::from_secs(10)).is_some(),
        "the demo did not stop on SIGTERM"
    );
    let seen_pending = poll(Duration::from_secs(30), TICK, || {
        let states = api.alert_states("BackendServiceDown");
        states.iter().any(|s| s == "pending").then_some(())
    });
    assert!(
        seen_pending.is_some(),
        "BackendServiceDown never pending after the demo stopped: {:?}",
        api.alert_states("BackendServiceDown")
    );
    let received = poll(Duration::from_secs(60), TICK, || {
        let alerts = api.am_alerts("BackendServiceDown");
        (!alerts.is_empty()).then_some(alerts)
    })
    .expect("Alertmanager received BackendServiceDown");
    assert_eq!(api.alert_states("BackendServiceDown"), vec!["firing"]);
    let alert = &received[0];
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["job"], "pf-backend");
    assert_eq!(alert["labels"]["instance"], demo.addr.to_string());
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(alert["receivers"][0]["name"], "page");
    assert!(
        alert["annotations"]["runbook_url"].as_str().is_some_and(
            |u| u.ends_with("docs/runbooks/backend-service-down.md#backendservicedown")
        ),
        "{alert}"
    );

    // ---- inhibition: a backend symptom is suppressed, another job's alert is not ------------
    let now =
        pf_http_core::internal::text::rfc3339(std::time::SystemTime::now(), SubSecond::Millis);
    let post = client
        .post(format!("{}/api/v2/alerts", api.alertmanager))
        .json(&json!([
            {"labels": {"alertname": "HighErrorRate", "job": "pf-backend", "severity": "page"},
             "annotations": {"summary": "synthetic symptom"}, "startsAt": now},
            {"labels": {"alertname": "RedisConnectionFailures", "job": "redis-exporter",
                        "instance": "127.0.0.1:1", "severity": "ticket"},
             "annotations": {"summary": "synthetic, another job"}, "startsAt": now}
        ]))
        .send()
        .expect("POST alerts to Alertmanager");
    assert!(post.status().is_success(), "{:?}", post.text());
    let states = poll(Duration::from_secs(20), TICK, || {
        let symptom = api.am_alerts("HighErrorRate");
        let other = api.am_alerts("RedisConnectionFailures");
        match (symptom.first(), other.first()) {
            (Some(a), Some(b)) if a["status"]["state"] == "suppressed" => {
                Some((a.clone(), b.clone()))
            }
            _ => None,
        }
    });
    let (symptom, other) = states.unwrap_or_else(|| {
        panic!(
            "HighErrorRate not inhibited while BackendServiceDown fires: {:?}",
            api.am_alerts("HighErrorRate")
        )
    });
    assert!(
        !symptom["status"]["inhibitedBy"]
            .as_array()
            .expect("inhibitedBy")
            .is_empty(),
        "{symptom}"
    );
    assert_eq!(other["status"]["state"], "active", "{other}");
}
