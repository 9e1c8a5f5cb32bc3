//! The exposition formats and metric types: the vocabulary every writer shares.

use http::HeaderValue;

/// An exposition format.
///
/// ```
/// use http::HeaderValue;
/// use pf_metrics::Format;
///
/// // What Prometheus sends when it prefers OpenMetrics.
/// let accept = HeaderValue::from_static(
///     "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
/// );
/// assert_eq!(Format::from_accept(Some(&accept)), Format::OpenMetrics);
/// assert_eq!(Format::from_accept(None), Format::Prometheus);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Prometheus,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Chooses the format from an `Accept` header by media type and `q` weight;
    /// Prometheus text when nothing better is acceptable.
    pub fn from_accept(accept: Option<&HeaderValue>) -> Self {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Format::Prometheus;
        };
        let mut best = (Format::Prometheus, -1.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version: Option<&str> = None;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "q" => q = v.trim().parse().unwrap_or(0.0),
                        "version" => version = Some(v.trim()),
                        _ => {}
                    }
                }
            }
            let format = match media.as_str() {
                // Only OpenMetrics 1.0.x is written; 0.0.1 requests get the text format.
                "application/openmetrics-text" if version.is_none_or(|v| v.starts_with("1.0")) => {
                    Format::OpenMetrics
                }
                "text/plain" | "*/*" | "text/*" => Format::Prometheus,
                _ => continue,
            };
            if q > best.1 {
                best = (format, q);
            }
        }
        if best.1 <= 0.0 {
            Format::Prometheus
        } else {
            best.0
        }
    }
}

/// A metric type, as written in `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonically increasing count; samples get the `_total` suffix.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets with `_bucket`, `_sum` and `_count` samples.
    Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_weight() {
        let h = |s| HeaderValue::from_static(s);
        assert_eq!(
            Format::from_accept(Some(&h("text/plain"))),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept(Some(&h("application/openmetrics-text; version=1.0.0"))),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_accept(Some(&h(
                "application/openmetrics-text;q=0.2,text/plain;q=0.9"
            ))),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept(Some(&h("application/openmetrics-text;version=0.0.1"))),
            Format::Prometheus
        );
        assert_eq!(
            Format::from_accept(Some(&h("application/json"))),
            Format::Prometheus
        );
    }
}
