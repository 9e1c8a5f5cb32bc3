//! A tuned registry: a prefix, a constant label, SLO-aligned buckets, status
//! classes, a series cap, excluded routes and OpenTelemetry names. Prints the
//! exposition after a few in-process requests.
//!
//! ```sh
//! cargo run -p pf-metrics --example custom_config
//! ```

use axum::body::Body;
use axum::http::Request;
use axum::{Router, routing::get};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, Naming, Timing};
use tower::ServiceExt;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = MetricsRegistry::builder()
        .naming(Naming::OpenTelemetry)
        .prefix("shop")?
        .const_label("service", "checkout")?
        .duration_buckets([0.05, 0.1, 0.25, 0.5, 1.0])?
        .group_status(true)
        .timing(Timing::Headers)
        .max_series(500)
        .exclude_route("/internal/*")
        .build()?;
    let app = Router::new()
        .route("/cart/{id}", get(|| async { "cart" }))
        .route("/internal/ping", get(|| async { "pong" }))
        .layer(HttpMetricsLayer::new(registry.clone()))
        .with_state(());
    for uri in ["/cart/1", "/cart/2", "/internal/ping", "/nope"] {
        app.clone()
            .oneshot(Request::get(uri).body(Body::empty())?)
            .await?;
    }
    print!("{}", registry.encode(Format::OpenMetrics));
    Ok(())
}
