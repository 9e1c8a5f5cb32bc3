//! [`MetricsRegistry`]: the handle layers, endpoints and instruments share.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::builder::MetricsRegistryBuilder;
use crate::encoding::collector::Collector;
use crate::encoding::exposition;
use crate::encoding::format::Format;
use crate::storage::store::Store;
use pf_http_core::ConfigError;

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
    pub(crate) inner: Arc<Store>,
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

    /// Renders every series and collector in `format`.
    ///
    /// ```
    /// use pf_metrics::{Format, MetricsRegistry};
    ///
    /// let text = MetricsRegistry::new().encode(Format::OpenMetrics);
    /// assert!(text.ends_with("# EOF\n"));
    /// ```
    pub fn encode(&self, format: Format) -> String {
        let mut out = String::with_capacity(4096 + self.inner.responses.len() * 2048);
        self.encode_into(&mut out, format);
        out
    }

    /// Appends the rendering to `out` (reuse a buffer between scrapes).
    pub fn encode_into(&self, out: &mut String, format: Format) {
        exposition::encode(&self.inner, out, format);
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

impl MetricsRegistryBuilder {
    /// Builds the registry.
    ///
    /// # Errors
    ///
    /// None with this version's settings: each setter checks its own value and
    /// returns the [`ConfigError`] (the family's rule, see CONTRIBUTING.md). The
    /// `Result` is kept so that a check relating several settings can be added
    /// without breaking callers.
    pub fn build(self) -> Result<MetricsRegistry, ConfigError> {
        Ok(MetricsRegistry {
            inner: Arc::new(self.into_store()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OVERFLOW_ROUTE;
    use crate::storage::intern::RouteEntry;
    use crate::storage::store::ResponseSeries;
    use pf_http_core::UNMATCHED_ROUTE;

    #[test]
    fn invalid_configuration_is_refused_by_its_setter_with_a_reason() {
        let err = MetricsRegistry::builder().prefix("1bad").unwrap_err();
        assert_eq!(err.setting(), "prefix");
        assert!(err.to_string().contains("not a valid Prometheus name"));
        let err = MetricsRegistry::builder()
            .const_label("__x", "y")
            .unwrap_err();
        assert_eq!(err.setting(), "const_label");
        assert!(err.to_string().contains("label name"));
        let err = MetricsRegistry::builder()
            .duration_buckets([0.5, 0.1])
            .unwrap_err();
        assert_eq!(err.setting(), "duration_buckets");
        assert!(err.to_string().contains("strictly increasing"));
        let err = MetricsRegistry::builder()
            .size_buckets([f64::INFINITY])
            .unwrap_err();
        assert!(err.to_string().contains("finite"));
        let err = MetricsRegistry::builder()
            .operation_buckets([])
            .unwrap_err();
        assert_eq!(err.setting(), "operation_buckets");
        let err = MetricsRegistry::builder()
            .operation_prefix("a-b")
            .unwrap_err();
        assert_eq!(err.setting(), "operation_prefix");
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
