//! The one writer of the text formats (Prometheus 0.0.4 and OpenMetrics 1.0):
//! family headers, samples and histograms, used alike by the registry's own
//! series (labels rendered once per series) and by [`Collector`](crate::Collector)s
//! (labels rendered per scrape).

use std::fmt::Write as _;

use crate::encoding::format::{Format, MetricType};

/// A sample value as the text formats write it: integers exactly, floats in
/// their shortest round-trip form.
pub(crate) trait Value: Copy {
    fn write(self, out: &mut String);
}

impl Value for u64 {
    #[inline]
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self));
    }
}

impl Value for i64 {
    #[inline]
    fn write(self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self));
    }
}

impl Value for f64 {
    #[inline]
    fn write(self, out: &mut String) {
        write_f64(out, self);
    }
}

/// `name{labels,le="bound"} value`, without the line end. `labels` is
/// rendered already (`a="b",c="d"`, escaped) and may be empty; braces are
/// written only when there is a label.
#[inline]
pub(crate) fn write_sample_value(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    le: Option<&str>,
    value: impl Value,
) {
    out.push_str(name);
    out.push_str(suffix);
    match (labels.is_empty(), le) {
        (true, None) => {}
        (false, None) => {
            out.push('{');
            out.push_str(labels);
            out.push('}');
        }
        (empty, Some(le)) => {
            out.push('{');
            if !empty {
                out.push_str(labels);
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push_str("\"}");
        }
    }
    out.push(' ');
    value.write(out);
}

/// One sample line: `name{labels} value`.
#[inline]
pub(crate) fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    value: impl Value,
) {
    write_sample_value(out, name, suffix, labels, None, value);
    out.push('\n');
}

/// A histogram's samples: one `_bucket` line per `(bound, cumulative count)`,
/// the `+Inf` bucket from `count`, `_sum` and `_count`. `exemplar(i, out)`
/// may append an exemplar to bucket `i`'s line (`i == n` for `+Inf`).
pub(crate) fn write_histogram<B: AsRef<str>>(
    out: &mut String,
    name: &str,
    labels: &str,
    buckets: impl IntoIterator<Item = (B, u64)>,
    count: u64,
    sum: impl Value,
    mut exemplar: impl FnMut(usize, &mut String),
) {
    let mut n = 0;
    for (bound, cumulative) in buckets {
        write_sample_value(
            out,
            name,
            "_bucket",
            labels,
            Some(bound.as_ref()),
            cumulative,
        );
        exemplar(n, out);
        out.push('\n');
        n += 1;
    }
    write_sample_value(out, name, "_bucket", labels, Some("+Inf"), count);
    exemplar(n, out);
    out.push('\n');
    write_sample(out, name, "_sum", labels, sum);
    write_sample(out, name, "_count", labels, count);
}

/// A family's `# HELP`, `# TYPE` and (OpenMetrics) `# UNIT` lines.
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
    fn floats_are_written_canonically() {
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.005), "0.005");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn samples_write_braces_only_around_labels() {
        let mut s = String::new();
        write_sample(&mut s, "up", "", "", 1u64);
        write_sample(&mut s, "x", "_total", "a=\"b\"", 2.5);
        write_histogram(&mut s, "h", "", [("1", 3)], 4, 0.5, |_, _| {});
        write_histogram(&mut s, "g", "k=\"v\"", [("1", 1)], 1, 7u64, |i, out| {
            out.push_str(if i == 1 { " #inf" } else { " #1" })
        });
        assert_eq!(
            s,
            "up 1\nx_total{a=\"b\"} 2.5\n\
             h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_sum 0.5\nh_count 4\n\
             g_bucket{k=\"v\",le=\"1\"} 1 #1\ng_bucket{k=\"v\",le=\"+Inf\"} 1 #inf\n\
             g_sum{k=\"v\"} 7\ng_count{k=\"v\"} 1\n"
        );
    }
}
