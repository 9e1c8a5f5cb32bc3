//! The contenders of the server benchmark, in one place: [`MODES`] names them (report order),
//! [`app`] builds each one's router and subscriber. A new contender (a fused layer, say) is
//! one more name in [`MODES`] and one more arm in [`app`]; the driver, the report and the test
//! mode pick it up from there.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::time::timeout;
use tower::ServiceBuilder;
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::counting::{CountPollsLayer, CountSpans, count_body};
use crate::peers;

/// Every contender, in report order (`bare` first: the others are measured against it).
///
/// - `bare`: the routes alone;
/// - `pf_metrics`: `HttpMetricsLayer` alone (with `/metrics` served and excluded);
/// - `pf_stack`: the README's composition (one `ServiceBuilder` in one `Router::layer`:
///   health, request ID, request span, metrics), subscriber at INFO without output;
/// - `pf_stack_json`: the same with pf-log-enrich's `JsonLayer` writing one access line per
///   request to `/dev/null` (a real `write` per line);
/// - `pf_stack_json_nonblocking`: the same through `Logging::non_blocking` (the line queued,
///   written by pf-log-enrich's writer thread: its CPU is the server's too);
/// - `pf_fused`: the README's quick start: pf-stack's `StackLayer` (health, request ID, span,
///   metrics in one service and one future), INFO without output;
/// - `pf_fused_json`: the same with pf-log-enrich's `JsonLayer` line to `/dev/null`;
/// - `axum_prometheus`: peer, axum-prometheus' default layer;
/// - `tower_http_trace_id_json`: peer, tower-http `TraceLayer` (pf's span fields) + request
///   ID set and propagated + tracing-subscriber's JSON line to `/dev/null`;
/// - `axum_tracing_otel`: peer, axum-tracing-opentelemetry's `OtelAxumLayer` (INFO) +
///   `OtelInResponseLayer`, subscriber at INFO without output.
pub const MODES: &[&str] = &[
    "bare",
    "pf_metrics",
    "pf_stack",
    "pf_stack_json",
    "pf_stack_json_nonblocking",
    "pf_fused",
    "pf_fused_json",
    "axum_prometheus",
    "tower_http_trace_id_json",
    "axum_tracing_otel",
];

/// What the poll counters of a counted pf stack stand for (`POLLS[k]`).
pub const POLL_POINTS: &[&str] = &[
    "whole stack (what hyper polls)",
    "below HealthLayer (request ID's future)",
    "below RequestIdLayer (span's future)",
    "below RequestSpanLayer (metrics' future)",
    "below HttpMetricsLayer (the route)",
    "the handler",
];

/// One PostgreSQL connection per pool slot; the saturating load uses more connections than
/// this, as a deployed server does (requests queue for the pool).
pub const POOL: u32 = 4;

/// Connecting to PostgreSQL or Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One query or command (generous: the machine may be loaded; a healthy call takes ~100 µs).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The query of the DB-bound handler: one round trip, no table.
pub const SQL: &str = "SELECT $1::int8 + 1";

/// What the DB-bound handler needs.
#[derive(Clone)]
pub struct Db {
    pool: sqlx::PgPool,
    redis: redis::aio::ConnectionManager,
    /// A key nobody sets (unique per run): the GET is one round trip that reads nothing.
    key: Arc<str>,
}

/// The in-memory handler's body: the in-process benches' small JSON user.
#[derive(Serialize)]
struct MemUser {
    id: u64,
    name: &'static str,
    org_id: u64,
}

#[derive(Serialize)]
struct DbUser {
    id: i64,
    next: i64,
    name: Option<String>,
}

type HandlerError = (StatusCode, String);

fn failed(what: String) -> HandlerError {
    (StatusCode::INTERNAL_SERVER_ERROR, what)
}

/// `GET /db/users/{id}`: one PostgreSQL query, one Redis GET, each under [`CALL_TIMEOUT`].
async fn db_user(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<DbUser>, HandlerError> {
    let next = timeout(
        CALL_TIMEOUT,
        sqlx::query_scalar::<_, i64>(SQL)
            .bind(id)
            .fetch_one(&db.pool),
    )
    .await
    .map_err(|_| failed(format!("PostgreSQL query timed out after {CALL_TIMEOUT:?}")))?
    .map_err(|e| failed(format!("PostgreSQL query failed: {e}")))?;
    let mut redis = db.redis.clone();
    let name: Option<String> = timeout(
        CALL_TIMEOUT,
        redis::cmd("GET").arg(&*db.key).query_async(&mut redis),
    )
    .await
    .map_err(|_| failed(format!("Redis GET timed out after {CALL_TIMEOUT:?}")))?
    .map_err(|e| failed(format!("Redis GET failed: {e}")))?;
    Ok(Json(DbUser { id, next, name }))
}

/// The two handlers: `/mem/users/{id}` (the in-process benches' small JSON user) and
/// `/db/users/{id}` (one PostgreSQL query + one Redis GET).
pub fn routes(db: Db) -> Router {
    Router::new()
        .route(
            "/mem/users/{id}",
            get(|Path(id): Path<u64>| async move {
                Json(MemUser {
                    id,
                    name: "Ada Lovelace",
                    org_id: 7,
                })
            }),
        )
        .route("/db/users/{id}", get(db_user))
        .with_state(db)
}

/// Connects the handler's pool and Redis connection (every step under a timeout, failures
/// name the server and the override variable).
pub async fn connect(database_url: &str, redis_url: &str, key: &str) -> Db {
    let hint = "the server bench needs the local PostgreSQL and Redis (DESIGN.md §7; \
                PF_BENCH_DATABASE_URL / PF_BENCH_REDIS_URL override them)";
    let pool = timeout(
        CONNECT_TIMEOUT,
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(POOL)
            .min_connections(POOL)
            .test_before_acquire(false)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(database_url),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("PostgreSQL at {database_url}: no connection within {CONNECT_TIMEOUT:?}; {hint}")
    })
    .unwrap_or_else(|e| panic!("PostgreSQL at {database_url} is unreachable: {e}; {hint}"));
    let client = redis::Client::open(redis_url)
        .unwrap_or_else(|e| panic!("invalid Redis URL {redis_url}: {e}; {hint}"));
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1);
    let redis = timeout(
        CONNECT_TIMEOUT,
        redis::aio::ConnectionManager::new_with_config(client, config),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("Redis at {redis_url}: no connection within {CONNECT_TIMEOUT:?}; {hint}")
    })
    .unwrap_or_else(|e| panic!("Redis at {redis_url} is unreachable: {e}; {hint}"));
    Db {
        pool,
        redis,
        key: key.into(),
    }
}

/// `/dev/null` opened for writing: every log line is a real `write(2)`, as to a file or a pipe
/// that keeps up.
fn dev_null() -> Arc<File> {
    Arc::new(
        File::options()
            .write(true)
            .open("/dev/null")
            .expect("open /dev/null"),
    )
}

/// The INFO filter without output (as the in-process benches' `quiet_dispatch`), plus the
/// span counter when counting.
fn quiet(count: bool) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(count.then_some(CountSpans)),
    )
}

/// pf-log-enrich's JSON pipeline at INFO (`LOG_FORMAT=json`) writing to `/dev/null`, through
/// the non-blocking writer when `non_blocking`.
fn pf_json(count: bool, non_blocking: bool) -> Dispatch {
    let config = pf_log_enrich::LogConfig::from_lookup(|key| match key {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    });
    let mut logging = pf_log_enrich::Logging::from_config(config).writer(dev_null());
    if non_blocking {
        logging = logging.non_blocking(pf_log_enrich::DEFAULT_QUEUE_LINES);
    }
    let (layers, guard) = logging.build_layers().expect("logging");
    // no OTLP export; the server is killed, so nothing is flushed at the end
    std::mem::forget(guard);
    // the counter behind the same INFO filter, so that it enables no callsite of its own
    let counter = count.then(|| CountSpans.with_filter(EnvFilter::new("info")));
    Dispatch::new(tracing_subscriber::registry().with(layers).with(counter))
}

/// The stacks' registries: metrics without `/metrics`, health ready.
fn registries() -> (pf_metrics::MetricsRegistry, pf_health::HealthRegistry) {
    let metrics = pf_metrics::MetricsRegistry::builder()
        .exclude_route("/metrics")
        .build()
        .expect("metrics registry");
    let health = pf_health::HealthRegistry::builder()
        .build()
        .expect("health registry");
    health.lifecycle().mark_ready();
    (metrics, health)
}

/// The README's quick start around `routes`: `/metrics` served (and excluded from metrics and
/// spans), then pf-stack's fused layer. Poll counters see only the whole stack and the
/// handler: there is nothing in between.
fn fused_stack(routes: Router) -> Router {
    let (metrics, health) = registries();
    routes
        .route_service("/metrics", metrics.exposition())
        .layer(
            pf_stack::StackLayer::new(metrics)
                .health(pf_health::HealthLayer::new(health))
                .span(pf_log_enrich::RequestSpanLayer::new().exclude_route("/metrics"))
                .axum_body(),
        )
}

/// The separate layers' composition around `routes`: `/metrics` served (and excluded from metrics
/// and spans), then one `ServiceBuilder` in one `Router::layer`. With `count`, poll counters
/// sit between the layers.
fn readme_stack(routes: Router, count: bool) -> Router {
    let (metrics, health) = registries();
    let routes = routes.route_service("/metrics", metrics.exposition());
    let health = pf_health::HealthLayer::new(health).axum_body();
    let id = pf_log_enrich::RequestIdLayer::new();
    let span = pf_log_enrich::RequestSpanLayer::new()
        .exclude_route("/metrics")
        .axum_body();
    let metrics = pf_metrics::HttpMetricsLayer::new(metrics).axum_body();
    if count {
        routes.layer(
            ServiceBuilder::new()
                .layer(health)
                .layer(CountPollsLayer(1))
                .layer(id)
                .layer(CountPollsLayer(2))
                .layer(span)
                .layer(CountPollsLayer(3))
                .layer(metrics)
                .layer(CountPollsLayer(4)),
        )
    } else {
        routes.layer(
            ServiceBuilder::new()
                .layer(health)
                .layer(id)
                .layer(span)
                .layer(metrics),
        )
    }
}

/// The router and subscriber of contender `mode` (one of [`MODES`]); `None` for an unknown
/// name. With `count`, the handler and the whole stack are wrapped in poll counters, the
/// response body in a frame counter, and the subscriber counts spans.
pub fn app(mode: &str, db: Db, count: bool) -> Option<(Router, Dispatch)> {
    let mut routes = routes(db);
    if count {
        routes = routes.layer(CountPollsLayer(5));
    }
    let (app, dispatch) = match mode {
        "bare" => (routes, quiet(count)),
        "pf_metrics" => {
            let metrics = pf_metrics::MetricsRegistry::builder()
                .exclude_route("/metrics")
                .build()
                .expect("metrics registry");
            let routes = routes.route_service("/metrics", metrics.exposition());
            let layer = pf_metrics::HttpMetricsLayer::new(metrics).axum_body();
            (routes.layer(layer), quiet(count))
        }
        "pf_stack" => (readme_stack(routes, count), quiet(count)),
        "pf_stack_json" => (readme_stack(routes, count), pf_json(count, false)),
        "pf_stack_json_nonblocking" => (readme_stack(routes, count), pf_json(count, true)),
        "pf_fused" => (fused_stack(routes), quiet(count)),
        "pf_fused_json" => (fused_stack(routes), pf_json(count, false)),
        "axum_prometheus" => (routes.layer(peers::axum_prometheus_layer()), quiet(count)),
        "tower_http_trace_id_json" => {
            // the peer's own subscriber, plus the span counter when counting
            let dispatch = Dispatch::new(
                tracing_subscriber::registry()
                    .with(EnvFilter::new("info"))
                    .with(peers::fmt_json_layer(dev_null()))
                    .with(count.then_some(CountSpans)),
            );
            (peers::tower_http_layers(routes), dispatch)
        }
        "axum_tracing_otel" => (
            routes
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
            quiet(count),
        ),
        _ => return None,
    };
    let app = if count {
        app.layer(CountPollsLayer(0))
            .layer(tower::util::MapResponseLayer::new(count_body))
    } else {
        app
    };
    Some((app, dispatch))
}
