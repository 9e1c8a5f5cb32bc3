//! The metrics registry: configuration, route interning and series storage.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::encode::{Collector, escape_label_value};
use crate::operation::{DEFAULT_OPERATION_BUCKETS, OperationConfig, Scopes};
use crate::series::{Cells, HistogramLayout, default_shards};
use crate::table::{Lookup, SeriesTable};

/// Route label of requests that matched no route template (404 scanners).
pub const UNMATCHED_ROUTE: &str = "__unmatched__";
/// Route label used once the route table is full.
pub const OVERFLOW_ROUTE: &str = "__overflow__";

/// Default request-duration buckets in seconds. They include 0.5 s, the
/// latency objective "P95 ≤ 500 ms".
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Default body-size buckets in bytes (powers of four from 64 B to 16 MiB).
pub const DEFAULT_SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// Which metric and label names the registry writes.
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry, Naming};
///
/// let registry = MetricsRegistry::builder().naming(Naming::OpenTelemetry).build().unwrap();
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("# TYPE http_server_request_duration_seconds histogram"));
/// assert!(!text.contains("http_requests_total"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Naming {
    /// `http_requests_total`, `http_request_duration_seconds`, ... with labels
    /// `method`, `route`, `status`: the names Prometheus users and the original
    /// dashboards and alerts expect.
    #[default]
    Prometheus,
    /// OpenTelemetry HTTP server semantic conventions as Prometheus names:
    /// `http_server_request_duration_seconds`, `http_server_active_requests`,
    /// `http_server_request_body_size_bytes`, `http_server_response_body_size_bytes`
    /// with labels `http_request_method`, `http_route`,
    /// `http_response_status_code` and `error_type` (5xx only). There is no
    /// separate request counter: the duration histogram's `_count` is it.
    OpenTelemetry,
}

/// When a request's duration is taken.
///
/// ```
/// use pf_metrics::{MetricsRegistry, Timing};
///
/// // Time to first byte instead of time to the end of the body.
/// let registry = MetricsRegistry::builder().timing(Timing::Headers).build().unwrap();
/// # let _ = registry;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timing {
    /// When the last byte of the response body has been handed to the server
    /// (or the body is dropped): what Node's `res.on('finish')` measured, and
    /// the time a client waits for a whole response. The default.
    #[default]
    EndOfBody,
    /// When the response head is ready (time to first byte).
    Headers,
}

/// A configuration the registry cannot work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Builds a [`MetricsRegistry`].
///
/// ```
/// use pf_metrics::{MetricsRegistry, Naming};
///
/// let registry = MetricsRegistry::builder()
///     .prefix("shop")
///     .const_label("service", "checkout")
///     .duration_buckets([0.01, 0.1, 0.5, 1.0])
///     .max_series(5_000)
///     .exclude_route("/metrics")
///     .build()
///     .expect("valid configuration");
/// assert!(registry.encode(pf_metrics::Format::Prometheus).contains("# TYPE shop_http_requests_total counter"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct MetricsRegistryBuilder {
    naming: Naming,
    prefix: Option<String>,
    const_labels: Vec<(String, String)>,
    duration_buckets: Vec<f64>,
    size_buckets: Vec<f64>,
    max_series: usize,
    max_routes: usize,
    group_status: bool,
    timing: Timing,
    exclude: Vec<String>,
    shards: usize,
    clock: Option<quanta::Clock>,
    operation_prefix: String,
    operation_buckets: Vec<f64>,
    slow_operation: std::time::Duration,
    max_operations: usize,
}

impl fmt::Debug for MetricsRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRegistryBuilder")
            .field("naming", &self.naming)
            .field("prefix", &self.prefix)
            .field("const_labels", &self.const_labels)
            .field("max_series", &self.max_series)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl Default for MetricsRegistryBuilder {
    fn default() -> Self {
        Self {
            naming: Naming::default(),
            prefix: None,
            const_labels: Vec::new(),
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            size_buckets: DEFAULT_SIZE_BUCKETS.to_vec(),
            max_series: 2_000,
            max_routes: 1_000,
            group_status: false,
            timing: Timing::default(),
            exclude: Vec::new(),
            shards: default_shards(),
            clock: None,
            operation_prefix: "pivotal".to_owned(),
            operation_buckets: DEFAULT_OPERATION_BUCKETS.to_vec(),
            slow_operation: std::time::Duration::from_millis(100),
            max_operations: 200,
        }
    }
}

impl MetricsRegistryBuilder {
    /// Metric and label names: Prometheus (default) or OpenTelemetry semantic conventions.
    pub fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// A prefix for the HTTP metric names: `prefix("shop")` gives `shop_http_requests_total`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// A label written on every sample (e.g. `service`, `env`).
    pub fn const_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.const_labels.push((name.into(), value.into()));
        self
    }

    /// Request-duration bucket bounds in seconds (sorted, finite, positive).
    pub fn duration_buckets(mut self, seconds: impl IntoIterator<Item = f64>) -> Self {
        self.duration_buckets = seconds.into_iter().collect();
        self
    }

    /// Body-size bucket bounds in bytes (sorted, finite, positive).
    pub fn size_buckets(mut self, bytes: impl IntoIterator<Item = f64>) -> Self {
        self.size_buckets = bytes.into_iter().collect();
        self
    }

    /// Hard cap on series per table (default 2,000). Past it, requests are
    /// recorded into one overflow series (route `__overflow__`, method
    /// `_OTHER`, status `_OTHER`) and counted by `pf_metrics_dropped_series_total`.
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max.max(1);
        self
    }

    /// Hard cap on distinct route templates (default 1,000); more become `__overflow__`.
    pub fn max_routes(mut self, max: usize) -> Self {
        self.max_routes = max.max(1);
        self
    }

    /// Writes status classes (`2xx`, `4xx`, ...) instead of exact codes.
    pub fn group_status(mut self, group: bool) -> Self {
        self.group_status = group;
        self
    }

    /// When the duration is taken; see [`Timing`].
    pub fn timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Routes not to record, by template: an exact template (`/metrics`) or a
    /// prefix ending in `*` (`/internal/*`). Matched once per template, not per request.
    pub fn exclude_route(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// Number of per-thread shards per series (rounded up to a power of two).
    /// Default: the machine's parallelism, at most 8. The first that many
    /// threads of the process each own a shard and update it without atomic
    /// read-modify-writes; later threads share atomically updated shards.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// The clock durations are read from; tests pass `quanta::Clock::mock()`.
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Prefix of the repository and cache metric names (default `pivotal`,
    /// the original system's: `pivotal_repository_operation_duration_seconds`);
    /// an empty prefix gives `repository_operation_duration_seconds`.
    ///
    /// ```
    /// use pf_metrics::{Format, MetricsRegistry};
    ///
    /// let registry = MetricsRegistry::builder().operation_prefix("shop").build().unwrap();
    /// let users = registry.repository("users");
    /// # futures_util::FutureExt::now_or_never(users.time("find", async { Ok::<_, ()>(()) }));
    /// assert!(registry.encode(Format::Prometheus).contains("shop_repository_operation_duration_seconds_count"));
    /// ```
    pub fn operation_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.operation_prefix = prefix.into();
        self
    }

    /// Repository and cache operation-duration bucket bounds in seconds
    /// (default [`DEFAULT_OPERATION_BUCKETS`](crate::DEFAULT_OPERATION_BUCKETS), 0.5 ms to 10 s).
    pub fn operation_buckets(mut self, seconds: impl IntoIterator<Item = f64>) -> Self {
        self.operation_buckets = seconds.into_iter().collect();
        self
    }

    /// Repository operations that take longer than this are counted by
    /// `pivotal_repository_slow_operations_total` (default 100 ms). Use a
    /// bucket bound as the threshold so that the histogram agrees with the counter.
    pub fn slow_operation_threshold(mut self, threshold: std::time::Duration) -> Self {
        self.slow_operation = threshold;
        self
    }

    /// Hard cap on distinct operation names per repository or cache (default
    /// 200); past it calls are recorded as operation `__overflow__` and counted
    /// by `pf_metrics_dropped_series_total`.
    pub fn max_operations(mut self, max: usize) -> Self {
        self.max_operations = max.max(1);
        self
    }

    /// Checks the configuration and builds the registry.
    pub fn build(self) -> Result<MetricsRegistry, ConfigError> {
        if let Some(p) = &self.prefix
            && !is_metric_name(p)
        {
            return Err(ConfigError(format!(
                "metric prefix {p:?} is not a valid Prometheus name: use [a-zA-Z_:][a-zA-Z0-9_:]*"
            )));
        }
        let mut rendered_const = String::new();
        for (name, value) in &self.const_labels {
            if !is_label_name(name) {
                return Err(ConfigError(format!(
                    "constant label name {name:?} is not a valid Prometheus label name: use [a-zA-Z_][a-zA-Z0-9_]* not starting with __"
                )));
            }
            rendered_const.push_str(name);
            rendered_const.push_str("=\"");
            escape_label_value(value, &mut rendered_const);
            rendered_const.push_str("\",");
        }
        let duration_bounds = bounds("duration", &self.duration_buckets, 1e9)?;
        let size_bounds = bounds("size", &self.size_buckets, 1.0)?;
        let operation_bounds = bounds("operation", &self.operation_buckets, 1e9)?;
        if !self.operation_prefix.is_empty() && !is_metric_name(&self.operation_prefix) {
            return Err(ConfigError(format!(
                "operation prefix {:?} is not a valid Prometheus name: use [a-zA-Z_:][a-zA-Z0-9_:]*",
                self.operation_prefix
            )));
        }
        let names = Names::new(self.naming, self.prefix.as_deref());
        let layout = Layouts::new(duration_bounds.len(), size_bounds.len());
        let shards = self.shards.next_power_of_two();
        let labels = LabelNames::new(self.naming);

        let unmatched = RouteEntry::new(0, UNMATCHED_ROUTE, false);
        let overflow_route = RouteEntry::new(1, OVERFLOW_ROUTE, false);
        let overflow_flight = FlightSeries::new(
            render_flight_labels(&rendered_const, &labels, "_OTHER", &overflow_route.label),
            &layout,
            shards,
            SeriesAttributes {
                method: (METHODS.len() - 1) as u8,
                route: OVERFLOW_ROUTE.into(),
                status: 0,
            },
        );
        let overflow_response = ResponseSeries::new(
            format!(
                "{rendered_const}{}=\"_OTHER\",{}=\"{}\",{}=\"_OTHER\"",
                labels.method, labels.route, overflow_route.label, labels.status
            ),
            &layout,
            shards,
        )
        .with_attributes(SeriesAttributes {
            method: (METHODS.len() - 1) as u8,
            route: OVERFLOW_ROUTE.into(),
            status: 0,
        });
        let const_labels = rendered_const.trim_end_matches(',').to_owned();
        let operations = Arc::new(OperationConfig {
            prefix: self.operation_prefix,
            bounds: operation_bounds,
            le: self.operation_buckets.into_boxed_slice(),
            slow_nanos: u64::try_from(self.slow_operation.as_nanos()).unwrap_or(u64::MAX),
            max_operations: self.max_operations,
            shards,
        });
        let inner = Inner {
            created: std::time::SystemTime::now(),
            operations,
            scopes: Scopes::default(),
            clock: self.clock.unwrap_or_else(shared_clock),
            routes: SeriesTable::with_capacity(self.max_routes),
            next_route_id: AtomicU32::new(2),
            flights: SeriesTable::with_capacity(self.max_series),
            responses: SeriesTable::with_capacity(self.max_series),
            unmatched,
            overflow_route,
            overflow_flight,
            overflow_response,
            dropped: AtomicU64::new(0),
            collectors: RwLock::new(Vec::new()),
            duration_le: render_le(&self.duration_buckets),
            size_le: render_le(&self.size_buckets),
            duration_bounds,
            size_bounds,
            layout,
            names,
            labels,
            rendered_const,
            const_labels,
            shards,
            group_status: self.group_status,
            timing: self.timing,
            naming: self.naming,
            grpc: crate::grpc::GrpcCell::new(),
            exclude: self.exclude,
        };
        Ok(MetricsRegistry {
            inner: Arc::new(inner),
        })
    }
}

/// Holds every HTTP series and registered [`Collector`], and renders them.
///
/// Cheap to clone (an `Arc`); give one to [`HttpMetricsLayer`](crate::HttpMetricsLayer)
/// and one to the `/metrics` endpoint. No global state: build as many as you like.
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry};
///
/// let registry = MetricsRegistry::new();
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
/// ```
#[derive(Clone)]
pub struct MetricsRegistry {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRegistry")
            .field("routes", &self.inner.routes.len())
            .field("series", &self.inner.responses.len())
            .field("dropped", &self.inner.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRegistry {
    /// A registry with the default configuration.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts a [`MetricsRegistryBuilder`].
    pub fn builder() -> MetricsRegistryBuilder {
        MetricsRegistryBuilder::default()
    }

    /// Adds a collector whose families are written after the HTTP ones on every scrape.
    ///
    /// ```
    /// use pf_metrics::{Collector, Format, MetricType, MetricsEncoder, MetricsRegistry};
    ///
    /// struct QueueDepth;
    /// impl Collector for QueueDepth {
    ///     fn collect(&self, out: &mut MetricsEncoder<'_>) {
    ///         out.family("jobs_queued", "Jobs waiting.", MetricType::Gauge, None)
    ///             .gauge(&[("queue", "mail")], 3.0);
    ///     }
    /// }
    /// let registry = MetricsRegistry::new();
    /// registry.register_collector(QueueDepth);
    /// assert!(registry.encode(Format::Prometheus).contains("jobs_queued{queue=\"mail\"} 3"));
    /// ```
    pub fn register_collector(&self, collector: impl Collector) {
        self.inner
            .collectors
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::new(collector));
    }

    /// Number of requests and operations recorded into an overflow series
    /// because a cap was reached.
    pub fn dropped_series(&self) -> u64 {
        self.inner.dropped_total()
    }

    /// Number of distinct `(method, route, status)` series.
    pub fn series_count(&self) -> usize {
        self.inner.responses.len()
    }
}

/// Metric names, prefix applied.
pub(crate) struct Names {
    /// `grpc_server_handled_total` (Prometheus naming only).
    pub(crate) grpc_handled: Option<String>,
    pub(crate) grpc_duration: String,
    pub(crate) requests: Option<String>,
    pub(crate) duration: String,
    pub(crate) in_flight: String,
    pub(crate) request_size: String,
    pub(crate) response_size: String,
}

impl Names {
    fn new(naming: Naming, prefix: Option<&str>) -> Self {
        let p = |n: &str| match prefix {
            Some(p) if !p.is_empty() => format!("{p}_{n}"),
            _ => n.to_owned(),
        };
        match naming {
            Naming::Prometheus => Self {
                grpc_handled: Some(p("grpc_server_handled")),
                grpc_duration: p("grpc_server_handling_seconds"),
                requests: Some(p("http_requests")),
                duration: p("http_request_duration_seconds"),
                in_flight: p("http_requests_in_flight"),
                request_size: p("http_request_size_bytes"),
                response_size: p("http_response_size_bytes"),
            },
            Naming::OpenTelemetry => Self {
                grpc_handled: None,
                grpc_duration: p("rpc_server_call_duration_seconds"),
                requests: None,
                duration: p("http_server_request_duration_seconds"),
                in_flight: p("http_server_active_requests"),
                request_size: p("http_server_request_body_size_bytes"),
                response_size: p("http_server_response_body_size_bytes"),
            },
        }
    }
}

pub(crate) struct LabelNames {
    method: &'static str,
    route: &'static str,
    status: &'static str,
    error_type: Option<&'static str>,
}

impl LabelNames {
    fn new(naming: Naming) -> Self {
        match naming {
            Naming::Prometheus => Self {
                method: "method",
                route: "route",
                status: "status",
                error_type: None,
            },
            Naming::OpenTelemetry => Self {
                method: "http_request_method",
                route: "http_route",
                status: "http_response_status_code",
                error_type: Some("error_type"),
            },
        }
    }
}

/// Word offsets inside one shard of each series kind.
pub(crate) struct Layouts {
    /// Flight series: `[in_flight, request_size histogram]`.
    pub(crate) request_size: HistogramLayout,
    pub(crate) flight_words: usize,
    /// Response series: `[duration histogram, response_size histogram]`. Every
    /// request is observed exactly once in the duration histogram, so its
    /// count is the request counter: one atomic add fewer per request.
    pub(crate) duration: HistogramLayout,
    pub(crate) response_size: HistogramLayout,
    pub(crate) response_words: usize,
}

pub(crate) const IN_FLIGHT_WORD: usize = 0;

impl Layouts {
    fn new(duration_buckets: usize, size_buckets: usize) -> Self {
        let size_words = HistogramLayout::words(size_buckets);
        let duration_words = HistogramLayout::words(duration_buckets);
        Self {
            request_size: HistogramLayout {
                offset: 1,
                buckets: size_buckets,
            },
            flight_words: 1 + size_words,
            duration: HistogramLayout {
                offset: 0,
                buckets: duration_buckets,
            },
            response_size: HistogramLayout {
                offset: duration_words,
                buckets: size_buckets,
            },
            response_words: duration_words + size_words,
        }
    }
}

/// One interned route template.
pub(crate) struct RouteEntry {
    pub(crate) id: u32,
    pub(crate) name: Box<str>,
    /// The escaped label value.
    pub(crate) label: Box<str>,
    pub(crate) excluded: bool,
}

impl RouteEntry {
    fn new(id: u32, name: &str, excluded: bool) -> Self {
        let mut label = String::with_capacity(name.len());
        escape_label_value(name, &mut label);
        Self {
            id,
            name: name.into(),
            label: label.into_boxed_str(),
            excluded,
        }
    }
}

/// In-flight gauge and request-size histogram of one `(method, route)`.
pub(crate) struct FlightSeries {
    pub(crate) labels: Box<str>,
    pub(crate) cells: Cells,
    /// The label values unrendered, for exporters other than the text exposition.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) attributes: SeriesAttributes,
}

impl FlightSeries {
    fn new(labels: String, layout: &Layouts, shards: usize, attributes: SeriesAttributes) -> Self {
        Self {
            labels: labels.into_boxed_str(),
            cells: Cells::new(layout.flight_words, shards),
            attributes,
        }
    }
}

/// A series' method, route and status as values (the status is 0 for in-flight series, and
/// for the overflow series).
#[derive(Default)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct SeriesAttributes {
    pub(crate) method: u8,
    pub(crate) route: Box<str>,
    pub(crate) status: u16,
}

/// Request counter, duration and response-size histograms of one `(method, route, status)`.
pub(crate) struct ResponseSeries {
    pub(crate) labels: Box<str>,
    pub(crate) cells: Cells,
    /// Latest trace ID per duration bucket (zero-sized without the `exemplars` feature).
    #[cfg_attr(not(feature = "exemplars"), allow(dead_code))]
    pub(crate) exemplars: crate::exemplar::Exemplars,
    /// The label values unrendered, for exporters other than the text exposition.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) attributes: SeriesAttributes,
}

impl ResponseSeries {
    pub(crate) fn new(labels: String, layout: &Layouts, shards: usize) -> Self {
        Self {
            labels: labels.into_boxed_str(),
            cells: Cells::new(layout.response_words, shards),
            exemplars: Default::default(),
            attributes: SeriesAttributes::default(),
        }
    }

    fn with_attributes(mut self, attributes: SeriesAttributes) -> Self {
        self.attributes = attributes;
        self
    }
}

pub(crate) struct Inner {
    /// When the registry was built: the start of every cumulative count (OTLP start time).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) created: std::time::SystemTime,
    /// Repository and cache instruments.
    pub(crate) operations: Arc<OperationConfig>,
    pub(crate) scopes: Scopes,
    pub(crate) clock: quanta::Clock,
    routes: SeriesTable<RouteEntry>,
    next_route_id: AtomicU32,
    pub(crate) flights: SeriesTable<FlightSeries>,
    pub(crate) responses: SeriesTable<ResponseSeries>,
    pub(crate) unmatched: RouteEntry,
    overflow_route: RouteEntry,
    pub(crate) overflow_flight: FlightSeries,
    pub(crate) overflow_response: ResponseSeries,
    pub(crate) dropped: AtomicU64,
    pub(crate) collectors: RwLock<Vec<Arc<dyn Collector>>>,
    pub(crate) duration_bounds: Box<[u64]>,
    pub(crate) size_bounds: Box<[u64]>,
    /// Pre-rendered `le="..."` values.
    pub(crate) duration_le: Box<[Box<str>]>,
    pub(crate) size_le: Box<[Box<str>]>,
    pub(crate) layout: Layouts,
    pub(crate) names: Names,
    labels: LabelNames,
    /// `a="b",` for each constant label (trailing comma), ready to prefix series labels.
    pub(crate) rendered_const: String,
    /// The same without the trailing comma, for collectors.
    pub(crate) const_labels: String,
    pub(crate) shards: usize,
    group_status: bool,
    pub(crate) timing: Timing,
    pub(crate) naming: Naming,
    /// gRPC series, created on the first gRPC call.
    pub(crate) grpc: crate::grpc::GrpcCell,
    exclude: Vec<String>,
}

/// HTTP method index; the last one is `_OTHER`.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

#[inline]
pub(crate) fn method_index(method: &http::Method) -> u8 {
    use http::Method;
    // `Method` compares standard methods by enum tag: no string compare.
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

#[inline]
fn flight_key(route: u32, method: u8) -> u64 {
    (u64::from(route) << 32) | (u64::from(method) << 16)
}

/// Pseudo status for a request whose future was dropped before a response
/// existed: nginx's "client closed request".
pub(crate) const STATUS_CLIENT_CLOSED: u16 = 499;

impl Inner {
    /// Interns a route template; `None` means the request matched no route.
    #[inline]
    pub(crate) fn route(&self, template: Option<&str>) -> &RouteEntry {
        let Some(name) = template else {
            return &self.unmatched;
        };
        let mut seed = 0u64;
        loop {
            let key = name_hash(name, seed);
            let entry = self.routes.get_or_insert(key, || {
                let id = self.next_route_id.fetch_add(1, Ordering::Relaxed);
                RouteEntry::new(id, name, self.is_excluded(name))
            });
            match entry {
                Lookup::Found(e) if *e.name == *name => return e,
                // A 64-bit hash collision between two templates: probe again.
                Lookup::Found(_) => seed += 1,
                Lookup::Full => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return &self.overflow_route;
                }
            }
        }
    }

    fn is_excluded(&self, template: &str) -> bool {
        self.exclude.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => template.starts_with(prefix),
            None => p == template,
        })
    }

    #[inline]
    pub(crate) fn flight(&self, route: &RouteEntry, method: u8) -> &FlightSeries {
        let found = self
            .flights
            .get_or_insert(flight_key(route.id, method), || {
                FlightSeries::new(
                    render_flight_labels(
                        &self.rendered_const,
                        &self.labels,
                        METHODS[method as usize],
                        &route.label,
                    ),
                    &self.layout,
                    self.shards,
                    SeriesAttributes {
                        method,
                        route: route.name.clone(),
                        status: 0,
                    },
                )
            });
        match found {
            Lookup::Found(s) => s,
            Lookup::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                &self.overflow_flight
            }
        }
    }

    /// The response series for a route, method and HTTP status code.
    #[inline]
    pub(crate) fn response(&self, route: &RouteEntry, method: u8, status: u16) -> &ResponseSeries {
        let status = if self.group_status {
            status / 100 * 100
        } else {
            status
        };
        let key = flight_key(route.id, method) | u64::from(status);
        let found = self.responses.get_or_insert(key, || {
            ResponseSeries::new(
                self.render_response_labels(route, method, status),
                &self.layout,
                self.shards,
            )
            .with_attributes(SeriesAttributes {
                method,
                route: route.name.clone(),
                status,
            })
        });
        match found {
            Lookup::Found(s) => s,
            Lookup::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                &self.overflow_response
            }
        }
    }

    fn render_response_labels(&self, route: &RouteEntry, method: u8, status: u16) -> String {
        let status_text = if self.group_status {
            format!("{}xx", status / 100)
        } else {
            status.to_string()
        };
        let mut s = render_flight_labels(
            &self.rendered_const,
            &self.labels,
            METHODS[method as usize],
            &route.label,
        );
        s.push_str(&format!(",{}=\"{status_text}\"", self.labels.status));
        if let Some(error_type) = self.labels.error_type
            && status >= 500
        {
            s.push_str(&format!(",{error_type}=\"{status_text}\""));
        }
        s
    }

    /// HTTP requests and repository / cache calls recorded into overflow series.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped
            .load(Ordering::Relaxed)
            .wrapping_add(self.scopes.dropped())
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    #[inline]
    pub(crate) fn elapsed_nanos(&self, start: u64) -> u64 {
        self.clock.delta_as_nanos(start, self.clock.raw())
    }
}

fn render_flight_labels(
    rendered_const: &str,
    labels: &LabelNames,
    method: &str,
    route_label: &str,
) -> String {
    format!(
        "{rendered_const}{}=\"{method}\",{}=\"{route_label}\"",
        labels.method, labels.route
    )
}

/// One calibrated clock for every registry of the process: calibrating the
/// TSC takes milliseconds, too long to repeat per registry.
fn shared_clock() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

/// FNV-1a over a name's bytes (route templates, operation names): short keys,
/// no allocation, seedable for collisions.
#[inline]
pub(crate) fn name_hash(s: &str, seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x100_0000_01b3);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    // Keep clear of the table's EMPTY marker.
    if h == u64::MAX { h - 1 } else { h }
}

fn bounds(what: &str, values: &[f64], scale: f64) -> Result<Box<[u64]>, ConfigError> {
    if values.is_empty() {
        return Err(ConfigError(format!(
            "{what} buckets: give at least one bound"
        )));
    }
    let mut out = Vec::with_capacity(values.len());
    for w in values.windows(2) {
        if w[0] >= w[1] {
            return Err(ConfigError(format!(
                "{what} buckets must be strictly increasing; {} is followed by {}",
                w[0], w[1]
            )));
        }
    }
    for &v in values {
        if !v.is_finite() || v <= 0.0 {
            return Err(ConfigError(format!(
                "{what} bucket bound {v} must be finite and positive (+Inf is always added)"
            )));
        }
        out.push((v * scale).round() as u64);
    }
    Ok(out.into_boxed_slice())
}

fn render_le(values: &[f64]) -> Box<[Box<str>]> {
    values
        .iter()
        .map(|v| crate::encode::format_float(*v).into_boxed_str())
        .collect()
}

pub(crate) fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_configuration_is_refused_with_a_reason() {
        let err = MetricsRegistry::builder()
            .prefix("1bad")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("not a valid Prometheus name"));
        let err = MetricsRegistry::builder()
            .const_label("__x", "y")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("label name"));
        let err = MetricsRegistry::builder()
            .duration_buckets([0.5, 0.1])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("strictly increasing"));
        let err = MetricsRegistry::builder()
            .size_buckets([f64::INFINITY])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("finite"));
    }

    #[test]
    fn routes_intern_once_and_respect_exclusions_and_cap() {
        let r = MetricsRegistry::builder()
            .exclude_route("/internal/*")
            .exclude_route("/metrics")
            .max_routes(3)
            .build()
            .unwrap();
        let inner = &r.inner;
        let a = inner.route(Some("/a/{id}")) as *const RouteEntry;
        assert_eq!(a, inner.route(Some("/a/{id}")) as *const RouteEntry);
        assert!(inner.route(Some("/internal/x")).excluded);
        assert!(inner.route(Some("/metrics")).excluded);
        assert!(!inner.route(Some("/metricsx")).excluded);
        assert_eq!(&*inner.route(Some("/b")).name, OVERFLOW_ROUTE);
        assert_eq!(&*inner.route(None).name, UNMATCHED_ROUTE);
        // `/metricsx` and `/b` both arrived after the cap of three templates.
        assert_eq!(r.dropped_series(), 2);
    }

    #[test]
    fn status_grouping_shares_one_series() {
        let r = MetricsRegistry::builder()
            .group_status(true)
            .build()
            .unwrap();
        let route = r.inner.route(Some("/x"));
        let a = r.inner.response(route, 0, 200) as *const ResponseSeries;
        let b = r.inner.response(route, 0, 204) as *const ResponseSeries;
        assert_eq!(a, b);
        assert!(
            r.inner
                .response(route, 0, 503)
                .labels
                .ends_with("status=\"5xx\"")
        );
    }
}
