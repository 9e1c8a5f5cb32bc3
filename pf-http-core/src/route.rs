//! Route templates: what a request matched, never its raw path.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use http::{Extensions, Uri};

/// The route label of a request that matched no route (404 scanners): one
/// value, so unknown paths cannot grow the number of series or span names.
pub const UNMATCHED_ROUTE: &str = "__unmatched__";

/// A route template (`/api/v1/users/{id}`), cheap to clone: a static string,
/// a shared `Arc<str>`, or axum's `MatchedPath` (whose clone is a reference
/// count increment, not a copy).
///
/// ```
/// use pf_http_core::Route;
///
/// let route = Route::from("/api/v1/users/{id}");
/// assert_eq!(route.as_str(), "/api/v1/users/{id}");
/// assert_eq!(route.clone(), route);
/// ```
#[derive(Clone)]
pub struct Route(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
}

impl Route {
    /// The template.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
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

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

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

impl From<&'static str> for Route {
    fn from(s: &'static str) -> Self {
        Route(Repr::Static(s))
    }
}

impl From<Arc<str>> for Route {
    fn from(s: Arc<str>) -> Self {
        Route(Repr::Shared(s))
    }
}

impl From<String> for Route {
    fn from(s: String) -> Self {
        Route(Repr::Shared(s.into()))
    }
}

#[cfg(feature = "axum")]
impl From<axum::extract::MatchedPath> for Route {
    fn from(m: axum::extract::MatchedPath) -> Self {
        Route(Repr::Matched(m))
    }
}

/// Finds the route template of a request, never the raw path: raw paths make
/// one series per user ID and per 404 probe. `None` means the request matched
/// no route; the layers record it as [`UNMATCHED_ROUTE`].
///
/// Implement [`route_str`](Self::route_str), borrowed from the request (what
/// the metrics layer reads: no copy, no reference count). Layers that keep
/// the template past the request (the span layer) call
/// [`route`](Self::route), which copies it into a [`Route`]; override it too
/// when you can hand out a cheaper `Route` (a `&'static str`, an `Arc`).
/// The argument order is the request's: the URI, then the extensions.
///
/// ```
/// use http::{Extensions, Uri};
/// use pf_http_core::{Route, RouteExtractor};
///
/// /// Routes of a hand-written hyper service: two fixed templates.
/// #[derive(Clone)]
/// struct MyRoutes;
///
/// impl MyRoutes {
///     fn template(path: &str) -> Option<&'static str> {
///         match path {
///             p if p.starts_with("/users/") => Some("/users/{id}"),
///             "/health" => Some("/health"),
///             _ => None,
///         }
///     }
/// }
///
/// impl RouteExtractor for MyRoutes {
///     fn route_str<'r>(&self, uri: &'r Uri, _: &'r Extensions) -> Option<&'r str> {
///         Self::template(uri.path())
///     }
///     // Static templates: a `Route` without allocating.
///     fn route(&self, uri: &Uri, _: &Extensions) -> Option<Route> {
///         Self::template(uri.path()).map(Route::from)
///     }
/// }
///
/// let uri: Uri = "/users/42".parse().unwrap();
/// assert_eq!(MyRoutes.route_str(&uri, &Extensions::new()), Some("/users/{id}"));
/// assert_eq!(MyRoutes.route(&uri, &Extensions::new()).unwrap().as_str(), "/users/{id}");
/// ```
pub trait RouteExtractor: Clone + Send + Sync + 'static {
    /// The route template of the request, or `None` when it matched no route.
    fn route_str<'r>(&self, uri: &'r Uri, extensions: &'r Extensions) -> Option<&'r str>;

    /// The same template as an owned [`Route`]; by default a copy of
    /// [`route_str`](Self::route_str).
    fn route(&self, uri: &Uri, extensions: &Extensions) -> Option<Route> {
        self.route_str(uri, extensions)
            .map(|s| Route::from(Arc::<str>::from(s)))
    }
}

/// The default [`RouteExtractor`]: axum's `MatchedPath` request extension
/// (feature `axum`; without it every request is unmatched unless a layer is
/// given its own extractor).
///
/// axum inserts `MatchedPath` while routing, so the layers must run inside the
/// router: add them with `Router::layer`.
///
/// ```
/// use pf_http_core::{MatchedPathRoute, RouteExtractor};
///
/// let uri: http::Uri = "/x".parse().unwrap();
/// // No router ran: no template.
/// assert!(MatchedPathRoute.route_str(&uri, &http::Extensions::new()).is_none());
/// assert!(MatchedPathRoute.route(&uri, &http::Extensions::new()).is_none());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchedPathRoute;

impl RouteExtractor for MatchedPathRoute {
    #[inline]
    fn route_str<'r>(&self, _uri: &'r Uri, extensions: &'r Extensions) -> Option<&'r str> {
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

    /// A clone of axum's `MatchedPath`: a reference-count increment, not a copy.
    #[inline]
    fn route(&self, _uri: &Uri, extensions: &Extensions) -> Option<Route> {
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
