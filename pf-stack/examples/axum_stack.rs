//! The whole stack in one layer on an axum router.
//!
//! ```sh
//! cargo run -p pf-stack --example axum_stack
//! curl -i localhost:3000/api/v1/users/7; curl localhost:3000/metrics; curl localhost:3000/readyz
//! ```

use axum::{Router, routing::get};
use pf_health::{HealthLayer, HealthRegistry};
use pf_log_enrich::RequestSpanLayer;
use pf_metrics::MetricsRegistry;
use pf_stack::StackLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _logs = pf_log_enrich::init()?;
    let metrics = MetricsRegistry::builder()
        .exclude_route("/metrics")
        .build()?;
    let health = HealthRegistry::builder().build()?;
    let app = Router::new()
        .route(
            "/api/v1/users/{id}",
            get(|| async {
                tracing::info!("looking the user up"); // inside the request span
                "a user"
            }),
        )
        .route_service("/metrics", metrics.exposition())
        .layer(
            StackLayer::new(metrics.clone())
                .health(HealthLayer::new(health.clone()))
                .span(RequestSpanLayer::new().exclude_route("/metrics"))
                .axum_body(),
        );
    health.lifecycle().mark_ready();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
