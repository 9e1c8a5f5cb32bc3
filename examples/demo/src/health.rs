//! pf-health for the demo: PostgreSQL and Redis checks when `DATABASE_URL` / `REDIS_URL`
//! are set, in-memory checks otherwise; health metrics on the demo's `/metrics`; drain on
//! shutdown.

use std::time::Duration;

use pf_health::checks::{PgPoolCheck, RedisCheck};
use pf_health::{
    BearerToken, BuildError, CheckOptions, HealthLayer, HealthRegistry, Status, check_fn,
};

use crate::store::Store;

/// The demo's health registry, its metrics registered on `metrics`.
///
/// PostgreSQL (or the in-memory store) is critical: without it the API cannot answer.
/// Redis (or the in-memory cache) is not: a cache outage shows as `warn` on `/health`
/// and in `pf_health_check_status`, but keeps the pod in rotation.
pub fn registry(
    store: &Store,
    metrics: &pf_metrics::MetricsRegistry,
) -> Result<HealthRegistry, BuildError> {
    let options = CheckOptions::new()
        .timeout(Duration::from_millis(800))
        .on_demand(Duration::from_secs(2))
        .failure_threshold(2);
    let mut builder = HealthRegistry::builder()
        .service_id("pf-demo")
        .release_id(env!("CARGO_PKG_VERSION"));
    builder = match store.pg_pool() {
        Some(pool) => builder.check(
            "postgres",
            PgPoolCheck::new(pool.clone()).warn_at_utilization(0.9)?,
            options.clone().group("storage"),
        ),
        None => builder.check(
            "memory-store",
            check_fn(|| async { Status::Pass }),
            options.clone().group("storage").component_type("datastore"),
        ),
    };
    builder = match store.redis() {
        Some(connection) => builder.check(
            "redis",
            RedisCheck::new(connection.clone()),
            options.critical(false).group("cache"),
        ),
        None => builder.check(
            "memory-cache",
            check_fn(|| async { Status::Pass }),
            options
                .critical(false)
                .group("cache")
                .component_type("datastore"),
        ),
    };
    // Each dependency's circuit breaker: its state as a (non-critical) check, so `/health`
    // details show it, and as metrics.
    for breaker in store.breakers() {
        let group = if breaker.name() == "redis" {
            "cache"
        } else {
            "storage"
        };
        metrics.register_collector(breaker.clone());
        builder = builder.check(
            format!("{}-circuit", breaker.name()),
            breaker,
            CheckOptions::new()
                .timeout(Duration::from_millis(100))
                .critical(false)
                .group(group),
        );
    }
    let registry = builder.build()?;
    pf_health::metrics::register(&registry, metrics);
    Ok(registry)
}

/// The probe layer; details (check names, outputs, latencies) only for callers sending
/// `Authorization: Bearer $HEALTH_DETAILS_TOKEN` when that variable is set.
pub fn layer(registry: &HealthRegistry) -> HealthLayer {
    let layer = HealthLayer::new(registry.clone());
    match std::env::var("HEALTH_DETAILS_TOKEN") {
        Ok(token) if !token.is_empty() => match BearerToken::new(token) {
            Ok(token) => layer.show_details(token),
            Err(err) => {
                tracing::warn!(%err, "HEALTH_DETAILS_TOKEN ignored: check details stay hidden");
                layer
            }
        },
        _ => layer,
    }
}

/// How long readiness fails before the listener closes on shutdown:
/// `PF_DEMO_DRAIN_DELAY_MS`. The default, 0, keeps Ctrl-C immediate on a laptop;
/// behind a load balancer set it above the probe period (e.g. 5000).
pub fn drain_delay() -> Duration {
    std::env::var("PF_DEMO_DRAIN_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}
