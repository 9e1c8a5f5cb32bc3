//! Redaction of span and span-event attributes on their way to the OTLP exporter.

use std::borrow::Cow;

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

/// Sensitive keys hide their value; string values go through the value rules (a secret in
/// `url.path`, a message or any attribute of the application's own spans), `url.query` as a
/// query string. Values without secrets are left untouched (no copy).
fn redact(redactor: &Redactor, attrs: &mut [KeyValue]) {
    for kv in attrs.iter_mut() {
        if redactor.is_sensitive(kv.key.as_str()) {
            *kv = KeyValue::new(kv.key.clone(), Value::from(pf_http_core::redact::REDACTED));
        } else if let Value::String(s) = &kv.value
            && let Cow::Owned(red) = redactor.redact(kv.key.as_str(), s.as_str())
        {
            *kv = KeyValue::new(kv.key.clone(), red);
        }
    }
}

impl<E: SpanExporter> SpanExporter for RedactingSpanExporter<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &mut batch {
            redact(&self.redactor, &mut span.attributes);
            if let Cow::Owned(name) = self.redactor.redact_text(&span.name) {
                span.name = name.into();
            }
            for ev in span.events.events.iter_mut() {
                if let Cow::Owned(name) = self.redactor.redact_text(&ev.name) {
                    ev.name = name.into();
                }
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
