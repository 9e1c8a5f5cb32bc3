//! The request-context handle: [`Identity`], the one value pf-log-enrich keeps in a request's
//! extensions. The request ID layer stores it, the span layer completes it in place, and
//! everything later (authentication, handlers, the completion event) reads it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use http::Extensions;

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
