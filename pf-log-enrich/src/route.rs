//! Route templates for span names and the `http.route` field.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use http::{Extensions, Uri};

/// A route template held by a request's span context: a cheap clone of a shared string
/// (never a per-request copy).
///
/// ```
/// use std::sync::Arc;
/// use pf_log_enrich::Route;
/// let route = Route::from(Arc::<str>::from("/users/{id}"));
/// assert_eq!(&*route, "/users/{id}");
/// ```
#[derive(Clone)]
pub struct Route(Repr);

#[derive(Clone)]
enum Repr {
    Shared(Arc<str>),
    Static(&'static str),
    // axum keeps the template in an `Arc<str>` inside `MatchedPath`: cloning it is a
    // reference-count increment, where `Arc::from(as_str())` would allocate per request.
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
}

impl Route {
    /// The template.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Shared(s) => s,
            Repr::Static(s) => s,
            #[cfg(feature = "axum")]
            Repr::Matched(m) => m.as_str(),
        }
    }
}

impl Deref for Route {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Arc<str>> for Route {
    fn from(s: Arc<str>) -> Self {
        Route(Repr::Shared(s))
    }
}

impl From<&'static str> for Route {
    fn from(s: &'static str) -> Self {
        Route(Repr::Static(s))
    }
}

#[cfg(feature = "axum")]
impl From<axum::extract::MatchedPath> for Route {
    fn from(m: axum::extract::MatchedPath) -> Self {
        Route(Repr::Matched(m))
    }
}

/// Finds the route *template* (`/users/{id}`, never the raw path) of a request.
///
/// Implemented for closures `Fn(&Extensions, &Uri) -> Option<Route>`; build the [`Route`]
/// from a `&'static str` or a cloned `Arc<str>` so that no request allocates.
///
/// ```
/// use pf_log_enrich::{RequestSpanLayer, Route};
/// let layer = RequestSpanLayer::new().with_route_extractor(
///     |_: &http::Extensions, uri: &http::Uri| {
///         uri.path().starts_with("/users/").then(|| Route::from("/users/{id}"))
///     },
/// );
/// # let _ = layer;
/// ```
pub trait RouteExtractor: Send + Sync + 'static {
    /// The route template, or `None` when the request matched no route.
    fn route(&self, extensions: &Extensions, uri: &Uri) -> Option<Route>;
}

impl<F> RouteExtractor for F
where
    F: Fn(&Extensions, &Uri) -> Option<Route> + Send + Sync + 'static,
{
    fn route(&self, extensions: &Extensions, uri: &Uri) -> Option<Route> {
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
/// assert!(DefaultRoute.route(&ext, &"/x".parse().unwrap()).is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRoute;

impl RouteExtractor for DefaultRoute {
    fn route(&self, extensions: &Extensions, _uri: &Uri) -> Option<Route> {
        #[cfg(feature = "axum")]
        {
            extensions
                .get::<axum::extract::MatchedPath>()
                .cloned()
                .map(Route::from)
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = extensions;
            None
        }
    }
}
