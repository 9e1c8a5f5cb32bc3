//! [`RequestSpanLayer`]: one span per request and one completion event.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use pf_http_core::{AnyBody, MatchedPathRoute, RouteExtractor, RouteFilter};
use tower_layer::Layer;

use crate::middleware::client::TrustedProxies;
use crate::middleware::identity::handle::IdentityOnSpan;
use crate::middleware::span::completion::{CompletionLevels, OnCompletion};
use crate::middleware::span::service::{RequestSpanService, Shared};
use crate::redact::Redactor;

/// Layer opening one `HTTP request` span per request, with OpenTelemetry HTTP server
/// semantic-convention fields, and emitting one "request completed" event.
///
/// Put it inside [`RequestIdLayer`](crate::RequestIdLayer) (so the ID is known) and outside
/// authentication (so auth can record [`Identity`](crate::Identity)). With axum, use
/// `Router::layer` so that `MatchedPath` gives the route.
///
/// Span fields: `otel.name` (`"{method} {route}"`), `otel.kind`, `http.request.method`,
/// `http.route`, `url.path`, `url.scheme`, `url.query` (redacted), `client.address`,
/// `user_agent.original`, `network.protocol.version`, `request_id`, `http.request.headers`
/// (allow-list, redacted), and later `http.response.status_code` (integer), `error.type`,
/// `otel.status_code` (`ERROR` on 5xx only), `user.id`, `pf.organization.id`.
///
/// Two type parameters choose behaviour at compile time, each with a zero-cost default:
/// the [`RouteExtractor`] `R` (axum's `MatchedPath`, [`route_extractor`](Self::route_extractor))
/// and the [`OnCompletion`] rule `C` ([`CompletionLevels`], [`on_completion`](Self::on_completion)).
///
/// ```
/// use axum::{Router, routing::get};
/// use pf_log_enrich::{RequestIdLayer, RequestSpanLayer, TrustedProxies};
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(
///         RequestSpanLayer::new()
///             .trusted_proxies(TrustedProxies::private_networks())
///             .capture_request_header(http::header::USER_AGENT)
///             .exclude_route("/healthz"),
///     )
///     .layer(RequestIdLayer::new());
/// ```
#[derive(Clone)]
#[must_use]
pub struct RequestSpanLayer<R = MatchedPathRoute, C = CompletionLevels, M = AnyBody> {
    route: R,
    on_completion: C,
    shared: Arc<Shared>,
    mode: M,
}

impl<R, C: fmt::Debug, M> fmt::Debug for RequestSpanLayer<R, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpanLayer")
            .field("proxies", &self.shared.proxies)
            .field("capture_headers", &self.shared.capture_headers)
            .field("on_completion", &self.on_completion)
            .field("excluded", &self.shared.excluded)
            .finish_non_exhaustive()
    }
}

impl Default for RequestSpanLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestSpanLayer {
    /// Defaults: route from `MatchedPath`, no trusted proxy, default redactor, no captured
    /// headers, completion levels 5xx error / 4xx warn / else info, no excluded route,
    /// identity recorded as span fields, global propagator.
    pub fn new() -> Self {
        Self {
            route: MatchedPathRoute,
            on_completion: CompletionLevels::default(),
            shared: Arc::new(Shared {
                proxies: TrustedProxies::none(),
                redactor: Redactor::default(),
                capture_headers: Vec::new(),
                excluded: RouteFilter::default(),
                identity_on_span: IdentityOnSpan::default(),
                request_id_header: None,
                #[cfg(feature = "opentelemetry")]
                parent: crate::middleware::otel::ParentContext::Global,
            }),
            mode: AnyBody,
        }
    }
}

impl<R, C, M> RequestSpanLayer<R, C, M> {
    fn shared(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Uses another [`RouteExtractor`] (for services without axum's `MatchedPath`).
    ///
    /// ```
    /// use http::{Extensions, Uri};
    /// use pf_log_enrich::{RequestSpanLayer, RouteExtractor};
    ///
    /// #[derive(Clone)]
    /// struct Users;
    /// impl RouteExtractor for Users {
    ///     fn route_str<'r>(&self, uri: &'r Uri, _: &'r Extensions) -> Option<&'r str> {
    ///         uri.path().starts_with("/users/").then_some("/users/{id}")
    ///     }
    /// }
    /// let layer = RequestSpanLayer::new().route_extractor(Users);
    /// # let _ = layer;
    /// ```
    pub fn route_extractor<R2: RouteExtractor>(self, extractor: R2) -> RequestSpanLayer<R2, C, M> {
        RequestSpanLayer {
            route: extractor,
            on_completion: self.on_completion,
            shared: self.shared,
            mode: self.mode,
        }
    }

    /// Uses another [`OnCompletion`] rule for the "request completed" event:
    /// [`CompletionLevels`] with other levels, or [`NoCompletionEvent`](crate::NoCompletionEvent).
    ///
    /// ```
    /// use pf_log_enrich::{CompletionLevels, RequestSpanLayer};
    /// let layer = RequestSpanLayer::new()
    ///     .on_completion(CompletionLevels::new().client_error(tracing::Level::INFO));
    /// # let _ = layer;
    /// ```
    pub fn on_completion<C2: OnCompletion>(self, on_completion: C2) -> RequestSpanLayer<R, C2, M> {
        RequestSpanLayer {
            route: self.route,
            on_completion,
            shared: self.shared,
            mode: self.mode,
        }
    }

    /// Takes and hands back `axum::body::Body` (feature `axum`, for axum
    /// routers): the response body is wrapped only when the completion event
    /// has to wait for its end (a stream, a large body: see
    /// [`pf_http_core::sent_with_head`]), so `Router::layer` does not box bodies
    /// again and `axum::middleware::from_fn` layers compose after this one
    /// as they are. The span and the completion event are the same as with
    /// the default.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use pf_log_enrich::RequestSpanLayer;
    ///
    /// let app: Router = Router::new()
    ///     .route("/api/v1/users/{id}", get(|| async { "user" }))
    ///     .layer(axum::middleware::from_fn(
    ///         |req: axum::extract::Request, next: axum::middleware::Next| next.run(req),
    ///     ))
    ///     .layer(RequestSpanLayer::new().axum_body());
    /// # let _ = app;
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn axum_body(self) -> RequestSpanLayer<R, C, pf_http_core::AxumBody> {
        RequestSpanLayer {
            route: self.route,
            on_completion: self.on_completion,
            shared: self.shared,
            mode: pf_http_core::AxumBody,
        }
    }

    /// Sets the trusted-proxy policy for `client.address`.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.shared().proxies = proxies;
        self
    }

    /// Uses this redactor for the query string and captured headers.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.shared().redactor = redactor;
        self
    }

    /// Adds a request header to the captured allow-list (sensitive ones are redacted).
    pub fn capture_request_header(mut self, name: HeaderName) -> Self {
        self.shared().capture_headers.push(name);
        self
    }

    /// Leaves requests to these route templates alone: no span (so nothing is exported over
    /// OTLP), no completion event, no [`Identity`](crate::Identity) in the extensions (the
    /// axum extractor yields a detached one). Only the request ID is still set and echoed
    /// when [`request_id`](Self::request_id) is on. The pattern is pf-http-core's [`RouteFilter`]
    /// syntax, the same as pf-metrics': an exact template (`/metrics`) or a prefix ending in
    /// `*` (`/internal/*`), matched against the route template (requests that matched no
    /// route are never excluded). Call it once per pattern.
    ///
    /// ```
    /// use pf_log_enrich::RequestSpanLayer;
    /// let layer = RequestSpanLayer::new().exclude_route("/metrics").exclude_route("/internal/*");
    /// # let _ = layer;
    /// ```
    pub fn exclude_route(mut self, pattern: impl Into<String>) -> Self {
        let shared = self.shared();
        shared.excluded = std::mem::take(&mut shared.excluded).with(pattern);
        self
    }

    /// Where [`Identity`](crate::Identity) values go besides the request context (default:
    /// span fields); see [`IdentityOnSpan`].
    pub fn identity_on_span(mut self, on_span: IdentityOnSpan) -> Self {
        self.shared().identity_on_span = on_span;
        self
    }

    /// Also does the work of [`RequestIdLayer`](crate::RequestIdLayer) (same validation,
    /// UUIDv7 generation, extensions, echo on the response) under `header`, in this one layer.
    ///
    /// With axum's `Router::layer` every layer costs a boxed service per route, so one layer
    /// instead of two saves that. Use [`RequestIdLayer`](crate::RequestIdLayer) instead when the
    /// ID must also cover layers outside the span layer, or needs a custom generator.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use pf_log_enrich::{RequestSpanLayer, X_REQUEST_ID};
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hi" }))
    ///     .layer(RequestSpanLayer::new().request_id(X_REQUEST_ID));
    /// ```
    pub fn request_id(mut self, header: HeaderName) -> Self {
        self.shared().request_id_header = Some(header);
        self
    }

    /// Where the parent trace context comes from (default: the global propagator).
    #[cfg(feature = "opentelemetry")]
    #[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
    pub fn parent_context(mut self, parent: crate::middleware::otel::ParentContext) -> Self {
        self.shared().parent = parent;
        self
    }
}

impl<R, C, M> RequestSpanLayer<R, C, M> {
    /// The route extractor, the completion rule and the shared settings, for pf-stack's
    /// fused layer. Not public API.
    #[doc(hidden)]
    pub fn into_parts(self) -> (R, C, Arc<Shared>) {
        (self.route, self.on_completion, self.shared)
    }
}

impl<S, R: Clone, C: Clone, M> Layer<S> for RequestSpanLayer<R, C, M> {
    type Service = RequestSpanService<S, R, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestSpanService {
            inner,
            route: self.route.clone(),
            on_completion: self.on_completion.clone(),
            shared: self.shared.clone(),
            mode: std::marker::PhantomData,
        }
    }
}
