//! Shared fixtures of the pf benches: the same route for every contender.
#![deny(missing_docs)]

use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Serialize;
use tower::ServiceExt;

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

/// Names of the contenders [`contender`] builds.
pub const CONTENDERS: &[&str] = &["bare", "noop_layer", "pf_metrics"];

/// Builds a contender router by name: the bare route, a no-op layer applied
/// with `Router::layer`, or pf's metrics layer applied the same way.
pub fn contender(name: &str) -> Option<Router> {
    let app = match name {
        "bare" => user_routes(),
        "noop_layer" => user_routes().layer(tower::layer::util::Identity::new()),
        "pf_metrics" => user_routes().layer(pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())),
        _ => return None,
    };
    Some(serving(app))
}

/// The router as `axum::serve` runs it: `with_state(())` turns handlers into
/// routes once, as `into_make_service` does. Calling an unprepared `Router<()>`
/// directly re-applies every layer to a fresh handler route on each request.
pub fn serving(app: Router) -> Router {
    app.with_state(())
}
