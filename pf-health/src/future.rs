//! Response futures of [`HealthService`](crate::HealthService) and
//! [`HealthEndpoints`](crate::HealthEndpoints).

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::HealthBody;
use crate::respond::{HealthResponse, RespondFuture};

pin_project! {
    /// Response future of [`HealthService`](crate::HealthService): either a probe answer or
    /// the application's response.
    pub struct ResponseFuture<F, E> {
        #[pin]
        kind: Kind<F>,
        _error: PhantomData<fn() -> E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Health { future: RespondFuture },
        Inner { #[pin] future: F },
    }
}

impl<F, E> ResponseFuture<F, E> {
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

impl<F, B, E> Future for ResponseFuture<F, E>
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

impl<F, E> std::fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
