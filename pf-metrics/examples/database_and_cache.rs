//! Database and cache calls timed in one line each, Tokio runtime metrics and the
//! scheduling-lag probe, all on the same `/metrics`.
//!
//! ```sh
//! cargo run -p pf-metrics --features tokio --example database_and_cache
//! curl localhost:3000/users/7 && curl localhost:3000/users/7 && curl localhost:3000/metrics
//! ```
//!
//! The "database" and "cache" are in-memory stand-ins so the example runs anywhere; with
//! sqlx or redis the future passed to `time` / `lookup` is the query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::{Router, routing::get};
use pf_metrics::{
    CacheMetrics, HttpMetricsLayer, MetricsRegistry, RepositoryMetrics, RuntimeCollector,
};

#[derive(Clone)]
struct Users {
    repository: RepositoryMetrics,
    cache_metrics: CacheMetrics,
    cache: Arc<Mutex<HashMap<u64, String>>>,
}

impl Users {
    async fn find(&self, id: u64) -> Result<Option<String>, std::io::Error> {
        let cached = self
            .cache_metrics
            .lookup_with_timeout("get", Duration::from_millis(50), async {
                Ok::<_, std::io::Error>(self.cache.lock().unwrap().get(&id).cloned())
            })
            .await;
        if let Ok(Ok(Some(name))) = cached {
            return Ok(Some(name)); // counted as result="hit"
        }
        // A miss, a cache error or a cache timeout: ask the database, bounded too.
        let found = self
            .repository
            .time_with_timeout("find_by_id", Duration::from_secs(2), async {
                tokio::time::sleep(Duration::from_millis(3)).await; // the query
                Ok::<_, std::io::Error>((id <= 100).then(|| format!("user-{id}")))
            })
            .await
            .map_err(std::io::Error::other)??;
        if let Some(name) = &found {
            let _ = self
                .cache_metrics
                .time("set", async {
                    self.cache.lock().unwrap().insert(id, name.clone());
                    Ok::<_, std::io::Error>(())
                })
                .await;
        }
        Ok(found)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let registry = MetricsRegistry::new();
    registry
        .register_collector(RuntimeCollector::current().scheduling_lag(Duration::from_millis(250)));
    let users = Users {
        repository: registry.repository("users"),
        cache_metrics: registry.cache("memory"),
        cache: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/users/{id}",
            get(
                |State(users): State<Users>, Path(id): Path<u64>| async move {
                    match users.find(id).await {
                        Ok(Some(name)) => format!("{name}\n"),
                        Ok(None) => "no such user\n".to_owned(),
                        Err(e) => format!("error: {e}\n"),
                    }
                },
            ),
        )
        .with_state(users)
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
