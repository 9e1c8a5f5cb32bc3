//! Which requests get a span, and which subscribers see the request context: an excluded
//! route has no span and no log line; identity reaches every line under subscribers that are
//! not a bare `Registry`.

mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::middleware;
use axum::routing::get;
use pf_log_enrich::{RequestIdLayer, RequestSpanLayer};
use pf_tests::loopback;
use support::{Capture, auth, project};

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
