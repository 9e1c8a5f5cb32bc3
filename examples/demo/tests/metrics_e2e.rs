//! The demo binary scraped by a real Prometheus: exact counts per series.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use pf_tests::process::Demo;
use pf_tests::prometheus::Prometheus;
use pf_tests::promtool::promtool_check_exposition;

fn demo() -> Demo {
    Demo::start(Path::new(env!("CARGO_BIN_EXE_pf-demo")), &[])
}

#[test]
fn prometheus_sees_exact_counts_per_method_route_and_status() {
    let demo = demo();
    let prometheus = Prometheus::start("pf-demo", &[demo.addr.to_string()], Duration::from_secs(1));
    let client = reqwest::blocking::Client::new();
    let send = |method: reqwest::Method, path: &str, auth: bool, n: usize, want: u16| {
        for _ in 0..n {
            let mut req = client.request(method.clone(), demo.url(path));
            if auth {
                req = req.bearer_auth("demo-token-42-7");
            }
            if method == reqwest::Method::POST {
                req = req
                    .header("content-type", "application/json")
                    .body(r#"{"name":"p"}"#);
            }
            let status = req.send().expect("request to the demo").status().as_u16();
            assert_eq!(status, want, "{method} {path}");
        }
    };
    send(reqwest::Method::GET, "/api/v1/users/1", false, 5, 200);
    send(reqwest::Method::GET, "/api/v1/users/999", false, 2, 404);
    send(reqwest::Method::GET, "/api/v1/projects", false, 3, 401);
    send(reqwest::Method::POST, "/api/v1/projects", true, 2, 201);
    send(reqwest::Method::GET, "/api/v1/projects", true, 1, 200);
    send(reqwest::Method::GET, "/api/v1/fail", false, 4, 500);
    send(reqwest::Method::GET, "/no/such/route", false, 3, 404);
    send(reqwest::Method::DELETE, "/api/v1/users/1", false, 1, 405);

    let expected: BTreeMap<String, f64> = [
        ("GET|/api/v1/users/{id}|200", 5.0),
        ("GET|/api/v1/users/{id}|404", 2.0),
        ("GET|/api/v1/projects|401", 3.0),
        ("POST|/api/v1/projects|201", 2.0),
        ("GET|/api/v1/projects|200", 1.0),
        ("GET|/api/v1/fail|500", 4.0),
        ("GET|__unmatched__|404", 3.0),
        ("DELETE|/api/v1/users/{id}|405", 1.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let labels = ["method", "route", "status"];
    // Wait for a scrape taken after the last request.
    let seen = prometheus.poll(Duration::from_secs(30), || {
        let got = prometheus.values_by(r#"http_requests_total{job="pf-demo"}"#, &labels);
        (got == expected).then_some(got)
    });
    let got = prometheus.values_by(r#"http_requests_total{job="pf-demo"}"#, &labels);
    assert!(
        seen.is_some(),
        "Prometheus has {got:?}, expected {expected:?}"
    );

    let counts = prometheus.values_by(
        r#"http_request_duration_seconds_count{job="pf-demo"}"#,
        &labels,
    );
    assert_eq!(counts, expected, "one duration observation per request");
    let total = prometheus.query(r#"sum(http_request_duration_seconds_count{job="pf-demo"})"#);
    assert_eq!(total[0]["value"][1], "21");
    let in_flight = prometheus.query(r#"sum(http_requests_in_flight{job="pf-demo"})"#);
    assert_eq!(in_flight[0]["value"][1], "0");
    // Process metrics of the demo, with their standard names.
    let rss = prometheus.query(r#"process_resident_memory_bytes{job="pf-demo"}"#);
    let rss: f64 = rss[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(rss > 1e6, "resident memory {rss}");
    assert_eq!(
        prometheus
            .query(r#"process_start_time_seconds{job="pf-demo"}"#)
            .len(),
        1
    );
    let up = prometheus.query(r#"up{job="pf-demo"}"#);
    assert_eq!(up[0]["value"][1], "1");
    // The constant label reached Prometheus.
    assert_eq!(
        prometheus
            .query(r#"http_requests_total{job="pf-demo",service="pf-demo",route="/api/v1/fail"}"#)
            .len(),
        1
    );
}

#[test]
fn promtool_accepts_both_exposition_formats() {
    let demo = demo();
    let client = reqwest::blocking::Client::new();
    for path in [
        "/api/v1/users/3",
        "/api/v1/fail",
        "/x\"y\\z",
        "/api/v1/stream?chunks=2",
    ] {
        client
            .get(demo.url(path))
            .send()
            .expect("request to the demo");
    }
    for (accept, content_type) in [
        (
            "text/plain;version=0.0.4",
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        (
            "application/openmetrics-text;version=1.0.0",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    ] {
        let response = client
            .get(demo.url("/metrics"))
            .header("accept", accept)
            .send()
            .expect("scrape");
        assert_eq!(response.headers()["content-type"], content_type);
        let body = response.text().expect("exposition text");
        assert!(body.contains(r#"route="/api/v1/users/{id}""#), "{body}");
        // The Prometheus scrape test ingests OpenMetrics, Prometheus' preferred
        // format, through the real OpenMetrics parser; promtool lints both.
        if let Err(complaint) = promtool_check_exposition(&body) {
            panic!(
                "promtool check metrics rejected the {accept} output:\n{complaint}\n---\n{body}"
            );
        }
        if content_type.starts_with("application/openmetrics-text") {
            assert!(body.ends_with("# EOF\n"));
            assert!(body.contains("# UNIT http_request_duration_seconds seconds\n"));
        }
        // The raw path with a quote and a backslash never becomes a label.
        assert!(!body.contains("x\\\"y"), "{body}");
    }
}

/// The recommended production setup: `/metrics` only on the admin listener, behind a token.
#[test]
fn metrics_on_the_admin_listener_only_and_behind_the_token() {
    let admin_port = pf_tests::process::free_port();
    let admin_addr = format!("127.0.0.1:{admin_port}");
    let demo = Demo::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_pf-demo")),
        &[
            ("PF_DEMO_ADMIN_ADDR", admin_addr.as_str()),
            ("METRICS_TOKEN", "admin-metrics-t0ken"),
        ],
    );
    let client = reqwest::blocking::Client::new();
    pf_tests::process::wait_until_ready(&demo.url("/readyz"));
    assert_eq!(
        client
            .get(demo.url("/api/v1/users/1"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The public listener has no /metrics.
    assert_eq!(
        client.get(demo.url("/metrics")).send().unwrap().status(),
        404
    );
    let admin = |path: &str| format!("http://{admin_addr}{path}");
    let anonymous = client.get(admin("/metrics")).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = client
        .get(admin("/metrics"))
        .bearer_auth("admin-metrics-t0keN")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body = wrong.text().unwrap();
    assert!(!body.contains("t0ken") && !body.contains("t0keN"), "{body}");
    let scraped = client
        .get(admin("/metrics"))
        .bearer_auth("admin-metrics-t0ken")
        .send()
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().unwrap();
    assert!(
        text.contains(r#"route="/api/v1/users/{id}",status="200"} 1"#),
        "{text}"
    );
    // Health details on the admin listener, for operators.
    let health: serde_json::Value = client.get(admin("/health")).send().unwrap().json().unwrap();
    assert!(health["checks"].is_object(), "{health}");
}
