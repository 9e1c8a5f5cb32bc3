//! PostgreSQL and Redis checks on the application's own pool and connection, with health
//! metrics on pf-metrics' `/metrics`.
//!
//! ```sh
//! DATABASE_URL=postgres://postgres@127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379 \
//!   cargo run -p pf-health --example postgres_redis --features axum,postgres-sqlx,redis,metrics
//! curl 'localhost:3002/readyz?verbose'; curl localhost:3002/metrics | grep pf_health
//! ```

use std::time::Duration;

use pf_health::checks::{PgPoolCheck, RedisCheck};
use pf_health::{CheckOptions, HealthLayer, HealthRegistry, ShowDetails};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // The application's own pool and shared connection: the checks borrow them.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect_lazy(&database_url)?;
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(redis_url)?).await?;

    let options = CheckOptions::new()
        .timeout(Duration::from_millis(800))
        .on_demand(Duration::from_secs(2));
    let health = HealthRegistry::builder()
        .check(
            "postgres",
            PgPoolCheck::new(pool).warn_at_utilization(0.9)?,
            options.clone().failure_threshold(2),
        )
        .check("redis", RedisCheck::new(redis), options.critical(false))
        .build()?;
    let metrics = pf_metrics::MetricsRegistry::new();
    pf_health::metrics::register(&health, &metrics);

    let app = axum::Router::new()
        .route_service("/metrics", metrics.exposition())
        // Details for everyone: this port is internal.
        .layer(HealthLayer::new(health.clone()).show_details(ShowDetails));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://{}", listener.local_addr()?);
    health.lifecycle().mark_ready();
    let shutdown = health
        .lifecycle()
        .drain_on(pf_health::shutdown_signal(), Duration::from_secs(5));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
