//! A real Prometheus server (Debian's package) in a temp dir on a free loopback port.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::http;
use crate::process::{ChildGuard, ScratchDir, free_port, poll, require_tool};

/// A running Prometheus, killed and its data removed on drop.
pub struct Prometheus {
    _process: ChildGuard,
    _dir: ScratchDir,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (host:port) every `interval` under `job`.
    pub fn start(job: &str, targets: &[String], interval: Duration) -> Self {
        Self::start_with(job, targets, interval, &[])
    }

    /// As [`Prometheus::start`], with rule files (copied into the config).
    pub fn start_with(
        job: &str,
        targets: &[String],
        interval: Duration,
        rule_files: &[PathBuf],
    ) -> Self {
        Self::start_with_flags(job, targets, interval, rule_files, &[])
    }

    /// As [`Prometheus::start_with`], with extra command-line flags
    /// (e.g. `--enable-feature=exemplar-storage`).
    pub fn start_with_flags(
        job: &str,
        targets: &[String],
        interval: Duration,
        rule_files: &[PathBuf],
        flags: &[&str],
    ) -> Self {
        let binary = require_tool("prometheus", "prometheus");
        let dir = ScratchDir::new("prometheus");
        let port = free_port();
        let targets = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let rules = rule_files
            .iter()
            .map(|p| format!("  - '{}'\n", p.display()))
            .collect::<String>();
        let config = format!(
            "global:\n  scrape_interval: {i}s\n  evaluation_interval: {i}s\n\
             rule_files:\n{rules}\
             scrape_configs:\n  - job_name: '{job}'\n    scrape_interval: {i}s\n    static_configs:\n      - targets: [{targets}]\n",
            i = interval.as_secs().max(1),
            rules = if rules.is_empty() {
                "  []\n".to_owned()
            } else {
                rules
            },
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let mut cmd = Command::new(binary);
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let process = ChildGuard::spawn("prometheus", &mut cmd);
        let prometheus = Self {
            _process: process,
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let ready = prometheus.poll(Duration::from_secs(60), || {
            http::get(&format!("{}/-/ready", prometheus.base))
                .is_ok_and(|r| r.status == 200)
                .then_some(())
        });
        assert!(
            ready.is_some(),
            "Prometheus did not become ready within 60 s"
        );
        prometheus
    }

    /// Calls `f` every 200 ms until it gives `Some` or `timeout` passes.
    pub fn poll<T>(&self, timeout: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
        poll(timeout, Duration::from_millis(200), f)
    }

    /// `GET /api/v1/<endpoint>?<params>` as JSON (panics when it cannot be read).
    fn api(&self, endpoint: &str, params: &[(&str, &str)]) -> Value {
        let url = format!("{}/api/v1/{endpoint}?{}", self.base, http::query(params));
        let response = http::get(&url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("GET {url}: {} {e}: {}", response.status, response.text()))
    }

    /// Runs an instant query; the `data.result` array.
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let response = self.api("query", &[("query", promql)]);
        assert_eq!(
            response["status"], "success",
            "query {promql:?}: {response}"
        );
        response["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Exemplars of the series `promql` selects over the last `window`
    /// (`/api/v1/query_exemplars`); the `data` array.
    pub fn query_exemplars(&self, promql: &str, window: Duration) -> Vec<Value> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        let start = format!("{:.3}", now - window.as_secs_f64());
        let end = format!("{:.3}", now + 60.0);
        let response = self.api(
            "query_exemplars",
            &[("query", promql), ("start", &start), ("end", &end)],
        );
        assert_eq!(
            response["status"], "success",
            "query_exemplars {promql:?}: {response}"
        );
        response["data"].as_array().cloned().unwrap_or_default()
    }

    /// Current value of each result of a vector query, keyed by the given labels joined with `|`.
    pub fn values_by(
        &self,
        promql: &str,
        labels: &[&str],
    ) -> std::collections::BTreeMap<String, f64> {
        self.query(promql)
            .into_iter()
            .map(|r| {
                let key = labels
                    .iter()
                    .map(|l| r["metric"][*l].as_str().unwrap_or("").to_owned())
                    .collect::<Vec<_>>()
                    .join("|");
                let v = r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (key, v)
            })
            .collect()
    }
}
