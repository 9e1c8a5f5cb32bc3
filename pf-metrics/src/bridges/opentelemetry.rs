//! OpenTelemetry interop: an application's own OpenTelemetry meter
//! instruments on the same `/metrics` endpoint as pf's, through
//! `opentelemetry-prometheus`.

use opentelemetry_prometheus::PrometheusExporter;
use prometheus::proto::MetricType as PromType;

use crate::encoding::collector::{Collector, MetricsEncoder};
use crate::encoding::format::MetricType;

/// Writes the instruments of an OpenTelemetry `SdkMeterProvider` on pf's
/// `/metrics`, so a service keeps one scrape target when part of its code
/// (or a library it uses) records through the OpenTelemetry metrics API.
///
/// [`OpenTelemetryCollector::new`] returns the reader to give to the meter
/// provider and the collector to register with the
/// [`MetricsRegistry`](crate::MetricsRegistry). Names follow
/// `opentelemetry-prometheus` (`http.client.duration` in seconds becomes
/// `http_client_duration_seconds`, counters get `_total`); the registry's
/// constant labels are added, and the format (Prometheus text or
/// OpenMetrics) is the scrape's. This is interop, not pf's hot path: pf's
/// own HTTP, database and cache instruments do not go through OpenTelemetry.
///
/// ```
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
/// use pf_metrics::{Format, MetricsRegistry, OpenTelemetryCollector};
///
/// let registry = MetricsRegistry::new();
/// let (reader, collector) = OpenTelemetryCollector::new().unwrap();
/// registry.register_collector(collector);
/// let provider = SdkMeterProvider::builder().with_reader(reader).build();
///
/// let jobs = provider.meter("billing").u64_counter("jobs.done").build();
/// jobs.add(3, &[opentelemetry::KeyValue::new("queue", "invoices")]);
///
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains(r#"jobs_done_total{queue="invoices",otel_scope_name="billing"} 3"#));
/// ```
pub struct OpenTelemetryCollector {
    registry: prometheus::Registry,
}

impl std::fmt::Debug for OpenTelemetryCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTelemetryCollector")
            .finish_non_exhaustive()
    }
}

impl OpenTelemetryCollector {
    /// The reader for `SdkMeterProvider::builder().with_reader(..)` and the
    /// collector for [`MetricsRegistry::register_collector`](crate::MetricsRegistry::register_collector).
    /// `target_info` is left out: the scrape target's labels already say which service it is.
    pub fn new() -> Result<(PrometheusExporter, Self), opentelemetry_sdk::error::OTelSdkError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .build()?;
        Ok((exporter, Self { registry }))
    }
}

impl Collector for OpenTelemetryCollector {
    fn collect(&self, out: &mut MetricsEncoder<'_>) {
        for family in self.registry.gather() {
            let kind = match family.get_field_type() {
                PromType::COUNTER => MetricType::Counter,
                PromType::HISTOGRAM => MetricType::Histogram,
                PromType::GAUGE | PromType::UNTYPED => MetricType::Gauge,
                // OpenTelemetry has no summaries; nothing else is written.
                _ => continue,
            };
            let name = family.name();
            let unit = ["seconds", "bytes"]
                .into_iter()
                .find(|u| name.strip_suffix(u).is_some_and(|n| n.ends_with('_')));
            // Instruments without a description still get help text (Prometheus lints it).
            let help = match family.help() {
                "" => "An OpenTelemetry instrument without a description.",
                help => help,
            };
            let mut encoder = out.family(name, help, kind, unit);
            for metric in family.get_metric() {
                let labels: Vec<(&str, &str)> = metric
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                match kind {
                    MetricType::Counter => {
                        encoder.counter(&labels, metric.get_counter().get_value());
                    }
                    MetricType::Gauge => {
                        encoder.gauge(&labels, metric.get_gauge().get_value());
                    }
                    MetricType::Histogram => {
                        let h = metric.get_histogram();
                        let buckets: Vec<(f64, u64)> = h
                            .get_bucket()
                            .iter()
                            .filter(|b| b.upper_bound().is_finite())
                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                            .collect();
                        encoder.histogram(
                            &labels,
                            &buckets,
                            h.get_sample_count(),
                            h.get_sample_sum(),
                        );
                    }
                }
            }
        }
    }
}
