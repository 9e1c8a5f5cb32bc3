//! The histograms of the registry's own series, written through the shared
//! text writer: durations (with exemplars in OpenMetrics, feature
//! `exemplars`) and body sizes.

use crate::encoding::format::Format;
use crate::encoding::text::write_histogram;
use crate::storage::series::{Cells, HistogramLayout};
use crate::storage::store::ResponseSeries;

/// A duration histogram (stored in nanoseconds, written in seconds), with
/// exemplars on its buckets in OpenMetrics.
pub(super) fn write_duration_histogram(
    out: &mut String,
    format: Format,
    name: &str,
    series: &ResponseSeries,
    layout: HistogramLayout,
    le: &[Box<str>],
    cumulative: &mut Vec<u64>,
) {
    let (count, sum) = series.cells.histogram(layout, cumulative);
    let buckets = le.iter().map(|b| &**b).zip(cumulative.iter().copied());
    let seconds = sum as f64 / 1e9;
    #[cfg(feature = "exemplars")]
    if format == Format::OpenMetrics
        && let Some(slots) = series.exemplars.slots()
    {
        write_histogram(
            out,
            name,
            &series.labels,
            buckets,
            count,
            seconds,
            |i, out| {
                exemplars::write(out, &slots[i]);
            },
        );
        return;
    }
    let _ = format;
    write_histogram(
        out,
        name,
        &series.labels,
        buckets,
        count,
        seconds,
        |_, _| {},
    );
}

/// A body-size histogram (bytes, written as integers).
pub(super) fn write_size_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    cells: &Cells,
    layout: HistogramLayout,
    le: &[Box<str>],
    cumulative: &mut Vec<u64>,
) {
    let (count, sum) = cells.histogram(layout, cumulative);
    let buckets = le.iter().map(|b| &**b).zip(cumulative.iter().copied());
    write_histogram(out, name, labels, buckets, count, sum, |_, _| {});
}

#[cfg(feature = "exemplars")]
mod exemplars {
    use crate::encoding::text::format_float;
    use crate::storage::exemplar::Slot;

    /// ` # {trace_id="..."} 0.012 1700000000.123`
    pub(super) fn write(out: &mut String, slot: &Slot) {
        use std::fmt::Write as _;
        if let Some(e) = slot.read() {
            let _ = write!(
                out,
                " # {{trace_id=\"{:032x}\"}} {} {}.{:03}",
                e.trace,
                format_float(e.nanos as f64 / 1e9),
                e.unix_millis / 1000,
                e.unix_millis % 1000
            );
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn exemplars_are_written_with_trace_value_and_timestamp() {
            let s = Slot::default();
            let mut out = String::new();
            write(&mut out, &s);
            assert_eq!(out, "", "an empty slot writes nothing");
            s.write(u128::MAX - 5, 7, 1_700_000_000_123);
            write(&mut out, &s);
            assert_eq!(
                out,
                " # {trace_id=\"fffffffffffffffffffffffffffffffa\"} 7e-9 1700000000.123"
            );
        }
    }
}
