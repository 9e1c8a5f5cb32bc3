//! Response futures of [`HealthService`](crate::HealthService) and
//! [`HealthEndpoints`](crate::HealthEndpoints).

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pf_http_core::AnyBody;
use pin_project_lite::pin_project;

use crate::body::HealthBody;
use crate::respond::{HealthResponse, RespondFuture};

pin_project! {
    /// Response future of [`HealthService`](crate::HealthService): either a probe answer or
    /// the application's response. `M` is the layer's body handling.
    pub struct ResponseFuture<F, E, M = AnyBody> {
        #[pin]
        kind: Kind<F>,
        _error: PhantomData<fn() -> (E, M)>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Health { future: RespondFuture },
        Inner { #[pin] future: F },
    }
}

impl<F, E, M> ResponseFuture<F, E, M> {
    pub(crate) fn health(future: RespondFuture) -> Self {
        Self {
            kind: Kind::Health { future },
            _error: PhantomData,
        }
    }

    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
            _error: PhantomData,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, E, AnyBody>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<HealthBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Health { future } => {
                let response = ready!(future.as_mut().poll(cx));
                Poll::Ready(Ok(response.map(HealthBody::health)))
            }
            KindProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(HealthBody::inner)))
            }
        }
    }
}

#[cfg(feature = "axum")]
impl<F, E> Future for ResponseFuture<F, E, pf_http_core::AxumBody>
where
    F: Future<Output = Result<Response<axum::body::Body>, E>>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Health { future } => {
                let response = ready!(future.as_mut().poll(cx));
                Poll::Ready(Ok(response.map(axum::body::Body::new)))
            }
            KindProj::Inner { future } => future.poll(cx),
        }
    }
}

/// Response future of [`HealthEndpoints`](crate::HealthEndpoints).
pub struct EndpointFuture {
    future: RespondFuture,
}

impl EndpointFuture {
    pub(crate) fn new(future: RespondFuture) -> Self {
        Self { future }
    }
}

impl std::fmt::Debug for EndpointFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointFuture").finish_non_exhaustive()
    }
}

impl Future for EndpointFuture {
    type Output = Result<HealthResponse, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx).map(Ok)
    }
}

impl<F, E, M> std::fmt::Debug for ResponseFuture<F, E, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
