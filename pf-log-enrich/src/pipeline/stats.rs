//! Counts of what the OTLP export did with spans and log records, so that lost telemetry is
//! visible: exported, failed (the collector refused or could not be reached) and dropped
//! (the bounded queue was full; nothing waits on the request path).
//!
//! [`LoggingGuard::export_stats`](crate::LoggingGuard::export_stats) gives the live counts of
//! the pipeline [`init`](crate::init()) built. With the `metrics` feature, [`ExportStats`] is
//! a `pf_metrics::Collector`:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `pf_log_export_spans_total` | counter | `result` = `exported` / `failed` / `dropped` |
//! | `pf_log_export_log_records_total` | counter | `result` = `exported` / `failed` / `dropped` |
//!
//! Every span or log record handed to the exporter ends in exactly one of the three results
//! (or is still queued); at shutdown what the bounded flush could not send is not counted.

// Without `otlp` nothing is exported: the counters stay at zero.
#![cfg_attr(not(feature = "otlp"), allow(dead_code))]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Target of the pipeline's own warnings (export failures, drops, abandoned shutdown): they go
/// to stdout only, never to the collector.
pub(crate) const WARN_TARGET: &str = "pf_log_enrich::export";

/// One signal's counts, read at one moment.
///
/// ```
/// let counts = pf_log_enrich::ExportStats::default().spans();
/// assert_eq!(counts.exported + counts.failed + counts.dropped, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalCounts {
    /// Accepted by the collector.
    pub exported: u64,
    /// Sent in a batch that failed (connection refused, timeout, collector error).
    pub failed: u64,
    /// Never sent: the export queue was full.
    pub dropped: u64,
}

/// Live export counts of a logging pipeline, per signal. Cheap to clone (shared counters).
///
/// ```
/// use pf_log_enrich::ExportStats;
/// let stats = ExportStats::default();
/// assert_eq!(stats.spans().exported, 0);
/// assert_eq!(stats.log_records().dropped, 0);
/// ```
#[derive(Clone, Default)]
pub struct ExportStats {
    pub(crate) inner: Arc<Counters>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) spans: SignalCounters,
    pub(crate) logs: SignalCounters,
}

#[derive(Debug, Default)]
pub(crate) struct SignalCounters {
    /// Admitted into the export queue.
    pub(crate) accepted: AtomicU64,
    pub(crate) exported: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl SignalCounters {
    fn read(&self) -> SignalCounts {
        SignalCounts {
            exported: self.exported.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Admitted and not yet exported or failed: what a shutdown that gives up abandons.
    pub(crate) fn pending(&self) -> u64 {
        self.accepted
            .load(Ordering::Acquire)
            .saturating_sub(self.settled())
    }

    /// Exported or failed so far.
    pub(crate) fn settled(&self) -> u64 {
        self.exported.load(Ordering::Acquire) + self.failed.load(Ordering::Acquire)
    }
}

impl ExportStats {
    /// Span counts.
    pub fn spans(&self) -> SignalCounts {
        self.inner.spans.read()
    }

    /// Log record counts.
    pub fn log_records(&self) -> SignalCounts {
        self.inner.logs.read()
    }
}

impl fmt::Debug for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportStats")
            .field("spans", &self.spans())
            .field("log_records", &self.log_records())
            .finish()
    }
}

/// `scheme://host:port/path` of `endpoint`: without user information, query or fragment.
pub(crate) fn display_endpoint(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, endpoint),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match scheme {
        Some(s) => format!("{s}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

/// `text` with the user information of every URL in it removed (error messages of HTTP
/// clients quote the URL).
pub(crate) fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
impl pf_metrics::Collector for ExportStats {
    fn collect(&self, out: &mut pf_metrics::MetricsEncoder<'_>) {
        for (name, help, counts) in [
            (
                "pf_log_export_spans",
                "Spans handed to the OTLP exporter, by result (exported, failed, dropped).",
                self.spans(),
            ),
            (
                "pf_log_export_log_records",
                "Log records handed to the OTLP exporter, by result (exported, failed, dropped).",
                self.log_records(),
            ),
        ] {
            let mut family = out.family(name, help, pf_metrics::MetricType::Counter, None);
            family.counter(&[("result", "exported")], counts.exported as f64);
            family.counter(&[("result", "failed")], counts.failed as f64);
            family.counter(&[("result", "dropped")], counts.dropped as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_shown_without_credentials() {
        for (raw, shown) in [
            (
                "http://127.0.0.1:4318/v1/traces",
                "http://127.0.0.1:4318/v1/traces",
            ),
            (
                "https://user:pw@otlp.example.com:443/v1/logs?api_key=k#f",
                "https://otlp.example.com:443/v1/logs",
            ),
            ("http://tok@collector:4317", "http://collector:4317"),
            ("collector:4317", "collector:4317"),
        ] {
            assert_eq!(display_endpoint(raw), shown);
        }
        assert_eq!(
            strip_userinfo("error sending request for url (https://u:pw@h:1/v1/traces): refused"),
            "error sending request for url (https://h:1/v1/traces): refused"
        );
        assert_eq!(strip_userinfo("no url here"), "no url here");
    }
}
