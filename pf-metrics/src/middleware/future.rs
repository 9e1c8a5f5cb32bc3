//! The response future of [`HttpMetricsService`](crate::HttpMetricsService).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::middleware::body::ResponseBody;
use crate::middleware::grpc::Ending;
use crate::middleware::record::{Completion, InFlight};
use pf_http_core::AnyBody;

pin_project! {
    /// Response future of [`HttpMetricsService`](crate::HttpMetricsService).
    ///
    /// If it is dropped before the response head exists, the request is
    /// recorded as `499` (client closed request), or as `500` when a panic in
    /// the inner service unwound through it; a gRPC call as `Canceled` (or
    /// `DeadlineExceeded` once its `grpc-timeout` passed), or `Internal`.
    ///
    /// `M` is the layer's body handling ([`AnyBody`] or `pf_http_core::AxumBody`).
    pub struct ResponseFuture<F, M = AnyBody> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
        mode: PhantomData<fn() -> M>,
    }

    impl<F, M> PinnedDrop for ResponseFuture<F, M> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(r) = this.project().in_flight.take() {
                r.abort(if std::thread::panicking() {
                    Ending::Panic
                } else {
                    Ending::Dropped
                });
            }
        }
    }
}

impl<F, M> ResponseFuture<F, M> {
    pub(crate) fn new(inner: F, in_flight: Option<InFlight>) -> Self {
        Self {
            inner,
            in_flight,
            mode: PhantomData,
        }
    }
}

impl<F, M> std::fmt::Debug for ResponseFuture<F, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Records a panic that unwinds through `poll` as a 500 right away: the future
/// itself may be dropped much later (e.g. by `CatchPanic`), when
/// `thread::panicking()` no longer tells.
#[doc(hidden)]
pub struct PanicGuard<'a>(pub &'a mut Option<InFlight>);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(r) = self.0.take()
        {
            r.abort(Ending::Panic);
        }
    }
}

/// A response head and its request's recorder, if the body still has to be observed.
type Head<B> = (Response<B>, Option<Completion>);

impl<F, M> ResponseFuture<F, M> {
    /// Polls the inner future; at the response head, settles the request's
    /// recorder: `None` when the request is complete already (excluded route,
    /// a body sent with its head) or failed.
    #[inline]
    fn poll_head<B, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head<B>, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
        B: http_body::Body,
    {
        let this = self.project();
        let guard = PanicGuard(this.in_flight);
        let result = ready!(this.inner.poll(cx));
        let in_flight = guard.0.take();
        Poll::Ready(match result {
            Ok(response) => {
                let completion = in_flight.and_then(|r| r.at_head(&response).due());
                Ok((response, completion))
            }
            Err(e) => {
                // No response: the server answers with an error of its own.
                if let Some(r) = in_flight {
                    let _nanos = r.abort(Ending::ServiceError);
                }
                Err(e)
            }
        })
    }
}

impl<F, B, E> Future for ResponseFuture<F, AnyBody>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, completion) = ready!(self.poll_head(cx))?;
        Poll::Ready(Ok(response.map(|b| ResponseBody::started(b, completion))))
    }
}

/// The axum-native path: the body goes back as it came, unless it has to be
/// observed to its end (a stream, a large body), and only then is it wrapped
/// (and boxed once by `axum::body::Body::new`).
#[cfg(feature = "axum")]
impl<F, E> Future for ResponseFuture<F, pf_http_core::AxumBody>
where
    F: Future<Output = Result<Response<axum::body::Body>, E>>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, completion) = ready!(self.poll_head(cx))?;
        Poll::Ready(Ok(match completion {
            None => response,
            Some(c) => response.map(|b| axum::body::Body::new(ResponseBody::started(b, Some(c)))),
        }))
    }
}
