//! Prometheus text 0.0.4 and OpenMetrics 1.0 exposition.

use std::fmt::Write as _;

use http::HeaderValue;

use crate::registry::{IN_FLIGHT_WORD, Inner, MetricsRegistry};
use crate::series::HistogramLayout;

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

/// Something that writes metric families at scrape time (health checks,
/// process metrics, ...). Register it with [`MetricsRegistry::register_collector`].
///
/// `collect` runs on every scrape: it must read already-known values and
/// never block or do I/O.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use pf_metrics::{Collector, Format, MetricType, MetricsEncoder, MetricsRegistry};
///
/// /// Counts jobs the application finished; the app increments `done`.
/// struct Jobs {
///     done: Arc<AtomicU64>,
/// }
///
/// impl Collector for Jobs {
///     fn collect(&self, out: &mut MetricsEncoder<'_>) {
///         out.family("jobs_done", "Jobs finished.", MetricType::Counter, None)
///             .counter(&[("queue", "mail")], self.done.load(Ordering::Relaxed) as f64);
///     }
/// }
///
/// let done = Arc::new(AtomicU64::new(0));
/// let registry = MetricsRegistry::new();
/// registry.register_collector(Jobs { done: done.clone() });
/// done.fetch_add(2, Ordering::Relaxed);
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("# TYPE jobs_done_total counter"));
/// assert!(text.contains(r#"jobs_done_total{queue="mail"} 2"#));
/// ```
pub trait Collector: Send + Sync + 'static {
    /// Writes this collector's families.
    fn collect(&self, out: &mut MetricsEncoder<'_>);
}

/// Writes metric families in the scrape's format; handed to [`Collector::collect`].
pub struct MetricsEncoder<'a> {
    out: &'a mut String,
    format: Format,
    const_labels: &'a str,
}

impl std::fmt::Debug for MetricsEncoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEncoder")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Writes the samples of one family; returned by [`MetricsEncoder::family`].
#[derive(Debug)]
pub struct FamilyEncoder<'a, 'e> {
    encoder: &'a mut MetricsEncoder<'e>,
    name: String,
}

impl<'e> MetricsEncoder<'e> {
    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Starts a family. `name` is the full metric name; for counters give it
    /// without `_total` (the samples get it). `unit` (e.g. `"seconds"`) must be
    /// the name's suffix; it is written as `# UNIT` in OpenMetrics.
    ///
    /// Invalid names are written with invalid characters replaced by `_`.
    pub fn family<'a>(
        &'a mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        unit: Option<&str>,
    ) -> FamilyEncoder<'a, 'e> {
        let mut clean: String = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
                {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if clean.is_empty() {
            clean.push('_');
        }
        if kind == MetricType::Counter
            && let Some(stripped) = clean.strip_suffix("_total")
        {
            clean.truncate(stripped.len());
        }
        write_header(self.out, self.format, &clean, help, kind, unit);
        FamilyEncoder {
            encoder: self,
            name: clean,
        }
    }
}

impl FamilyEncoder<'_, '_> {
    /// Writes a counter sample (`name_total`).
    pub fn counter(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.sample("_total", labels, None, value);
        self
    }

    /// Writes a gauge sample.
    pub fn gauge(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.sample("", labels, None, value);
        self
    }

    /// Writes a histogram: `buckets` are `(upper bound, cumulative count)`
    /// pairs without `+Inf`, which is written from `count`.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        count: u64,
        sum: f64,
    ) -> &mut Self {
        for &(le, n) in buckets {
            self.sample("_bucket", labels, Some(&format_float(le)), n as f64);
        }
        self.sample("_bucket", labels, Some("+Inf"), count as f64);
        self.sample("_sum", labels, None, sum);
        self.sample("_count", labels, None, count as f64);
        self
    }

    fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
        let enc = &mut *self.encoder;
        let out = &mut *enc.out;
        out.push_str(&self.name);
        out.push_str(suffix);
        let mut first = true;
        let mut sep = |out: &mut String| {
            if first {
                out.push('{');
                first = false;
            } else {
                out.push(',');
            }
        };
        if !enc.const_labels.is_empty() {
            sep(out);
            out.push_str(enc.const_labels);
        }
        for (k, v) in labels {
            sep(out);
            for c in k.chars() {
                out.push(if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                });
            }
            out.push_str("=\"");
            escape_label_value(v, out);
            out.push('"');
        }
        if let Some(le) = le {
            sep(out);
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        if !first {
            out.push('}');
        }
        out.push(' ');
        write_f64(out, value);
        out.push('\n');
    }
}

/// Escapes a label value for both text formats: `\` `"` and newline.
pub(crate) fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str, format: Format, out: &mut String) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Shortest round-trip form; integers without a fraction (`1`, `0.005`).
pub(crate) fn format_float(v: f64) -> String {
    let mut s = String::new();
    write_f64(&mut s, v);
    s
}

fn write_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        out.push_str(itoa::Buffer::new().format(v as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(v));
    }
}

pub(crate) fn write_header(
    out: &mut String,
    format: Format,
    name: &str,
    help: &str,
    kind: MetricType,
    unit: Option<&str>,
) {
    let type_name = match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
    };
    // Prometheus text names a counter family with its `_total` suffix;
    // OpenMetrics names the family without it.
    let suffix = if kind == MetricType::Counter && format == Format::Prometheus {
        "_total"
    } else {
        ""
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push_str(suffix);
    out.push(' ');
    escape_help(help, format, out);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {name}{suffix} {type_name}");
    if let (Format::OpenMetrics, Some(unit)) = (format, unit) {
        let _ = writeln!(out, "# UNIT {name} {unit}");
    }
}

impl MetricsRegistry {
    /// Renders every series and collector in `format`.
    ///
    /// ```
    /// use pf_metrics::{Format, MetricsRegistry};
    ///
    /// let text = MetricsRegistry::new().encode(Format::OpenMetrics);
    /// assert!(text.ends_with("# EOF\n"));
    /// ```
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096 + self.inner.responses.len() * 2048);
        self.encode_into(&mut out, format);
        out
    }

    /// Appends the rendering to `out` (reuse a buffer between scrapes).
    pub fn encode_into(&self, out: &mut String, format: Format) {
        let inner = &*self.inner;
        encode_http(inner, out, format);
        crate::grpc::encode(inner, out, format);
        let collectors = inner
            .collectors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut encoder = MetricsEncoder {
            out,
            format,
            const_labels: &inner.const_labels,
        };
        inner.scopes.encode(&inner.operations, &mut encoder);
        for c in &collectors {
            c.collect(&mut encoder);
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
    }
}

fn encode_http(inner: &Inner, out: &mut String, format: Format) {
    let names = &inner.names;
    let layout = &inner.layout;
    let overflow_response = (inner.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0)
        .then_some(&inner.overflow_response);
    let overflow_flight = (inner.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0)
        .then_some(&inner.overflow_flight);
    let responses = || inner.responses.iter().chain(overflow_response);
    let flights = || inner.flights.iter().chain(overflow_flight);
    let mut cumulative = Vec::with_capacity(32);

    if let Some(requests) = &names.requests {
        write_header(
            out,
            format,
            requests,
            "Total number of HTTP requests completed, by method, route template and status.",
            MetricType::Counter,
            None,
        );
        for s in responses() {
            write_sample(
                out,
                requests,
                "_total",
                &s.labels,
                s.cells.count(layout.duration),
            );
        }
    }

    let duration_help = match inner.timing {
        crate::Timing::EndOfBody => {
            "HTTP request duration in seconds, from the request reaching the layer to the end of the response body."
        }
        crate::Timing::Headers => {
            "HTTP request duration in seconds, from the request reaching the layer to the response head."
        }
    };
    write_header(
        out,
        format,
        &names.duration,
        duration_help,
        MetricType::Histogram,
        Some("seconds"),
    );
    for s in responses() {
        // With exemplars on the buckets in OpenMetrics (feature `exemplars`).
        crate::exemplar::write_duration_histogram(
            out,
            format,
            &names.duration,
            s,
            layout.duration,
            &inner.duration_le,
            &mut cumulative,
        );
    }

    write_header(
        out,
        format,
        &names.in_flight,
        "HTTP requests currently being served, by method and route template.",
        MetricType::Gauge,
        None,
    );
    for s in flights() {
        let v = s.cells.sum(IN_FLIGHT_WORD) as i64;
        out.push_str(&names.in_flight);
        out.push('{');
        out.push_str(&s.labels);
        out.push_str("} ");
        out.push_str(itoa::Buffer::new().format(v));
        out.push('\n');
    }

    write_header(
        out,
        format,
        &names.request_size,
        "HTTP request body bytes read by the application, by method and route template.",
        MetricType::Histogram,
        Some("bytes"),
    );
    for s in flights() {
        write_histogram(
            out,
            &names.request_size,
            &s.labels,
            &s.cells,
            layout.request_size,
            &inner.size_le,
            1.0,
            &mut cumulative,
        );
    }

    write_header(
        out,
        format,
        &names.response_size,
        "HTTP response body bytes sent, by method, route template and status.",
        MetricType::Histogram,
        Some("bytes"),
    );
    for s in responses() {
        write_histogram(
            out,
            &names.response_size,
            &s.labels,
            &s.cells,
            layout.response_size,
            &inner.size_le,
            1.0,
            &mut cumulative,
        );
    }

    let dropped = "pf_metrics_dropped_series";
    write_header(
        out,
        format,
        dropped,
        "Requests recorded into the overflow series because the series or route cap was reached.",
        MetricType::Counter,
        None,
    );
    out.push_str(dropped);
    out.push_str("_total");
    if !inner.const_labels.is_empty() {
        out.push('{');
        out.push_str(&inner.const_labels);
        out.push('}');
    }
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(inner.dropped_total()));
    out.push('\n');
}

#[inline]
pub(crate) fn write_sample(out: &mut String, name: &str, suffix: &str, labels: &str, value: u64) {
    out.push_str(name);
    out.push_str(suffix);
    out.push('{');
    out.push_str(labels);
    out.push_str("} ");
    out.push_str(itoa::Buffer::new().format(value));
    out.push('\n');
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    cells: &crate::series::Cells,
    layout: HistogramLayout,
    le: &[Box<str>],
    // Stored integers per written unit: 1e9 for nanoseconds written as seconds.
    scale: f64,
    cumulative: &mut Vec<u64>,
) {
    let (count, sum) = cells.histogram(layout, cumulative);
    let mut itoa_buf = itoa::Buffer::new();
    for (bound, n) in le.iter().zip(cumulative.iter()) {
        out.push_str(name);
        out.push_str("_bucket{");
        out.push_str(labels);
        out.push_str(",le=\"");
        out.push_str(bound);
        out.push_str("\"} ");
        out.push_str(itoa_buf.format(*n));
        out.push('\n');
    }
    out.push_str(name);
    out.push_str("_bucket{");
    out.push_str(labels);
    out.push_str(",le=\"+Inf\"} ");
    out.push_str(itoa_buf.format(count));
    out.push('\n');
    out.push_str(name);
    out.push_str("_sum{");
    out.push_str(labels);
    out.push_str("} ");
    if scale == 1.0 {
        out.push_str(itoa_buf.format(sum));
    } else {
        write_f64(out, sum as f64 / scale);
    }
    out.push('\n');
    write_sample(out, name, "_count", labels, count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        let mut s = String::new();
        escape_label_value("a\"b\\c\nd", &mut s);
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

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

    #[test]
    fn floats_are_written_canonically() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn collector_families_follow_the_format() {
        struct C;
        impl Collector for C {
            fn collect(&self, out: &mut MetricsEncoder<'_>) {
                out.family(
                    "jobs_done_total",
                    "Jobs \"done\".\nSecond line",
                    MetricType::Counter,
                    None,
                )
                .counter(&[("queue", "a\"b")], 2.0);
                out.family(
                    "latency_seconds",
                    "Latency.",
                    MetricType::Histogram,
                    Some("seconds"),
                )
                .histogram(&[], &[(0.5, 1), (1.0, 2)], 3, 4.25);
            }
        }
        let r = MetricsRegistry::builder()
            .const_label("svc", "x")
            .build()
            .unwrap();
        r.register_collector(C);
        let text = r.encode(Format::Prometheus);
        assert!(text.contains("# HELP jobs_done_total Jobs \"done\".\\nSecond line\n"));
        assert!(text.contains("# TYPE jobs_done_total counter\n"));
        assert!(text.contains("jobs_done_total{svc=\"x\",queue=\"a\\\"b\"} 2\n"));
        assert!(text.contains("latency_seconds_bucket{svc=\"x\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("latency_seconds_sum{svc=\"x\"} 4.25\n"));
        let om = r.encode(Format::OpenMetrics);
        assert!(om.contains("# TYPE jobs_done counter\n"));
        assert!(om.contains("# UNIT latency_seconds seconds\n"));
        assert!(om.ends_with("# EOF\n"));
    }
}
