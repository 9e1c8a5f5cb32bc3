//! [`HealthService`]: the service made by [`HealthLayer`](crate::HealthLayer).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pf_http_core::AnyBody;
use tower::ServiceExt;
use tower_service::Service;

use crate::body::HealthBody;
use crate::future::ResponseFuture;
use crate::respond::{Config, respond};

/// Answers probes itself and passes other requests to `S`; made by
/// [`HealthLayer`](crate::HealthLayer).
///
/// ```
/// use pf_health::{HealthLayer, HealthRegistry};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder().build().unwrap();
/// let app = tower::service_fn(|_req: http::Request<()>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
/// });
/// let svc = ServiceBuilder::new().layer(HealthLayer::new(registry)).service(app);
/// let res = svc.oneshot(http::Request::get("/readyz").body(()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), 503); // the lifecycle is still "starting"
/// # }
/// ```
///
/// `M` is the body handling ([`AnyBody`] or `pf_http_core::AxumBody`, see
/// `HealthLayer::axum_body`, feature `axum`).
pub struct HealthService<S, M = AnyBody> {
    inner: S,
    config: Arc<Config>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, M> Clone for HealthService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
            mode: PhantomData,
        }
    }
}

impl<S, M> HealthService<S, M> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self {
            inner,
            config,
            mode: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: fmt::Debug, M> fmt::Debug for HealthService<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, M> HealthService<S, M> {
    /// A probe's answer, or the application's response future.
    fn route<ReqBody, M2>(
        &mut self,
        request: Request<ReqBody>,
    ) -> ResponseFuture<tower::util::Oneshot<S, Request<ReqBody>>, S::Error, M2>
    where
        S: Service<Request<ReqBody>> + Clone,
    {
        match self.config.route(request.uri().path()) {
            Some(endpoint) => {
                let (parts, _body) = request.into_parts();
                ResponseFuture::health(respond(self.config.clone(), endpoint, parts))
            }
            None => {
                // Take the service that was cloned for this call, as axum does.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::inner(inner.oneshot(request))
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HealthService<S, AnyBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<HealthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<tower::util::Oneshot<S, Request<ReqBody>>, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Always ready: probes must be answered even when the application applies
        // backpressure. Application requests wait for readiness inside their own future.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.route(request)
    }
}

/// The axum-native path: application responses pass through as they are.
#[cfg(feature = "axum")]
impl<S> Service<Request<axum::body::Body>> for HealthService<S, pf_http_core::AxumBody>
where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>> + Clone,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<
        tower::util::Oneshot<S, Request<axum::body::Body>>,
        S::Error,
        pf_http_core::AxumBody,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Always ready, as above.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<axum::body::Body>) -> Self::Future {
        self.route(request)
    }
}
