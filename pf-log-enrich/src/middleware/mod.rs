//! The tower side: request middleware. [`request_id`] (accept or generate, store, echo),
//! [`span`] (one span per request and the completion event), [`identity`] (late user and
//! organization), [`client`] (the client address behind trusted proxies) and, with
//! OpenTelemetry, [`otel`] (the parent context from the request headers).
//!
//! It fills the request context of `crate::context` and never imports the subscriber side.

pub(crate) mod client;
pub(crate) mod identity;
#[cfg(feature = "opentelemetry")]
pub(crate) mod otel;
pub(crate) mod request_id;
pub(crate) mod span;
