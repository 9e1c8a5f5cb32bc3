//! An application's OpenTelemetry meter instruments on pf's `/metrics`, in both formats.

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use pf_metrics::{Format, MetricsRegistry, OpenTelemetryCollector};

#[test]
fn otel_counters_gauges_and_histograms_share_the_scrape() {
    let registry = MetricsRegistry::builder()
        .const_label("service", "billing")
        .unwrap()
        .build()
        .unwrap();
    let (reader, collector) = OpenTelemetryCollector::new().unwrap();
    registry.register_collector(collector);
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let meter = provider.meter("billing");
    let jobs = meter.u64_counter("jobs.done").build();
    let queue = meter.i64_up_down_counter("jobs.queued").build();
    let latency = meter
        .f64_histogram("job.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    jobs.add(3, &[KeyValue::new("queue", "invoices")]);
    queue.add(4, &[]);
    for v in [0.05, 0.5, 5.0] {
        latency.record(v, &[KeyValue::new("queue", "invoices")]);
    }
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = registry.encode(format);
        assert!(
            text.contains(
                r#"jobs_done_total{service="billing",queue="invoices",otel_scope_name="billing"} 3"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"jobs_queued{service="billing",otel_scope_name="billing"} 4"#));
        assert!(text.contains(
            r#"job_duration_seconds_bucket{service="billing",queue="invoices",otel_scope_name="billing",le="1"} 2"#
        ));
        assert!(text.contains(
            r#"job_duration_seconds_count{service="billing",queue="invoices",otel_scope_name="billing"} 3"#
        ));
        // pf's own families are still there, once.
        assert_eq!(
            text.matches("# TYPE http_request_duration_seconds histogram")
                .count(),
            1
        );
        pf_tests::promtool::promtool_check_exposition(&text)
            .unwrap_or_else(|e| panic!("{format:?}: {e}\n{text}"));
    }
}
