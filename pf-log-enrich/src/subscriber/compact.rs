//! [`RedactingFields`]: the field formatter of the compact local format (tracing-subscriber's
//! own `fmt` layer), redacting like the other formats.

use std::fmt;

use pf_http_core::redact::REDACTED;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::redact::Redactor;
use crate::subscriber::fields::is_internal;

/// A `tracing-subscriber` field formatter writing `name=value` pairs, with values of sensitive
/// keys replaced by `[REDACTED]` and `otel.*` fields left out. [`init`](crate::init()) uses it
/// for the human formats; use it with any `fmt` layer:
///
/// ```
/// use pf_log_enrich::{RedactingFields, Redactor};
/// use tracing_subscriber::prelude::*;
/// let layer = tracing_subscriber::fmt::layer()
///     .with_writer(std::io::sink)
///     .fmt_fields(RedactingFields::new(Redactor::default()));
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!(password = "x", "hi"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct RedactingFields {
    redactor: Redactor,
}

impl RedactingFields {
    /// A formatter using `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        Self { redactor }
    }
}

struct Visitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    redactor: &'a Redactor,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_, '_> {
    fn sep(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value)
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        if is_internal(name) {
            return;
        }
        self.result = self.sep().and_then(|()| {
            if self.redactor.is_sensitive_static(name) {
                return write!(self.writer, "{name}={REDACTED}");
            }
            let text = format!("{value:?}");
            if name == "message" {
                write!(self.writer, "{}", self.redactor.redact_text(&text))
            } else {
                write!(
                    self.writer,
                    "{name}={}",
                    self.redactor.redact_static(name, &text)
                )
            }
        });
    }
}

impl<'w> FormatFields<'w> for RedactingFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = Visitor {
            writer: &mut writer,
            redactor: &self.redactor,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}
