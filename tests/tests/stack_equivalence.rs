//! The fused layer against the separate layers it replaces (the README's composition), over
//! real loopback servers with the real JSON formatter: for every kind of request (matched,
//! streamed, unmatched, 405, HEAD, 500, a request body, a client leaving mid-stream, a
//! panicking handler, probes, the excluded scrape) both stacks answer the same, write the
//! same log lines and record the same metrics (durations aside).

#[path = "../../pf-log-enrich/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use pf_health::{HealthLayer, HealthRegistry};
use pf_log_enrich::{RequestIdLayer, RequestSpanLayer};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
use pf_stack::StackLayer;
use pf_tests::loopback;
use serde_json::Value;
use support::Capture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceBuilder;

fn routes(metrics: &MetricsRegistry) -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "a user" }).post(|body: String| async move { body }),
        )
        .route("/stream", get(|| async { support::chunked_body() }))
        .route("/endless", get(|| async { support::endless_body() }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                "late"
            }),
        )
        .route(
            "/fail",
            get(|| async {
                tracing::warn!(password = "p4ss", "about to fail");
                (StatusCode::INTERNAL_SERVER_ERROR, "no")
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("a handler bug");
                }
                "never"
            }),
        )
        .route_service("/metrics", metrics.exposition())
        .layer(axum::middleware::from_fn(support::auth))
}

fn registries() -> (MetricsRegistry, HealthRegistry) {
    let metrics = MetricsRegistry::builder()
        .exclude_route("/metrics")
        .build()
        .unwrap();
    let health = HealthRegistry::builder().build().unwrap();
    health.lifecycle().mark_ready();
    (metrics, health)
}

/// The README's composition before the fused layer.
fn separate() -> (Router, MetricsRegistry) {
    let (metrics, health) = registries();
    let app = routes(&metrics).layer(
        ServiceBuilder::new()
            .layer(HealthLayer::new(health).axum_body())
            .layer(RequestIdLayer::new())
            .layer(
                RequestSpanLayer::new()
                    .exclude_route("/metrics")
                    .axum_body(),
            )
            .layer(HttpMetricsLayer::new(metrics.clone()).axum_body()),
    );
    (app, metrics)
}

fn fused() -> (Router, MetricsRegistry) {
    let (metrics, health) = registries();
    let app = routes(&metrics).layer(
        StackLayer::new(metrics.clone())
            .health(HealthLayer::new(health))
            .span(RequestSpanLayer::new().exclude_route("/metrics"))
            .axum_body(),
    );
    (app, metrics)
}

/// One request over a new connection: method, path, request ID, extra header lines, body.
struct Case {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    extra: &'static str,
    body: &'static str,
}

const CASES: [Case; 11] = [
    Case {
        method: "GET",
        path: "/users/7",
        id: "ok",
        extra: "authorization: Bearer user-u1\r\n",
        body: "",
    },
    Case {
        method: "GET",
        path: "/stream",
        id: "stream",
        extra: "",
        body: "",
    },
    Case {
        method: "GET",
        path: "/nowhere?token=abc",
        id: "unmatched",
        extra: "",
        body: "",
    },
    Case {
        method: "DELETE",
        path: "/users/7",
        id: "not-allowed",
        extra: "",
        body: "",
    },
    Case {
        method: "HEAD",
        path: "/users/7",
        id: "head",
        extra: "",
        body: "",
    },
    Case {
        method: "GET",
        path: "/empty",
        id: "empty",
        extra: "",
        body: "",
    },
    Case {
        method: "GET",
        path: "/fail",
        id: "fail",
        extra: "",
        body: "",
    },
    Case {
        method: "POST",
        path: "/users/7",
        id: "body",
        extra: "content-type: text/plain\r\ncontent-length: 11\r\n",
        body: "hello world",
    },
    Case {
        method: "GET",
        path: "/slow",
        id: "slow",
        extra: "",
        body: "",
    },
    Case {
        method: "GET",
        path: "/readyz",
        id: "probe",
        extra: "",
        body: "",
    },
    Case {
        method: "GET",
        path: "/metrics",
        id: "scrape",
        extra: "",
        body: "",
    },
];

/// Status, the echoed request ID, and the body of a response.
async fn send(addr: SocketAddr, prefix: &str, case: &Case) -> (u16, Option<String>, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{} {} HTTP/1.1\r\nhost: test\r\nconnection: close\r\nx-request-id: {prefix}-{}\r\n{}\r\n{}",
        case.method, case.path, case.id, case.extra, case.body
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("a response within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let echoed = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .map(str::to_owned);
    (status, echoed, body.as_bytes().to_vec())
}

/// A client that reads the first chunk of an endless stream and leaves.
async fn leave_mid_stream(addr: SocketAddr, prefix: &str) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /endless HTTP/1.1\r\nhost: test\r\nx-request-id: {prefix}-gone\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    assert!(s.read(&mut buf).await.unwrap() > 0);
}

/// A request whose handler panics: the connection is closed without a response.
async fn panicking(addr: SocketAddr, prefix: &str) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /panic HTTP/1.1\r\nhost: test\r\nx-request-id: {prefix}-panic\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw)).await;
}

/// The log lines of requests whose ID starts with `prefix`, by the ID's suffix, without
/// what differs from run to run (time, duration, trace and span IDs).
fn lines_of(capture: &Capture, prefix: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for mut line in capture.lines() {
        let Some(id) = line["request_id"]
            .as_str()
            .and_then(|i| i.strip_prefix(&format!("{prefix}-")))
        else {
            continue;
        };
        let id = id.to_owned();
        if let Value::Object(map) = &mut line {
            for volatile in [
                "timestamp",
                "duration_ms",
                "trace_id",
                "span_id",
                "request_id",
                "threadId",
                "thread_id",
                "client.address",
            ] {
                map.remove(volatile);
            }
        }
        by_id.entry(id).or_default().push(line);
    }
    by_id
}

/// The metrics' text without durations (sums and buckets), which no two runs share.
fn metrics_of(registry: &MetricsRegistry) -> Vec<String> {
    let text = registry.encode(Format::Prometheus);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("http_"))
        .filter(|l| !l.contains("duration_seconds_bucket") && !l.contains("duration_seconds_sum"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "current_thread")]
async fn the_fused_layer_answers_logs_and_counts_as_the_separate_layers_do() {
    let capture = Capture::default();
    let _logging = support::json_into(&capture);
    let (separate_app, separate_metrics) = separate();
    let (fused_app, fused_metrics) = fused();
    let separate_server = loopback::serve(separate_app).await;
    let fused_server = loopback::serve(fused_app).await;

    for case in &CASES {
        let a = send(separate_server.addr(), "sep", case).await;
        let b = send(fused_server.addr(), "fus", case).await;
        assert_eq!(a.0, b.0, "status of {} {}", case.method, case.path);
        let probe = case.path == "/readyz";
        assert_eq!(
            a.1.as_deref().map(|i| i.replacen("sep-", "", 1)),
            b.1.as_deref().map(|i| i.replacen("fus-", "", 1)),
            "echoed request ID of {}",
            case.path
        );
        if probe {
            // Probes are answered before the request ID, as HealthLayer outermost does.
            assert_eq!(b.1, None);
        } else {
            assert_eq!(b.1.as_deref(), Some(format!("fus-{}", case.id).as_str()));
        }
        if case.path != "/metrics" && !probe {
            assert_eq!(a.2, b.2, "body of {}", case.path);
        }
    }
    leave_mid_stream(separate_server.addr(), "sep").await;
    leave_mid_stream(fused_server.addr(), "fus").await;
    panicking(separate_server.addr(), "sep").await;
    panicking(fused_server.addr(), "fus").await;

    // Every request has ended on the server side once both have logged their last line.
    capture.completion("sep-gone").await;
    capture.completion("fus-gone").await;
    let separate_lines = lines_of(&capture, "sep");
    let fused_lines = lines_of(&capture, "fus");
    assert_eq!(
        separate_lines.keys().collect::<Vec<_>>(),
        fused_lines.keys().collect::<Vec<_>>(),
        "the same requests were logged"
    );
    for (id, lines) in &separate_lines {
        assert_eq!(lines, &fused_lines[id], "log lines of request {id}");
    }
    // What the separate stack writes is the reference; check it has the cases' shape.
    let ok = &separate_lines["ok"];
    let completed = ok
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    assert_eq!(completed["user.id"], "u1", "{completed}");
    assert_eq!(completed["http.route"], "/users/{id}", "{completed}");
    assert!(
        separate_lines["panic"]
            .iter()
            .any(|l| l["message"] == "request cancelled")
    );
    assert_eq!(
        separate_lines["gone"].last().unwrap()["pf.response.incomplete"],
        true
    );
    assert!(!separate_lines.contains_key("probe") && !separate_lines.contains_key("scrape"));

    // Durations are left out of the comparison; the fused layer's come from one clock read
    // at each end, shared by the metrics and the span: both cover the handler's 30 ms.
    let slow = capture.completion("fus-slow").await;
    assert!(slow["duration_ms"].as_f64().unwrap() >= 30.0, "{slow}");
    let text = fused_metrics.encode(Format::Prometheus);
    let slow_sum: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                r#"http_request_duration_seconds_sum{method="GET",route="/slow",status="200"} "#,
            )
        })
        .expect("the slow route's duration")
        .parse()
        .unwrap();
    assert!(slow_sum >= 0.030, "{slow_sum}");

    let separate_metrics = metrics_of(&separate_metrics);
    assert!(
        separate_metrics.iter().any(|l| l.starts_with(
            r#"http_requests_total{method="GET",route="/users/{id}",status="200"} 1"#
        )),
        "{separate_metrics:#?}"
    );
    assert!(
        separate_metrics
            .iter()
            .any(|l| l
                .starts_with(r#"http_requests_total{method="GET",route="/panic",status="500"} 1"#)),
        "{separate_metrics:#?}"
    );
    let fused_metrics = metrics_of(&fused_metrics);
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|l| !b.contains(l)).cloned().collect()
    };
    assert!(
        separate_metrics == fused_metrics,
        "only in the separate layers' metrics: {:#?}\nonly in the fused layer's: {:#?}",
        only(&separate_metrics, &fused_metrics),
        only(&fused_metrics, &separate_metrics)
    );
}
