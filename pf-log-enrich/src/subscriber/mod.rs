//! The tracing side: subscriber layers. [`json`] (JSON lines), [`human`] (the pino-pretty-like
//! format), [`compact`] (the redacting field formatter of the compact one), [`otel_logs`] (tracing
//! events as OpenTelemetry log records) and [`fields`] (what they share).
//!
//! They read the request context of `crate::context` and never import the middleware.

pub(crate) mod compact;
pub(crate) mod fields;
pub(crate) mod human;
pub(crate) mod json;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel_logs;
