//! The response future of [`HttpMetrics`](crate::HttpMetrics).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Response, StatusCode, header};
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::grpc::Ending;
use crate::record::InFlight;

pin_project! {
    /// Response future of [`HttpMetrics`](crate::HttpMetrics).
    ///
    /// If it is dropped before the response head exists, the request is
    /// recorded as `499` (client closed request), or as `500` when a panic in
    /// the inner service unwound through it; a gRPC call as `Canceled` (or
    /// `DeadlineExceeded` once its `grpc-timeout` passed), or `Internal`.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        in_flight: Option<InFlight>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
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

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, in_flight: Option<InFlight>) -> Self {
        Self { inner, in_flight }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Records a panic that unwinds through `poll` as a 500 right away: the future
/// itself may be dropped much later (e.g. by `CatchPanic`), when
/// `thread::panicking()` no longer tells.
struct PanicGuard<'a>(&'a mut Option<InFlight>);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(r) = self.0.take()
        {
            r.abort(Ending::Panic);
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let guard = PanicGuard(this.in_flight);
        let result = ready!(this.inner.poll(cx));
        let in_flight = guard.0.take();
        Poll::Ready(match result {
            Ok(response) => {
                let completion = in_flight.map(|r| {
                    let status = response.status().as_u16();
                    let grpc_status = if r.is_grpc() {
                        crate::grpc::status_header(response.headers())
                    } else {
                        None
                    };
                    r.head(status, is_long_lived(&response), grpc_status)
                });
                Ok(response.map(|b| ResponseBody::new(b, completion)))
            }
            Err(e) => {
                // No response: the server answers with an error of its own.
                if let Some(r) = in_flight {
                    r.abort(Ending::ServiceError);
                }
                Err(e)
            }
        })
    }
}

/// Protocol switches and server-sent event streams live as long as the client
/// likes: their duration is taken at the response head.
#[inline]
fn is_long_lived<B: http_body::Body>(response: &Response<B>) -> bool {
    response.status() == StatusCode::SWITCHING_PROTOCOLS
        // A body of known length is no stream: skip the header lookup (most responses).
        || (response.body().size_hint().exact().is_none()
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")))
}
