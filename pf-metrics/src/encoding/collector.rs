//! The public collector API: [`Collector`]s write their families through a
//! [`MetricsEncoder`] at scrape time.

use crate::encoding::format::{Format, MetricType};
use crate::encoding::text::{
    escape_label_value, format_float, write_header, write_histogram, write_sample,
};

/// Something that writes metric families at scrape time (health checks,
/// process metrics, ...). Register it with [`MetricsRegistry::register_collector`](crate::MetricsRegistry::register_collector).
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
    /// The rendered labels of the sample being written (reused).
    labels: String,
}

impl<'e> MetricsEncoder<'e> {
    /// An encoder appending to `out`; `const_labels` (rendered, no trailing
    /// comma) go first on every sample.
    pub(crate) fn new(out: &'e mut String, format: Format, const_labels: &'e str) -> Self {
        Self {
            out,
            format,
            const_labels,
        }
    }

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
            labels: String::new(),
        }
    }
}

impl FamilyEncoder<'_, '_> {
    /// Writes a counter sample (`name_total`).
    pub fn counter(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.render_labels(labels);
        write_sample(self.encoder.out, &self.name, "_total", &self.labels, value);
        self
    }

    /// Writes a gauge sample.
    pub fn gauge(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.render_labels(labels);
        write_sample(self.encoder.out, &self.name, "", &self.labels, value);
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
        self.render_labels(labels);
        write_histogram(
            self.encoder.out,
            &self.name,
            &self.labels,
            buckets.iter().map(|&(le, n)| (format_float(le), n)),
            count,
            sum,
            |_, _| {},
        );
        self
    }

    /// The constant labels, then `labels` (names sanitized, values escaped).
    fn render_labels(&mut self, labels: &[(&str, &str)]) {
        let out = &mut self.labels;
        out.clear();
        out.push_str(self.encoder.const_labels);
        for (k, v) in labels {
            if !out.is_empty() {
                out.push(',');
            }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::MetricsRegistry;

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
            .unwrap()
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
