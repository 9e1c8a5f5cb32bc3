//! Storage of the demo: an in-memory repository and cache by default,
//! PostgreSQL and Redis when their URLs are given.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Repository and cache behind one cheap handle.
#[derive(Clone)]
pub struct Store {
    repo: Arc<Repository>,
    cache: Arc<Cache>,
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

/// Users 1..=100 exist in every backend.
const SEEDED_USERS: i64 = 100;
const CACHE_TTL: Duration = Duration::from_secs(30);

fn seeded_user(id: i64) -> Option<User> {
    (1..=SEEDED_USERS).contains(&id).then(|| User {
        id,
        name: format!("user-{id}"),
        org_id: (id % 10).to_string(),
    })
}

impl Store {
    /// Connects to PostgreSQL / Redis when URLs are given; errors never echo the URL.
    pub async fn connect(
        database_url: Option<&str>,
        redis_url: Option<&str>,
    ) -> Result<Self, Error> {
        let repo = match database_url {
            None => Repository::Memory(Mutex::new(MemoryRepo::default())),
            Some(url) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(10)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot connect to PostgreSQL (DATABASE_URL): {}",
                            sanitize(&e)
                        )
                    })?;
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS pf_demo_projects (
                        id BIGSERIAL PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL)",
                )
                .execute(&pool)
                .await?;
                Repository::Postgres(pool)
            }
        };
        let cache = match redis_url {
            None => Cache::Memory(Mutex::new(HashMap::new())),
            Some(url) => {
                let client = redis::Client::open(url)
                    .map_err(|e| format!("invalid REDIS_URL: {}", sanitize(&e)))?;
                let manager = redis::aio::ConnectionManager::new(client)
                    .await
                    .map_err(|e| {
                        format!("cannot connect to Redis (REDIS_URL): {}", sanitize(&e))
                    })?;
                Cache::Redis(manager)
            }
        };
        Ok(Self {
            repo: Arc::new(repo),
            cache: Arc::new(cache),
        })
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
    #[allow(dead_code)]
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &*self.repo {
            Repository::Postgres(p) => Some(p),
            Repository::Memory(_) => None,
        }
    }

    /// The Redis connection, when configured (for health checks).
    #[allow(dead_code)]
    pub fn redis(&self) -> Option<&redis::aio::ConnectionManager> {
        match &*self.cache {
            Cache::Redis(c) => Some(c),
            Cache::Memory(_) => None,
        }
    }

    /// A user by ID, read through the cache.
    pub async fn user(&self, id: i64) -> Result<Option<User>, Error> {
        let key = format!("pf-demo:user:{id}");
        if let Some(json) = self.cache_get(&key).await? {
            return Ok(serde_json::from_str(&json)
                .ok()
                .map(|v: serde_json::Value| User {
                    id,
                    name: v["name"].as_str().unwrap_or_default().to_owned(),
                    org_id: v["org_id"].as_str().unwrap_or_default().to_owned(),
                }));
        }
        let user = match &*self.repo {
            Repository::Memory(_) => seeded_user(id),
            Repository::Postgres(pool) => {
                // The seed lives in SQL so the query really runs.
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT g FROM generate_series(1, $2::bigint) g WHERE g = $1")
                        .bind(id)
                        .bind(SEEDED_USERS)
                        .fetch_optional(pool)
                        .await?;
                row.and_then(|(id,)| seeded_user(id))
            }
        };
        if let Some(u) = &user {
            self.cache_set(&key, &serde_json::to_string(u)?).await?;
        }
        Ok(user)
    }

    /// Projects of an organization.
    pub async fn projects(&self, org_id: &str) -> Result<Vec<Project>, Error> {
        match &*self.repo {
            Repository::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .projects
                .iter()
                .filter(|p| p.org_id == org_id)
                .cloned()
                .collect()),
            Repository::Postgres(pool) => {
                let rows: Vec<(i64, String, String)> = sqlx::query_as(
                    "SELECT id, org_id, name FROM pf_demo_projects WHERE org_id = $1 ORDER BY id",
                )
                .bind(org_id)
                .fetch_all(pool)
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
        match &*self.repo {
            Repository::Memory(m) => {
                let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
                let project = Project {
                    id: m.projects.len() as i64 + 1,
                    org_id: org_id.to_owned(),
                    name: name.to_owned(),
                };
                m.projects.push(project.clone());
                Ok(project)
            }
            Repository::Postgres(pool) => {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO pf_demo_projects (org_id, name) VALUES ($1, $2) RETURNING id",
                )
                .bind(org_id)
                .bind(name)
                .fetch_one(pool)
                .await?;
                Ok(Project {
                    id,
                    org_id: org_id.to_owned(),
                    name: name.to_owned(),
                })
            }
        }
    }

    async fn cache_get(&self, key: &str) -> Result<Option<String>, Error> {
        match &*self.cache {
            Cache::Memory(m) => {
                let m = m.lock().unwrap_or_else(|p| p.into_inner());
                Ok(m.get(key)
                    .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                    .map(|(v, _)| v.clone()))
            }
            Cache::Redis(c) => Ok(c.clone().get(key).await?),
        }
    }

    async fn cache_set(&self, key: &str, value: &str) -> Result<(), Error> {
        match &*self.cache {
            Cache::Memory(m) => {
                m.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.to_owned(), (value.to_owned(), Instant::now()));
                Ok(())
            }
            Cache::Redis(c) => Ok(c.clone().set_ex(key, value, CACHE_TTL.as_secs()).await?),
        }
    }
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
