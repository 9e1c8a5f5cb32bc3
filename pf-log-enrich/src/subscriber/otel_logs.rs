//! [`OtelLogLayer`]: tracing events → OpenTelemetry log records, with the request context.
//!
//! Each record gets the event fields (redacted), the request's `request_id`,
//! `http.request.method`, `http.route`, `user.id` and `pf.organization.id`, and the trace
//! context of the request span.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use pf_http_core::redact::REDACTED;

use crate::context::{SpanContext, WithContext, with_context_hooks};
use crate::fields;
use crate::redact::Redactor;
use crate::subscriber::fields::is_internal;

/// Tracing layer emitting OpenTelemetry log records through a [`Logger`].
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use pf_log_enrich::OtelLogLayer;
/// let provider = opentelemetry::logs::NoopLoggerProvider::new();
/// let subscriber = tracing_subscriber::registry().with(OtelLogLayer::new(&provider));
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// ```
#[must_use]
pub struct OtelLogLayer<L> {
    logger: L,
    redactor: Redactor,
    with_context: Option<WithContext>,
}

impl<L> fmt::Debug for OtelLogLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLogLayer").finish_non_exhaustive()
    }
}

impl<L: Logger> OtelLogLayer<L> {
    /// A layer logging through `provider.logger("pf-log-enrich")`.
    pub fn new<P>(provider: &P) -> Self
    where
        P: LoggerProvider<Logger = L>,
    {
        Self {
            logger: provider.logger("pf-log-enrich"),
            redactor: Redactor::default(),
            with_context: None,
        }
    }

    /// Uses this redactor for attributes.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }
}

struct AttrVisitor<'a, R: LogRecord> {
    record: &'a mut R,
    redactor: &'a Redactor,
    message: Option<String>,
}

impl<R: LogRecord> AttrVisitor<'_, R> {
    fn put(&mut self, field: &Field, value: AnyValue) {
        let name = field.name();
        if is_internal(name) {
            return;
        }
        if self.redactor.is_sensitive_static(name) {
            self.record
                .add_attribute(name, AnyValue::from(REDACTED.to_owned()));
        } else {
            self.record.add_attribute(name, value);
        }
    }
}

impl<R: LogRecord> AttrVisitor<'_, R> {
    /// A text value through the value rules (the message as free text).
    fn text(&mut self, field: &Field, value: String) {
        let name = field.name();
        if name == "message" {
            self.message = Some(match self.redactor.redact_text(&value) {
                std::borrow::Cow::Borrowed(_) => value,
                std::borrow::Cow::Owned(red) => red,
            });
            return;
        }
        let value = match self.redactor.redact_static(name, &value) {
            std::borrow::Cow::Borrowed(_) => value,
            std::borrow::Cow::Owned(red) => red,
        };
        self.put(field, AnyValue::from(value));
    }
}

impl<R: LogRecord> Visit for AttrVisitor<'_, R> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.text(field, s);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AnyValue::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.put(field, AnyValue::from(v)),
            Err(_) => self.put(field, AnyValue::from(value.to_string())),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AnyValue::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AnyValue::from(value));
    }
}

fn severity(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warn,
        Level::INFO => Severity::Info,
        Level::DEBUG => Severity::Debug,
        _ => Severity::Trace,
    }
}

impl<S, L> tracing_subscriber::Layer<S> for OtelLogLayer<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Logger + Send + Sync + 'static,
{
    with_context_hooks!(S);

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut record = self.logger.create_log_record();
        let now = SystemTime::now();
        record.set_timestamp(now);
        record.set_observed_timestamp(now);
        record.set_severity_number(severity(meta.level()));
        record.set_severity_text(meta.level().as_str());
        record.set_target(meta.target().to_owned());
        let mut v = AttrVisitor {
            record: &mut record,
            redactor: &self.redactor,
            message: None,
        };
        event.record(&mut v);
        if let Some(m) = v.message.take() {
            record.set_body(AnyValue::from(m));
        }
        let request = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<SpanContext>().cloned())
        });
        if let Some(SpanContext(req)) = request {
            if let Some(id) = &req.request_id {
                record.add_attribute(fields::REQUEST_ID, id.as_str().to_owned());
            }
            record.add_attribute(fields::HTTP_REQUEST_METHOD, req.method.as_str().to_owned());
            if let Some(r) = &req.route {
                record.add_attribute(fields::HTTP_ROUTE, r.to_string());
            }
            if let Some(u) = req.user_id.get() {
                record.add_attribute(fields::USER_ID, u.to_string());
            }
            if let Some(o) = req.org_id.get() {
                record.add_attribute(fields::ORG_ID, o.to_string());
            }
            if let Some(t) = req.trace {
                record.set_trace_context(
                    TraceId::from_bytes(t.trace_id),
                    SpanId::from_bytes(t.span_id),
                    Some(if t.sampled {
                        TraceFlags::SAMPLED
                    } else {
                        TraceFlags::default()
                    }),
                );
            }
        }
        self.logger.emit(record);
    }
}
