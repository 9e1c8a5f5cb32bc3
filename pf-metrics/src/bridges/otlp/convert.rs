//! The registry's series as an OTLP `ExportMetricsServiceRequest`, with the
//! semantic-convention names and attributes.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use pf_http_core::UNMATCHED_ROUTE;
use pf_http_core::internal::METHOD_LABELS;

use crate::storage::series::{Cells, HistogramLayout};
use crate::storage::store::{IN_FLIGHT_WORD, Store};

pub(super) fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `http.request.method` and `http.route` of a series.
fn base_attributes(method: u8, route: &str) -> Vec<KeyValue> {
    let mut attributes = vec![string_attribute(
        "http.request.method",
        METHOD_LABELS[usize::from(method)],
    )];
    if route != UNMATCHED_ROUTE {
        attributes.push(string_attribute("http.route", route));
    }
    attributes
}

/// A histogram data point from a series' cumulative storage.
fn histogram_point(
    cells: &Cells,
    layout: HistogramLayout,
    bounds: &[f64],
    scale: f64,
    attributes: Vec<KeyValue>,
    times: (u64, u64),
    cumulative: &mut Vec<u64>,
) -> HistogramDataPoint {
    let (count, sum) = cells.histogram(layout, cumulative);
    let mut previous = 0u64;
    let mut bucket_counts: Vec<u64> = cumulative
        .iter()
        .map(|&c| {
            let n = c.wrapping_sub(previous);
            previous = c;
            n
        })
        .collect();
    bucket_counts.push(count.wrapping_sub(previous));
    HistogramDataPoint {
        attributes,
        start_time_unix_nano: times.0,
        time_unix_nano: times.1,
        count,
        sum: Some(sum as f64 / scale),
        bucket_counts,
        explicit_bounds: bounds.to_vec(),
        ..Default::default()
    }
}

/// The export request for the registry's current state.
pub(super) fn request(inner: &Store, resource: Vec<KeyValue>) -> ExportMetricsServiceRequest {
    let times = (unix_nanos(inner.created), unix_nanos(SystemTime::now()));
    let layout = &inner.layout;
    let dropped = inner.dropped.load(Ordering::Relaxed) > 0;
    let responses: Vec<_> = inner
        .responses
        .iter()
        .chain(dropped.then_some(&inner.overflow_response))
        .collect();
    let flights: Vec<_> = inner
        .flights
        .iter()
        .chain(dropped.then_some(&inner.overflow_flight))
        .collect();
    let duration_bounds: Vec<f64> = inner
        .duration_bounds
        .iter()
        .map(|&n| n as f64 / 1e9)
        .collect();
    let size_bounds: Vec<f64> = inner.size_bounds.iter().map(|&n| n as f64).collect();
    let mut cumulative = Vec::with_capacity(32);

    let mut duration = Vec::with_capacity(responses.len());
    let mut response_size = Vec::with_capacity(responses.len());
    for s in &responses {
        let a = &s.attributes;
        let mut attributes = base_attributes(a.method, &a.route);
        if a.status != 0 {
            attributes.push(int_attribute(
                "http.response.status_code",
                i64::from(a.status),
            ));
            if a.status >= 500 {
                attributes.push(string_attribute("error.type", &a.status.to_string()));
            }
        }
        duration.push(histogram_point(
            &s.cells,
            layout.duration,
            &duration_bounds,
            1e9,
            attributes.clone(),
            times,
            &mut cumulative,
        ));
        response_size.push(histogram_point(
            &s.cells,
            layout.response_size,
            &size_bounds,
            1.0,
            attributes,
            times,
            &mut cumulative,
        ));
    }
    let mut active = Vec::with_capacity(flights.len());
    let mut request_size = Vec::with_capacity(flights.len());
    for s in &flights {
        let attributes = base_attributes(s.attributes.method, &s.attributes.route);
        active.push(NumberDataPoint {
            attributes: attributes.clone(),
            start_time_unix_nano: times.0,
            time_unix_nano: times.1,
            value: Some(number_data_point::Value::AsInt(
                s.cells.sum(IN_FLIGHT_WORD) as i64
            )),
            ..Default::default()
        });
        request_size.push(histogram_point(
            &s.cells,
            layout.request_size,
            &size_bounds,
            1.0,
            attributes,
            times,
            &mut cumulative,
        ));
    }
    let cumulative_temporality = AggregationTemporality::Cumulative as i32;
    let histogram = |name: &str, description: &str, unit: &str, points| Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: cumulative_temporality,
        })),
        ..Default::default()
    };
    let metrics = vec![
        histogram(
            "http.server.request.duration",
            "Duration of HTTP server requests.",
            "s",
            duration,
        ),
        Metric {
            name: "http.server.active_requests".to_owned(),
            description: "Number of active HTTP server requests.".to_owned(),
            unit: "{request}".to_owned(),
            data: Some(metric::Data::Sum(Sum {
                data_points: active,
                aggregation_temporality: cumulative_temporality,
                is_monotonic: false,
            })),
            ..Default::default()
        },
        histogram(
            "http.server.request.body.size",
            "Size of HTTP server request bodies.",
            "By",
            request_size,
        ),
        histogram(
            "http.server.response.body.size",
            "Size of HTTP server response bodies.",
            "By",
            response_size,
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "pf-metrics".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
