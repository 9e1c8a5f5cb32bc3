//! The registry's HTTP families: request counter, duration, in-flight,
//! request and response sizes, dropped series.

use std::sync::atomic::Ordering;

use super::series::{write_duration_histogram, write_size_histogram};
use crate::config::Timing;
use crate::encoding::format::{Format, MetricType};
use crate::encoding::text::{write_header, write_sample};
use crate::storage::store::{IN_FLIGHT_WORD, Store};

/// Writes the HTTP families.
pub(super) fn encode(inner: &Store, out: &mut String, format: Format) {
    let names = &inner.names;
    let layout = &inner.layout;
    let overflow_response =
        (inner.dropped.load(Ordering::Relaxed) > 0).then_some(&inner.overflow_response);
    let overflow_flight =
        (inner.dropped.load(Ordering::Relaxed) > 0).then_some(&inner.overflow_flight);
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
        Timing::EndOfBody => {
            "HTTP request duration in seconds, from the request reaching the layer to the end of the response body."
        }
        Timing::Headers => {
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
        write_duration_histogram(
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
        write_sample(out, &names.in_flight, "", &s.labels, v);
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
        write_size_histogram(
            out,
            &names.request_size,
            &s.labels,
            &s.cells,
            layout.request_size,
            &inner.size_le,
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
        write_size_histogram(
            out,
            &names.response_size,
            &s.labels,
            &s.cells,
            layout.response_size,
            &inner.size_le,
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
    write_sample(
        out,
        dropped,
        "_total",
        &inner.const_labels,
        inner.dropped_total(),
    );
}
