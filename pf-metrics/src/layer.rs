//! The [`HttpMetricsLayer`].

use tower_layer::Layer;

use crate::registry::MetricsRegistry;
use crate::service::HttpMetrics;
use pf_core::{MatchedPathRoute, RouteExtractor};

/// A [`Layer`] recording request count, duration, in-flight requests and body
/// sizes per method, route template and status into a [`MetricsRegistry`].
///
/// With axum, add it with `Router::layer` so that it runs after routing and
/// sees the matched route template. axum boxes every route once per
/// `Router::layer` call (about as much as this layer's own work): with several
/// layers, compose them in one `tower::ServiceBuilder` and call `Router::layer`
/// once.
///
/// ```
/// use axum::{Router, routing::get};
/// use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
///
/// let registry = MetricsRegistry::new();
/// let app: Router = Router::new()
///     .route("/api/v1/users/{id}", get(|| async { "user" }))
///     .layer(HttpMetricsLayer::new(registry.clone()))
///     // Added after the layer, so scrapes are not counted as requests.
///     .route_service("/metrics", registry.exposition());
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer<R = MatchedPathRoute> {
    registry: MetricsRegistry,
    extractor: R,
}

impl HttpMetricsLayer {
    /// A layer recording into `registry`, with the route from axum's `MatchedPath`.
    pub fn new(registry: MetricsRegistry) -> Self {
        Self {
            registry,
            extractor: MatchedPathRoute,
        }
    }
}

impl<R> HttpMetricsLayer<R> {
    /// Uses `extractor` to find route templates (for services that are not axum routers).
    pub fn route_extractor<R2: RouteExtractor>(self, extractor: R2) -> HttpMetricsLayer<R2> {
        HttpMetricsLayer {
            registry: self.registry,
            extractor,
        }
    }

    /// The registry this layer records into.
    pub fn registry(&self) -> &MetricsRegistry {
        &self.registry
    }
}

impl<S, R: Clone> Layer<S> for HttpMetricsLayer<R> {
    type Service = HttpMetrics<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::new(inner, self.registry.clone(), self.extractor.clone())
    }
}
