//! Liveness, readiness and startup probes, dependency health checks and drain on shutdown
//! for [tower](https://docs.rs/tower) services (axum, hyper, tonic).
//!
//! - [`HealthCheck`]: an async check returning pass / warn / fail with observed values;
//!   [`check_fn`] makes one from a closure. Built-in checks for PostgreSQL (`sqlx`,
//!   `deadpool-postgres`) and Redis behind features, in `checks`.
//! - [`HealthRegistry`]: checks with per-check [`CheckOptions`] — timeout, critical or not,
//!   groups, on demand with a TTL and single-flight or periodic in the background with jitter,
//!   failure / recovery thresholds, staleness, status listeners. Checks run concurrently, each
//!   in its own task: a hang times out, a panic is a failure.
//! - [`HealthLayer`]: `/livez`, `/readyz`, `/startupz`, `/health`, `/health/<group>` answered in
//!   front of the application as `application/health+json`, with `?verbose` and `?exclude=`;
//!   details only for callers a [`DetailPolicy`] allows. [`HealthEndpoints`] serves the same
//!   on its own (and as an axum router with the `axum` feature).
//! - [`breaker::CircuitBreaker`]: fail fast on a dead dependency — after N consecutive
//!   connection failures every call fails at once for a cool-down, then one call probes; its
//!   state is a health check and (feature `metrics`) metrics.
//! - [`Lifecycle`]: starting → ready → draining; [`Lifecycle::drain_on`] makes the future for
//!   axum's graceful shutdown.
//! - Features: `axum` (axum 0.8), `postgres-sqlx` (sqlx 0.9, which needs Rust 1.94),
//!   `postgres-deadpool` (deadpool-postgres 0.14), `redis` (redis 1.x), `metrics` (health
//!   metrics on a `pf-metrics` 0.1 registry), `grpc` (the same registry answering gRPC
//!   `grpc.health.v1` through tonic-health 0.14, in `grpc`).
//!
//! # Quick start
//!
//! ```
//! use std::time::Duration;
//! use pf_health::{check_fn, CheckOptions, HealthLayer, HealthRegistry, Status};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = HealthRegistry::builder()
//!     .check("queue", check_fn(|| async { Status::Pass }), CheckOptions::new()
//!         .timeout(Duration::from_millis(500))
//!         .on_demand(Duration::from_secs(2)))
//!     .build()?;
//!
//! let app: axum::Router = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .layer(HealthLayer::new(registry.clone()));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! registry.lifecycle().mark_ready();
//! let shutdown = registry.lifecycle().drain_on(pf_health::shutdown_signal(), Duration::from_secs(5));
//! axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod breaker;
mod check;
#[cfg(any(
    feature = "postgres-sqlx",
    feature = "postgres-deadpool",
    feature = "redis"
))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(
        feature = "postgres-sqlx",
        feature = "postgres-deadpool",
        feature = "redis"
    )))
)]
pub mod checks;
mod endpoint;
mod error;
mod future;
mod layer;
mod lifecycle;
mod options;
mod periodic;
mod policy;
mod record;
mod registry;
mod report;
mod respond;
mod sanitize;
mod service;
mod slot;

#[doc(hidden)]
pub mod internal {
    //! Not public API: probe routing and answers for pf-stack's fused layer. Outside semver.
    pub use crate::respond::{Config, Endpoint, HealthResponse, RespondFuture, respond};
}

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;

#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;

pub use body::HealthBody;
pub use check::{CheckFn, CheckResult, HealthCheck, Observation, Status, check_fn};
pub use endpoint::HealthEndpoints;
pub use error::BuildError;
pub use future::{EndpointFuture, ResponseFuture};
pub use layer::HealthLayer;
pub use lifecycle::{Lifecycle, Phase, shutdown_signal};
pub use options::{CheckOptions, Mode};
pub use pf_http_core::{BearerToken, ConfigError};
pub use policy::{DetailPolicy, HideDetails, ShowDetails};
pub use record::FailureReason;
pub use registry::{HealthRegistry, HealthRegistryBuilder, Selection};
pub use report::{CheckReport, HEALTH_JSON, HealthReport};
pub use sanitize::{MAX_OUTPUT_LEN, sanitize_output};
pub use slot::StatusChange;

/// The README's examples compile as doc tests (they use every feature).
#[cfg(all(
    doctest,
    feature = "axum",
    feature = "postgres-sqlx",
    feature = "redis",
    feature = "metrics",
    feature = "grpc"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
