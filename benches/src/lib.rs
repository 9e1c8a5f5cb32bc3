//! Shared fixtures of the pf benches: the same route for every contender, and
//! the pf contenders themselves (the Criterion benches add the peer crates,
//! which are dev-dependencies of this crate only).
#![deny(missing_docs)]

use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Serialize;
use tower::ServiceExt;
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// The benched route's body: a small JSON user.
#[derive(Serialize)]
pub struct User {
    id: u64,
    name: &'static str,
    org_id: u64,
}

/// The route every contender serves: `GET /api/v1/users/{id}` with a small JSON body.
pub fn user_routes() -> Router {
    Router::new().route(
        "/api/v1/users/{id}",
        get(|Path(id): Path<u64>| async move {
            Json(User {
                id,
                name: "Ada Lovelace",
                org_id: 7,
            })
        }),
    )
}

/// The benched request.
pub fn user_request() -> Request<Body> {
    Request::get("/api/v1/users/42").body(Body::empty()).expect("valid request")
}

/// Sends one request through `app` in-process and collects the body, as a server would.
pub async fn call_collect(app: &Router) -> usize {
    let response = app.clone().oneshot(user_request()).await.expect("infallible");
    let body = response.into_body().collect().await.expect("body").to_bytes();
    assert!(!body.is_empty());
    body.len()
}

/// Names of the contenders [`contender`] builds, in report order.
///
/// - `bare`: the route alone;
/// - `noop_layer`: one no-op layer applied with `Router::layer` (the floor for one layer);
/// - `noop_layers4`: four no-op layers applied the same way (the floor for the whole stack);
/// - `pf_metrics`: `HttpMetricsLayer`;
/// - `pf_id_span`: `RequestSpanLayer` + `RequestIdLayer` (subscriber at INFO, no output);
/// - `pf_stack`: metrics, request span, request ID and `HealthLayer` in front (no output);
/// - `pf_stack_json`: the same with pf-log-enrich's JSON formatter writing one access line
///   per request to `std::io::sink`.
pub const CONTENDERS: &[&str] = &[
    "bare",
    "noop_layer",
    "noop_layers4",
    "pf_metrics",
    "pf_id_span",
    "pf_stack",
    "pf_stack_json",
];

/// A contender: a prepared router and the tracing dispatcher it runs under.
pub struct Contender {
    /// The contender's name (one of [`CONTENDERS`] or a peer's name).
    pub name: &'static str,
    /// The router, prepared with [`serving`].
    pub app: Router,
    /// The subscriber the contender runs under: an INFO filter without output, or a JSON
    /// formatter writing to a sink.
    pub dispatch: Dispatch,
}

impl Contender {
    /// A contender running under the quiet subscriber ([`quiet_dispatch`]).
    pub fn quiet(name: &'static str, app: Router) -> Self {
        Contender {
            name,
            app: serving(app),
            dispatch: quiet_dispatch(),
        }
    }
}

/// Builds a pf contender by name (see [`CONTENDERS`]).
pub fn contender(name: &str) -> Option<Contender> {
    let name: &'static str = CONTENDERS.iter().copied().find(|c| *c == name)?;
    let noop = tower::layer::util::Identity::new;
    let app = match name {
        "bare" => user_routes(),
        "noop_layer" => user_routes().layer(noop()),
        "noop_layers4" => user_routes().layer(noop()).layer(noop()).layer(noop()).layer(noop()),
        "pf_metrics" => user_routes().layer(pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())),
        "pf_id_span" => user_routes()
            .layer(pf_log_enrich::RequestSpanLayer::new())
            .layer(pf_log_enrich::RequestIdLayer::new()),
        "pf_stack" | "pf_stack_json" => pf_stack(),
        _ => return None,
    };
    let dispatch = if name == "pf_stack_json" { json_dispatch() } else { quiet_dispatch() };
    Some(Contender {
        name,
        app: serving(app),
        dispatch,
    })
}

/// The whole pf stack in the order the demo applies it (with `Router::layer` the last call
/// is the outermost): health endpoints in front, then request ID, request span, metrics.
pub fn pf_stack() -> Router {
    user_routes()
        .layer(pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()))
        .layer(pf_log_enrich::RequestSpanLayer::new())
        .layer(pf_log_enrich::RequestIdLayer::new())
        .layer(pf_health::HealthLayer::new(health_registry()))
}

/// A ready health registry with one on-demand check (never run by application requests).
pub fn health_registry() -> pf_health::HealthRegistry {
    let registry = pf_health::HealthRegistry::builder()
        .check(
            "dependency",
            pf_health::check_fn(|| async { pf_health::Status::Pass }),
            pf_health::CheckOptions::new().on_demand(Duration::from_secs(2)),
        )
        .build()
        .expect("health registry");
    registry.lifecycle().mark_ready();
    registry
}

/// A subscriber with an INFO filter and no output: spans and events are built and filtered,
/// nothing is formatted.
pub fn quiet_dispatch() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(EnvFilter::new("info")))
}

/// pf-log-enrich's JSON formatter at INFO writing to `std::io::sink`: one access line per request.
pub fn json_dispatch() -> Dispatch {
    let config = pf_log_enrich::init::LogConfig::from_lookup(|key| match key {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    });
    let (subscriber, guard) = pf_log_enrich::Logging::from_config(config)
        .with_writer(std::io::sink)
        .build()
        .expect("logging");
    std::mem::forget(guard); // no OTLP export: nothing to flush
    Dispatch::new(subscriber)
}

/// The router as `axum::serve` runs it: `with_state(())` turns handlers into
/// routes once, as `into_make_service` does. Calling an unprepared `Router<()>`
/// directly re-applies every layer to a fresh handler route on each request.
pub fn serving(app: Router) -> Router {
    app.with_state(())
}
