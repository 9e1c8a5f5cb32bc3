//! OpenTelemetry glue: parent context extraction and trace IDs of the request span.

use http::HeaderMap;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::identity::TraceIds;
use crate::layer::ParentContext;

/// Reads propagation headers from an [`http::HeaderMap`].
///
/// ```
/// use opentelemetry::propagation::Extractor;
/// let mut h = http::HeaderMap::new();
/// h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(pf_log_enrich::otel::HeaderExtractor(&h).get("traceparent").is_some());
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
    let extract = |p: &dyn opentelemetry::propagation::TextMapPropagator| {
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
    sc.is_valid().then(|| TraceIds {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        sampled: sc.is_sampled(),
    })
}

#[cfg(feature = "otlp")]
pub(crate) mod export {
    use opentelemetry::{KeyValue, Value};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use crate::Redactor;

    /// Wraps a span exporter and redacts sensitive attributes (span and event attributes).
    #[derive(Debug)]
    pub(crate) struct RedactingSpanExporter<E> {
        pub(crate) inner: E,
        pub(crate) redactor: Redactor,
    }

    fn redact(redactor: &Redactor, attrs: &mut [KeyValue]) {
        for kv in attrs.iter_mut() {
            if redactor.is_sensitive(kv.key.as_str()) {
                *kv = KeyValue::new(kv.key.clone(), Value::from(crate::redact::REDACTED));
            } else if kv.key.as_str() == crate::fields::URL_QUERY
                && let Value::String(s) = &kv.value
            {
                let red = redactor.redact_query(s.as_str()).into_owned();
                *kv = KeyValue::new(kv.key.clone(), red);
            }
        }
    }

    impl<E: SpanExporter> SpanExporter for RedactingSpanExporter<E> {
        async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
            for span in &mut batch {
                redact(&self.redactor, &mut span.attributes);
                for ev in span.events.events.iter_mut() {
                    redact(&self.redactor, &mut ev.attributes);
                }
            }
            self.inner.export(batch).await
        }

        fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
            self.inner.shutdown_with_timeout(timeout)
        }

        fn force_flush(&self) -> OTelSdkResult {
            self.inner.force_flush()
        }

        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            self.inner.set_resource(resource)
        }
    }
}
