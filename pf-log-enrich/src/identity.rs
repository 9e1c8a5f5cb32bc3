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

use crate::RequestId;

/// Trace and span ID of the request span (raw bytes), when OpenTelemetry is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// W3C trace ID.
    pub trace_id: [u8; 16],
    /// W3C span ID of the request span.
    pub span_id: [u8; 8],
    /// Whether the span is sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// Lower-case hex of the trace ID.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }
    /// Lower-case hex of the span ID.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) struct ContextInner {
    pub(crate) request_id: Option<RequestId>,
    pub(crate) method: http::Method,
    pub(crate) route: Option<crate::Route>,
    pub(crate) user_id: OnceLock<Box<str>>,
    pub(crate) org_id: OnceLock<Box<str>>,
    pub(crate) trace: Option<TraceIds>,
}

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
    pub(crate) inner: Arc<ContextInner>,
    // Not inside `ContextInner`: that one is also stored in the span's extensions, and a span
    // holding a handle to itself would never close.
    pub(crate) span: tracing::Span,
    pub(crate) record_on_span: bool,
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
        Self {
            inner: Arc::new(ContextInner {
                request_id: None,
                method: http::Method::GET,
                route: None,
                user_id: OnceLock::new(),
                org_id: OnceLock::new(),
                trace: None,
            }),
            span: tracing::Span::none(),
            record_on_span: false,
        }
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
        if self.record_on_span {
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

    /// The request ID, when [`RequestIdLayer`](crate::RequestIdLayer) ran first.
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

/// The values an [`IdentityExtractor`] reads from the application's own user type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityValues {
    /// User ID.
    pub user_id: Option<String>,
    /// Organization ID.
    pub organization_id: Option<String>,
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
///     ext.get::<User>().map(|u| IdentityValues {
///         user_id: Some(u.id.to_string()),
///         organization_id: Some(u.org.clone()),
///     })
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
#[derive(Clone, Debug)]
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
    type Service = RecordIdentity<S, E>;
    fn layer(&self, inner: S) -> Self::Service {
        RecordIdentity {
            inner,
            extractor: self.extractor.clone(),
        }
    }
}

/// Service produced by [`RecordIdentityLayer`].
#[derive(Clone, Debug)]
pub struct RecordIdentity<S, E> {
    inner: S,
    extractor: E,
}

impl<S, E, B> Service<Request<B>> for RecordIdentity<S, E>
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
