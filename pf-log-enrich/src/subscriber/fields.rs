//! What the subscriber layers share about fields.

/// Fields no formatter writes: `otel.*` (span name, kind and status for
/// tracing-opentelemetry) and `log.*` (the `tracing-log` bridge's metadata).
#[inline]
pub(crate) fn is_internal(name: &str) -> bool {
    name.starts_with("otel.") || name.starts_with("log.")
}

#[cfg(test)]
mod tests {
    #[test]
    fn internal_fields() {
        assert!(super::is_internal("otel.name"));
        assert!(super::is_internal("log.target"));
        assert!(!super::is_internal("user.id"));
    }
}
