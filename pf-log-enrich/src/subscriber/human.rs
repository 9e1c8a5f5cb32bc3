//! [`HumanLayer`]: the default local log format, read like `pino-pretty`.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use pf_http_core::redact::REDACTED;

use crate::context::{SpanContext, WithContext, with_context_hooks};
use crate::fields;
use crate::redact::Redactor;
use crate::subscriber::fields::is_internal;

/// The default local log format, read like `pino-pretty`: one line per event with the time,
/// level, method, route, status and duration first, then the request ID, user and
/// organization, then the message and every other field, each once.
///
/// ```text
/// 10:31:42.931Z  INFO GET /api/v1/projects 200 0.54ms req=01a21c8f-9a52-7035 user.id=42 org.id=7 request completed client.address=127.0.0.1 url.path=/api/v1/projects user_agent.original=curl/8.5.0
/// 10:31:43.002Z ERROR GET /api/v1/projects req=01a21c8f-9a52-7036 user.id=42 org.id=7 app::store: query failed error="pool timed out"
/// 10:31:44.100Z  INFO app: listening addr=127.0.0.1:3000
/// ```
///
/// Times are UTC. Values of sensitive keys are `[REDACTED]`; `otel.*` fields are left out;
/// a value with spaces or quotes is quoted. ANSI colours (level, status class, dim keys) only
/// when enabled: [`init`](crate::init()) enables them when stdout is a terminal and
/// `NO_COLOR` is unset.
///
/// ```
/// use pf_log_enrich::HumanLayer;
/// use tracing_subscriber::prelude::*;
/// let subscriber = tracing_subscriber::registry().with(HumanLayer::new(std::io::stdout));
/// tracing::subscriber::with_default(subscriber, || tracing::info!(port = 3000, "listening"));
/// ```
#[must_use]
pub struct HumanLayer<W> {
    make_writer: W,
    redactor: Redactor,
    ansi: bool,
    with_context: Option<WithContext>,
}

impl<W> fmt::Debug for HumanLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HumanLayer")
            .field("redactor", &self.redactor)
            .field("ansi", &self.ansi)
            .finish_non_exhaustive()
    }
}

impl<W> HumanLayer<W>
where
    W: for<'a> MakeWriter<'a> + 'static,
{
    /// Writes to `make_writer`, without colours, with the default redactor.
    pub fn new(make_writer: W) -> Self {
        Self {
            make_writer,
            redactor: Redactor::default(),
            ansi: false,
            with_context: None,
        }
    }

    /// Uses this redactor.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// ANSI colours on or off (default off).
    pub fn ansi(mut self, ansi: bool) -> Self {
        self.ansi = ansi;
        self
    }
}

/// A field value kept for the human line.
#[derive(Clone, Debug)]
enum Value {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Value {
    fn as_text(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::I64(v) => Some(v as f64),
            Value::U64(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => {
                let plain = !s.is_empty()
                    && !s
                        .chars()
                        .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
                if plain {
                    f.write_str(s)
                } else {
                    write!(f, "{s:?}")
                }
            }
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// Runs the value rules over `buf[start..]` (text just written), in place.
pub(crate) fn redact_tail(redactor: &Redactor, buf: &mut String, start: usize) {
    if let Cow::Owned(red) = redactor.redact_text(&buf[start..]) {
        buf.truncate(start);
        buf.push_str(&red);
    }
}

/// Span fields kept by [`HumanLayer`] (already redacted).
struct HumanSpanFields(Vec<(&'static str, Value)>);

struct Collect<'a> {
    out: &'a mut Vec<(&'static str, Value)>,
    message: Option<&'a mut String>,
    redactor: &'a Redactor,
}

impl Collect<'_> {
    fn push(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if is_internal(name) {
            return;
        }
        let value = if self.redactor.is_sensitive_static(name) {
            Value::Str(REDACTED.to_owned())
        } else if let Value::Str(s) = &value
            && let Cow::Owned(red) = self.redactor.redact_static(name, s)
        {
            Value::Str(red)
        } else {
            value
        };
        // A later record of the same field replaces the earlier one.
        if let Some(slot) = self.out.iter_mut().find(|(n, _)| *n == name) {
            slot.1 = value;
        } else {
            self.out.push((name, value));
        }
    }
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message"
            && let Some(m) = self.message.as_deref_mut()
        {
            m.push_str(&self.redactor.redact_text(value));
            return;
        }
        self.push(field, Value::Str(value.to_owned()));
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
        self.push(field, Value::Str(format!("{value:?}")));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Str(value.to_string()));
    }
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";

fn level_colour(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "\x1b[31m",
        tracing::Level::WARN => "\x1b[33m",
        tracing::Level::INFO => "\x1b[32m",
        tracing::Level::DEBUG => "\x1b[34m",
        tracing::Level::TRACE => "\x1b[35m",
    }
}

fn status_colour(status: f64) -> &'static str {
    match status as u16 {
        500.. => "\x1b[31m",
        400..=499 => "\x1b[33m",
        300..=399 => "\x1b[36m",
        _ => "\x1b[32m",
    }
}

/// `HH:MM:SS.mmmZ` (UTC).
fn write_time(out: &mut String, t: SystemTime) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() % 86_400;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60,
        d.subsec_millis()
    );
}

fn write_duration(out: &mut String, ms: f64) {
    let _ = if ms >= 100.0 {
        write!(out, "{ms:.0}ms")
    } else if ms >= 10.0 {
        write!(out, "{ms:.1}ms")
    } else {
        write!(out, "{ms:.2}ms")
    };
}

/// Keys shown in the head of the line, in this order, or folded into it.
const HEAD_KEYS: &[&str] = &[
    fields::HTTP_REQUEST_METHOD,
    fields::HTTP_ROUTE,
    fields::HTTP_RESPONSE_STATUS_CODE,
    fields::DURATION_MS,
    fields::REQUEST_ID,
    fields::USER_ID,
    fields::ORG_ID,
];

thread_local! {
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S, W> tracing_subscriber::Layer<S> for HumanLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    with_context_hooks!(S);

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Vec::new();
        attrs.record(&mut Collect {
            out: &mut fields,
            message: None,
            redactor: &self.redactor,
        });
        span.extensions_mut().insert(HumanSpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // Request spans: late values (status, identity) reach the line through the
        // completion event and the request context, never through the span.
        if ext.get_mut::<SpanContext>().is_some() {
            return;
        }
        if let Some(fields) = ext.get_mut::<HumanSpanFields>() {
            values.record(&mut Collect {
                out: &mut fields.0,
                message: None,
                redactor: &self.redactor,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut message = String::new();
        let mut fields: Vec<(&'static str, Value)> = Vec::new();
        event.record(&mut Collect {
            out: &mut fields,
            message: Some(&mut message),
            redactor: &self.redactor,
        });
        // Event fields first, then span fields from the innermost span out: the first
        // occurrence of a name wins, so every field is written once.
        let mut request = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let ext = span.extensions();
                if let Some(f) = ext.get::<HumanSpanFields>() {
                    for (name, value) in &f.0 {
                        if !fields.iter().any(|(n, _)| n == name) {
                            fields.push((name, value.clone()));
                        }
                    }
                }
                if request.is_none()
                    && let Some(c) = ext.get::<SpanContext>()
                {
                    request = Some(c.0.clone());
                }
            }
        }
        let find = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        let ansi = self.ansi;
        let paint = |out: &mut String, colour: &str, text: &dyn fmt::Display| {
            if ansi {
                let _ = write!(out, "{colour}{text}{RESET}");
            } else {
                let _ = write!(out, "{text}");
            }
        };

        LINE.with(|cell| {
            let Ok(mut line) = cell.try_borrow_mut() else {
                return;
            };
            let out = &mut *line;
            out.clear();
            write_time(out, SystemTime::now());
            out.push(' ');
            paint(
                out,
                level_colour(meta.level()),
                &format_args!("{:>5}", meta.level().as_str()),
            );

            // method, route (or path), status, duration
            let mut shown: Vec<&str> = Vec::new();
            if let Some(method) = find(fields::HTTP_REQUEST_METHOD) {
                out.push(' ');
                paint(out, BOLD, method);
            }
            let route = find(fields::HTTP_ROUTE)
                .or_else(|| {
                    shown.push(fields::URL_PATH);
                    find(fields::URL_PATH)
                })
                .filter(|r| r.as_text() != Some(""));
            if let Some(route) = route {
                out.push(' ');
                paint(out, BOLD, route);
            }
            if let Some(status) = find(fields::HTTP_RESPONSE_STATUS_CODE) {
                out.push(' ');
                paint(out, status_colour(status.as_f64().unwrap_or(0.0)), status);
            }
            if let Some(ms) = find(fields::DURATION_MS).and_then(Value::as_f64) {
                out.push(' ');
                write_duration(out, ms);
            }

            // request ID, user, organization
            let user = find(fields::USER_ID).cloned().or_else(|| {
                request
                    .as_ref()
                    .and_then(|r| r.user_id.get())
                    .map(|u| Value::Str(u.to_string()))
            });
            let org = find(fields::ORG_ID).cloned().or_else(|| {
                request
                    .as_ref()
                    .and_then(|r| r.org_id.get())
                    .map(|o| Value::Str(o.to_string()))
            });
            for (label, value) in [
                ("req", find(fields::REQUEST_ID).cloned()),
                ("user.id", user),
                ("org.id", org),
            ] {
                if let Some(value) = value {
                    out.push(' ');
                    paint(out, DIM, &format_args!("{label}="));
                    let _ = write!(out, "{value}");
                }
            }

            // target (unless it is the request's own), message
            if meta.target() != fields::REQUEST_TARGET {
                out.push(' ');
                paint(out, DIM, &format_args!("{}:", meta.target()));
            }
            if !message.is_empty() {
                out.push(' ');
                paint(out, BOLD, &message);
            }

            // the rest, each once
            let user_agent = find(fields::USER_AGENT_ORIGINAL).is_some();
            for (name, value) in &fields {
                if HEAD_KEYS.contains(name) || shown.contains(name) {
                    continue;
                }
                let value = if *name == fields::HTTP_REQUEST_HEADERS && user_agent {
                    // The user agent is already there as `user_agent.original`.
                    match value.as_text().map(without_user_agent) {
                        Some(rest) if rest.is_empty() => continue,
                        Some(rest) => Value::Str(rest),
                        None => value.clone(),
                    }
                } else {
                    value.clone()
                };
                out.push(' ');
                paint(out, DIM, &format_args!("{name}="));
                let _ = write!(out, "{value}");
            }
            out.push('\n');
            let mut w = self.make_writer.make_writer_for(meta);
            let _ = w.write_all(out.as_bytes());
        });
    }
}

/// Captured headers (`name: value; ...`) without the `user-agent` entry.
fn without_user_agent(headers: &str) -> String {
    headers
        .split("; ")
        .filter(|h| {
            !h.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("user-agent"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
