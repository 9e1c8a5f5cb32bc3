//! Spans and events for database queries and cache commands.
//!
//! Statements are summarised without literal values (`'...'` strings, numbers, `$1`-style
//! parameters stay placeholders) and cache keys under sensitive names are redacted, so the
//! same rules as for HTTP apply.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing::Span;
use tracing::field::Empty;

use crate::limit::KeyedWarnLimiter;
use crate::redact::Redactor;

/// At most one `db operation failed` WARN per operation and error class in this interval.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(30);

fn warnings() -> &'static KeyedWarnLimiter<(Arc<str>, &'static str)> {
    static LIMITER: OnceLock<KeyedWarnLimiter<(Arc<str>, &'static str)>> = OnceLock::new();
    LIMITER.get_or_init(|| KeyedWarnLimiter::new(WARNING_INTERVAL))
}

/// The class of a driver error from its message: `timeout`, `refused`, `authentication`,
/// `connection` (reset, broken, closed), `circuit_open` (a circuit breaker refused the call)
/// or `error` (anything else, such as a constraint violation). It is the span's `error.type`
/// and half the key of the WARN limiter.
///
/// ```
/// use pf_log_enrich::db::error_class;
/// assert_eq!(error_class("pool timed out while waiting for an open connection"), "timeout");
/// assert_eq!(error_class("Connection refused (os error 111)"), "refused");
/// assert_eq!(error_class("password authentication failed for user \"app\""), "authentication");
/// assert_eq!(error_class("duplicate key value violates unique constraint"), "error");
/// ```
pub fn error_class(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&["circuit open"]) {
        "circuit_open"
    } else if has(&["timed out", "timeout", "deadline"]) {
        "timeout"
    } else if has(&["refused"]) {
        "refused"
    } else if has(&[
        "authentication",
        "password",
        "wrongpass",
        "noauth",
        "permission denied",
    ]) {
        "authentication"
    } else if has(&[
        "connection reset",
        "broken pipe",
        "connection closed",
        "connection aborted",
        "unexpected eof",
        "io error",
    ]) {
        "connection"
    } else {
        "error"
    }
}

/// A statement without its literal values, whitespace collapsed, at most 256 characters.
///
/// ```
/// use pf_log_enrich::db::summarize_sql;
/// assert_eq!(
///     summarize_sql("SELECT * FROM users WHERE email = 'a@b.c' AND  age > 42"),
///     "SELECT * FROM users WHERE email = ? AND age > ?"
/// );
/// assert_eq!(summarize_sql("UPDATE u SET password = $1 WHERE id = $2"),
///     "UPDATE u SET password = $1 WHERE id = $2");
/// ```
pub fn summarize_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().min(256));
    let mut chars = sql.chars().peekable();
    let mut prev_ident = false;
    let mut prev_space = false;
    while let Some(c) = chars.next() {
        if out.len() >= 256 {
            out.push('…');
            break;
        }
        match c {
            '\'' => {
                // string literal (with '' escapes)
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                        }
                        Some('\'') | None => break,
                        Some(_) => {}
                    }
                }
                out.push('?');
                prev_ident = false;
                prev_space = false;
            }
            '0'..='9' if !prev_ident => {
                while chars
                    .peek()
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.' || *d == 'e' || *d == 'E')
                {
                    chars.next();
                }
                out.push('?');
                prev_ident = false;
                prev_space = false;
            }
            c if c.is_whitespace() => {
                if !prev_space && !out.is_empty() {
                    out.push(' ');
                }
                prev_space = true;
                prev_ident = false;
            }
            c => {
                prev_ident = c.is_alphanumeric() || c == '_' || c == '$';
                prev_space = false;
                out.push(c);
            }
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The first keyword of a statement, upper-cased (`SELECT`, `INSERT`, ...).
///
/// ```
/// assert_eq!(pf_log_enrich::db::sql_operation("  select 1"), "SELECT");
/// ```
pub fn sql_operation(sql: &str) -> String {
    sql.split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_uppercase()
}

/// One database operation: a client span plus an event when it finishes.
///
/// ```
/// use pf_log_enrich::db::DbOperation;
/// let op = DbOperation::sql("postgresql", "SELECT id FROM projects WHERE org = 'acme'");
/// // ... run the query inside `op.span()` ...
/// op.finish(Some(3));
/// ```
#[derive(Debug)]
pub struct DbOperation {
    span: Span,
    /// `GET redis`, `SELECT postgresql`: the key of the failure-warning limiter.
    name: Arc<str>,
    start: Instant,
    done: bool,
}

impl DbOperation {
    /// Starts a SQL operation (`system`: `postgresql`, `mysql`, `sqlite`, ...).
    pub fn sql(system: &'static str, statement: &str) -> Self {
        let summary = summarize_sql(statement);
        let operation = sql_operation(statement);
        let name = format!("{operation} {system}");
        let span = tracing::info_span!(
            target: "pf_log_enrich::db",
            "db operation",
            otel.name = name.as_str(),
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = operation.as_str(),
            db.query.summary = summary.as_str(),
            db.response.returned_rows = Empty,
            error.type = Empty,
            otel.status_code = Empty,
        );
        Self {
            span,
            name: name.into(),
            start: Instant::now(),
            done: false,
        }
    }

    /// Starts a cache command (`system`: `redis`, ...). A key under a sensitive name (see
    /// [`Redactor`]) is recorded as `[REDACTED]`; digits in keys are replaced by `?` so that
    /// IDs do not end up in logs.
    ///
    /// ```
    /// use pf_log_enrich::db::DbOperation;
    /// let op = DbOperation::cache("redis", "GET", "user:42:profile");
    /// op.finish_cache(true);
    /// ```
    pub fn cache(system: &'static str, command: &str, key: &str) -> Self {
        Self::cache_with_redactor(system, command, key, &Redactor::default())
    }

    /// [`DbOperation::cache`] with a given redactor.
    pub fn cache_with_redactor(
        system: &'static str,
        command: &str,
        key: &str,
        redactor: &Redactor,
    ) -> Self {
        let command = command.to_ascii_uppercase();
        let key_summary: String = if redactor.is_sensitive(key) {
            pf_http_core::redact::REDACTED.to_owned()
        } else {
            key.chars()
                .map(|c| if c.is_ascii_digit() { '?' } else { c })
                .collect()
        };
        let name = format!("{command} {system}");
        let span = tracing::info_span!(
            target: "pf_log_enrich::db",
            "cache operation",
            otel.name = name.as_str(),
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = command.as_str(),
            db.query.summary = key_summary.as_str(),
            cache.hit = Empty,
            error.type = Empty,
            otel.status_code = Empty,
        );
        Self {
            span,
            name: name.into(),
            start: Instant::now(),
            done: false,
        }
    }

    /// The operation's span (enter it, or use [`DbOperation::run`]).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Runs `fut` inside the span, then finishes with `Ok` rows or the error.
    pub async fn run<F, T, E>(self, fut: F, rows: impl FnOnce(&T) -> Option<u64>) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        use tracing::Instrument;
        let result = fut.instrument(self.span.clone()).await;
        match &result {
            Ok(v) => self.finish(rows(v)),
            Err(e) => self.fail(e),
        }
        result
    }

    fn ms(&self) -> f64 {
        crate::context::millis(self.start.elapsed())
    }

    /// Finishes a query successfully, with the number of rows when known (DEBUG event).
    pub fn finish(mut self, rows: Option<u64>) {
        self.done = true;
        if let Some(r) = rows {
            self.span.record("db.response.returned_rows", r);
        }
        let _e = self.span.enter();
        tracing::debug!(
            target: "pf_log_enrich::db",
            duration_ms = self.ms(),
            db.response.returned_rows = rows,
            outcome = "ok",
            "db operation completed"
        );
    }

    /// Finishes a cache command with hit or miss (DEBUG event).
    pub fn finish_cache(mut self, hit: bool) {
        self.done = true;
        self.span.record("cache.hit", hit);
        let _e = self.span.enter();
        tracing::debug!(
            target: "pf_log_enrich::db",
            duration_ms = self.ms(),
            cache.hit = hit,
            outcome = "ok",
            "cache operation completed"
        );
    }

    /// Finishes with an error: the span gets error status and `error.type` (see
    /// [`error_class`]); a WARN event is written at most once per
    /// [`WARNING_INTERVAL`] for each operation (system and operation name) and error class,
    /// with `warnings_suppressed` counting the lines held back since the last one (a dead
    /// dependency fails every request: the log gets one line, the span every failure). Only
    /// the error's `Display` is logged; drivers do not put parameter values there.
    pub fn fail(mut self, error: &dyn fmt::Display) {
        self.done = true;
        let error = error.to_string();
        let class = error_class(&error);
        self.span.record("error.type", class);
        self.span.record("otel.status_code", "ERROR");
        let Some(suppressed) = warnings().allow((self.name.clone(), class)) else {
            return;
        };
        let _e = self.span.enter();
        tracing::warn!(
            target: "pf_log_enrich::db",
            duration_ms = self.ms(),
            error = %error,
            error.type = class,
            outcome = "error",
            warnings_suppressed = suppressed,
            "db operation failed"
        );
    }
}

impl Drop for DbOperation {
    fn drop(&mut self) {
        if !self.done {
            let _e = self.span.enter();
            tracing::debug!(
                target: "pf_log_enrich::db",
                duration_ms = self.ms(),
                outcome = "dropped",
                "db operation dropped"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(
            summarize_sql("insert into t values ('it''s', 3.5, x1)"),
            "insert into t values (?, ?, x1)"
        );
        assert_eq!(
            summarize_sql("SELECT\n  a\tFROM t LIMIT 10"),
            "SELECT a FROM t LIMIT ?"
        );
    }
}
