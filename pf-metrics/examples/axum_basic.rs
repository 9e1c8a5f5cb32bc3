//! The smallest useful setup: one route recorded, `/metrics` served.
//!
//! ```sh
//! cargo run -p pf-metrics --example axum_basic
//! curl localhost:3000/api/v1/users/42 && curl localhost:3000/metrics
//! ```

use axum::{Router, extract::Path, routing::get};
use pf_metrics::{HttpMetricsLayer, MetricsRegistry};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route(
            "/api/v1/users/{id}",
            get(|Path(id): Path<u64>| async move { format!("user {id}\n") }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition());
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
