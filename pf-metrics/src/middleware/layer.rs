//! The [`HttpMetricsLayer`].

use tower_layer::Layer;

use crate::middleware::service::HttpMetricsService;
use crate::registry::MetricsRegistry;
use pf_http_core::{AnyBody, MatchedPathRoute, RouteExtractor};

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
///
/// `M` is the body handling: [`AnyBody`] by default (the layer wraps the
/// bodies in [`RequestBody`](crate::RequestBody) and
/// [`ResponseBody`](crate::ResponseBody), for any service), or
/// `pf_http_core::AxumBody` through [`axum_body`](Self::axum_body).
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpMetricsLayer<R = MatchedPathRoute, M = AnyBody> {
    registry: MetricsRegistry,
    extractor: R,
    mode: M,
}

impl HttpMetricsLayer {
    /// A layer recording into `registry`, with the route from axum's `MatchedPath`.
    pub fn new(registry: MetricsRegistry) -> Self {
        Self {
            registry,
            extractor: MatchedPathRoute,
            mode: AnyBody,
        }
    }
}

impl<R, M> HttpMetricsLayer<R, M> {
    /// Uses `extractor` to find route templates (for services that are not axum routers).
    pub fn route_extractor<R2: RouteExtractor>(self, extractor: R2) -> HttpMetricsLayer<R2, M> {
        HttpMetricsLayer {
            registry: self.registry,
            extractor,
            mode: self.mode,
        }
    }

    /// Takes and hands back `axum::body::Body` (feature `axum`, for axum
    /// routers): a body is wrapped only when it must be observed (a request
    /// body that is not empty, a response streamed past its head, see
    /// [`pf_http_core::sent_with_head`]), so `Router::layer` does not box bodies
    /// again and `axum::middleware::from_fn` layers compose after this one
    /// as they are. The numbers are the same as with the default.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
    ///
    /// let registry = MetricsRegistry::new();
    /// let app: Router = Router::new()
    ///     .route("/api/v1/users/{id}", get(|| async { "user" }))
    ///     .layer(axum::middleware::from_fn(
    ///         |req: axum::extract::Request, next: axum::middleware::Next| next.run(req),
    ///     ))
    ///     .layer(HttpMetricsLayer::new(registry.clone()).axum_body());
    /// # let _ = app;
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn axum_body(self) -> HttpMetricsLayer<R, pf_http_core::AxumBody> {
        HttpMetricsLayer {
            registry: self.registry,
            extractor: self.extractor,
            mode: pf_http_core::AxumBody,
        }
    }

    /// The registry this layer records into.
    pub fn registry(&self) -> &MetricsRegistry {
        &self.registry
    }
}

impl<S, R: Clone, M> Layer<S> for HttpMetricsLayer<R, M> {
    type Service = HttpMetricsService<S, R, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService::new(inner, self.registry.clone(), self.extractor.clone())
    }
}
