//! The HTTP metrics pushed to an OpenTelemetry Collector over OTLP/HTTP every 10 s, with
//! the semantic-convention names, while `/metrics` keeps serving Prometheus.
//!
//! ```sh
//! # a collector listening on 127.0.0.1:4318 (OTLP/HTTP), then:
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!   cargo run -p pf-metrics --features otlp --example otlp_push
//! curl localhost:3000/hello
//! ```
//!
//! With the collector down the example keeps serving; `curl localhost:3000/metrics | grep
//! otlp` shows the failed exports.

use std::time::Duration;

use axum::{Router, routing::get};
use pf_metrics::{HttpMetricsLayer, MetricsRegistry, OtlpPush};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = MetricsRegistry::new();
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4318".into());
    let push = OtlpPush::new(&registry, endpoint)
        .interval(Duration::from_secs(10))
        .resource_attribute("service.name", "otlp-push-example")
        .spawn()?;
    let app = Router::new()
        .route("/hello", get(|| async { "hello\n" }))
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // One last export before leaving.
    push.shutdown().await;
    Ok(())
}
