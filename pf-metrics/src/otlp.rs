//! OTLP push of the HTTP metrics with OpenTelemetry semantic-convention names.
//!
//! A background task snapshots the registry every interval and sends one OTLP/HTTP
//! protobuf request (`POST {endpoint}/v1/metrics`), cumulative temporality. Nothing is
//! queued: every export is a fresh snapshot of cumulative counts, so a collector that is
//! down costs failed attempts (counted) and no memory, and the first export after it
//! returns carries everything recorded meanwhile. The request path is unchanged: the push
//! only reads the same lock-free series the `/metrics` endpoint reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use crate::encode::{Collector, MetricType, MetricsEncoder};
use crate::registry::{IN_FLIGHT_WORD, Inner, METHODS, MetricsRegistry, UNMATCHED_ROUTE};
use crate::series::{Cells, HistogramLayout};

/// Pushes a registry's HTTP metrics to an OpenTelemetry collector over OTLP/HTTP
/// (protobuf), with the semantic-convention names and attributes whatever the
/// registry's [`Naming`](crate::Naming):
///
/// | OTLP metric | from |
/// |---|---|
/// | `http.server.request.duration` (histogram, `s`) | `http_request_duration_seconds` |
/// | `http.server.active_requests` (up-down counter) | `http_requests_in_flight` |
/// | `http.server.request.body.size` (histogram, `By`) | `http_request_size_bytes` |
/// | `http.server.response.body.size` (histogram, `By`) | `http_response_size_bytes` |
///
/// Attributes: `http.request.method`, `http.route` (absent for requests that matched no
/// route), `http.response.status_code`, and `error.type` for 5xx. The push runs on the
/// Tokio runtime it is spawned from, every `interval` (default 60 s, OpenTelemetry's
/// default), each request bounded by `timeout` (default 10 s). Its outcomes are counted on
/// the registry's `/metrics` as `pf_metrics_otlp_exports_total{result="ok"|"failed"}`.
/// Plain `http://` endpoints only (a local OpenTelemetry Collector or agent); TLS to a
/// remote backend is the collector's job.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use pf_metrics::{MetricsRegistry, OtlpPush};
///
/// let registry = MetricsRegistry::new();
/// let push = OtlpPush::new(&registry, "http://127.0.0.1:4318")
///     .interval(Duration::from_secs(30))
///     .resource_attribute("service.name", "checkout")
///     .spawn()?;
/// // ... serve ...
/// push.shutdown().await; // one last export
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct OtlpPush {
    inner: Arc<Inner>,
    endpoint: String,
    interval: Duration,
    timeout: Duration,
    headers: Vec<(String, String)>,
    resource: Vec<(String, String)>,
}

impl std::fmt::Debug for OtlpPush {
    // Headers may carry credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpPush")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an [`OtlpPush`] could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpPushError(String);

impl std::fmt::Display for OtlpPushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OtlpPushError {}

impl OtlpPush {
    /// A push of `registry` to `endpoint` (`http://host:4318`; `/v1/metrics` is appended
    /// unless the endpoint already ends with it).
    pub fn new(registry: &MetricsRegistry, endpoint: impl Into<String>) -> Self {
        Self {
            inner: registry.inner.clone(),
            endpoint: endpoint.into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            resource: Vec::new(),
        }
    }

    /// Time between exports (default 60 s; at least 10 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Limit for one export request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A header sent with every export (e.g. an API key); never logged or printed.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A resource attribute (`service.name`, `deployment.environment.name`, ...).
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.push((key.into(), value.into()));
        self
    }

    /// Starts the push on the current Tokio runtime.
    ///
    /// # Errors
    ///
    /// An endpoint that is not a plain `http://` URL, a header that is not valid in HTTP,
    /// or no Tokio runtime.
    pub fn spawn(self) -> Result<OtlpPushHandle, OtlpPushError> {
        let mut url = self.endpoint.trim_end_matches('/').to_owned();
        if !url.ends_with("/v1/metrics") {
            url.push_str("/v1/metrics");
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|_| OtlpPushError("OTLP endpoint is not a valid URL".into()))?;
        if uri.scheme_str() != Some("http") {
            return Err(OtlpPushError(
                "OTLP endpoint must be http:// (send to a local OpenTelemetry Collector; it handles TLS)".into(),
            ));
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| OtlpPushError(format!("invalid OTLP header name {name:?}")))?;
            // The value is a secret as often as not: not in the message.
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| OtlpPushError(format!("invalid value for OTLP header {name}")))?;
            headers.append(name, value);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| OtlpPushError("OtlpPush::spawn needs a Tokio runtime".into()))?;
        let stats = Arc::new(PushStats::default());
        MetricsRegistry {
            inner: self.inner.clone(),
        }
        .register_collector(StatsCollector(stats.clone()));
        let exporter = Arc::new(Exporter {
            inner: self.inner,
            uri,
            headers,
            timeout: self.timeout,
            resource: self
                .resource
                .iter()
                .map(|(k, v)| string_attribute(k, v))
                .collect(),
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .build_http(),
            stats: stats.clone(),
        });
        let interval = self.interval;
        let task = {
            let exporter = exporter.clone();
            runtime.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await; // the first tick is immediate: nothing recorded yet
                loop {
                    ticks.tick().await;
                    exporter.export().await;
                }
            })
        };
        Ok(OtlpPushHandle {
            exporter,
            task,
            stats,
        })
    }
}

/// A running [`OtlpPush`]; dropping it stops the push (without a final export: use
/// [`shutdown`](Self::shutdown) for one).
#[derive(Debug)]
pub struct OtlpPushHandle {
    exporter: Arc<Exporter>,
    task: tokio::task::JoinHandle<()>,
    stats: Arc<PushStats>,
}

impl OtlpPushHandle {
    /// Exports that the collector accepted.
    pub fn exported(&self) -> u64 {
        self.stats.ok.load(Ordering::Relaxed)
    }

    /// Exports that failed (collector unreachable, timed out, or answered with an error).
    pub fn failed(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }

    /// Stops the periodic push and sends one last export (bounded by the timeout); `true`
    /// when the collector accepted it.
    pub async fn shutdown(self) -> bool {
        self.task.abort();
        self.exporter.export().await
    }
}

impl Drop for OtlpPushHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Default)]
struct PushStats {
    ok: AtomicU64,
    failed: AtomicU64,
}

struct StatsCollector(Arc<PushStats>);

impl Collector for StatsCollector {
    fn collect(&self, out: &mut MetricsEncoder<'_>) {
        out.family(
            "pf_metrics_otlp_exports",
            "OTLP metric exports by result (ok, failed).",
            MetricType::Counter,
            None,
        )
        .counter(
            &[("result", "ok")],
            self.0.ok.load(Ordering::Relaxed) as f64,
        )
        .counter(
            &[("result", "failed")],
            self.0.failed.load(Ordering::Relaxed) as f64,
        );
    }
}

struct Exporter {
    inner: Arc<Inner>,
    uri: http::Uri,
    headers: http::HeaderMap,
    timeout: Duration,
    resource: Vec<KeyValue>,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    stats: Arc<PushStats>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// One export; `true` when the collector accepted it.
    async fn export(&self) -> bool {
        let body = request(&self.inner, self.resource.clone()).encode_to_vec();
        let mut req = http::Request::post(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        req.headers_mut().extend(self.headers.clone());
        let sent = tokio::time::timeout(self.timeout, async {
            let response = self.client.request(req).await.ok()?;
            let ok = response.status().is_success();
            // Read the (small) answer so the connection can be reused.
            let _ = response.into_body().collect().await;
            Some(ok)
        })
        .await;
        let ok = matches!(sent, Ok(Some(true)));
        let counter = if ok {
            &self.stats.ok
        } else {
            &self.stats.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
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
        METHODS[usize::from(method)],
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
fn request(inner: &Inner, resource: Vec<KeyValue>) -> ExportMetricsServiceRequest {
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
