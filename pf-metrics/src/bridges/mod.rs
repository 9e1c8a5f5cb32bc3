//! Bridges to the world outside the registry: OTLP push, the OpenTelemetry
//! meter interop, process and Tokio runtime collectors.

#[cfg(feature = "opentelemetry-interop")]
pub(crate) mod opentelemetry;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod process;
#[cfg(feature = "tokio")]
pub(crate) mod runtime;
