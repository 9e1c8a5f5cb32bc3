//! # pf-log-enrich
//!
//! Request spans, request IDs, late user/organization identity, secret redaction and one
//! `init()` that switches between pretty local logs and JSON lines + OTLP export
//! (`LOG_CLOUD_SHIPPING=true`), for tower / axum / hyper / tonic services.
//!
//! ```no_run
//! # #[cfg(feature = "axum")] mod app {
//! use axum::{Router, routing::get, extract::Request, middleware::{self, Next}, response::Response};
//! use pf_log_enrich::{Identity, RequestIdLayer, RequestSpanLayer};
//!
//! async fn auth(req: Request, next: Next) -> Response {
//!     // ... authenticate ...
//!     if let Some(identity) = req.extensions().get::<Identity>() {
//!         identity.set_user_id("u-1");
//!         identity.set_organization_id("org-1");
//!     }
//!     next.run(req).await
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let _guard = pf_log_enrich::init().expect("logging");
//!     let app: Router = Router::new()
//!         .route("/users/{id}", get(|| async { "user" }))
//!         .layer(middleware::from_fn(auth))      // runs after the span opened
//!         .layer(RequestSpanLayer::new().exclude_route("/metrics")) // span + completion event
//!         .layer(RequestIdLayer::new());         // outermost: every response gets the ID
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! Layer order: request ID → request span → (catch-panic) → authentication → handlers. With
//! `Router::layer` the last call is the outermost. Put a catch-panic layer *inside* the span
//! layer so that a panicking handler still produces a 500 with a request ID and a completion
//! event.
//!
//! ## What is where
//!
//! - The request middleware (tower): [`RequestIdLayer`], [`RequestSpanLayer`] and what they
//!   produce ([`RequestSpanService`], [`ResponseFuture`], [`ResponseBody`]), late identity
//!   ([`Identity`], [`RecordIdentityLayer`]), [`TrustedProxies`].
//! - The subscriber layers (tracing): [`JsonLayer`], [`HumanLayer`], [`RedactingFields`],
//!   `OtelLogLayer`. They find each request's context under any subscriber that supports
//!   span lookup (a `Registry`, a `Layered` stack, a `fmt()` subscriber).
//! - The pipeline: [`init()`], [`Logging`], [`LogConfig`], [`LoggingGuard`], [`ExportStats`].
//! - Shared: [`Redactor`] (pf-http-core's secret-key lists plus your own), the field names in
//!   [`fields`], database and cache helpers in [`db`]. Route templates and route filters are
//!   pf-http-core's ([`RouteExtractor`], [`MatchedPathRoute`], [`RouteFilter`]), the same as
//!   pf-metrics'.
//!
//! ## `init()` and the environment
//!
//! | variable | meaning |
//! |---|---|
//! | `LOG_CLOUD_SHIPPING` | `true`: JSON lines on stdout + OTLP export (feature `otlp`; without it [`init()`] fails with [`InitError::MissingFeature`] unless `OTEL_SDK_DISABLED=true`) |
//! | `LOG_FORMAT` | `pretty` (default), `compact` or `json` when not shipping |
//! | `RUST_LOG` | filter directives (default `info`) |
//! | `NO_COLOR` | no ANSI colours (colours are only used on a terminal anyway) |
//! | `OTEL_SDK_DISABLED` | `true`: no OTLP export |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]ENDPOINT` | collector endpoint |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]PROTOCOL` | `http/protobuf` (default) or `grpc` (feature `grpc`) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]HEADERS` | `key=value,...` (never logged) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]TIMEOUT` | export timeout in milliseconds (default 10000) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampler (default `parentbased_always_on`) |
//! | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE` | spans / log records waiting for export at most (default 2048; the excess is dropped and counted) |
//! | `LOG_SHUTDOWN_TIMEOUT_MS` | total deadline of the flush when the [`LoggingGuard`] drops (default 2500); what is left is abandoned and reported |
//!
//! [`LogConfig::from_lookup`] reads the same variables through a function, so configurations
//! can be tested without touching the process environment, and [`Logging::build`] returns
//! the subscriber without installing it.
//!
//! With `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (feature `grpc`) build the pipeline inside a
//! multi-threaded Tokio runtime (e.g. at the top of `#[tokio::main]`): the gRPC channel runs
//! on it. The HTTP exporter needs no runtime. Export runs on background threads with bounded
//! queues; the excess is dropped, never blocking a request.
//!
//! Export never fails silently: when shipping, [`init()`] writes one start-up line saying
//! where logs and traces go (endpoint without credentials or query, protocol); a failed export
//! or a full queue writes a warning (target `pf_log_enrich::export`, at most one per
//! [`LogConfig::export_warning_interval`] and signal, with the totals and how many warnings
//! were held back); [`LoggingGuard::export_stats`] counts exported / failed / dropped spans
//! and log records (with the `metrics` feature, on pf-metrics' `/metrics`).
//!
//! ## Features
//!
//! None is on by default: the default build is the middleware, the formatters and `init()`
//! for local logs.
//!
//! - `axum`: `MatchedPath` as the route, `ConnectInfo` as the peer, `Identity` extractor.
//! - `opentelemetry`: parent context from `traceparent`, trace IDs on log lines, OTel log layer.
//! - `otlp`: OTLP/HTTP protobuf export of traces and logs from [`init()`] (implies
//!   `opentelemetry`).
//! - `grpc`: OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`; implies `otlp`).
//! - `metrics`: [`ExportStats`] as a `pf_metrics::Collector` (export counts on `/metrics`).
#![deny(missing_docs)]
// One exception, in `context`: the `downcast_raw` of the subscriber layers (tracing's
// `WithContext` pattern needs that `unsafe` trait method).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod context;
pub mod db;
pub mod fields;
pub mod limit;
mod middleware;
mod pipeline;
mod redact;
mod subscriber;

#[doc(hidden)]
pub mod internal {
    //! Not public API: the request span's parts that pf-stack's fused layer drives itself
    //! (one service, one future, one body for the whole stack). Outside semver.
    pub use crate::middleware::span::completion::Completion;
    pub use crate::middleware::span::service::{Opened, Shared};
}

pub use context::{MAX_REQUEST_ID_LEN, RequestId, TraceIds, is_valid_request_id};
pub use middleware::client::TrustedProxies;
pub use middleware::identity::handle::{Identity, IdentityOnSpan};
pub use middleware::identity::record::{
    IdentityExtractor, IdentityValues, RecordIdentityLayer, RecordIdentityService,
};
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use middleware::otel::{HeaderExtractor, ParentContext};
pub use middleware::request_id::{
    MakeRequestId, MakeRequestIdFn, MakeRequestUuidV7, RequestIdFuture, RequestIdLayer,
    RequestIdService, X_REQUEST_ID, make_request_id_fn,
};
pub use middleware::span::body::ResponseBody;
pub use middleware::span::completion::{CompletionLevels, NoCompletionEvent, OnCompletion};
pub use middleware::span::future::ResponseFuture;
pub use middleware::span::layer::RequestSpanLayer;
pub use middleware::span::service::RequestSpanService;
pub use pf_http_core::redact::{RedactionPolicy, ValueRules};
pub use pf_http_core::{MatchedPathRoute, Route, RouteExtractor, RouteFilter, UNMATCHED_ROUTE};
pub use pipeline::config::{LogConfig, LogFormat, OtlpProtocol, OtlpSignalConfig, SamplerConfig};
pub use pipeline::error::InitError;
pub use pipeline::guard::{LoggingGuard, ShutdownReport};
pub use pipeline::stats::{ExportStats, SignalCounts};
pub use pipeline::writer::{
    DEFAULT_QUEUE_LINES, DRAIN_INTERVAL, LineWriter, NonBlocking, NonBlockingGuard, WriterStats,
};
pub use pipeline::{BoxLayer, EXPORT_EXCLUDED_TARGETS, LogSubscriber, Logging, init};
pub use redact::Redactor;
pub use subscriber::compact::RedactingFields;
pub use subscriber::human::HumanLayer;
pub use subscriber::json::JsonLayer;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use subscriber::otel_logs::OtelLogLayer;

/// The README's example compiles as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
