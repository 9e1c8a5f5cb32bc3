//! Redaction of span and span-event attributes on their way to the OTLP exporter.

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::redact::Redactor;

/// Wraps a span exporter and redacts sensitive attributes (span and event attributes).
#[derive(Debug)]
pub(crate) struct RedactingSpanExporter<E> {
    pub(crate) inner: E,
    pub(crate) redactor: Redactor,
}

fn redact(redactor: &Redactor, attrs: &mut [KeyValue]) {
    for kv in attrs.iter_mut() {
        if redactor.is_sensitive(kv.key.as_str()) {
            *kv = KeyValue::new(kv.key.clone(), Value::from(pf_http_core::redact::REDACTED));
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
