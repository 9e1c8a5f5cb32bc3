//! The span layer, late identity, redaction and the JSON layer together, over a real loopback
//! server, with the output captured from the real formatter.

use std::io;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use pf_log_enrich::{Identity, Logging, RequestIdLayer, RequestSpanLayer, TrustedProxies};
use pf_log_enrich::{LogConfig, LogFormat};
use pf_tests::loopback;
use serde_json::Value;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

async fn auth(req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer user-"))
        .map(str::to_owned);
    if let (Some(user), Some(identity)) = (user, req.extensions().get::<Identity>()) {
        identity.set_user_id(user);
        identity.set_organization_id("org-9");
    }
    next.run(req).await
}

async fn project(identity: Identity) -> &'static str {
    tracing::info!(
        password = "p4ss-inside",
        api_key = "k3y-inside",
        note = "n",
        "inside handler"
    );
    let span = tracing::info_span!("work", token = "t0ken-inside", step = 1);
    span.in_scope(|| tracing::warn!(rows = 3u64, "nested"));
    assert_eq!(identity.user_id(), Some("u1"));
    "ok"
}

fn app() -> Router {
    Router::new()
        .route("/projects/{id}", get(project))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "x") }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn(auth))
        .layer(
            RequestSpanLayer::new()
                .trusted_proxies(TrustedProxies::private_networks())
                .capture_request_header(http::header::AUTHORIZATION)
                .capture_request_header(http::HeaderName::from_static("x-tenant"))
                .exclude_route("/healthz"),
        )
        .layer(RequestIdLayer::new())
}

#[tokio::test(flavor = "current_thread")]
async fn json_lines_carry_request_context_and_no_secrets() {
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| match k {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    });
    assert_eq!(cfg.format, LogFormat::Json);
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    let _default = tracing::subscriber::set_default(subscriber);

    let server = loopback::serve(app()).await;
    let addr = server.addr();
    let h = loopback::get(
        addr,
        "/projects/17?access_token=qs-secret&page=2",
        &[
            b"authorization: Bearer user-u1",
            b"x-forwarded-for: 203.0.113.9",
            b"x-tenant: acme",
            b"x-request-id: req-a",
            b"user-agent: test-agent/1",
        ],
    )
    .await;
    assert_eq!(h.status, 200);
    let h = loopback::get(addr, "/fail", &[b"x-request-id: req-b"]).await;
    assert_eq!(h.status, 500);
    let h = loopback::get(addr, "/nowhere", &[b"x-request-id: req-c"]).await;
    assert_eq!(h.status, 404);
    let h = loopback::get(addr, "/healthz", &[b"x-request-id: req-d"]).await;
    assert_eq!((h.status, h.one("x-request-id").as_str()), (200, "req-d"));

    let text = capture.text();
    for secret in [
        "p4ss-inside",
        "k3y-inside",
        "t0ken-inside",
        "qs-secret",
        "Bearer user-u1",
    ] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    let lines = capture.lines();
    let inside = lines
        .iter()
        .find(|l| l["message"] == "inside handler")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(inside["request_id"], "req-a");
    assert_eq!(inside["user.id"], "u1");
    assert_eq!(inside["pf.organization.id"], "org-9");
    assert_eq!(inside["http.route"], "/projects/{id}");
    assert_eq!(inside["url.path"], "/projects/17");
    assert_eq!(inside["url.query"], "access_token=[REDACTED]&page=2");
    assert_eq!(inside["password"], "[REDACTED]");
    assert_eq!(inside["api_key"], "[REDACTED]");
    assert_eq!(inside["note"], "n");
    assert_eq!(inside["client.address"], "203.0.113.9");
    assert_eq!(inside["user_agent.original"], "test-agent/1");
    assert_eq!(
        inside["http.request.headers"],
        "authorization: [REDACTED]; x-tenant: acme"
    );
    assert!(inside.get("otel.name").is_none());

    let nested = lines
        .iter()
        .find(|l| l["message"] == "nested")
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(nested["level"], "WARN");
    assert_eq!(nested["token"], "[REDACTED]");
    assert_eq!(nested["step"], 1);
    assert_eq!(nested["rows"], 3);
    assert_eq!(nested["user.id"], "u1");

    let completed = |id: &str| {
        lines
            .iter()
            .filter(|l| l["request_id"] == id && l["message"] == "request completed")
            .collect::<Vec<_>>()
    };
    let a = completed("req-a");
    assert_eq!(a.len(), 1, "exactly one completion event");
    assert_eq!(a[0]["level"], "INFO");
    assert_eq!(a[0]["http.response.status_code"], 200);
    assert_eq!(a[0]["user.id"], "u1");
    assert_eq!(a[0]["pf.organization.id"], "org-9");
    assert!(a[0]["duration_ms"].as_f64().unwrap() >= 0.0);
    let b = completed("req-b");
    assert_eq!(
        (b[0]["level"].as_str(), b[0]["error.type"].as_str()),
        (Some("ERROR"), Some("500"))
    );
    assert!(b[0].get("user.id").is_none());
    let c = completed("req-c");
    assert_eq!(c[0]["level"], "WARN");
    assert!(c[0].get("http.route").is_none(), "unmatched: no route");
    assert!(
        completed("req-d").is_empty(),
        "excluded route: no completion event"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn identity_layer_reads_the_apps_user_type() {
    #[derive(Clone)]
    struct User {
        id: u32,
    }
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".into()));
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    let _default = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/", get(|| async { "" }))
        .layer(pf_log_enrich::RecordIdentityLayer::new(
            |ext: &http::Extensions| {
                ext.get::<User>().map(|u| {
                    pf_log_enrich::IdentityValues::new()
                        .user_id(u.id.to_string())
                        .organization_id("o")
                })
            },
        ))
        .layer(axum::Extension(User { id: 5 }))
        .layer(
            RequestSpanLayer::new().identity_on_span(pf_log_enrich::IdentityOnSpan::OtelAttributes),
        )
        .layer(RequestIdLayer::new());
    let server = loopback::serve(app).await;
    let addr = server.addr();
    assert_eq!(loopback::get(addr, "/", &[]).await.status, 200);
    let lines = capture.lines();
    let done = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    assert_eq!(done["user.id"], "5");
    assert_eq!(done["pf.organization.id"], "o");
}

#[tokio::test(flavor = "current_thread")]
async fn human_formats_are_redacted_too() {
    for format in ["pretty", "compact"] {
        let capture = Capture::default();
        let cfg = LogConfig::from_lookup(|k| match k {
            "LOG_FORMAT" => Some(format.into()),
            "RUST_LOG" => Some("info".into()),
            _ => None,
        });
        let writer = capture.clone();
        let (subscriber, _guard) = Logging::from_config(cfg)
            .writer(move || writer.clone())
            .build()
            .unwrap();
        let _default = tracing::subscriber::set_default(subscriber);
        let server = loopback::serve(app()).await;
        let addr = server.addr();
        let h = loopback::get(
            addr,
            "/projects/1?token=qs-secret",
            &[b"authorization: Bearer user-u1", b"x-request-id: human-1"],
        )
        .await;
        assert_eq!(h.status, 200);
        let text = capture.text();
        for secret in [
            "p4ss-inside",
            "k3y-inside",
            "t0ken-inside",
            "qs-secret",
            "Bearer user-u1",
        ] {
            assert!(!text.contains(secret), "{format}: {secret} leaked:\n{text}");
        }
        assert!(!text.contains("otel."), "{format}:\n{text}");
        let done = text
            .lines()
            .find(|l| l.contains("request completed"))
            .unwrap_or_else(|| panic!("{format}:\n{text}"));
        if format == "pretty" {
            // pino-pretty-like head: method, route, status, duration, request ID, user
            assert!(done.contains(" GET /projects/{id} 200 "), "{done}");
            assert!(done.contains(" req=human-1 user.id=u1 "), "{done}");
        } else {
            assert!(done.contains("request_id=\"human-1\""), "{done}");
            assert!(done.contains("user.id=\"u1\""), "{done}");
            assert!(done.contains("http.response.status_code=200"), "{done}");
        }
        assert!(text.contains("password=[REDACTED]"), "{text}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn completion_waits_for_the_end_of_streamed_bodies() {
    use futures_util::StreamExt;
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".into()));
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    let _default = tracing::subscriber::set_default(subscriber);
    let chunks = || {
        futures_util::stream::iter(["abc", "de", "f"])
            .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(c.as_bytes())))
    };
    let app = Router::new()
        .route(
            "/stream",
            get(move || async move { axum::body::Body::from_stream(chunks()) }),
        )
        .route(
            "/endless",
            get(|| async {
                let first = futures_util::stream::iter([Ok::<_, std::io::Error>(
                    axum::body::Bytes::from_static(b"first"),
                )]);
                axum::body::Body::from_stream(first.chain(futures_util::stream::pending()))
            }),
        )
        .layer(RequestSpanLayer::new())
        .layer(RequestIdLayer::new());
    let server = loopback::serve(app).await;
    let addr = server.addr();
    assert_eq!(
        loopback::get(addr, "/stream", &[b"x-request-id: s-1"])
            .await
            .status,
        200
    );
    let line = |id: &str| {
        capture
            .lines()
            .into_iter()
            .find(|l| l["request_id"] == id && l["message"] == "request completed")
    };
    let done = line("s-1").expect("completion after the body");
    assert_eq!(done["http.response.body.size"], 6);
    assert!(done.get("pf.response.incomplete").is_none());

    // A client that leaves mid-stream: the body is dropped, the event still comes, marked.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /endless HTTP/1.1\r\nhost: x\r\nx-request-id: s-2\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0);
    } // connection closed here
    let mut found = None;
    for _ in 0..400 {
        if let Some(l) = line("s-2") {
            found = Some(l);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let aborted = found.expect("completion event for the aborted stream");
    assert_eq!(aborted["pf.response.incomplete"], true);
    assert_eq!(aborted["http.response.status_code"], 200);
}

/// Responses whose body is empty or never sent (404 fallback, 405, 204, HEAD) are complete:
/// the server never polls a body already at its end, and that is not a client going away.
#[tokio::test(flavor = "current_thread")]
async fn empty_and_head_responses_are_complete_not_incomplete() {
    let capture = Capture::default();
    let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".into()));
    let writer = capture.clone();
    let (subscriber, _guard) = Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    let _default = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/users", get(|| async { "a body of some bytes" }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .layer(RequestSpanLayer::new())
        .layer(RequestIdLayer::new());
    let server = loopback::serve(app).await;
    let addr = server.addr();
    let cases: [(&str, &str, &[u8], u16); 4] = [
        ("GET", "/nowhere", b"x-request-id: e-404", 404),
        ("POST", "/users", b"x-request-id: e-405", 405),
        ("GET", "/empty", b"x-request-id: e-204", 204),
        ("HEAD", "/users", b"x-request-id: e-head", 200),
    ];
    for (method, path, id, status) in cases {
        let head = loopback::request(addr, method, path, &[id]).await;
        assert_eq!(head.status, status, "{method} {path}");
    }
    let completion = |id: &str| {
        capture
            .lines()
            .into_iter()
            .find(|l| l["request_id"] == id && l["message"] == "request completed")
    };
    for id in ["e-404", "e-405", "e-204", "e-head"] {
        let mut line = completion(id);
        for _ in 0..200 {
            if line.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            line = completion(id);
        }
        let line = line.unwrap_or_else(|| panic!("completion event for {id}"));
        assert!(
            line.get("pf.response.incomplete").is_none(),
            "{id} logged as incomplete: {line}"
        );
        // 4xx completions are WARN by design; a complete 2xx is INFO.
        if id == "e-204" || id == "e-head" {
            assert_eq!(line["level"], "INFO", "{id}: {line}");
        }
    }
}

/// Records the name of every span created, whatever its level or fields.
#[derive(Clone, Default)]
struct SpanNames(Arc<Mutex<Vec<&'static str>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanNames {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.lock().unwrap().push(attrs.metadata().name());
    }
}

/// `exclude_route` leaves a route alone entirely: no span (nothing exported over OTLP for
/// every `/metrics` scrape), no completion event, only the request ID. Same pattern syntax as
/// pf-metrics: an exact template or a `prefix*`.
#[tokio::test(flavor = "current_thread")]
async fn an_excluded_route_has_neither_a_span_nor_a_log_line() {
    use tracing_subscriber::prelude::*;
    let capture = Capture::default();
    let spans = SpanNames::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry()
        .with(pf_log_enrich::JsonLayer::new(move || writer.clone()))
        .with(spans.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let app = Router::new()
        .route("/metrics", get(|| async { "# metrics" }))
        .route("/internal/jobs/{id}", get(|| async { "job" }))
        .route("/users/{id}", get(|| async { "user" }))
        .layer(
            RequestSpanLayer::new()
                .exclude_route("/metrics")
                .exclude_route("/internal/*"),
        )
        .layer(RequestIdLayer::new());
    let server = loopback::serve(app).await;
    let addr = server.addr();
    for (path, id) in [
        ("/metrics", "x-metrics"),
        ("/internal/jobs/7", "x-internal"),
        ("/users/1", "x-user"),
    ] {
        let header = format!("x-request-id: {id}");
        let head = loopback::get(addr, path, &[header.as_bytes()]).await;
        assert_eq!(
            (head.status, head.one("x-request-id")),
            (200, id.to_owned())
        );
    }
    let text = capture.text();
    assert_eq!(
        *spans.0.lock().unwrap(),
        vec!["HTTP request"],
        "one span, for /users/1 only:\n{text}"
    );
    assert!(!text.contains("x-metrics"), "{text}");
    assert!(!text.contains("x-internal"), "{text}");
    let completed: Vec<_> = capture
        .lines()
        .into_iter()
        .filter(|l| l["message"] == "request completed")
        .collect();
    assert_eq!(completed.len(), 1, "{text}");
    assert_eq!(completed[0]["request_id"], "x-user");
    assert_eq!(completed[0]["http.route"], "/users/{id}");
}

/// The middleware reaches the formatters' request context through the layer
/// (`WithContext`), not by assuming the dispatcher is a `Registry`: identity reaches every
/// line under a `fmt()` subscriber with a layer on top and under a layered stack.
#[tokio::test(flavor = "current_thread")]
async fn identity_reaches_lines_under_subscribers_that_are_not_a_registry() {
    use tracing_subscriber::prelude::*;
    let app = || {
        Router::new()
            .route("/projects/{id}", get(project))
            .layer(middleware::from_fn(auth))
            .layer(
                RequestSpanLayer::new()
                    .identity_on_span(pf_log_enrich::IdentityOnSpan::OtelAttributes),
            )
            .layer(RequestIdLayer::new())
    };
    let check = |capture: &Capture, id: &str| {
        let lines = capture.lines();
        for message in ["inside handler", "nested", "request completed"] {
            let line = lines
                .iter()
                .find(|l| l["message"] == message && l["request_id"] == id)
                .unwrap_or_else(|| panic!("{message}: {}", capture.text()));
            assert_eq!(line["user.id"], "u1", "{message}: {line}");
            assert_eq!(line["pf.organization.id"], "org-9", "{message}: {line}");
        }
    };

    // A `fmt()` subscriber (its own type, not `Registry`) with the JSON layer on top.
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish()
        .with(pf_log_enrich::JsonLayer::new(move || writer.clone()));
    {
        let _default = tracing::subscriber::set_default(subscriber);
        let server = loopback::serve(app()).await;
        let head = loopback::get(
            server.addr(),
            "/projects/1",
            &[b"authorization: Bearer user-u1", b"x-request-id: fmt-1"],
        )
        .await;
        assert_eq!(head.status, 200);
    }
    check(&capture, "fmt-1");

    // A layered stack: the JSON layer over another layer over the registry.
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::registry()
        .with(SpanNames::default())
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(pf_log_enrich::JsonLayer::new(move || writer.clone()));
    {
        let _default = tracing::subscriber::set_default(subscriber);
        let server = loopback::serve(app()).await;
        let head = loopback::get(
            server.addr(),
            "/projects/2",
            &[b"authorization: Bearer user-u1", b"x-request-id: layered-1"],
        )
        .await;
        assert_eq!(head.status, 200);
    }
    check(&capture, "layered-1");
}
