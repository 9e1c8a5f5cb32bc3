//! Route templates for span names and the `http.route` field.

use std::sync::Arc;

use http::{Extensions, Uri};

/// Finds the route *template* (`/users/{id}`, never the raw path) of a request.
///
/// Implemented for closures `Fn(&Extensions, &Uri) -> Option<Arc<str>>`; return a cloned
/// `Arc<str>` held by the closure to avoid an allocation per request.
///
/// ```
/// use std::sync::Arc;
/// use pf_log_enrich::RequestSpanLayer;
/// let users: Arc<str> = Arc::from("/users/{id}");
/// let layer = RequestSpanLayer::new().with_route_extractor(
///     move |_: &http::Extensions, uri: &http::Uri| {
///         uri.path().starts_with("/users/").then(|| users.clone())
///     },
/// );
/// # let _ = layer;
/// ```
pub trait RouteExtractor: Send + Sync + 'static {
    /// The route template, or `None` when the request matched no route.
    fn route(&self, extensions: &Extensions, uri: &Uri) -> Option<Arc<str>>;
}

impl<F> RouteExtractor for F
where
    F: Fn(&Extensions, &Uri) -> Option<Arc<str>> + Send + Sync + 'static,
{
    fn route(&self, extensions: &Extensions, uri: &Uri) -> Option<Arc<str>> {
        self(extensions, uri)
    }
}

/// The default extractor: axum's `MatchedPath` (with the `axum` feature), else no route.
///
/// Apply the span layer with `Router::layer` so that `MatchedPath` is already set.
///
/// ```
/// use pf_log_enrich::{DefaultRoute, RouteExtractor};
/// let ext = http::Extensions::new();
/// assert_eq!(DefaultRoute.route(&ext, &"/x".parse().unwrap()), None);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRoute;

impl RouteExtractor for DefaultRoute {
    fn route(&self, extensions: &Extensions, _uri: &Uri) -> Option<Arc<str>> {
        #[cfg(feature = "axum")]
        {
            extensions
                .get::<axum::extract::MatchedPath>()
                .map(|m| Arc::from(m.as_str()))
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = extensions;
            None
        }
    }
}
