//! How the layer learns a request's route template.

use http::{Extensions, Uri};

/// Finds the route template of a request (`/api/v1/users/{id}`), never the raw
/// path: raw paths make one series per user ID and per 404 scanner probe.
///
/// Return `None` when the request matched no route; it is recorded under
/// `__unmatched__`. The returned string is interned once per distinct template.
///
/// ```
/// use http::{Extensions, Uri};
/// use pf_metrics::RouteExtractor;
///
/// /// Routes of a hand-written hyper service: two fixed templates.
/// #[derive(Clone)]
/// struct MyRoutes;
///
/// impl RouteExtractor for MyRoutes {
///     fn route<'r>(&self, uri: &'r Uri, _: &'r Extensions) -> Option<&'r str> {
///         let path = uri.path();
///         if path.starts_with("/users/") {
///             Some("/users/{id}")
///         } else if path == "/health" {
///             Some("/health")
///         } else {
///             None
///         }
///     }
/// }
/// let layer = pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())
///     .route_extractor(MyRoutes);
/// # let _ = layer;
/// ```
pub trait RouteExtractor: Clone + Send + Sync + 'static {
    /// The route template of the request, or `None` when it matched no route.
    fn route<'r>(&self, uri: &'r Uri, extensions: &'r Extensions) -> Option<&'r str>;
}

/// The default [`RouteExtractor`]: axum's `MatchedPath` request extension
/// (with the `axum` feature; without it every request is `__unmatched__`
/// unless you give the layer your own extractor).
///
/// axum inserts `MatchedPath` while routing, so the layer must run *inside*
/// the router: add it with `Router::layer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchedPathRoute;

impl RouteExtractor for MatchedPathRoute {
    #[inline]
    fn route<'r>(&self, _uri: &'r Uri, extensions: &'r Extensions) -> Option<&'r str> {
        #[cfg(feature = "axum")]
        {
            extensions
                .get::<axum::extract::MatchedPath>()
                .map(axum::extract::MatchedPath::as_str)
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = extensions;
            None
        }
    }
}
