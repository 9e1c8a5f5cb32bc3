//! [`RecordIdentityLayer`]: reads the application's authenticated user with an
//! [`IdentityExtractor`] and records it on the request's [`Identity`].

use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower_layer::Layer;
use tower_service::Service;

use crate::middleware::identity::handle::Identity;

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
