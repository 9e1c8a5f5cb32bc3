//! # pf-log-enrich
//!
//! Request spans, request IDs, late user/organization identity, secret redaction and one
//! `init()` that switches between pretty local logs and JSON lines + OTLP export
//! (`LOG_CLOUD_SHIPPING=true`), for tower / axum / hyper / tonic services.
//!
//! ```no_run
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
//!         .layer(RequestSpanLayer::new())        // span + completion event
//!         .layer(RequestIdLayer::new());         // outermost: every response gets the ID
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! Layer order: request ID → request span → (catch-panic) → authentication → handlers. With
//! `Router::layer` the last call is the outermost. Put a catch-panic layer *inside* the span
//! layer so that a panicking handler still produces a 500 with a request ID and a completion
//! event.
//!
//! ## Features
//!
//! - `axum` (default): `MatchedPath` as the route, `ConnectInfo` as the peer, `Identity` extractor.
//! - `opentelemetry`: parent context from `traceparent`, trace IDs on log lines, OTel log bridge.
//! - `otlp` (default): OTLP/HTTP protobuf export of traces and logs from [`init()`].
//! - `grpc`: OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).
//! - `metrics`: [`ExportStats`] as a `pf_metrics::Collector` (export counts on `/metrics`).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
pub mod db;
pub mod export_stats;
pub mod fields;
mod future;
pub mod human;
mod identity;
pub mod init;
mod json;
mod layer;
pub mod redact;
pub mod request_id;
mod route;
mod service;

#[cfg(feature = "otlp")]
mod export;
#[cfg(feature = "opentelemetry")]
pub mod otel;
#[cfg(feature = "opentelemetry")]
mod otel_logs;

pub use body::ResponseBody;
pub use client::TrustedProxies;
pub use export_stats::{ExportStats, SignalCounts};
pub use future::ResponseFuture;
pub use identity::{
    Identity, IdentityExtractor, IdentityValues, RecordIdentity, RecordIdentityLayer, TraceIds,
};
pub use init::{Logging, LoggingGuard, init};
pub use json::JsonLayer;
#[cfg(feature = "opentelemetry")]
pub use layer::ParentContext;
pub use layer::{CompletionLevels, RequestSpanLayer};
#[cfg(feature = "opentelemetry")]
pub use otel_logs::OtelLogLayer;
pub use redact::Redactor;
pub use request_id::{
    MakeRequestId, MakeRequestUuidV7, RequestId, RequestIdFuture, RequestIdLayer, RequestIdService,
};
pub use route::{DefaultRoute, Route, RouteExtractor};
pub use service::RequestSpan;

/// The README's example compiles as a doc test.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
