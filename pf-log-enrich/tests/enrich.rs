//! The span layer, late identity, redaction and the JSON layer together, over a real loopback
//! server, with the output captured from the real formatter.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use pf_log_enrich::{
    LogConfig, LogFormat, Logging, RequestIdLayer, RequestSpanLayer, TrustedProxies,
};
use pf_tests::loopback;
use support::{Capture, auth, project};

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
    // Every request span's fields come through the JSON layer's hook (the fallback, from the
    // span's attributes, is `the_json_line_is_the_same_through_the_attribute_fallback`).
    send_golden_requests(addr).await;
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
        "authorization: Bearer [REDACTED]; x-tenant: acme"
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
    // The request span's fields, exactly as written, in the span's field order.
    for id in ["req-a", "req-a2"] {
        assert_golden_request_fields(&text, id);
    }
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

/// Sends the two `/projects/17` requests of the golden line through `app()`.
async fn send_golden_requests(addr: std::net::SocketAddr) {
    for id in ["req-a", "req-a2"] {
        let id_header = format!("x-request-id: {id}");
        let h = loopback::get(
            addr,
            "/projects/17?access_token=qs-secret&page=2",
            &[
                b"authorization: Bearer user-u1",
                b"x-forwarded-for: 203.0.113.9",
                b"x-tenant: acme",
                id_header.as_bytes(),
                b"user-agent: test-agent/1",
            ],
        )
        .await;
        assert_eq!(h.status, 200);
    }
}

/// The completion line of request `id` ends with the request span's fields exactly as the JSON
/// layer has always written them (golden), in the span's field order, then the identity.
fn assert_golden_request_fields(text: &str, id: &str) {
    let raw = text
        .lines()
        .find(|l| {
            l.contains(&format!("\"request_id\":\"{id}\"")) && l.contains("request completed")
        })
        .unwrap_or_else(|| panic!("no completion line for {id}:\n{text}"));
    let expected = format!(
        "{}{}{}{}{}{}",
        r#""http.request.method":"GET","http.route":"/projects/{id}","url.path":"/projects/17","#,
        r#""url.scheme":"http","url.query":"access_token=[REDACTED]&page=2","#,
        r#""client.address":"203.0.113.9","user_agent.original":"test-agent/1","#,
        format_args!(r#""network.protocol.version":"1.1","request_id":"{id}","#),
        r#""http.request.headers":"authorization: Bearer [REDACTED]; x-tenant: acme","#,
        r#""user.id":"u1","pf.organization.id":"org-9"}"#,
    );
    assert!(raw.contains(&expected), "{id}: {raw}");
}

/// Behind a wrapper that hides `downcast_raw` (tracing-subscriber's `reload::Layer`) the
/// middleware cannot see the JSON layer's hook, opens the request span without the marker, and
/// the layer visits the span's attributes instead: the golden line is the same, byte for byte.
#[tokio::test(flavor = "current_thread")]
async fn the_json_line_is_the_same_through_the_attribute_fallback() {
    use tracing_subscriber::layer::SubscriberExt;

    let capture = Capture::default();
    let writer = capture.clone();
    let (json, _handle) =
        tracing_subscriber::reload::Layer::new(pf_log_enrich::JsonLayer::new(move || {
            writer.clone()
        }));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info"))
        .with(json);
    let _default = tracing::subscriber::set_default(subscriber);
    let server = loopback::serve(app()).await;
    send_golden_requests(server.addr()).await;
    let text = capture.text();
    for id in ["req-a", "req-a2"] {
        assert_golden_request_fields(&text, id);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn identity_layer_reads_the_apps_user_type() {
    #[derive(Clone)]
    struct User {
        id: u32,
    }
    let capture = Capture::default();
    let _logging = support::json_into(&capture);
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
    let capture = Capture::default();
    let _logging = support::json_into(&capture);
    let app = Router::new()
        .route("/stream", get(|| async { support::chunked_body() }))
        .route("/endless", get(|| async { support::endless_body() }))
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
    let aborted = capture.completion("s-2").await;
    assert_eq!(aborted["pf.response.incomplete"], true);
    assert_eq!(aborted["http.response.status_code"], 200);
}

/// Responses whose body is empty or never sent (404 fallback, 405, 204, HEAD) are complete:
/// the server never polls a body already at its end, and that is not a client going away.
#[tokio::test(flavor = "current_thread")]
async fn empty_and_head_responses_are_complete_not_incomplete() {
    let capture = Capture::default();
    let _logging = support::json_into(&capture);
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
    for id in ["e-404", "e-405", "e-204", "e-head"] {
        let line = capture.completion(id).await;
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

/// Behind a wrapper that hides `downcast_raw` (tracing-subscriber's `reload::Layer`), the
/// middleware cannot reach the JSON layer: the request span's fields still come, from its
/// attributes, on every request.
#[tokio::test(flavor = "current_thread")]
async fn json_lines_keep_the_request_fields_behind_a_reload_layer() {
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt;

    let capture = Capture::default();
    let writer = capture.clone();
    let (json, _handle) =
        tracing_subscriber::reload::Layer::new(pf_log_enrich::JsonLayer::new(move || {
            writer.clone()
        }));
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(json));
    let app = tower::ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        .layer(RequestSpanLayer::new())
        .service_fn(|_req: http::Request<String>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("ok")))
        });
    for id in ["reload-1", "reload-2"] {
        let request = http::Request::get("/reloaded?page=1")
            .header("x-request-id", id)
            .body(String::new())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        drop(response); // the body's end (or drop) completes the request
    }
    for id in ["reload-1", "reload-2"] {
        let line = capture
            .lines()
            .into_iter()
            .find(|l| l["request_id"] == id && l["message"] == "request completed")
            .unwrap_or_else(|| panic!("no completion line for {id}: {}", capture.text()));
        assert_eq!(line["http.request.method"], "GET", "{line}");
        assert_eq!(line["url.path"], "/reloaded", "{line}");
        assert_eq!(line["url.query"], "page=1", "{line}");
    }
}
