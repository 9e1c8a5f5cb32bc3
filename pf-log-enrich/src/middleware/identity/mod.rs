//! Late identity: user and organization IDs recorded after the request span opened.
//!
//! [`RequestSpanLayer`](crate::RequestSpanLayer) puts an [`Identity`](handle::Identity) handle
//! into the request extensions. Authentication (a layer, a middleware function or an
//! extractor) calls its setters. The values are held in the request's own context, so that
//! the JSON formatter of this crate writes them on every later line without re-formatting span
//! fields, the OTLP log records get them as attributes, the completion event carries them, and
//! the OpenTelemetry span receives them as attributes.
//!
//! One job per file: [`handle`] (the request-context handle in the extensions and
//! [`IdentityOnSpan`](handle::IdentityOnSpan)), [`setters`] (recording user and organization),
//! [`record`] (the [`IdentityExtractor`](record::IdentityExtractor) layer) and, with axum,
//! [`extract`] (the extractors).

#[cfg(feature = "axum")]
pub(crate) mod extract;
pub(crate) mod handle;
pub(crate) mod record;
pub(crate) mod setters;
