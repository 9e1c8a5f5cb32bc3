//! [`JsonLayer`]: one JSON object per line, flattened fields, cheap late identity.
//!
//! Unlike `tracing-subscriber`'s JSON formatter, span fields are formatted once (when the
//! span opens) and late values of request spans (status, user, organization) are *not*
//! re-formatted on every `record`: they are read from the request's own context when a line
//! is written. Every line inside a request carries `trace_id` and `span_id` (when
//! OpenTelemetry is active), `request_id`, `user.id` and `pf.organization.id`.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use pf_http_core::internal::text::{SubSecond, hex, write_rfc3339};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::context::{
    RequestFields, RequestFieldsHook, SpanContext, WithContext, fields_come_through_hook,
    with_context_hooks,
};
use crate::fields;
use crate::redact::Redactor;
use crate::subscriber::fields::is_internal;
use crate::subscriber::human::redact_tail;

mod text;

use text::{Escaped, push_f64, push_str_value, push_u64};

/// Tracing layer writing JSON lines.
///
/// Line shape: `{"timestamp":"2026-01-01T12:00:00.123456Z","level":"INFO","target":"app",
/// "message":"...", <event fields>, <span fields, outermost first>, "user.id":..,
/// "pf.organization.id":.., "trace_id":..,"span_id":..}`. Values of sensitive keys are
/// replaced by `[REDACTED]`. Fields named `otel.*` are left out.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use pf_log_enrich::JsonLayer;
/// let subscriber = tracing_subscriber::registry().with(JsonLayer::new(std::io::sink));
/// tracing::subscriber::with_default(subscriber, || tracing::info!(password = "x", "hello"));
/// ```
#[must_use]
pub struct JsonLayer<W> {
    make_writer: W,
    redactor: Redactor,
    target: bool,
    with_context: Option<WithContext>,
    request_fields: Option<RequestFieldsHook>,
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("redactor", &self.redactor)
            .finish_non_exhaustive()
    }
}

impl<W> JsonLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// Writes to `make_writer` (e.g. `std::io::stdout`).
    pub fn new(make_writer: W) -> Self {
        Self {
            make_writer,
            redactor: Redactor::default(),
            target: true,
            with_context: None,
            request_fields: None,
        }
    }

    /// Uses this redactor.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Whether to write the `target` key (default `true`).
    pub fn target(mut self, target: bool) -> Self {
        self.target = target;
        self
    }
}

/// Pre-formatted span fields (`"k":v,` fragments).
struct SpanFields(String);

/// Visitor writing `"key":value,` pairs.
struct FieldWriter<'a> {
    out: &'a mut String,
    redactor: &'a Redactor,
    message: Option<&'a mut String>,
}

impl FieldWriter<'_> {
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if is_internal(name) {
            return false;
        }
        push_str_value(self.out, name);
        self.out.push(':');
        if self.redactor.is_sensitive_static(name) {
            push_redacted(self.out);
            return false;
        }
        true
    }
}

impl Visit for FieldWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message"
            && let Some(m) = self.message.as_deref_mut()
        {
            m.push_str(&self.redactor.redact_text(value));
            return;
        }
        if self.key(field) {
            push_str_value(self.out, &self.redactor.redact_static(field.name(), value));
            self.out.push(',');
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message"
            && let Some(m) = self.message.as_deref_mut()
        {
            let start = m.len();
            let _ = write!(m, "{value:?}");
            redact_tail(self.redactor, m, start);
            return;
        }
        if self.key(field) {
            self.out.push('"');
            let start = self.out.len();
            let _ = write!(Escaped(self.out), "{value:?}");
            redact_tail(self.redactor, self.out, start);
            self.out.push_str("\",");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            if value < 0 {
                self.out.push('-');
            }
            push_u64(self.out, value.unsigned_abs());
            self.out.push(',');
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            push_u64(self.out, value);
            self.out.push(',');
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.out.push_str(if value { "true," } else { "false," });
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            if value.is_finite() {
                push_f64(self.out, value);
                self.out.push(',');
            } else {
                let _ = write!(self.out, "\"{value}\",");
            }
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.key(field) {
            self.out.push('"');
            let start = self.out.len();
            let _ = write!(Escaped(self.out), "{value}");
            redact_tail(self.redactor, self.out, start);
            self.out.push_str("\",");
        }
    }
}

/// The JSON layer's [`RequestFieldsHook`] for subscriber `S`.
fn request_fields_hook<S>(redactor: Redactor) -> RequestFieldsHook
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    RequestFieldsHook::new(render_request::<S>, redactor)
}

/// Writes a request span's fields as the attribute visitor would, straight from the
/// request: keys are known, values are strings.
fn render_request<S>(
    dispatch: &tracing::Dispatch,
    id: &Id,
    fields: &RequestFields<'_>,
    redactor: &Redactor,
) where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch
        .downcast_ref::<S>()
        .and_then(|subscriber| subscriber.span(id))
    else {
        return;
    };
    // A request span's fields take about 250 bytes: one allocation, no regrowth.
    let mut s = String::with_capacity(384);
    fields.for_each(|key, value| {
        push_key(&mut s, key);
        if redactor.is_sensitive_static(key) {
            push_redacted(&mut s);
        } else {
            push_str_value(&mut s, value);
            s.push(',');
        }
    });
    span.extensions_mut().insert(SpanFields(s));
}

/// `"key":` for a field name of [`crate::fields`] (constants that need no escaping).
fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// The redacted value and its separator: `"[REDACTED]",`.
fn push_redacted(out: &mut String) {
    out.push('"');
    out.push_str(pf_http_core::redact::REDACTED);
    out.push_str("\",");
}

thread_local! {
    static BUF: RefCell<(String, String, String)> =
        const { RefCell::new((String::new(), String::new(), String::new())) };
}

impl<S, W> tracing_subscriber::Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    with_context_hooks!(S, request_fields = request_fields_hook);

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if fields_come_through_hook(attrs.metadata()) {
            // The request middleware saw this layer's hook before it opened the span and hands
            // the fields over right after (`render_request`). Where the hook is hidden (a
            // wrapper that does not forward `downcast_raw`) the span opens without the marker
            // and its attributes are visited below: the fallback.
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // A request span's fields take about 250 bytes: one allocation, no regrowth.
        let mut s = String::with_capacity(384);
        attrs.record(&mut FieldWriter {
            out: &mut s,
            redactor: &self.redactor,
            message: None,
        });
        span.extensions_mut().insert(SpanFields(s));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // Request spans: late values (status, identity) are written from the request
        // context and the completion event, never re-formatted here.
        if ext.get_mut::<SpanContext>().is_some() {
            return;
        }
        if let Some(fields) = ext.get_mut::<SpanFields>() {
            values.record(&mut FieldWriter {
                out: &mut fields.0,
                redactor: &self.redactor,
                message: None,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        BUF.with(|cell| {
            let Ok(mut guard) = cell.try_borrow_mut() else {
                return;
            };
            let (buf, msg, fields) = &mut *guard;
            buf.clear();
            msg.clear();
            fields.clear();
            let meta = event.metadata();
            buf.push_str("{\"timestamp\":\"");
            write_rfc3339(buf, SystemTime::now(), SubSecond::Micros);
            buf.push_str("\",\"level\":\"");
            buf.push_str(meta.level().as_str());
            buf.push('"');
            if self.target {
                buf.push_str(",\"target\":");
                push_str_value(buf, meta.target());
            }
            buf.push(',');
            // event fields (message collected separately, written first)
            event.record(&mut FieldWriter {
                out: fields,
                redactor: &self.redactor,
                message: Some(msg),
            });
            buf.push_str("\"message\":");
            push_str_value(buf, msg);
            buf.push(',');
            buf.push_str(fields);

            let mut request = None;
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope.from_root() {
                    let ext = span.extensions();
                    if let Some(f) = ext.get::<SpanFields>() {
                        buf.push_str(&f.0);
                    }
                    if let Some(c) = ext.get::<SpanContext>() {
                        request = Some(c.0.clone());
                    }
                }
            }
            if let Some(req) = request {
                if let Some(u) = req.user_id.get() {
                    push_key(buf, fields::USER_ID);
                    push_str_value(buf, u);
                    buf.push(',');
                }
                if let Some(o) = req.org_id.get() {
                    push_key(buf, fields::ORG_ID);
                    push_str_value(buf, o);
                    buf.push(',');
                }
                if let Some(t) = req.trace {
                    push_key(buf, fields::TRACE_ID);
                    push_str_value(buf, &hex(&t.trace_id));
                    buf.push(',');
                    push_key(buf, fields::SPAN_ID);
                    push_str_value(buf, &hex(&t.span_id));
                    buf.push(',');
                }
            }
            if buf.ends_with(',') {
                buf.pop();
            }
            buf.push_str("}\n");
            let mut w = self.make_writer.make_writer_for(meta);
            let _ = w.write_all(buf.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing::field::Empty;
    use tracing_subscriber::layer::SubscriberExt;

    use super::JsonLayer;
    use crate::context::{RequestFields, RequestFieldsHook};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Opens a request span (with or without the hook's marker) whose attribute says
    /// `url.path = "/from-attributes"`, optionally hands `/from-hook` to the hook as the
    /// middleware does, and returns the line of an event inside the span.
    fn line(marker: bool, hand_over: bool) -> String {
        let out = Lines::default();
        let writer = out.clone();
        let subscriber =
            tracing_subscriber::registry().with(JsonLayer::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            assert!(RequestFieldsHook::visible());
            let span = if marker {
                tracing::info_span!(target: "pf_log_enrich::request", "HTTP request",
                    pf.request_fields = Empty, url.path = "/from-attributes")
            } else {
                tracing::info_span!(target: "pf_log_enrich::request", "HTTP request",
                    url.path = "/from-attributes")
            };
            if hand_over {
                span.with_subscriber(|(id, dispatch)| {
                    let fields = RequestFields {
                        method: "GET",
                        route: None,
                        path: "/from-hook",
                        scheme: "http",
                        query: None,
                        client: None,
                        user_agent: None,
                        version: "1.1",
                        request_id: None,
                        headers: None,
                    };
                    RequestFieldsHook::render(dispatch, id, &fields);
                });
            }
            span.in_scope(|| tracing::info!("inside"));
        });
        String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_request_span_with_the_marker_takes_its_fields_from_the_hook_only() {
        let line = line(true, true);
        assert!(line.contains(r#""url.path":"/from-hook""#), "{line}");
        assert!(!line.contains("/from-attributes"), "{line}");
        assert!(!line.contains("pf.request_fields"), "{line}");
        // The attributes were never visited: without the hand-over the span has no fields.
        let line = self::line(true, false);
        assert!(!line.contains("url.path"), "{line}");
    }

    #[test]
    fn a_request_span_without_the_marker_is_visited() {
        let line = line(false, false);
        assert!(line.contains(r#""url.path":"/from-attributes""#), "{line}");
    }
}
