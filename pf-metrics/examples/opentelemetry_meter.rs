//! An application's own OpenTelemetry meter instruments on pf's `/metrics`: one scrape
//! target for pf's HTTP metrics and the app's OpenTelemetry ones.
//!
//! ```sh
//! cargo run -p pf-metrics --features opentelemetry-interop --example opentelemetry_meter
//! curl -X POST localhost:3000/jobs && curl localhost:3000/metrics | grep jobs
//! ```

use axum::{Router, extract::State, routing::post};
use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use pf_metrics::{HttpMetricsLayer, MetricsRegistry, OpenTelemetryCollector};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = MetricsRegistry::new();
    let (reader, collector) = OpenTelemetryCollector::new()?;
    registry.register_collector(collector);
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let jobs: Counter<u64> = provider
        .meter("jobs")
        .u64_counter("jobs.submitted")
        .with_description("Jobs submitted through the API.")
        .build();
    let app = Router::new()
        .route(
            "/jobs",
            post(|State(jobs): State<Counter<u64>>| async move {
                jobs.add(1, &[]);
                "queued\n"
            }),
        )
        .with_state(jobs)
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
