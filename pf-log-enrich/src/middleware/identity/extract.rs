//! The axum extractors (feature `axum`): [`Identity`] and [`RequestId`] taken by handlers.

use crate::context::RequestId;
use crate::middleware::identity::handle::Identity;

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
