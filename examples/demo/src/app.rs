//! Routes of the demo API.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;

use crate::auth::RequireUser;
use crate::store::Store;

/// The demo API's routes, and `/metrics` when it is served on this listener, without
/// middleware (`main` adds the stack).
pub fn routes(store: Store, metrics: Option<pf_metrics::MetricsService>) -> Router {
    let router = Router::new()
        .route("/api/v1/users/{id}", get(get_user))
        .route("/api/v1/projects", get(list_projects).post(create_project))
        .route("/api/v1/fail", get(fail))
        .route("/api/v1/slow", get(slow))
        .route("/api/v1/stream", get(stream));
    let router = match metrics {
        Some(metrics) => router.route_service("/metrics", metrics),
        None => router,
    };
    router.with_state(store)
}

/// At most one "dependency unavailable" line per 30 s: while a circuit is open every request
/// fails the same way (the request log and the breaker's metrics count each one).
static UNAVAILABLE: pf_log_enrich::limit::WarnLimiter =
    pf_log_enrich::limit::WarnLimiter::new(Duration::from_secs(30));

/// A storage error as a response: 503 with `Retry-After` while a dependency's circuit is
/// open (failing at once), 500 otherwise.
fn storage_error(e: Box<dyn std::error::Error + Send + Sync>) -> Response {
    let Some(open) = e.downcast_ref::<pf_health::breaker::BreakerOpen>() else {
        return internal(e);
    };
    if let Some(suppressed) = UNAVAILABLE.allow() {
        tracing::error!(error = %open, warnings_suppressed = suppressed, "dependency unavailable");
    }
    let retry_after = open.retry_in().as_secs().max(1).to_string();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, retry_after)],
        "service unavailable\n",
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    // The detail goes to the operator (inside the request span, so with its request ID,
    // through the same redaction as every log line), not to the client.
    tracing::error!(error = %e, "internal error");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
}

async fn get_user(State(store): State<Store>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "user id must be an integer\n").into_response();
    };
    match store.user(id).await {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such user\n").into_response(),
        Err(e) => storage_error(e),
    }
}

async fn list_projects(State(store): State<Store>, RequireUser(who): RequireUser) -> Response {
    match store.projects(&who.org_id).await {
        Ok(projects) => Json(projects).into_response(),
        Err(e) => storage_error(e),
    }
}

#[derive(Deserialize)]
struct NewProject {
    name: String,
}

async fn create_project(
    State(store): State<Store>,
    RequireUser(who): RequireUser,
    body: Result<Json<NewProject>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let new = match body {
        Ok(Json(new)) => new,
        // A chunked body cut off at the listener's body limit: 413, not "bad JSON".
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
        Err(_) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                "expected JSON {\"name\": \"...\"}\n",
            )
                .into_response();
        }
    };
    if new.name.is_empty() || new.name.len() > 200 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            "name must be 1..=200 bytes\n",
        )
            .into_response();
    }
    match store.create_project(&who.org_id, &new.name).await {
        Ok(p) => (StatusCode::CREATED, Json(p)).into_response(),
        Err(e) => storage_error(e),
    }
}

/// Always fails: a 500 for dashboards and alerts to see.
async fn fail() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "this endpoint always fails\n",
    )
        .into_response()
}

#[derive(Deserialize)]
struct SlowParams {
    ms: Option<u64>,
}

/// Sleeps `ms` milliseconds (default 300, at most 10 s) before answering.
async fn slow(Query(p): Query<SlowParams>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(p.ms.unwrap_or(300).min(10_000))).await;
    "slow response\n"
}

#[derive(Deserialize)]
struct StreamParams {
    chunks: Option<usize>,
    size: Option<usize>,
    interval_ms: Option<u64>,
}

/// Streams `chunks` chunks of `size` bytes, `interval_ms` apart.
async fn stream(Query(p): Query<StreamParams>) -> Response {
    let chunks = p.chunks.unwrap_or(5).min(1_000);
    let size = p.size.unwrap_or(1024).min(1 << 20);
    let interval = Duration::from_millis(p.interval_ms.unwrap_or(20).min(1_000));
    let chunk = Bytes::from(vec![b'x'; size]);
    let body = futures_util::stream::unfold(0usize, move |i| {
        let chunk = chunk.clone();
        async move {
            if i == chunks {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            Some((Ok::<_, std::io::Error>(chunk), i + 1))
        }
    });
    Response::builder()
        .header("content-type", "application/octet-stream")
        .body(Body::from_stream(body))
        .unwrap_or_else(internal)
}
