//! OpenTelemetry on the request path: where the parent context comes from, its extraction
//! from the request headers, and the trace IDs of the request span (feature `opentelemetry`).

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::TraceIds;

/// Where the parent trace context of a request comes from.
///
/// ```
/// use pf_log_enrich::{ParentContext, RequestSpanLayer};
/// // A service at a trust boundary: every request starts a new trace.
/// let layer = RequestSpanLayer::new().parent_context(ParentContext::Ignore);
/// # let _ = layer;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ParentContext {
    /// The globally installed text-map propagator (`init()` installs W3C trace context).
    #[default]
    Global,
    /// This propagator.
    Propagator(Arc<dyn TextMapPropagator + Send + Sync>),
    /// Ignore incoming context (for services at a trust boundary).
    Ignore,
}

impl fmt::Debug for ParentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("Global"),
            Self::Propagator(_) => f.write_str("Propagator(..)"),
            Self::Ignore => f.write_str("Ignore"),
        }
    }
}

/// Reads propagation headers from an [`http::HeaderMap`].
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// let mut h = http::HeaderMap::new();
/// h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(pf_log_enrich::HeaderExtractor(&h).get("traceparent").is_some());
/// ```
#[derive(Debug)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Sets the span's parent from the request headers and returns the span's trace IDs.
pub(crate) fn attach_parent(
    span: &tracing::Span,
    parent: &ParentContext,
    headers: &HeaderMap,
) -> Option<TraceIds> {
    // Extract only when one of the propagator's headers is present (the common case of a
    // request without trace context costs one header lookup per field).
    let extract = |p: &dyn TextMapPropagator| {
        p.fields()
            .any(|f| headers.contains_key(f))
            .then(|| p.extract(&HeaderExtractor(headers)))
    };
    let cx = match parent {
        ParentContext::Global => opentelemetry::global::get_text_map_propagator(|p| extract(p)),
        ParentContext::Propagator(p) => extract(p.as_ref()),
        ParentContext::Ignore => None,
    };
    if let Some(cx) = cx
        && cx.span().span_context().is_valid()
    {
        let _ = span.set_parent(cx);
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| {
        TraceIds::new(
            sc.trace_id().to_bytes(),
            sc.span_id().to_bytes(),
            sc.is_sampled(),
        )
    })
}
