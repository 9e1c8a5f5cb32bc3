//! [`OtlpPush`]: its settings, the background task, and the OTLP/HTTP transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

use super::convert::{request, string_attribute};
use crate::encoding::collector::{Collector, MetricsEncoder};
use crate::encoding::format::MetricType;
use crate::registry::MetricsRegistry;
use crate::storage::store::Store;

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
    inner: Arc<Store>,
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

/// Why an [`OtlpPush`] could not start. Its [`source`](std::error::Error::source)
/// is the underlying error when there is one (an invalid URL or header, no
/// Tokio runtime).
#[derive(Debug)]
pub struct OtlpPushError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl OtlpPushError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl std::fmt::Display for OtlpPushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OtlpPushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

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
            .map_err(|e| OtlpPushError::with_source("OTLP endpoint is not a valid URL", e))?;
        if uri.scheme_str() != Some("http") {
            return Err(OtlpPushError::new(
                "OTLP endpoint must be http:// (send to a local OpenTelemetry Collector; it handles TLS)",
            ));
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                OtlpPushError::with_source(format!("invalid OTLP header name {name:?}"), e)
            })?;
            // The value is a secret as often as not: not in the message.
            let value = http::HeaderValue::from_str(value).map_err(|e| {
                OtlpPushError::with_source(format!("invalid value for OTLP header {name}"), e)
            })?;
            headers.append(name, value);
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| OtlpPushError::with_source("OtlpPush::spawn needs a Tokio runtime", e))?;
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
    inner: Arc<Store>,
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
