//! R_db: a keep-alive HTTP/1.1 loopback request whose handler runs one PostgreSQL query
//! (sqlx) and one Redis GET (redis, `ConnectionManager`), as a typical API request does, served
//! by the bare router and by the whole pf stack, without output and writing one JSON access line
//! per request (`pf_stack`, `pf_stack_json`, built as `pf_benches::pf_stack` and `json_dispatch`).
//! Client, server and both database clients run on one current-thread runtime thread; the
//! PostgreSQL and Redis servers are other processes, so each request is measured both in
//! this thread's CPU time and in wall time.
//!
//! Interleaved like the `paired` bench: round after round, each contender (alternating which
//! goes first) sends a short batch of requests on its own keep-alive connection; the added
//! cost is the median of the per-round differences, so drift from other load cancels.
//!
//! Needs the local PostgreSQL (`postgres://postgres@127.0.0.1:5432/test`, trust auth) and
//! Redis (`redis://127.0.0.1:6379`) of DESIGN.md §7; `PF_BENCH_DATABASE_URL` and
//! `PF_BENCH_REDIS_URL` override them. The query is `SELECT $1::int8 + 1` (touches no table);
//! the Redis key is this process's own (`pf-bench:loopback_db:<pid>:<nanos>`, set with a
//! 10-minute expiry and deleted at the end). Every connect and query runs under a timeout;
//! an unreachable server panics with a message naming it.
//!
//! `cargo bench -p pf-benches --bench loopback_db` prints the numbers; with
//! `PF_LOOPBACK_DB_OUT=<file>` it also writes them as JSON (used by `scripts/bench`). Under
//! `cargo test` it runs three short rounds.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use pf_benches::cpu_time::thread_cpu_ns;
use serde::Serialize;
use tokio::time::timeout;
use tracing::Dispatch;

/// Requests per contender per round.
const BATCH: u64 = 4;

/// Connecting to PostgreSQL or Redis.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One query or command (generous: the machine may be loaded; a healthy call takes ~100 µs).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One loopback request, handler included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The query every request runs: one round trip, no table.
const SQL: &str = "SELECT $1::int8 + 1";

/// What the handler needs: a pool of one PostgreSQL connection and a Redis connection.
#[derive(Clone)]
struct Db {
    pool: sqlx::PgPool,
    redis: redis::aio::ConnectionManager,
    key: Arc<str>,
}

#[derive(Serialize)]
struct UserRow {
    id: i64,
    next: i64,
    name: String,
}

type HandlerError = (StatusCode, String);

fn failed(what: String) -> HandlerError {
    (StatusCode::INTERNAL_SERVER_ERROR, what)
}

/// `GET /api/v1/users/{id}`: one PostgreSQL query, one Redis GET, a small JSON body.
async fn user(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<UserRow>, HandlerError> {
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
    let name = name.ok_or_else(|| failed(format!("Redis key {} is missing", db.key)))?;
    Ok(Json(UserRow { id, next, name }))
}

fn db_routes(db: Db) -> Router {
    Router::new()
        .route("/api/v1/users/{id}", get(user))
        .with_state(db)
}

/// The whole pf stack as `pf_benches::pf_stack` applies it (health in front, request ID,
/// request span, metrics), around the database route.
fn pf_stack_db(db: Db) -> Router {
    db_routes(db)
        .layer(pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()).axum_body())
        .layer(pf_log_enrich::RequestSpanLayer::new().axum_body())
        .layer(pf_log_enrich::RequestIdLayer::new())
        .layer(pf_health::HealthLayer::new(pf_benches::health_registry()).axum_body())
}

/// Four no-op layers, each applied with `Router::layer` (the floor of `pf_stack_db`).
fn noop_layers4_db(db: Db) -> Router {
    let noop = tower::layer::util::Identity::new;
    db_routes(db)
        .layer(noop())
        .layer(noop())
        .layer(noop())
        .layer(noop())
}

/// The whole pf stack as the README composes it: one `ServiceBuilder`, one `Router::layer`.
fn pf_stack_one_layer_db(db: Db) -> Router {
    db_routes(db).layer(
        tower::ServiceBuilder::new()
            .layer(pf_health::HealthLayer::new(pf_benches::health_registry()).axum_body())
            .layer(pf_log_enrich::RequestIdLayer::new())
            .layer(pf_log_enrich::RequestSpanLayer::new().axum_body())
            .layer(
                pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()).axum_body(),
            ),
    )
}

/// A contender: the router served by axum on a free 127.0.0.1 port, one keep-alive HTTP/1.1
/// connection to it, and the subscriber its requests run under.
struct Contender {
    name: &'static str,
    dispatch: Dispatch,
    client: pf_benches::LoopbackClient,
}

impl Contender {
    async fn start(name: &'static str, app: Router, dispatch: Dispatch) -> Self {
        Contender {
            name,
            dispatch,
            client: pf_benches::LoopbackClient::start(app).await,
        }
    }

    async fn request(&mut self) {
        let (status, body) = timeout(REQUEST_TIMEOUT, self.client.get_user())
            .await
            .unwrap_or_else(|_| {
                panic!("{}: request timed out after {REQUEST_TIMEOUT:?}", self.name)
            });
        assert!(
            status == StatusCode::OK,
            "{}: the handler failed ({status}): {}",
            self.name,
            String::from_utf8_lossy(&body)
        );
        std::hint::black_box(body);
    }

    /// Sends `BATCH` requests under the contender's subscriber; (CPU ns, wall ns) per request.
    fn batch(&mut self, rt: &tokio::runtime::Runtime) -> [f64; 2] {
        let dispatch = self.dispatch.clone();
        tracing::dispatcher::with_default(&dispatch, || {
            rt.block_on(async {
                let (cpu, wall) = (thread_cpu_ns(), Instant::now());
                for _ in 0..BATCH {
                    self.request().await;
                }
                let n = BATCH as f64;
                [
                    (thread_cpu_ns() - cpu) as f64 / n,
                    wall.elapsed().as_nanos() as f64 / n,
                ]
            })
        })
    }
}

async fn connect_postgres(url: &str) -> sqlx::PgPool {
    let hint = "the loopback_db bench needs the local PostgreSQL (DESIGN.md §7; \
                PF_BENCH_DATABASE_URL overrides the URL)";
    let pool = timeout(
        CONNECT_TIMEOUT,
        sqlx::postgres::PgPoolOptions::new()
            // one connection, used by one request at a time; no ping before each use, so a
            // request is exactly one round trip to PostgreSQL
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(url),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("PostgreSQL at {url}: no connection within {CONNECT_TIMEOUT:?}; {hint}")
    })
    .unwrap_or_else(|e| panic!("PostgreSQL at {url} is unreachable: {e}; {hint}"));
    let two: i64 = timeout(
        CALL_TIMEOUT,
        sqlx::query_scalar(SQL).bind(1_i64).fetch_one(&pool),
    )
    .await
    .unwrap_or_else(|_| panic!("PostgreSQL at {url}: first query timed out; {hint}"))
    .unwrap_or_else(|e| panic!("PostgreSQL at {url}: first query failed: {e}; {hint}"));
    assert_eq!(two, 2);
    pool
}

async fn connect_redis(url: &str) -> redis::aio::ConnectionManager {
    let hint = "the loopback_db bench needs the local Redis (DESIGN.md §7; \
                PF_BENCH_REDIS_URL overrides the URL)";
    let client =
        redis::Client::open(url).unwrap_or_else(|e| panic!("invalid Redis URL {url}: {e}; {hint}"));
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(CALL_TIMEOUT))
        .set_number_of_retries(1);
    timeout(
        CONNECT_TIMEOUT,
        redis::aio::ConnectionManager::new_with_config(client, config),
    )
    .await
    .unwrap_or_else(|_| panic!("Redis at {url}: no connection within {CONNECT_TIMEOUT:?}; {hint}"))
    .unwrap_or_else(|e| panic!("Redis at {url} is unreachable: {e}; {hint}"))
}

/// Runs one Redis command on our own key under the call timeout.
async fn redis_call<T: redis::FromRedisValue>(
    redis: &redis::aio::ConnectionManager,
    cmd: &redis::Cmd,
    what: &str,
) -> T {
    let mut redis = redis.clone();
    timeout(CALL_TIMEOUT, cmd.query_async(&mut redis))
        .await
        .unwrap_or_else(|_| panic!("Redis {what} timed out after {CALL_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("Redis {what} failed: {e}"))
}

use pf_benches::median;

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let (warm_up, rounds): (u64, usize) = if bench_mode { (200, 5_000) } else { (3, 3) };
    let database_url = std::env::var("PF_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url =
        std::env::var("PF_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let key: Arc<str> = format!("pf-bench:loopback_db:{}:{nanos}", std::process::id()).into();
    let db = rt.block_on(async {
        let pool = connect_postgres(&database_url).await;
        let redis = connect_redis(&redis_url).await;
        // our own key, expiring on its own should this process die before deleting it
        let set = redis::cmd("SET")
            .arg(&*key)
            .arg("Ada Lovelace")
            .arg("EX")
            .arg(600)
            .clone();
        let () = redis_call(&redis, &set, "SET").await;
        Db { pool, redis, key }
    });

    let mut contenders = rt.block_on(async {
        [
            Contender::start("bare", db_routes(db.clone()), pf_benches::quiet_dispatch()).await,
            // axum's floor for a four-layer stack: what layering alone costs on this request
            Contender::start(
                "noop_layers4",
                noop_layers4_db(db.clone()),
                pf_benches::quiet_dispatch(),
            )
            .await,
            Contender::start(
                "pf_stack",
                pf_stack_db(db.clone()),
                pf_benches::quiet_dispatch(),
            )
            .await,
            Contender::start(
                "pf_stack_json",
                pf_stack_db(db.clone()),
                pf_benches::json_dispatch(),
            )
            .await,
            // the same stack with tracing switched off: what is not the subscriber's work
            Contender::start(
                "pf_stack_no_subscriber",
                pf_stack_db(db.clone()),
                tracing::Dispatch::none(),
            )
            .await,
            // each layer alone, in its own `Router::layer` call
            Contender::start(
                "request_id_only",
                db_routes(db.clone()).layer(pf_log_enrich::RequestIdLayer::new()),
                pf_benches::quiet_dispatch(),
            )
            .await,
            Contender::start(
                "span_only",
                db_routes(db.clone()).layer(pf_log_enrich::RequestSpanLayer::new().axum_body()),
                pf_benches::quiet_dispatch(),
            )
            .await,
            Contender::start(
                "metrics_only",
                db_routes(db.clone()).layer(
                    pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())
                        .axum_body(),
                ),
                pf_benches::quiet_dispatch(),
            )
            .await,
            // the README's composition: the whole stack in one `Router::layer` call
            Contender::start(
                "pf_stack_one_layer_json",
                pf_stack_one_layer_db(db.clone()),
                pf_benches::json_dispatch(),
            )
            .await,
        ]
    });
    let n = contenders.len();

    // Warm-up: connections, prepared statement, series, caches.
    for c in &mut contenders {
        for _ in 0..warm_up.div_ceil(BATCH) {
            c.batch(&rt);
        }
    }

    // per_round[r][i] = [CPU ns, wall ns] per request of contender i in round r
    let mut per_round = vec![vec![[0.0f64; 2]; n]; rounds];
    let (mut order, mut rng): (Vec<usize>, u64) = ((0..n).collect(), 0x9E37_79B9_7F4A_7C15);
    for row in per_round.iter_mut() {
        // A fresh order every round, as in the paired bench.
        pf_benches::shuffle(&mut order, &mut rng);
        for &i in &order {
            row[i] = contenders[i].batch(&rt);
        }
    }

    let del = redis::cmd("DEL").arg(&*db.key).clone();
    let deleted: u64 = rt.block_on(redis_call(&db.redis, &del, "DEL"));
    assert_eq!(
        deleted, 1,
        "the bench's own Redis key {} was not there",
        db.key
    );

    // [CPU, wall]: the contender's own median and the median of its same-round differences to bare
    let median_of = |f: &dyn Fn(&Vec<[f64; 2]>) -> f64| {
        median(&mut per_round.iter().map(f).collect::<Vec<_>>())
    };
    let own = |i: usize| [0, 1].map(|m| median_of(&|row| row[i][m]));
    let added = |i: usize| [0, 1].map(|m| median_of(&|row| row[i][m] - row[0][m]));
    let [bare_cpu, bare_wall] = own(0);
    println!(
        "R_db: one PostgreSQL query ({SQL}) + one Redis GET per keep-alive loopback request; \
         {rounds} rounds of {BATCH} requests per contender"
    );
    println!(
        "{:<16}{:>12}{:>12}{:>14}{:>14}{:>12}{:>12}",
        "contender", "CPU ns", "wall ns", "added CPU", "added wall", "% CPU", "% wall"
    );
    let mut json = format!(
        "{{\n  \"rounds\": {rounds},\n  \"batch\": {BATCH},\n  \"query\": \"{SQL}\",\n  \"contenders\": {{\n"
    );
    for (i, c) in contenders.iter().enumerate() {
        let [cpu, wall] = own(i);
        let [added_cpu, added_wall] = added(i);
        println!(
            "{:<16}{cpu:>12.0}{wall:>12.0}{added_cpu:>+14.0}{added_wall:>+14.0}{:>11.2}%{:>11.2}%",
            c.name,
            100.0 * added_cpu / bare_cpu,
            100.0 * added_wall / bare_wall,
        );
        let comma = if i + 1 < n { "," } else { "" };
        writeln!(
            json,
            "    \"{}\": {{\"cpu\": {cpu:.1}, \"wall\": {wall:.1}, \"over_bare_cpu\": {added_cpu:.1}, \
             \"over_bare_wall\": {added_wall:.1}}}{comma}",
            c.name
        )
        .unwrap();
    }
    json.push_str("  }\n}\n");
    if let Some(path) = std::env::var_os("PF_LOOPBACK_DB_OUT") {
        std::fs::write(path, json).expect("write PF_LOOPBACK_DB_OUT");
    }
}
