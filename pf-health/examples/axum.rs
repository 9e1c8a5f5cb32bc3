//! Probes in front of an axum app, with drain on shutdown.
//!
//! ```sh
//! cargo run -p pf-health --example axum --features axum
//! curl -i localhost:3001/readyz; curl -H 'authorization: Bearer ops' 'localhost:3001/health'
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pf_health::{BearerToken, CheckOptions, CheckResult, HealthLayer, HealthRegistry, check_fn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue_depth = Arc::new(AtomicU64::new(3));
    let depth = queue_depth.clone();
    let registry = HealthRegistry::builder()
        .check(
            "queue",
            check_fn(move || {
                let depth = depth.load(Ordering::Relaxed);
                async move {
                    let result = if depth > 1000 {
                        CheckResult::warn("queue backing up")
                    } else {
                        CheckResult::pass()
                    };
                    result.observe("depth", depth, None)
                }
            }),
            CheckOptions::new()
                .periodic(Duration::from_secs(5))
                .jitter(Duration::from_millis(500)),
        )
        .on_status_change(|change| eprintln!("{} is now {}", change.check, change.current))
        .build()?;

    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "hello" }))
        .layer(HealthLayer::new(registry.clone()).show_details(BearerToken::new("ops")?));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    registry.lifecycle().mark_ready();
    let shutdown = registry
        .lifecycle()
        .drain_on(pf_health::shutdown_signal(), Duration::from_secs(5));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
