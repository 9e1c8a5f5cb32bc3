//! HTTP request metrics for axum, hyper and any [tower] service, in one
//! `.layer()` call, with a `/metrics` endpoint in Prometheus text and
//! OpenMetrics format.
//!
//! # Quick start
//!
//! ```
//! use axum::{Router, routing::get};
//! use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
//!
//! # async fn run() -> std::io::Result<()> {
//! let registry = MetricsRegistry::new();
//! let app = Router::new()
//!     .route("/api/v1/users/{id}", get(|| async { "a user" }))
//!     .layer(HttpMetricsLayer::new(registry.clone())) // records every route above
//!     .route_service("/metrics", registry.exposition()); // Prometheus scrapes this
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # What is recorded
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `http_requests_in_flight` | gauge | `method`, `route` |
//! | `http_request_size_bytes` | histogram | `method`, `route` |
//! | `http_response_size_bytes` | histogram | `method`, `route`, `status` |
//! | `pf_metrics_dropped_series_total` | counter | |
//!
//! [`Naming::OpenTelemetry`] switches to the semantic-convention names.
//! [`ProcessCollector`] adds the standard `process_*` metrics;
//! [`MetricsRegistry::repository`] and [`MetricsRegistry::cache`] time database
//! and cache calls (`pivotal_repository_operation_duration_seconds`,
//! `pivotal_cache_operations_total`, ...); `RuntimeCollector` (feature
//! `tokio`) adds Tokio's runtime metrics and a scheduling-lag histogram.
//!
//! - `route` is the matched template (`/api/v1/users/{id}`), never the raw
//!   path; requests that matched no route are `__unmatched__`. Unknown
//!   methods are `_OTHER`.
//! - The number of series is capped ([`MetricsRegistryBuilder::max_series`]);
//!   past the cap requests go to one overflow series and are counted.
//! - Duration runs to the end of the response body by default
//!   ([`Timing`]); 101 upgrades and `text/event-stream` responses are timed
//!   to their head, so long-lived streams never distort the histogram.
//! - Body sizes count the bytes that actually pass. A request whose client
//!   went away before the response is recorded as status `499`; one whose
//!   handler panicked, as `500`. The in-flight gauge returns to zero in every
//!   case.
//!
//! # gRPC
//!
//! The same layer on a tonic server records each call's gRPC status code,
//! read from `grpc-status` in the response head (trailers-only responses) or
//! in the trailers (after the messages of a unary or streaming call):
//!
//! ```no_run
//! use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
//!
//! # async fn run(services: tonic::service::Routes) -> Result<(), tonic::transport::Error> {
//! let registry = MetricsRegistry::new();
//! tonic::transport::Server::builder()
//!     .layer(HttpMetricsLayer::new(registry.clone()))
//!     .add_routes(services)
//!     .serve("127.0.0.1:50051".parse().unwrap())
//!     .await
//! # }
//! ```
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `grpc_server_handled_total` | counter | `grpc_service`, `grpc_method`, `grpc_code` |
//! | `grpc_server_handling_seconds` | histogram | `grpc_service`, `grpc_method`, `grpc_code` |
//!
//! These are go-grpc-prometheus' names, and `grpc_code` carries grpc-go's
//! code names (`OK`, `Canceled`, `NotFound`, ...), so its dashboards and
//! alerts work unchanged (there is no `grpc_type`: the layer sees HTTP, not
//! the method's declared shape). With [`Naming::OpenTelemetry`] the family is
//! `rpc_server_call_duration_seconds` with `rpc_system="grpc"`,
//! `rpc_service`, `rpc_method` and the numeric `rpc_grpc_status_code`.
//!
//! - A call is an HTTP/2 `POST` with `Content-Type: application/grpc*`;
//!   other requests never look at a header for this (the version and method
//!   are compared first), so plain HTTP pays nothing.
//! - gRPC calls are counted in these families instead of
//!   `http_requests_total` / `http_request_duration_seconds` /
//!   `http_response_size_bytes`, whose `status` would be 200 for nearly every
//!   call; the in-flight gauge and request size include them (method `POST`,
//!   route `/package.Service/Method`).
//! - The route is the call's `/package.Service/Method` path, interned like a
//!   template and bounded by [`MetricsRegistryBuilder::max_routes`] and
//!   [`MetricsRegistryBuilder::max_series`].
//! - Duration runs to the call's status (the end of a streaming response),
//!   whatever the [`Timing`].
//! - Without a `grpc-status`: a non-200 HTTP status is mapped as the gRPC
//!   spec says (404 → `Unimplemented`, 503 → `Unavailable`, ...); a body that
//!   ends without one is `Unknown`; a panic in the handler or while streaming
//!   is `Internal` (tonic resets the stream, which its client reports as
//!   `Cancelled`); a call dropped before its end is `Canceled`, or
//!   `DeadlineExceeded` when its `grpc-timeout` had passed (tonic's own
//!   timeout tells the client `Cancelled` then).
//!
//! # Cost
//!
//! After a series exists, recording a request takes no lock, allocates
//! nothing and builds no string: a series is found by one hash probe of a
//! packed integer key, and every series keeps per-thread shards of atomic
//! counters so worker threads never write the same cache line. See
//! `BENCHMARKS.md` in the repository for measurements.
//!
//! # Exemplars
//!
//! With the `exemplars` feature, a request that runs inside a `tracing` span
//! with a sampled OpenTelemetry context (pf-log-enrich's request span, or
//! any span of a `tracing-opentelemetry` subscriber) leaves its trace ID on
//! the duration-histogram bucket it fell in: each bucket keeps the latest
//! one, and the OpenMetrics output writes it as an exemplar
//! (`..._bucket{...,le="0.05"} 3 # {trace_id="4bf92f35..."} 0.031 1700000000.123`)
//! that Prometheus (`--enable-feature=exemplar-storage`) stores and Grafana
//! links to the trace. The Prometheus text format is unchanged. The layer
//! must run inside the span (add pf-log-enrich's layer outside it).
//!
//! The trace is read from the current OpenTelemetry `Context`, which
//! `tracing-opentelemetry` sets while a span is entered (its default
//! "context activation"; code that attaches a `Context` itself works too).
//! Cost: one thread-local read per request without a trace context (no
//! tracing-subscriber lookup, no allocation); with one, also a wall-clock
//! read for the timestamp and a four-word write (and one allocation per
//! series, at its first traced request).
//!
//! Exemplars are on in every registry when the feature is compiled;
//! `MetricsRegistryBuilder::exemplars(false)` switches them off for one
//! registry at run time (from configuration, say): its requests then do not
//! read the OpenTelemetry context at all and its OpenMetrics output carries
//! no exemplar. `BENCHMARKS.md` ("Exemplars (same run)") measures both.
//!
//! # Features
//!
//! - `axum` (default): route templates from axum's `MatchedPath`.
//! - `tokio`: `RuntimeCollector` and the `*_with_timeout` deadlines of the
//!   repository and cache instruments.
//! - `otlp`: `OtlpPush`, the HTTP metrics pushed over OTLP with the
//!   semantic-convention names.
//! - `opentelemetry-interop`: `OpenTelemetryCollector`, OpenTelemetry meter
//!   instruments on the same `/metrics`.
//! - `exemplars`: exemplars on the request-duration histograms (see below).
//!
//! [tower]: https://docs.rs/tower
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bridges;
mod builder;
mod config;
mod encoding;
mod instruments;
mod middleware;
mod registry;
mod storage;

#[doc(hidden)]
pub mod internal {
    //! Not public API: the request recording that pf-stack's fused layer drives itself (one
    //! service, one future, one body for the whole stack). Outside semver.
    pub use crate::middleware::body::PanicGuard as BodyPanicGuard;
    pub use crate::middleware::future::PanicGuard as HeadPanicGuard;
    pub use crate::middleware::grpc::Ending;
    pub use crate::middleware::record::{Completion, InFlight, RequestSize, Settled};
    pub use crate::middleware::service::RequestStart;
}

#[cfg(feature = "opentelemetry-interop")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry-interop")))]
pub use bridges::opentelemetry::OpenTelemetryCollector;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub use bridges::otlp::{OtlpPush, OtlpPushError, OtlpPushHandle};
pub use bridges::process::ProcessCollector;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use bridges::runtime::{DEFAULT_SCHEDULING_LAG_BUCKETS, RuntimeCollector};
pub use builder::MetricsRegistryBuilder;
pub use config::{DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS, Naming, OVERFLOW_ROUTE, Timing};
pub use encoding::collector::{Collector, FamilyEncoder, MetricsEncoder};
pub use encoding::endpoint::MetricsService;
pub use encoding::format::{Format, MetricType};
pub use instruments::cache::{CacheMetrics, CacheResult};
pub use instruments::operation::{DEFAULT_OPERATION_BUCKETS, OperationTimedOut};
pub use instruments::repository::{Outcome, RepositoryMetrics};
pub use middleware::body::{RequestBody, ResponseBody};
pub use middleware::future::ResponseFuture;
pub use middleware::layer::HttpMetricsLayer;
pub use middleware::service::HttpMetricsService;
#[cfg(feature = "axum")]
pub use pf_http_core::AxumBody;
pub use pf_http_core::{
    AnyBody, ConfigError, MatchedPathRoute, Route, RouteExtractor, UNMATCHED_ROUTE,
};
pub use registry::MetricsRegistry;
pub use storage::histogram::{BucketsError, Histogram, HistogramSnapshot};

/// The README's examples compile and run as doc tests (the runtime one needs `tokio`).
#[cfg(all(doctest, feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
