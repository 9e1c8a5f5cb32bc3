//! Late identity: user and organization IDs recorded after the request span opened.
//!
//! [`RequestSpanLayer`](crate::RequestSpanLayer) puts an [`Identity`] handle into the request
//! extensions. Authentication (a layer, a middleware function or an extractor) calls
//! [`Identity::set_user_id`] / [`Identity::set_organization_id`]. The values are held in the
//! request's own context, so that the JSON formatter of this crate writes them on every later
//! line without re-formatting span fields, the OTLP log records get them as attributes, the
//! completion event carries them, and the OpenTelemetry span receives them as attributes.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::context::{RequestContext, RequestId, TraceIds};

/// Handle to the current request's identity, found in the request extensions.
///
/// The first value set wins (authentication runs once per request). Cloning is cheap.
///
/// ```
/// use axum::{Router, routing::get, extract::Request, middleware::{self, Next}, response::Response};
/// use pf_log_enrich::{Identity, RequestSpanLayer};
///
/// async fn auth(req: Request, next: Next) -> Response {
///     if let Some(identity) = req.extensions().get::<Identity>() {
///         identity.set_user_id("u-42");
///         identity.set_organization_id("org-7");
///     }
///     next.run(req).await
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(middleware::from_fn(auth))
///     .layer(RequestSpanLayer::new());
/// ```
#[derive(Clone)]
pub struct Identity {
    pub(crate) inner: Arc<RequestContext>,
    // Not inside `RequestContext`: that one is also stored in the span's extensions, and a
    // span holding a handle to itself would never close.
    pub(crate) span: tracing::Span,
    pub(crate) on_span: IdentityOnSpan,
}

/// Where [`Identity`] values go besides the request's own context (which this crate's
/// formatters, its OTLP log records and the completion event read).
///
/// ```
/// use pf_log_enrich::{IdentityOnSpan, RequestSpanLayer};
/// // Only on the OpenTelemetry span: tracing-subscriber's own formatters never re-format them.
/// let layer = RequestSpanLayer::new().identity_on_span(IdentityOnSpan::OtelAttributes);
/// # let _ = layer;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityOnSpan {
    /// Recorded as tracing span fields `user.id` and `pf.organization.id` (the default):
    /// every subscriber layer sees them, and tracing-opentelemetry turns them into span
    /// attributes.
    #[default]
    Fields,
    /// Set as attributes of the OpenTelemetry span only (feature `opentelemetry`; without it,
    /// nowhere else): avoids the re-formatting cost of `tracing-subscriber`'s own JSON
    /// formatter on late `record`s.
    OtelAttributes,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("request_id", &self.inner.request_id)
            .field("user_id", &self.user_id())
            .field("organization_id", &self.organization_id())
            .finish()
    }
}

impl Identity {
    /// A handle not attached to any span (what the axum extractor yields when the layer is
    /// missing). Setting values on it only stores them.
    ///
    /// ```
    /// let id = pf_log_enrich::Identity::detached();
    /// id.set_user_id("u1");
    /// assert_eq!(id.user_id(), Some("u1"));
    /// ```
    pub fn detached() -> Self {
        Self::unattached(None)
    }

    /// A handle for a request that has no span (yet): the request ID layer's, which the span
    /// layer completes in place.
    fn unattached(request_id: Option<RequestId>) -> Self {
        Self {
            inner: Arc::new(RequestContext {
                request_id,
                method: http::Method::GET,
                route: None,
                user_id: OnceLock::new(),
                org_id: OnceLock::new(),
                trace: None,
            }),
            span: tracing::Span::none(),
            on_span: IdentityOnSpan::OtelAttributes,
        }
    }

    /// Stores `id` as the request ID in `extensions`: in the request's `Identity`, inserted
    /// now if there is none. pf-log-enrich keeps one value per request in the extensions (the
    /// `Identity`), so the request ID and span layers together insert one, not two.
    pub(crate) fn store_request_id(extensions: &mut Extensions, id: RequestId) {
        match extensions.get_mut::<Identity>() {
            Some(identity) => match Arc::get_mut(&mut identity.inner) {
                Some(context) => context.request_id = Some(id),
                // Shared already (cloned by a layer in between): a context of its own.
                None => {
                    let mut context = RequestContext::clone(&identity.inner);
                    context.request_id = Some(id);
                    identity.inner = Arc::new(context);
                }
            },
            None => {
                extensions.insert(Self::unattached(Some(id)));
            }
        }
    }

    /// Makes `context` and `span` the request's: completes the `Identity` the request ID layer
    /// stored (user and organization set before the span are kept), or inserts one. Returns
    /// the context, to share with the span.
    pub(crate) fn open(
        extensions: &mut Extensions,
        context: RequestContext,
        span: &tracing::Span,
        on_span: IdentityOnSpan,
    ) -> Arc<RequestContext> {
        let Some(identity) = extensions.get_mut::<Identity>() else {
            let inner = Arc::new(context);
            extensions.insert(Identity {
                inner: inner.clone(),
                span: span.clone(),
                on_span,
            });
            return inner;
        };
        if let Some(user) = identity.inner.user_id.get() {
            let _ = context.user_id.set(user.clone());
        }
        if let Some(org) = identity.inner.org_id.get() {
            let _ = context.org_id.set(org.clone());
        }
        match Arc::get_mut(&mut identity.inner) {
            Some(inner) => *inner = context,
            None => identity.inner = Arc::new(context),
        }
        identity.span = span.clone();
        identity.on_span = on_span;
        identity.inner.clone()
    }

    /// The request's `Identity` from its extensions: what [`RequestIdLayer`] and
    /// [`RequestSpanLayer`](crate::RequestSpanLayer) stored (the request ID, the span, the
    /// user and organization set so far).
    ///
    /// [`RequestIdLayer`]: crate::RequestIdLayer
    ///
    /// ```
    /// use pf_log_enrich::Identity;
    /// let request = http::Request::new(());
    /// assert!(Identity::from_extensions(request.extensions()).is_none());
    /// ```
    pub fn from_extensions(extensions: &Extensions) -> Option<&Identity> {
        extensions.get::<Identity>()
    }

    /// Records the user ID (first call wins). Returns `false` if it was already set.
    pub fn set_user_id(&self, user_id: impl Into<String>) -> bool {
        self.set(true, user_id.into())
    }

    /// Records the organization ID (first call wins). Returns `false` if it was already set.
    pub fn set_organization_id(&self, org_id: impl Into<String>) -> bool {
        self.set(false, org_id.into())
    }

    fn set(&self, user: bool, value: String) -> bool {
        let (cell, field) = if user {
            (&self.inner.user_id, crate::fields::USER_ID)
        } else {
            (&self.inner.org_id, crate::fields::ORG_ID)
        };
        if cell.set(value.into_boxed_str()).is_err() {
            return false;
        }
        let value = cell.get().map(|v| &**v).unwrap_or_default();
        if self.on_span == IdentityOnSpan::Fields {
            self.span.record(field, value);
        } else {
            #[cfg(feature = "opentelemetry")]
            {
                use tracing_opentelemetry::OpenTelemetrySpanExt;
                if !self.span.is_none() {
                    self.span.set_attribute(field, value.to_owned());
                }
            }
        }
        true
    }

    /// The recorded user ID.
    pub fn user_id(&self) -> Option<&str> {
        self.inner.user_id.get().map(|s| &**s)
    }

    /// The recorded organization ID.
    pub fn organization_id(&self) -> Option<&str> {
        self.inner.org_id.get().map(|s| &**s)
    }

    /// The request ID, when [`RequestIdLayer`](crate::RequestIdLayer) ran first (or the span
    /// layer has [`request_id`](crate::RequestSpanLayer::request_id) set). Handlers can also
    /// take the [`RequestId`] itself as an axum extractor.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.inner.request_id.as_ref()
    }

    /// The request method.
    pub fn method(&self) -> &http::Method {
        &self.inner.method
    }

    /// The matched route template, if any.
    pub fn route(&self) -> Option<&str> {
        self.inner.route.as_deref()
    }

    /// Trace and span ID of the request span when OpenTelemetry is active.
    pub fn trace_ids(&self) -> Option<TraceIds> {
        self.inner.trace
    }

    /// The request span.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or_else(Identity::detached))
    }
}

/// The request ID as an axum extractor (feature `axum`), read from the request's [`Identity`].
/// Without [`RequestIdLayer`](crate::RequestIdLayer) in front (or the span layer's
/// [`request_id`](crate::RequestSpanLayer::request_id)) the request fails with 500 and says
/// so: a missing layer is a server bug. Take `Option<RequestId>` where it may be absent.
///
/// ```
/// use axum::{Router, routing::get};
/// use pf_log_enrich::{RequestId, RequestIdLayer};
///
/// let app: Router = Router::new()
///     .route("/", get(|id: RequestId| async move { id.to_string() }))
///     .route("/maybe", get(|id: Option<RequestId>| async move { format!("{id:?}") }))
///     .layer(RequestIdLayer::new());
/// # let _ = app;
/// ```
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = (http::StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Identity::from_extensions(&parts.extensions)
            .and_then(Identity::request_id)
            .cloned()
            .ok_or((
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "no request ID: add pf_log_enrich::RequestIdLayer in front of this handler",
            ))
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(Identity::from_extensions(&parts.extensions)
            .and_then(Identity::request_id)
            .cloned())
    }
}

/// The values an [`IdentityExtractor`] reads from the application's own user type.
///
/// ```
/// use pf_log_enrich::IdentityValues;
/// let values = IdentityValues::new().user_id("42").organization_id("7");
/// assert_eq!(values.user_id.as_deref(), Some("42"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityValues {
    /// User ID.
    pub user_id: Option<String>,
    /// Organization ID.
    pub organization_id: Option<String>,
}

impl IdentityValues {
    /// No user, no organization.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the user ID.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the organization ID.
    pub fn organization_id(mut self, organization_id: impl Into<String>) -> Self {
        self.organization_id = Some(organization_id.into());
        self
    }
}

/// Reads the application's authenticated user from the request extensions.
///
/// Implemented for closures `Fn(&Extensions) -> Option<IdentityValues>`.
///
/// ```
/// use pf_log_enrich::{IdentityValues, RecordIdentityLayer};
/// #[derive(Clone)]
/// struct User { id: u64, org: String }
/// let layer = RecordIdentityLayer::new(|ext: &http::Extensions| {
///     ext.get::<User>()
///         .map(|u| IdentityValues::new().user_id(u.id.to_string()).organization_id(&u.org))
/// });
/// # let _ = layer;
/// ```
pub trait IdentityExtractor {
    /// Returns the identity found in `extensions`, if any.
    fn extract(&self, extensions: &Extensions) -> Option<IdentityValues>;
}

impl<F> IdentityExtractor for F
where
    F: Fn(&Extensions) -> Option<IdentityValues>,
{
    fn extract(&self, extensions: &Extensions) -> Option<IdentityValues> {
        self(extensions)
    }
}

/// Layer placed *after* (inside) the application's authentication layer: reads the user with
/// an [`IdentityExtractor`] and records it on the request's [`Identity`].
///
/// ```
/// use axum::{Router, routing::get};
/// use pf_log_enrich::{IdentityValues, RecordIdentityLayer, RequestSpanLayer};
/// #[derive(Clone)]
/// struct User(u64);
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(RecordIdentityLayer::new(|ext: &http::Extensions| {
///         ext.get::<User>().map(|u| IdentityValues::new().user_id(u.0.to_string()))
///     }))
///     // .layer(your_auth_layer)
///     .layer(RequestSpanLayer::new());
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RecordIdentityLayer<E> {
    extractor: E,
}

impl<E> RecordIdentityLayer<E> {
    /// A layer using `extractor`.
    pub fn new(extractor: E) -> Self {
        Self { extractor }
    }
}

impl<S, E: Clone> Layer<S> for RecordIdentityLayer<E> {
    type Service = RecordIdentityService<S, E>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordIdentityService {
            inner,
            extractor: self.extractor.clone(),
        }
    }
}

/// Service produced by [`RecordIdentityLayer`].
#[derive(Clone, Debug)]
pub struct RecordIdentityService<S, E> {
    inner: S,
    extractor: E,
}

impl<S, E, B> Service<Request<B>> for RecordIdentityService<S, E>
where
    S: Service<Request<B>>,
    E: IdentityExtractor,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some(identity) = req.extensions().get::<Identity>()
            && let Some(values) = self.extractor.extract(req.extensions())
        {
            if let Some(u) = values.user_id {
                identity.set_user_id(u);
            }
            if let Some(o) = values.organization_id {
                identity.set_organization_id(o);
            }
        }
        self.inner.call(req)
    }
}
