//! [`StackLayer`]: the configuration of the fused layer.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use pf_health::HealthLayer;
use pf_http_core::{AnyBody, MatchedPathRoute, RouteExtractor};
use pf_log_enrich::{CompletionLevels, OnCompletion, RequestSpanLayer, X_REQUEST_ID};
use pf_metrics::MetricsRegistry;
use tower_layer::Layer;

use crate::service::{Settings, StackService};

/// Health probes, request ID, request span and HTTP metrics in one layer (see the
/// [crate docs](crate)).
///
/// Each part is configured with the separate layer that does it alone, so every setting is
/// written once: [`health`](Self::health) takes a configured [`HealthLayer`] (paths, who may
/// see details), [`span`](Self::span) a configured [`RequestSpanLayer`] (route extractor,
/// completion levels, captured headers, trusted proxies, excluded routes, the request ID
/// header), and the [`MetricsRegistry`] carries the metrics' settings (names, buckets,
/// excluded routes). The request ID is always assigned and echoed, in `x-request-id` unless the
/// span layer names another header ([`RequestSpanLayer::request_id`]).
///
/// ```
/// use pf_health::{HealthLayer, HealthRegistry};
/// use pf_log_enrich::{CompletionLevels, RequestSpanLayer};
/// use pf_metrics::MetricsRegistry;
/// use pf_stack::StackLayer;
/// use tracing::Level;
///
/// let metrics = MetricsRegistry::new();
/// let health = HealthRegistry::builder().build().unwrap();
/// let layer = StackLayer::new(metrics)
///     .health(HealthLayer::new(health).livez_path("/-/live").unwrap())
///     .span(
///         RequestSpanLayer::new()
///             .on_completion(CompletionLevels::new().client_error(Level::INFO))
///             .request_id(http::HeaderName::from_static("x-correlation-id")),
///     );
/// # let _ = layer;
/// ```
///
/// `M` is the body handling: [`AnyBody`] (the default, for any service: responses carry a
/// [`ResponseBody`](crate::ResponseBody)) or `pf_http_core::AxumBody` through
/// [`axum_body`](Self::axum_body).
#[must_use]
pub struct StackLayer<R = MatchedPathRoute, C = CompletionLevels, M = AnyBody> {
    route: R,
    on_completion: C,
    settings: Settings,
    mode: PhantomData<fn() -> M>,
}

impl<R: Clone, C: Clone, M> Clone for StackLayer<R, C, M> {
    fn clone(&self) -> Self {
        Self {
            route: self.route.clone(),
            on_completion: self.on_completion.clone(),
            settings: self.settings.clone(),
            mode: PhantomData,
        }
    }
}

impl<R, C: fmt::Debug, M> fmt::Debug for StackLayer<R, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackLayer")
            .field("metrics", &self.settings.metrics)
            .field("health", &self.settings.health.is_some())
            .field("on_completion", &self.on_completion)
            .finish_non_exhaustive()
    }
}

impl StackLayer {
    /// Request ID, span (with [`RequestSpanLayer::new`]'s defaults) and metrics into
    /// `metrics`; no health probes until [`health`](Self::health).
    ///
    /// ```
    /// let layer = pf_stack::StackLayer::new(pf_metrics::MetricsRegistry::new());
    /// # let _ = layer;
    /// ```
    pub fn new(metrics: MetricsRegistry) -> Self {
        Self {
            route: MatchedPathRoute,
            on_completion: CompletionLevels::default(),
            settings: Settings {
                metrics,
                health: None,
                span: span_settings(RequestSpanLayer::new()).2,
            },
            mode: PhantomData,
        }
    }
}

/// A span layer's parts, with the request ID echoed in `x-request-id` unless it names
/// another header.
fn span_settings<R, C, M>(
    span: RequestSpanLayer<R, C, M>,
) -> (R, C, Arc<pf_log_enrich::internal::Shared>) {
    let (route, on_completion, mut shared) = span.into_parts();
    Arc::make_mut(&mut shared).echo_request_id(X_REQUEST_ID);
    (route, on_completion, shared)
}

impl<R, C, M> StackLayer<R, C, M> {
    /// Answers the probes of `health` (its paths and detail policy) before anything else:
    /// probes get no request ID, span or metrics, as with a `HealthLayer` outermost.
    ///
    /// ```
    /// use pf_health::{HealthLayer, HealthRegistry};
    ///
    /// let health = HealthRegistry::builder().build().unwrap();
    /// let layer = pf_stack::StackLayer::new(pf_metrics::MetricsRegistry::new())
    ///     .health(HealthLayer::new(health.clone()));
    /// health.lifecycle().mark_ready();
    /// # let _ = layer;
    /// ```
    pub fn health<M2>(mut self, health: HealthLayer<M2>) -> Self {
        self.settings.health = Some(health.config());
        self
    }

    /// The request span's settings: those of `span` (its body handling is this layer's).
    ///
    /// ```
    /// use pf_log_enrich::{NoCompletionEvent, RequestSpanLayer};
    ///
    /// // Spans only: no "request completed" line.
    /// let layer = pf_stack::StackLayer::new(pf_metrics::MetricsRegistry::new())
    ///     .span(RequestSpanLayer::new().on_completion(NoCompletionEvent));
    /// # let _ = layer;
    /// ```
    pub fn span<R2: RouteExtractor, C2: OnCompletion, M2>(
        self,
        span: RequestSpanLayer<R2, C2, M2>,
    ) -> StackLayer<R2, C2, M> {
        let (route, on_completion, shared) = span_settings(span);
        StackLayer {
            route,
            on_completion,
            settings: Settings {
                span: shared,
                ..self.settings
            },
            mode: PhantomData,
        }
    }

    /// Takes and hands back `axum::body::Body` (feature `axum`, for axum routers): a response
    /// body is wrapped (and boxed) only when its end must be observed, so `Router::layer`
    /// does not box bodies again and `axum::middleware::from_fn` layers compose inside.
    ///
    /// ```
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .layer(pf_stack::StackLayer::new(pf_metrics::MetricsRegistry::new()).axum_body());
    /// # let _ = app;
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn axum_body(self) -> StackLayer<R, C, pf_http_core::AxumBody> {
        StackLayer {
            route: self.route,
            on_completion: self.on_completion,
            settings: self.settings,
            mode: PhantomData,
        }
    }
}

impl<S, R: Clone, C: Clone, M> Layer<S> for StackLayer<R, C, M> {
    type Service = StackService<S, R, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        StackService::new(
            inner,
            self.route.clone(),
            self.on_completion.clone(),
            &self.settings,
        )
    }
}
