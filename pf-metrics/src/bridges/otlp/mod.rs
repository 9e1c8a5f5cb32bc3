//! OTLP push of the HTTP metrics with OpenTelemetry semantic-convention names.
//!
//! A background task snapshots the registry every interval and sends one OTLP/HTTP
//! protobuf request (`POST {endpoint}/v1/metrics`), cumulative temporality. Nothing is
//! queued: every export is a fresh snapshot of cumulative counts, so a collector that is
//! down costs failed attempts (counted) and no memory, and the first export after it
//! returns carries everything recorded meanwhile. The request path is unchanged: the push
//! only reads the same lock-free series the `/metrics` endpoint reads.

mod convert;
mod push;

pub use push::{OtlpPush, OtlpPushError, OtlpPushHandle};
