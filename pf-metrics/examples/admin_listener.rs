//! The recommended production setup: the application on the public listener,
//! `/metrics` only on an admin listener (a port only the scraper can reach)
//! and behind a bearer token.
//!
//! ```sh
//! METRICS_TOKEN=$(openssl rand -hex 32) cargo run -p pf-metrics --example admin_listener
//! curl localhost:3000/api/v1/users/42
//! curl -i localhost:3000/metrics                       # 404: not on the public listener
//! curl -i localhost:9464/metrics                       # 401: no token
//! curl -H "Authorization: Bearer $METRICS_TOKEN" localhost:9464/metrics
//! ```
//!
//! Prometheus scrape config for it:
//!
//! ```yaml
//! scrape_configs:
//!   - job_name: app
//!     authorization: { credentials_file: /etc/prometheus/app-metrics-token }
//!     static_configs: [{ targets: ["app-host:9464"] }]
//! ```
//!
//! `PUBLIC_ADDR` and `ADMIN_ADDR` choose the addresses (bind the admin one
//! to a private interface in production). Without `METRICS_TOKEN` the admin
//! listener answers without a token; the token is never printed.

use axum::{Router, extract::Path, routing::get};
use pf_metrics::{HttpMetricsLayer, MetricsRegistry};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let registry = MetricsRegistry::new();

    // Public: the application, recorded; no `/metrics` route at all.
    let public = Router::new()
        .route(
            "/api/v1/users/{id}",
            get(|Path(id): Path<u64>| async move { format!("user {id}\n") }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));

    // Admin: only `/metrics`, with a bearer token when one is configured.
    let mut metrics = registry.exposition();
    let token = std::env::var("METRICS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if let Some(token) = &token {
        metrics = metrics.bearer_token(token).map_err(std::io::Error::other)?;
    }
    let admin = Router::new().route_service("/metrics", metrics);

    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let public_listener =
        tokio::net::TcpListener::bind(var("PUBLIC_ADDR", "127.0.0.1:3000")).await?;
    let admin_listener = tokio::net::TcpListener::bind(var("ADMIN_ADDR", "127.0.0.1:9464")).await?;
    println!("public on http://{}", public_listener.local_addr()?);
    println!(
        "metrics on http://{}/metrics ({})",
        admin_listener.local_addr()?,
        if token.is_some() {
            "bearer token required"
        } else {
            "no token: set METRICS_TOKEN"
        }
    );
    tokio::try_join!(
        async { axum::serve(public_listener, public).await },
        async { axum::serve(admin_listener, admin).await },
    )?;
    Ok(())
}
