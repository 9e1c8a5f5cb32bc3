//! The identity setters: how user and organization IDs recorded after the request span opened
//! reach the request's own context (which this crate's formatters, its OTLP log records and
//! the completion event read) and the span (as [`IdentityOnSpan`] says).

use crate::middleware::identity::handle::{Identity, IdentityOnSpan};

impl Identity {
    /// Records the user ID (first call wins). Returns `false` if it was already set.
    pub fn set_user_id(&self, user_id: impl Into<String>) -> bool {
        self.set(true, user_id.into())
    }

    /// Records the organization ID (first call wins). Returns `false` if it was already set.
    pub fn set_organization_id(&self, org_id: impl Into<String>) -> bool {
        self.set(false, org_id.into())
    }

    fn set(&self, user: bool, value: String) -> bool {
        let (cell, field) = if user {
            (&self.inner.user_id, crate::fields::USER_ID)
        } else {
            (&self.inner.org_id, crate::fields::ORG_ID)
        };
        if cell.set(value.into_boxed_str()).is_err() {
            return false;
        }
        let value = cell.get().map(|v| &**v).unwrap_or_default();
        if self.on_span == IdentityOnSpan::Fields {
            self.span.record(field, value);
        } else {
            #[cfg(feature = "opentelemetry")]
            {
                use tracing_opentelemetry::OpenTelemetrySpanExt;
                if !self.span.is_none() {
                    self.span.set_attribute(field, value.to_owned());
                }
            }
        }
        true
    }
}
