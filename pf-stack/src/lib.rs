//! The whole pf stack in one tower layer: health probes, request ID, the request span with
//! late identity, and HTTP metrics, in **one** `Service`, **one** response future and at
//! most **one** response-body wrapper.
//!
//! Stacking pf-health's `HealthLayer`, pf-log-enrich's `RequestIdLayer` and
//! `RequestSpanLayer` and pf-metrics' `HttpMetricsLayer` gives the same picture, but every
//! request then goes through four services, four nested futures (each polled again every time
//! the handler waits on a database) and up to three body wrappers, and the route is looked up
//! once per layer. [`StackLayer`] does each of those things once:
//!
//! - probes (`/livez`, `/readyz`, `/startupz`, `/health`) are answered before anything else,
//!   as `HealthLayer` outermost would;
//! - the route template is extracted once, for the span and the metrics;
//! - the request ID is assigned (or accepted) once, kept in the request's one pf extension
//!   ([`pf_log_enrich::Identity`]) and echoed on the response;
//! - one future polls the application inside the request span and settles the metrics and
//!   the "request completed" event at the response head;
//! - a response body is wrapped only when its end has to be observed (a stream or a large
//!   body), and then once, for both the metrics and the completion event.
//!
//! The separate layers stay for services that want only one of them.
//!
//! ```
//! use axum::{Router, routing::get};
//! use pf_health::{HealthLayer, HealthRegistry};
//! use pf_log_enrich::RequestSpanLayer;
//! use pf_metrics::MetricsRegistry;
//! use pf_stack::StackLayer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let metrics = MetricsRegistry::builder().exclude_route("/metrics").build()?;
//! let health = HealthRegistry::builder().build()?;
//! let app: Router = Router::new()
//!     .route("/api/v1/users/{id}", get(|| async { "a user" }))
//!     .route_service("/metrics", metrics.exposition())
//!     .layer(
//!         StackLayer::new(metrics.clone())
//!             .health(HealthLayer::new(health.clone())) // /livez /readyz /startupz /health
//!             .span(RequestSpanLayer::new().exclude_route("/metrics")) // no span per scrape
//!             .axum_body(),
//!     );
//! # let _ = app;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `axum` (default): route templates from axum's `MatchedPath`, the client address from
//!   `ConnectInfo`, and [`StackLayer::axum_body`].
//! - `opentelemetry`: the W3C parent context and trace IDs in the request span.
//! - `exemplars`: the request's trace ID on the duration histogram's buckets.
//!
//! The sibling crates are pinned to the exact version this crate was built with: it drives
//! their request parts through modules that are not public API.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod future;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::StackLayer;
pub use service::StackService;

/// The README's example compiles and runs as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
