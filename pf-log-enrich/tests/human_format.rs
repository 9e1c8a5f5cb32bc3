//! The default local format (`HumanLayer`): time, level, method, route, status and duration
//! first, request ID, user and organization next, the message and the rest after, each field
//! once; colours only when asked for (a terminal).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Router, body::Body};
use http_body_util::BodyExt;
use pf_log_enrich::HumanLayer;
use pf_log_enrich::{Identity, Logging, RequestIdLayer, RequestSpanLayer};
use pf_log_enrich::{LogConfig, LogFormat};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

/// A `MakeWriter` collecting everything written.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn auth(req: Request, next: Next) -> Response {
    if let Some(identity) = req.extensions().get::<Identity>() {
        identity.set_user_id("u-42");
        identity.set_organization_id("org-7");
    }
    next.run(req).await
}

fn app() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async {
                tracing::info!(items = 3, note = "two words", "listing users");
                "a user"
            }),
        )
        .layer(middleware::from_fn(auth))
        .layer(
            RequestSpanLayer::new()
                .capture_request_header(http::header::USER_AGENT)
                .capture_request_header(http::header::AUTHORIZATION),
        )
        .layer(RequestIdLayer::new())
}

/// Sends one request through `app()` with `subscriber` as the thread's default.
async fn one_request(subscriber: impl tracing::Subscriber + Send + Sync + 'static) {
    let _guard = tracing::subscriber::set_default(subscriber);
    let res = app()
        .oneshot(
            http::Request::get("/users/7?token=s3cr3t-q&page=2")
                .header("x-request-id", "req-abc-1")
                .header("user-agent", "curl-test/1.0")
                .header("authorization", "Bearer s3cr3t-b")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The completion event is written at the end of the body.
    let _ = res.into_body().collect().await.unwrap();
}

fn position(line: &str, needle: &str) -> usize {
    line.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {line:?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn completion_line_reads_head_identity_then_the_rest_each_once() {
    let out = Buffer::default();
    one_request(tracing_subscriber::registry().with(HumanLayer::new(out.clone()))).await;
    let text = out.text();
    let completed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request completed"))
        .collect();
    assert_eq!(completed.len(), 1, "{text}");
    let line = completed[0];

    // `HH:MM:SS.mmmZ  INFO GET /users/{id} 200 <d>ms req=.. user.id=.. org.id=.. request completed ..`
    let b = line.as_bytes();
    assert!(
        b.len() > 13
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b'.'
            && b[12] == b'Z'
            && b[..12]
                .iter()
                .enumerate()
                .all(|(i, c)| matches!(i, 2 | 5 | 8) || c.is_ascii_digit()),
        "{line}"
    );
    assert_eq!(&line[13..], line[13..].trim_end(), "one line");
    let head: Vec<&str> = line[13..].split_whitespace().take(9).collect();
    assert_eq!(head[0], "INFO", "{line}");
    assert_eq!(head[1..4], ["GET", "/users/{id}", "200"], "{line}");
    assert!(
        head[4].ends_with("ms") && head[4].trim_end_matches("ms").parse::<f64>().is_ok(),
        "{line}"
    );
    assert_eq!(
        head[5..8],
        ["req=req-abc-1", "user.id=u-42", "org.id=org-7"],
        "{line}"
    );
    assert_eq!(head[8], "request", "{line}");
    let msg = position(line, "request completed");
    for rest in [
        "url.path=/users/7",
        "user_agent.original=curl-test/1.0",
        "url.query=\"token=[REDACTED]&page=2\"",
        "http.request.headers=\"authorization: Bearer [REDACTED]\"",
    ] {
        assert!(
            position(line, rest) > msg,
            "{rest} after the message: {line}"
        );
    }
    // each field once; head fields are not repeated as `key=value`
    for once in [
        "curl-test/1.0",
        "req-abc-1",
        "u-42",
        "org-7",
        "/users/7",
        "user.id=",
        "org.id=",
    ] {
        assert_eq!(line.matches(once).count(), 1, "{once} once: {line}");
    }
    for absent in [
        "http.response.status_code=",
        "duration_ms=",
        "request_id=",
        "http.request.method=",
        "http.route=",
        "pf.organization.id=",
        "otel.",
        "pf_log_enrich::request",
        "s3cr3t",
        "\x1b[",
    ] {
        assert!(!line.contains(absent), "{absent:?} in {line}");
    }

    // An event inside the request: the same head (no status or duration yet), its target,
    // message and fields.
    let inner = text
        .lines()
        .find(|l| l.contains("listing users"))
        .expect("the handler's line");
    let head: Vec<&str> = inner[13..].split_whitespace().take(6).collect();
    assert_eq!(
        head,
        [
            "INFO",
            "GET",
            "/users/{id}",
            "req=req-abc-1",
            "user.id=u-42",
            "org.id=org-7"
        ],
        "{inner}"
    );
    assert!(
        position(inner, "human_format: listing users") < position(inner, "items=3"),
        "{inner}"
    );
    assert!(inner.contains("note=\"two words\""), "{inner}");
    assert_eq!(inner.matches("url.path=").count(), 1, "{inner}");
}

#[tokio::test(flavor = "current_thread")]
async fn colours_only_when_enabled_and_init_leaves_them_off_off_a_terminal() {
    let coloured = Buffer::default();
    one_request(tracing_subscriber::registry().with(HumanLayer::new(coloured.clone()).ansi(true)))
        .await;
    let text = coloured.text();
    let line = text
        .lines()
        .find(|l| l.contains("request completed"))
        .unwrap();
    assert!(
        line.contains("\x1b[32m INFO\x1b[0m"),
        "green level: {line:?}"
    );
    assert!(line.contains("\x1b[32m200\x1b[0m"), "green 2xx: {line:?}");

    // `init`'s default format on a writer that is not a terminal: the human layout, no ANSI.
    let plain = Buffer::default();
    let config = LogConfig::from_lookup(|_| None);
    assert_eq!(config.format, LogFormat::Pretty);
    let (subscriber, _guard) = Logging::from_config(config)
        .writer(plain.clone())
        .build()
        .unwrap();
    one_request(subscriber).await;
    let text = plain.text();
    let line = text
        .lines()
        .find(|l| l.contains("request completed"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(
        line[13..].starts_with("  INFO GET /users/{id} 200 "),
        "{line}"
    );
}
