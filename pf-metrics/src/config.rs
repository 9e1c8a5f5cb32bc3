//! The registry's configuration vocabulary: naming, timing, default buckets,
//! the overflow label, and what makes a configuration valid.

use pf_http_core::ConfigError;

/// Route label used once the route table is full.
pub const OVERFLOW_ROUTE: &str = "__overflow__";

/// Default request-duration buckets in seconds. They include 0.5 s, the
/// latency objective "P95 ≤ 500 ms".
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Default body-size buckets in bytes (powers of four from 64 B to 16 MiB).
pub const DEFAULT_SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// Which metric and label names the registry writes.
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry, Naming};
///
/// let registry = MetricsRegistry::builder().naming(Naming::OpenTelemetry).build().unwrap();
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
/// assert!(!text.contains("http_requests_total"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Naming {
    /// `http_requests_total`, `http_request_duration_seconds`, ... with labels
    /// `method`, `route`, `status`: the names Prometheus users and the original
    /// dashboards and alerts expect.
    #[default]
    Prometheus,
    /// OpenTelemetry HTTP server semantic conventions as Prometheus names:
    /// `http_server_request_duration_seconds`, `http_server_active_requests`,
    /// `http_server_request_body_size_bytes`, `http_server_response_body_size_bytes`
    /// with labels `http_request_method`, `http_route`,
    /// `http_response_status_code` and `error_type` (5xx only). There is no
    /// separate request counter: the duration histogram's `_count` is it.
    OpenTelemetry,
}

/// When a request's duration is taken.
///
/// ```
/// use pf_metrics::{MetricsRegistry, Timing};
///
/// // Time to first byte instead of time to the end of the body.
/// let registry = MetricsRegistry::builder().timing(Timing::Headers).build().unwrap();
/// # let _ = registry;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timing {
    /// When the last byte of the response body has been handed to the server
    /// (or the body is dropped): what Node's `res.on('finish')` measured, and
    /// the time a client waits for a whole response. The default.
    #[default]
    EndOfBody,
    /// When the response head is ready (time to first byte).
    Headers,
}

/// Checks bucket bounds given to `setting`: at least one, strictly increasing,
/// finite and positive.
pub(crate) fn check_buckets(setting: &'static str, values: &[f64]) -> Result<(), ConfigError> {
    if values.is_empty() {
        return Err(ConfigError::new(setting, "give at least one bound"));
    }
    for w in values.windows(2) {
        if w[0] >= w[1] {
            return Err(ConfigError::new(
                setting,
                format!(
                    "bounds must be strictly increasing; {} is followed by {}",
                    w[0], w[1]
                ),
            ));
        }
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite() || **v <= 0.0) {
        return Err(ConfigError::new(
            setting,
            format!("bound {v} must be finite and positive (+Inf is always added)"),
        ));
    }
    Ok(())
}

/// Checked bucket bounds scaled to the stored integer unit (nanoseconds for
/// seconds: `scale` 1e9).
pub(crate) fn scale_bounds(values: &[f64], scale: f64) -> Box<[u64]> {
    values.iter().map(|v| (v * scale).round() as u64).collect()
}

/// Checks a metric-name prefix given to `setting`.
pub(crate) fn check_prefix(setting: &'static str, prefix: &str) -> Result<(), ConfigError> {
    if prefix.is_empty() || is_metric_name(prefix) {
        Ok(())
    } else {
        Err(ConfigError::new(
            setting,
            format!("{prefix:?} is not a valid Prometheus name: use [a-zA-Z_:][a-zA-Z0-9_:]*"),
        ))
    }
}

pub(crate) fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
