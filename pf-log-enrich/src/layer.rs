//! [`RequestSpanLayer`]: one span per request and one completion event.

use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;
use tracing::Level;

use crate::route::{DefaultRoute, RouteExtractor};
use crate::service::RequestSpan;
use crate::{Redactor, TrustedProxies};

/// Levels of the "request completed" event by outcome.
///
/// ```
/// use pf_log_enrich::CompletionLevels;
/// use tracing::Level;
/// let levels = CompletionLevels { client_error: Level::INFO, ..Default::default() };
/// assert_eq!(levels.for_status(404), Level::INFO);
/// assert_eq!(levels.for_status(503), Level::ERROR);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletionLevels {
    /// 5xx responses and service errors (default `ERROR`).
    pub server_error: Level,
    /// 4xx responses (default `WARN`).
    pub client_error: Level,
    /// Everything else (default `INFO`).
    pub success: Level,
}

impl Default for CompletionLevels {
    fn default() -> Self {
        Self {
            server_error: Level::ERROR,
            client_error: Level::WARN,
            success: Level::INFO,
        }
    }
}

impl CompletionLevels {
    /// The level for a status code.
    pub fn for_status(&self, status: u16) -> Level {
        match status {
            500.. => self.server_error,
            400..=499 => self.client_error,
            _ => self.success,
        }
    }
}

/// Where the parent trace context of a request comes from.
#[cfg(feature = "opentelemetry")]
#[derive(Clone, Default)]
pub enum ParentContext {
    /// The globally installed text-map propagator (`init()` installs W3C trace context).
    #[default]
    Global,
    /// This propagator.
    Propagator(Arc<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync>),
    /// Ignore incoming context (for services at a trust boundary).
    Ignore,
}

#[cfg(feature = "opentelemetry")]
impl fmt::Debug for ParentContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("Global"),
            Self::Propagator(_) => f.write_str("Propagator(..)"),
            Self::Ignore => f.write_str("Ignore"),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) route: Arc<dyn RouteExtractor>,
    pub(crate) proxies: TrustedProxies,
    pub(crate) redactor: Redactor,
    pub(crate) capture_headers: Vec<HeaderName>,
    pub(crate) levels: CompletionLevels,
    pub(crate) completion_event: bool,
    pub(crate) excluded: Vec<String>,
    pub(crate) record_identity_on_span: bool,
    pub(crate) request_id_header: Option<HeaderName>,
    #[cfg(feature = "opentelemetry")]
    pub(crate) parent: ParentContext,
}

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
/// ```
/// use axum::{Router, routing::get};
/// use pf_log_enrich::{RequestIdLayer, RequestSpanLayer, TrustedProxies};
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(
///         RequestSpanLayer::new()
///             .with_trusted_proxies(TrustedProxies::private_networks())
///             .capture_request_header(http::header::USER_AGENT)
///             .exclude_route("/healthz"),
///     )
///     .layer(RequestIdLayer::new());
/// ```
#[derive(Clone)]
pub struct RequestSpanLayer {
    pub(crate) config: Arc<Config>,
}

impl fmt::Debug for RequestSpanLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpanLayer")
            .field("proxies", &self.config.proxies)
            .field("capture_headers", &self.config.capture_headers)
            .field("levels", &self.config.levels)
            .field("excluded", &self.config.excluded)
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
    /// headers, completion levels 5xx error / 4xx warn / else info, global propagator.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Config {
                route: Arc::new(DefaultRoute),
                proxies: TrustedProxies::none(),
                redactor: Redactor::default(),
                capture_headers: Vec::new(),
                levels: CompletionLevels::default(),
                completion_event: true,
                excluded: Vec::new(),
                record_identity_on_span: true,
                request_id_header: None,
                #[cfg(feature = "opentelemetry")]
                parent: ParentContext::Global,
            }),
        }
    }

    fn cfg(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Uses another [`RouteExtractor`].
    pub fn with_route_extractor(mut self, extractor: impl RouteExtractor) -> Self {
        self.cfg().route = Arc::new(extractor);
        self
    }

    /// Sets the trusted-proxy policy for `client.address`.
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.cfg().proxies = proxies;
        self
    }

    /// Uses this redactor for the query string and captured headers.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.cfg().redactor = redactor;
        self
    }

    /// Adds a request header to the captured allow-list (sensitive ones are redacted).
    pub fn capture_request_header(mut self, name: HeaderName) -> Self {
        self.cfg().capture_headers.push(name);
        self
    }

    /// Sets the completion event levels.
    pub fn with_completion_levels(mut self, levels: CompletionLevels) -> Self {
        self.cfg().levels = levels;
        self
    }

    /// Turns the completion event off entirely (the span is still recorded).
    pub fn with_completion_event(mut self, enabled: bool) -> Self {
        self.cfg().completion_event = enabled;
        self
    }

    /// No completion event for this route template (or path, when no route matched); the
    /// request still gets its span, request ID and trace propagation.
    pub fn exclude_route(mut self, route: impl Into<String>) -> Self {
        self.cfg().excluded.push(route.into());
        self
    }

    /// Whether [`Identity`](crate::Identity) values are also recorded as tracing span fields
    /// (`true`, the default: the pretty formatter and OpenTelemetry see them). With `false`
    /// they go to the OpenTelemetry span directly and to this crate's formatters only, which
    /// avoids the re-formatting cost of `tracing-subscriber`'s own JSON formatter.
    pub fn record_identity_on_span(mut self, enabled: bool) -> Self {
        self.cfg().record_identity_on_span = enabled;
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
    /// use pf_log_enrich::{RequestSpanLayer, request_id::X_REQUEST_ID};
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "hi" }))
    ///     .layer(RequestSpanLayer::new().with_request_id(X_REQUEST_ID));
    /// ```
    pub fn with_request_id(mut self, header: HeaderName) -> Self {
        self.cfg().request_id_header = Some(header);
        self
    }

    /// Where the parent trace context comes from (default: the global propagator).
    #[cfg(feature = "opentelemetry")]
    pub fn with_parent_context(mut self, parent: ParentContext) -> Self {
        self.cfg().parent = parent;
        self
    }
}

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestSpan {
            inner,
            config: self.config.clone(),
        }
    }
}
