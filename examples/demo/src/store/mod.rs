//! Storage of the demo: an in-memory repository and cache by default,
//! PostgreSQL and Redis when their URLs are given.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pf_health::breaker::CircuitBreaker;
use pf_log_enrich::db::DbOperation;
use pf_log_enrich::limit::WarnLimiter;
use pf_metrics::{CacheMetrics, MetricsRegistry, RepositoryMetrics};
use redis::AsyncCommands;
use serde::Serialize;

/// A user of the platform.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub org_id: String,
}

/// A project of an organization.
#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub id: i64,
    pub org_id: String,
    pub name: String,
}

mod breakers;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Repository and cache behind one cheap handle.
#[derive(Clone)]
pub struct Store {
    repo: Arc<Repository>,
    cache: Arc<Cache>,
    instruments: Arc<Instruments>,
}

enum Repository {
    Memory(Mutex<MemoryRepo>),
    Postgres(sqlx::PgPool),
}

#[derive(Default)]
struct MemoryRepo {
    projects: Vec<Project>,
}

enum Cache {
    Memory(Mutex<HashMap<String, (String, Instant)>>),
    Redis(redis::aio::ConnectionManager),
}

/// The demo's repository and cache metrics, circuit breakers and the cache-failure log
/// limiter.
struct Instruments {
    users: RepositoryMetrics,
    projects: RepositoryMetrics,
    cache: CacheMetrics,
    /// Fails PostgreSQL calls at once while PostgreSQL cannot be reached.
    pg_breaker: CircuitBreaker,
    /// Skips Redis while Redis cannot be reached (the database answers instead).
    redis_breaker: CircuitBreaker,
    cache_warnings: WarnLimiter,
}

/// Users 1..=100 exist in every backend.
const SEEDED_USERS: i64 = 100;
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Every database call is bounded: a hung PostgreSQL fails the request instead of hanging it.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// Getting a connection (from the pool, or a new one) is bounded much tighter than the query:
/// a PostgreSQL that refuses or does not answer connections fails the call in this time, and
/// the circuit breaker then fails the next ones at once.
const DB_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Every cache call is bounded tighter: a frozen Redis degrades to the database.
const CACHE_TIMEOUT: Duration = Duration::from_millis(250);
/// At most one cache-failure log line per interval (the metric counts every failure).
const CACHE_FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// A dependency error that retrying cannot fix (wrong password, unknown database, bad URL).
#[derive(Debug)]
pub struct Misconfigured(pub String);

impl std::fmt::Display for Misconfigured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misconfigured {}

fn seeded_user(id: i64) -> Option<User> {
    (1..=SEEDED_USERS).contains(&id).then(|| User {
        id,
        name: format!("user-{id}"),
        org_id: (id % 10).to_string(),
    })
}

impl Store {
    /// Builds the store without connecting: PostgreSQL and Redis connect on first use
    /// ([`Store::connect`] waits for them). Only an unusable URL fails here; errors never
    /// echo the URL.
    pub fn open(
        database_url: Option<&str>,
        redis_url: Option<&str>,
        metrics: &MetricsRegistry,
    ) -> Result<Self, Misconfigured> {
        let repo = match database_url {
            None => Repository::Memory(Mutex::new(MemoryRepo::default())),
            Some(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(DB_CONNECT_TIMEOUT)
                    .connect_lazy(url)
                    .map_err(|e| {
                        Misconfigured(format!("invalid DATABASE_URL: {}", sanitize(&e)))
                    })?;
                Repository::Postgres(pool)
            }
        };
        let cache = match redis_url {
            None => Cache::Memory(Mutex::new(HashMap::new())),
            Some(url) => {
                let client = redis::Client::open(url)
                    .map_err(|e| Misconfigured(format!("invalid REDIS_URL: {}", sanitize(&e))))?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(CACHE_TIMEOUT))
                    .set_number_of_retries(1);
                let manager = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| {
                    Misconfigured(format!("invalid REDIS_URL: {}", sanitize(&e)))
                })?;
                Cache::Redis(manager)
            }
        };
        let cache_type = match cache {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        };
        Ok(Self {
            repo: Arc::new(repo),
            cache: Arc::new(cache),
            instruments: Arc::new(Instruments {
                users: metrics.repository("users"),
                projects: metrics.repository("projects"),
                cache: metrics.cache(cache_type),
                pg_breaker: breaker("postgres"),
                redis_breaker: breaker("redis"),
                cache_warnings: WarnLimiter::new(CACHE_FAILURE_LOG_INTERVAL),
            }),
        })
    }

    /// Waits until PostgreSQL and Redis answer, retrying with backoff (0.25 s doubling to
    /// 5 s) and logging each failed attempt with its reason; then creates the demo's table.
    /// Returns [`Misconfigured`] at once for errors no retry can fix.
    pub async fn connect(&self) -> Result<(), Misconfigured> {
        let mut delay = Duration::from_millis(250);
        loop {
            match self.try_connect().await {
                Ok(()) => return Ok(()),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(reason)) => {
                    tracing::warn!(reason = %reason, retry_in_ms = delay.as_millis() as u64, "dependency not ready");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn try_connect(&self) -> Result<(), Attempt> {
        if let Repository::Postgres(pool) = &*self.repo {
            let created = tokio::time::timeout(
                DB_TIMEOUT,
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS pf_demo_projects (
                        id BIGSERIAL PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL)",
                )
                .execute(pool),
            )
            .await;
            match created {
                Err(_) => return Err(Attempt::Retry("PostgreSQL did not answer in time".into())),
                Ok(Err(e)) if pg_is_permanent(&e) => {
                    return Err(Attempt::Fatal(Misconfigured(format!(
                        "PostgreSQL refused the configuration (DATABASE_URL): {}",
                        sanitize(&e)
                    ))));
                }
                Ok(Err(e)) => {
                    return Err(Attempt::Retry(format!("PostgreSQL: {}", sanitize(&e))));
                }
                Ok(Ok(_)) => {}
            }
        }
        if let Cache::Redis(connection) = &*self.cache {
            let pong = tokio::time::timeout(
                Duration::from_secs(2),
                redis::cmd("PING").query_async::<String>(&mut connection.clone()),
            )
            .await;
            match pong {
                Err(_) => return Err(Attempt::Retry("Redis did not answer in time".into())),
                Ok(Err(e)) if redis_is_permanent(&e) => {
                    return Err(Attempt::Fatal(Misconfigured(format!(
                        "Redis refused the configuration (REDIS_URL): {}",
                        sanitize(&e)
                    ))));
                }
                Ok(Err(e)) => return Err(Attempt::Retry(format!("Redis: {}", sanitize(&e)))),
                Ok(Ok(_)) => {}
            }
        }
        Ok(())
    }

    /// "memory" or "postgres".
    pub fn repository_kind(&self) -> &'static str {
        match *self.repo {
            Repository::Memory(_) => "memory",
            Repository::Postgres(_) => "postgres",
        }
    }

    /// "memory" or "redis".
    pub fn cache_kind(&self) -> &'static str {
        match *self.cache {
            Cache::Memory(_) => "memory",
            Cache::Redis(_) => "redis",
        }
    }

    /// The PostgreSQL pool, when configured (for health checks).
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &*self.repo {
            Repository::Postgres(p) => Some(p),
            Repository::Memory(_) => None,
        }
    }

    /// The Redis connection, when configured (for health checks).
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        match &*self.cache {
            Cache::Redis(c) => Some(c),
            Cache::Memory(_) => None,
        }
    }

    /// A user by ID, read through the cache. A cache that fails or does not answer in
    /// time is skipped: the user comes from the database.
    pub async fn user(&self, id: i64) -> Result<Option<User>, Error> {
        let key = format!("pf-demo:user:{id}");
        let cached = self.cache_get(&key).await;
        if let CacheRead::Hit(json) = cached {
            return Ok(serde_json::from_str(&json)
                .ok()
                .map(|v: serde_json::Value| User {
                    id,
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    org_id: v["org_id"].as_str().unwrap_or_default().to_owned(),
                }));
        }
        let users = &self.instruments.users;
        let user = match &*self.repo {
            Repository::Memory(_) => {
                users
                    .time("find_by_id", async { Ok::<_, Error>(seeded_user(id)) })
                    .await?
            }
            Repository::Postgres(pool) => {
                // The seed lives in SQL so the query really runs.
                const SQL: &str = "SELECT g FROM generate_series(1, $2::bigint) g WHERE g = $1";
                let query = sqlx::query_as::<_, (i64,)>(SQL)
                    .bind(id)
                    .bind(SEEDED_USERS)
                    .fetch_optional(pool);
                let row = self
                    .pg(users, "find_by_id", SQL, pool, query, |r| {
                        Some(r.is_some().into())
                    })
                    .await?;
                row.and_then(|(id,)| seeded_user(id))
            }
        };
        // After a failed read the cache is not asked again in this request: a frozen Redis
        // costs one timeout, not two.
        if let (Some(u), CacheRead::Miss) = (&user, cached) {
            self.cache_set(&key, &serde_json::to_string(u)?).await;
        }
        Ok(user)
    }

    /// Projects of an organization.
    pub async fn projects(&self, org_id: &str) -> Result<Vec<Project>, Error> {
        let projects = &self.instruments.projects;
        match &*self.repo {
            Repository::Memory(m) => {
                projects
                    .time("list_by_org", async {
                        Ok(m.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .projects
                            .iter()
                            .filter(|p| p.org_id == org_id)
                            .cloned()
                            .collect())
                    })
                    .await
            }
            Repository::Postgres(pool) => {
                const SQL: &str =
                    "SELECT id, org_id, name FROM pf_demo_projects WHERE org_id = $1 ORDER BY id";
                let query = sqlx::query_as::<_, (i64, String, String)>(SQL)
                    .bind(org_id)
                    .fetch_all(pool);
                let rows = self
                    .pg(projects, "list_by_org", SQL, pool, query, |r| {
                        Some(r.len() as u64)
                    })
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, org_id, name)| Project { id, org_id, name })
                    .collect())
            }
        }
    }

    /// Creates a project in an organization.
    pub async fn create_project(&self, org_id: &str, name: &str) -> Result<Project, Error> {
        let projects = &self.instruments.projects;
        match &*self.repo {
            Repository::Memory(m) => {
                projects
                    .time("insert", async {
                        let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
                        let project = Project {
                            id: m.projects.len() as i64 + 1,
                            org_id: org_id.to_owned(),
                            name: name.to_owned(),
                        };
                        m.projects.push(project.clone());
                        Ok(project)
                    })
                    .await
            }
            Repository::Postgres(pool) => {
                const SQL: &str =
                    "INSERT INTO pf_demo_projects (org_id, name) VALUES ($1, $2) RETURNING id";
                let query = sqlx::query_as::<_, (i64,)>(SQL)
                    .bind(org_id)
                    .bind(name)
                    .fetch_one(pool);
                let (id,) = self
                    .pg(projects, "insert", SQL, pool, query, |_| Some(1))
                    .await?;
                Ok(Project {
                    id,
                    org_id: org_id.to_owned(),
                    name: name.to_owned(),
                })
            }
        }
    }

    /// A cached value: a hit, a miss, or a failure (counted and logged; the breaker skips a
    /// Redis that cannot be reached).
    async fn cache_get(&self, key: &str) -> CacheRead {
        let cache = &self.instruments.cache;
        let found = match &*self.cache {
            Cache::Memory(m) => cache
                .lookup("get", async {
                    let m = m.lock().unwrap_or_else(|p| p.into_inner());
                    Ok::<_, Error>(
                        m.get(key)
                            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                            .map(|(v, _)| v.clone()),
                    )
                })
                .await
                .map_err(|e| e.to_string()),
            Cache::Redis(c) => {
                let mut c = c.clone();
                self.redis_call(|| async move {
                    let get = DbOperation::cache("redis", "GET", key)
                        .run(c.get::<_, Option<String>>(key), |_| None);
                    cache.lookup_with_timeout("get", CACHE_TIMEOUT, get).await
                })
                .await
            }
        };
        match found {
            Ok(Some(v)) => CacheRead::Hit(v),
            Ok(None) => CacheRead::Miss,
            Err(reason) => {
                self.cache_failed("get", &reason);
                CacheRead::Failed
            }
        }
    }

    /// Stores a value; a cache failure is counted and logged, never the request's error.
    async fn cache_set(&self, key: &str, value: &str) {
        let cache = &self.instruments.cache;
        let stored = match &*self.cache {
            Cache::Memory(m) => cache
                .time("set", async {
                    m.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key.to_owned(), (value.to_owned(), Instant::now()));
                    Ok::<_, Error>(())
                })
                .await
                .map_err(|e| e.to_string()),
            Cache::Redis(c) => {
                let mut c = c.clone();
                self.redis_call(|| async move {
                    let set = DbOperation::cache("redis", "SET", key).run(
                        c.set_ex::<_, _, ()>(key, value, CACHE_TTL.as_secs()),
                        |_| None,
                    );
                    cache.time_with_timeout("set", CACHE_TIMEOUT, set).await
                })
                .await
            }
        };
        if let Err(reason) = stored {
            self.cache_failed("set", &reason);
        }
    }

    /// Logs a cache failure at most once per [`CACHE_FAILURE_LOG_INTERVAL`] (the line says how
    /// many it held back).
    fn cache_failed(&self, operation: &str, reason: &str) {
        if let Some(suppressed) = self.instruments.cache_warnings.allow() {
            tracing::warn!(
                cache.operation = operation,
                reason = %reason,
                warnings_suppressed = suppressed,
                "cache unavailable, serving from the database (logged at most every 30 s; pivotal_cache_operations_total counts every failure)"
            );
        }
    }

    /// The circuit breakers of the configured dependencies (for health and metrics).
    pub fn breakers(&self) -> Vec<CircuitBreaker> {
        let mut breakers = Vec::new();
        if let Repository::Postgres(_) = &*self.repo {
            breakers.push(self.instruments.pg_breaker.clone());
        }
        if let Cache::Redis(_) = &*self.cache {
            breakers.push(self.instruments.redis_breaker.clone());
        }
        breakers
    }
}

/// What a cache read found.
enum CacheRead {
    Hit(String),
    Miss,
    /// The cache failed or was skipped: do not write to it in this request.
    Failed,
}

/// A breaker named `name`: `PF_DEMO_BREAKER_THRESHOLD` consecutive connection failures
/// (default 5) open it for `PF_DEMO_BREAKER_COOL_DOWN_MS` (default 5000).
fn breaker(name: &str) -> CircuitBreaker {
    let var = |n: &str| {
        std::env::var(n)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    CircuitBreaker::new(name)
        .failure_threshold(var("PF_DEMO_BREAKER_THRESHOLD").map_or(5, |n| n as u32))
        .cool_down(Duration::from_millis(
            var("PF_DEMO_BREAKER_COOL_DOWN_MS").unwrap_or(5000),
        ))
}

enum Attempt {
    Retry(String),
    Fatal(Misconfigured),
}

/// Errors PostgreSQL will return on every retry: bad credentials, unknown database or role.
fn pg_is_permanent(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Configuration(_) => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some("28P01" | "28000" | "3D000" | "42501")
        ),
        _ => false,
    }
}

/// Errors Redis will return on every retry: authentication and client configuration.
fn redis_is_permanent(e: &redis::RedisError) -> bool {
    matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

/// An error message with anything URL-like (which may hold a password) removed.
fn sanitize(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .map(|w| {
            if w.contains("://") || w.contains('@') {
                "<redacted>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
