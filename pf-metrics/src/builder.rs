//! [`MetricsRegistryBuilder`]: the registry's settings, checked and turned
//! into its storage.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

use pf_http_core::RouteFilter;
use pf_http_core::internal::METHOD_LABELS;

use pf_http_core::ConfigError;

use crate::config::{
    DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS, Naming, OVERFLOW_ROUTE, Timing, check_buckets,
    check_prefix, is_label_name, scale_bounds,
};
use crate::encoding::text::{escape_label_value, format_float};
use crate::instruments::operation::{DEFAULT_OPERATION_BUCKETS, OperationConfig, Scopes};
use crate::storage::intern::Routes;
use crate::storage::names::{LabelNames, Names};
use crate::storage::series::default_shards;
use crate::storage::store::{
    FlightSeries, Layouts, ResponseSeries, SeriesAttributes, Store, render_flight_labels,
};
use crate::storage::table::SeriesTable;

/// Builds a [`MetricsRegistry`](crate::MetricsRegistry).
///
/// ```
/// use pf_metrics::{MetricsRegistry, Naming};
///
/// let registry = MetricsRegistry::builder()
///     .prefix("shop")?
///     .const_label("service", "checkout")?
///     .duration_buckets([0.01, 0.1, 0.5, 1.0])?
///     .max_series(5_000)
///     .exclude_route("/metrics")
///     .build()?;
/// assert!(registry.encode(pf_metrics::Format::Prometheus).contains("# TYPE shop_http_requests_total counter"));
///
/// // A setter refuses a value it cannot work with, and names itself.
/// let err = MetricsRegistry::builder().duration_buckets([0.5, 0.1]).unwrap_err();
/// assert_eq!(err.setting(), "duration_buckets");
/// # Ok::<(), pf_metrics::ConfigError>(())
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
    exemplars: crate::storage::exemplar::Switch,
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
            exemplars: Default::default(),
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
    ///
    /// # Errors
    ///
    /// When `prefix` is not a valid Prometheus name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Result<Self, ConfigError> {
        let prefix = prefix.into();
        check_prefix("prefix", &prefix)?;
        self.prefix = (!prefix.is_empty()).then_some(prefix);
        Ok(self)
    }

    /// A label written on every sample (e.g. `service`, `env`).
    ///
    /// # Errors
    ///
    /// When `name` is not a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not
    /// starting with `__`).
    pub fn const_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        if !is_label_name(&name) {
            return Err(ConfigError::new(
                "const_label",
                format!(
                    "{name:?} is not a valid Prometheus label name: use [a-zA-Z_][a-zA-Z0-9_]* not starting with __"
                ),
            ));
        }
        self.const_labels.push((name, value.into()));
        Ok(self)
    }

    /// Request-duration bucket bounds in seconds.
    ///
    /// # Errors
    ///
    /// Unless the bounds are at least one, strictly increasing, finite and positive.
    pub fn duration_buckets(
        mut self,
        seconds: impl IntoIterator<Item = f64>,
    ) -> Result<Self, ConfigError> {
        let seconds: Vec<f64> = seconds.into_iter().collect();
        check_buckets("duration_buckets", &seconds)?;
        self.duration_buckets = seconds;
        Ok(self)
    }

    /// Body-size bucket bounds in bytes.
    ///
    /// # Errors
    ///
    /// Unless the bounds are at least one, strictly increasing, finite and positive.
    pub fn size_buckets(
        mut self,
        bytes: impl IntoIterator<Item = f64>,
    ) -> Result<Self, ConfigError> {
        let bytes: Vec<f64> = bytes.into_iter().collect();
        check_buckets("size_buckets", &bytes)?;
        self.size_buckets = bytes;
        Ok(self)
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
    /// let registry = MetricsRegistry::builder().operation_prefix("shop")?.build()?;
    /// let users = registry.repository("users");
    /// # futures_util::FutureExt::now_or_never(users.time("find", async { Ok::<_, ()>(()) }));
    /// assert!(registry.encode(Format::Prometheus).contains("shop_repository_operation_duration_seconds_count"));
    /// # Ok::<(), pf_metrics::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When `prefix` is not empty and not a valid Prometheus name.
    pub fn operation_prefix(mut self, prefix: impl Into<String>) -> Result<Self, ConfigError> {
        let prefix = prefix.into();
        check_prefix("operation_prefix", &prefix)?;
        self.operation_prefix = prefix;
        Ok(self)
    }

    /// Repository and cache operation-duration bucket bounds in seconds
    /// (default [`DEFAULT_OPERATION_BUCKETS`](crate::DEFAULT_OPERATION_BUCKETS), 0.5 ms to 10 s).
    ///
    /// # Errors
    ///
    /// Unless the bounds are at least one, strictly increasing, finite and positive.
    pub fn operation_buckets(
        mut self,
        seconds: impl IntoIterator<Item = f64>,
    ) -> Result<Self, ConfigError> {
        let seconds: Vec<f64> = seconds.into_iter().collect();
        check_buckets("operation_buckets", &seconds)?;
        self.operation_buckets = seconds;
        Ok(self)
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

    /// Whether requests leave exemplars (feature `exemplars`; on by default
    /// when the feature is compiled). Off, the request path does not read
    /// the OpenTelemetry context at all and the OpenMetrics output carries
    /// no exemplar, as if the feature were not compiled: one build can then
    /// turn exemplars on or off from its configuration (or compare the two).
    ///
    /// ```
    /// use axum::{Router, body::Body, http::Request, routing::get};
    /// use opentelemetry::trace::{
    ///     SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    /// };
    /// use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
    /// use tower::ServiceExt;
    ///
    /// let registry = MetricsRegistry::builder().exemplars(false).build().unwrap();
    /// let app = Router::new()
    ///     .route("/work", get(|| async { "done" }))
    ///     .layer(HttpMetricsLayer::new(registry.clone()));
    ///
    /// // A request inside a sampled trace...
    /// let _trace = opentelemetry::Context::new()
    ///     .with_remote_span_context(SpanContext::new(
    ///         TraceId::from_bytes([0x4b; 16]),
    ///         SpanId::from_bytes([0x11; 8]),
    ///         TraceFlags::SAMPLED,
    ///         true,
    ///         TraceState::default(),
    ///     ))
    ///     .attach();
    /// let request = app.oneshot(Request::get("/work").body(Body::empty()).unwrap());
    /// let response = futures_util::FutureExt::now_or_never(request).unwrap().unwrap();
    /// drop(response); // the body ends: the request is recorded
    ///
    /// // ...is counted, and leaves no exemplar.
    /// let text = registry.encode(Format::OpenMetrics);
    /// assert!(text.contains(r#"http_requests_total{method="GET",route="/work",status="200"} 1"#));
    /// assert!(!text.contains("trace_id"));
    /// ```
    #[cfg(feature = "exemplars")]
    #[cfg_attr(docsrs, doc(cfg(feature = "exemplars")))]
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = crate::storage::exemplar::Switch(on);
        self
    }

    /// Builds the storage of the registry ([`build`](Self::build) wraps it).
    pub(crate) fn into_store(self) -> Store {
        // Every value was checked by its setter.
        let mut rendered_const = String::new();
        for (name, value) in &self.const_labels {
            rendered_const.push_str(name);
            rendered_const.push_str("=\"");
            escape_label_value(value, &mut rendered_const);
            rendered_const.push_str("\",");
        }
        let duration_bounds = scale_bounds(&self.duration_buckets, 1e9);
        let size_bounds = scale_bounds(&self.size_buckets, 1.0);
        let operation_bounds = scale_bounds(&self.operation_buckets, 1e9);
        let names = Names::new(self.naming, self.prefix.as_deref());
        let layout = Layouts::new(duration_bounds.len(), size_bounds.len());
        let shards = self.shards.next_power_of_two();
        let labels = LabelNames::new(self.naming);

        let routes = Routes::new(self.max_routes, RouteFilter::new(self.exclude));
        let overflow_route = routes.overflow();
        let overflow_flight = FlightSeries::new(
            render_flight_labels(&rendered_const, &labels, "_OTHER", &overflow_route.label),
            &layout,
            shards,
            SeriesAttributes {
                method: (METHOD_LABELS.len() - 1) as u8,
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
            method: (METHOD_LABELS.len() - 1) as u8,
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
        Store {
            created: std::time::SystemTime::now(),
            operations,
            scopes: Scopes::default(),
            clock: self.clock.unwrap_or_else(shared_clock),
            flights: SeriesTable::with_capacity(self.max_series),
            responses: SeriesTable::with_capacity(self.max_series),
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
            exemplars: self.exemplars,
            grpc: OnceLock::new(),
            routes,
        }
    }
}

/// One calibrated clock for every registry of the process: calibrating the
/// TSC takes milliseconds, too long to repeat per registry.
fn shared_clock() -> quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new).clone()
}

fn render_le(values: &[f64]) -> Box<[Box<str>]> {
    values
        .iter()
        .map(|v| format_float(*v).into_boxed_str())
        .collect()
}
