//! End to end for pf-log-enrich: the demo *binary* with `LOG_CLOUD_SHIPPING=true` exporting to
//! a real OTLP receiver (HTTP/protobuf and gRPC), stopped with SIGTERM.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use pf_tests::otlp::{OtlpReceiver, Received, ReceivedSpan, attr_int, attr_str, hex};
use pf_tests::process::{Demo, free_port};
use serde_json::Value;

const TRACE_1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_1: &str = "00f067aa0ba902b7";
const TRACE_2: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_2: &str = "b7ad6b7169203331";

const BODY_SECRET: &str = "body-secret-hunter2";
const QUERY_SECRET: &str = "query-secret-q9z";
const AUTH_TOKEN: &str = "demo-token-42-7";
const EXPORTER_KEY: &str = "exporter-key-k7x";

/// The demo binary, built by cargo for this test with the same features.
fn demo_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pf-demo"))
}

struct Sent {
    request_id: String,
    status: u16,
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn send(req: reqwest::blocking::RequestBuilder) -> Sent {
    let res = req.send().expect("request");
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on every response")
        .to_owned();
    Sent {
        request_id,
        status: res.status().as_u16(),
    }
}

fn drain_stdout(demo: &Demo) -> Vec<String> {
    let mut lines = Vec::new();
    // The process has exited: the channel disconnects once the reader saw EOF.
    while let Ok(line) = demo.stdout.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    lines
}

fn span_by_request_id<'a>(spans: &'a [ReceivedSpan], id: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| attr_str(&s.span.attributes, "request_id") == Some(id))
        .unwrap_or_else(|| panic!("a span with request_id {id}"))
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [BODY_SECRET, QUERY_SECRET, AUTH_TOKEN, EXPORTER_KEY] {
        assert!(!text.contains(secret), "{secret} leaked into {what}");
    }
}

fn scenario(grpc: bool) {
    let receiver = OtlpReceiver::start();
    let endpoint = if grpc {
        receiver.grpc_endpoint()
    } else {
        receiver.http_endpoint()
    };
    let headers = format!("x-api-key={EXPORTER_KEY}");
    let mut demo = Demo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("RUST_LOG", "info"),
            ("OTEL_SERVICE_NAME", "pf-demo-e2e"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=e2e"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                if grpc { "grpc" } else { "http/protobuf" },
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
        ],
    );
    let c = client();
    let auth = format!("Bearer {AUTH_TOKEN}");

    // 1. with traceparent and auth, an incoming request ID to keep
    let r1 = send(
        c.get(demo.url("/api/v1/projects"))
            .header("traceparent", format!("00-{TRACE_1}-{PARENT_1}-01"))
            .header("authorization", &auth)
            .header("x-request-id", "e2e-request-1"),
    );
    assert_eq!((r1.status, r1.request_id.as_str()), (200, "e2e-request-1"));
    // 2. no traceparent, no auth
    let r2 = send(c.get(demo.url("/api/v1/users/1")));
    // 3. password in a JSON body, token in the query, Authorization header
    let r3 = send(
        c.post(demo.url(&format!("/api/v1/projects?token={QUERY_SECRET}&page=1")))
            .header("authorization", &auth)
            .json(&serde_json::json!({"name": "e2e", "password": BODY_SECRET})),
    );
    assert_eq!(r3.status, 201);
    // 4. a 5xx with a parent
    let r4 = send(
        c.get(demo.url("/api/v1/fail"))
            .header("traceparent", format!("00-{TRACE_2}-{PARENT_2}-01")),
    );
    assert_eq!(r4.status, 500);
    // 5. a 4xx
    let r5 = send(c.get(demo.url("/api/v1/projects")));
    assert_eq!(r5.status, 401);

    let status = demo
        .process
        .terminate(Duration::from_secs(30))
        .expect("the demo exits on SIGTERM");
    assert!(status.success(), "demo exit status {status:?}");
    let stdout = drain_stdout(&demo);

    let all_ids = [&r1, &r2, &r3, &r4, &r5].map(|r| r.request_id.clone());
    let (received, complete) = receiver.wait_until(Duration::from_secs(10), |r: &Received| {
        let spans = r.spans();
        let logs = r.log_records();
        all_ids.iter().all(|id| {
            spans
                .iter()
                .any(|s| attr_str(&s.span.attributes, "request_id") == Some(id))
                && logs
                    .iter()
                    .any(|l| attr_str(&l.record.attributes, "request_id") == Some(id))
        })
    });
    assert!(
        complete,
        "every span and log record arrived (flushed at shutdown)"
    );
    let transport = if grpc {
        pf_tests::otlp::Transport::Grpc
    } else {
        pf_tests::otlp::Transport::HttpProtobuf
    };
    assert!(received.traces.iter().all(|(t, _)| *t == transport));
    assert!(received.logs.iter().all(|(t, _)| *t == transport));
    // exporter headers were sent (and, below, never logged)
    assert!(
        received
            .headers
            .iter()
            .any(|h| h == &format!("x-api-key: {EXPORTER_KEY}"))
    );

    let spans = received.spans();
    let s1 = span_by_request_id(&spans, &r1.request_id);
    assert_eq!(attr_str(&s1.resource, "service.name"), Some("pf-demo-e2e"));
    assert_eq!(
        attr_str(&s1.resource, "deployment.environment"),
        Some("e2e")
    );
    assert_eq!(s1.span.name, "GET /api/v1/projects");
    assert_eq!(s1.span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&s1.span.trace_id), TRACE_1, "parent trace ID honoured");
    assert_eq!(
        hex(&s1.span.parent_span_id),
        PARENT_1,
        "parent span ID honoured"
    );
    assert_eq!(attr_str(&s1.span.attributes, "user.id"), Some("42"));
    assert_eq!(
        attr_str(&s1.span.attributes, "pf.organization.id"),
        Some("7")
    );
    assert_eq!(
        attr_str(&s1.span.attributes, "http.route"),
        Some("/api/v1/projects")
    );
    assert_eq!(
        attr_str(&s1.span.attributes, "http.request.method"),
        Some("GET")
    );
    assert_eq!(
        attr_int(&s1.span.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_ne!(
        s1.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );

    let s2 = span_by_request_id(&spans, &r2.request_id);
    assert!(
        s2.span.parent_span_id.is_empty(),
        "no traceparent: a root span"
    );
    assert_ne!(hex(&s2.span.trace_id), TRACE_1);
    assert_eq!(
        attr_int(&s2.span.attributes, "http.response.status_code"),
        Some(i64::from(r2.status))
    );
    assert_eq!(attr_str(&s2.span.attributes, "user.id"), None);

    let s3 = span_by_request_id(&spans, &r3.request_id);
    assert_eq!(s3.span.name, "POST /api/v1/projects");
    assert_eq!(attr_str(&s3.span.attributes, "user.id"), Some("42"));
    assert_eq!(
        attr_str(&s3.span.attributes, "url.query"),
        Some("token=[REDACTED]&page=1")
    );
    assert_eq!(
        attr_int(&s3.span.attributes, "http.response.status_code"),
        Some(201)
    );

    let s4 = span_by_request_id(&spans, &r4.request_id);
    assert_eq!(hex(&s4.span.trace_id), TRACE_2);
    assert_eq!(hex(&s4.span.parent_span_id), PARENT_2);
    assert_eq!(
        attr_int(&s4.span.attributes, "http.response.status_code"),
        Some(500)
    );
    assert_eq!(attr_str(&s4.span.attributes, "error.type"), Some("500"));
    assert_eq!(
        s4.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "5xx is an error"
    );

    let s5 = span_by_request_id(&spans, &r5.request_id);
    assert_eq!(
        attr_int(&s5.span.attributes, "http.response.status_code"),
        Some(401)
    );
    assert_ne!(
        s5.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "4xx is not an error on a server span"
    );

    // log records: the completion events, enriched and correlated
    let logs = received.log_records();
    let completion = |id: &str| {
        logs.iter()
            .find(|l| {
                attr_str(&l.record.attributes, "request_id") == Some(id)
                    && format!("{:?}", l.record.body).contains("request completed")
            })
            .unwrap_or_else(|| panic!("completion log record for {id}"))
    };
    let l1 = completion(&r1.request_id);
    assert_eq!(attr_str(&l1.record.attributes, "user.id"), Some("42"));
    assert_eq!(
        attr_str(&l1.record.attributes, "pf.organization.id"),
        Some("7")
    );
    assert_eq!(
        attr_int(&l1.record.attributes, "http.response.status_code"),
        Some(200)
    );
    assert_eq!(hex(&l1.record.trace_id), TRACE_1);
    assert_eq!(l1.record.span_id, s1.span.span_id);
    assert_eq!(l1.record.severity_text, "INFO");
    assert_eq!(completion(&r4.request_id).record.severity_text, "ERROR");
    assert_eq!(completion(&r5.request_id).record.severity_text, "WARN");
    assert_eq!(
        attr_str(&completion(&r3.request_id).record.attributes, "user.id"),
        Some("42")
    );

    // nothing secret anywhere
    assert_no_secret("spans", &format!("{:?}", received.traces));
    assert_no_secret("logs", &format!("{:?}", received.logs));
    assert_no_secret("stdout", &stdout.join("\n"));

    // JSON lines on stdout
    let json: Vec<Value> = stdout
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let line_for = |id: &str| {
        json.iter()
            .find(|v| v["request_id"] == id && v["message"] == "request completed")
            .unwrap_or_else(|| panic!("a JSON completion line for {id}"))
    };
    let j1 = line_for(&r1.request_id);
    assert_eq!(j1["trace_id"], TRACE_1);
    assert_eq!(j1["span_id"], hex(&s1.span.span_id));
    assert_eq!(j1["user.id"], "42");
    assert_eq!(j1["pf.organization.id"], "7");
    assert_eq!(j1["http.route"], "/api/v1/projects");
    assert_eq!(j1["http.response.status_code"], 200);
    assert_eq!(j1["level"], "INFO");
    assert!(j1["duration_ms"].is_f64());
    let ts = j1["timestamp"].as_str().expect("timestamp");
    assert!(
        ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    let j4 = line_for(&r4.request_id);
    assert_eq!(j4["level"], "ERROR");
    assert_eq!(j4["trace_id"], TRACE_2);
    assert_eq!(line_for(&r5.request_id)["level"], "WARN");
    // every line inside a request span carries trace and span IDs
    for v in json.iter().filter(|v| v.get("request_id").is_some()) {
        assert!(v["trace_id"].is_string() && v["span_id"].is_string(), "{v}");
    }
}

#[test]
fn cloud_shipping_over_http_protobuf() {
    scenario(false);
}

#[test]
fn cloud_shipping_over_grpc() {
    scenario(true);
}

#[test]
fn collector_down_requests_succeed_and_exit_is_prompt() {
    // Nothing listens on `closed`; `blackhole` accepts connections but never answers.
    let closed = free_port();
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let blackhole_url = format!("http://{}", blackhole.local_addr().expect("addr"));
    for endpoint in [format!("http://127.0.0.1:{closed}"), blackhole_url] {
        let mut demo = Demo::start(
            &demo_binary(),
            &[
                ("LOG_CLOUD_SHIPPING", "true"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ],
        );
        let c = client();
        let mut statuses = HashMap::new();
        for i in 0..50 {
            let path = if i % 10 == 9 {
                "/api/v1/fail"
            } else {
                "/api/v1/users/1"
            };
            *statuses
                .entry(send(c.get(demo.url(path))).status)
                .or_insert(0) += 1;
        }
        assert_eq!(statuses.get(&500), Some(&5), "{statuses:?}");
        assert_eq!(statuses.values().sum::<i32>(), 50);
        // The guard bounds flush + shutdown (5 s by default); the wait here is only a bound.
        let status = demo
            .process
            .terminate(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("demo did not exit on SIGTERM with collector {endpoint}"));
        assert!(status.success());
        let lines = drain_stdout(&demo);
        assert!(
            lines
                .iter()
                .filter(|l| l.contains("request completed"))
                .count()
                >= 50
        );
    }
    drop(blackhole);
}
