//! [`ResponseFuture`]: echoes the request ID, records a service error, and hands the
//! request's end to the [`ResponseBody`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, Response};
use pf_http_core::AnyBody;
use pin_project_lite::pin_project;

use crate::context::RequestId;
use crate::middleware::span::body::ResponseBody;
use crate::middleware::span::completion::{Completion, CompletionLevels, OnCompletion};

pin_project! {
    /// Response future of [`RequestSpanService`](crate::RequestSpanService).
    ///
    /// If it is dropped before completion (client went away, or the handler panicked without
    /// a catch-panic layer inside), a "request cancelled" event is emitted instead.
    ///
    /// `M` is the layer's body handling ([`AnyBody`] or `pf_http_core::AxumBody`).
    pub struct ResponseFuture<F, C = CompletionLevels, M = AnyBody>
    where
        C: OnCompletion,
    {
        #[pin]
        inner: F,
        // `None` for an excluded route, and once the response is out.
        completion: Option<Completion<C>>,
        head: bool,
        echo: Option<(HeaderName, RequestId)>,
        mode: PhantomData<fn() -> M>,
    }

    impl<F, C, M> PinnedDrop for ResponseFuture<F, C, M>
    where
        C: OnCompletion,
    {
        fn drop(this: Pin<&mut Self>) {
            if let Some(completion) = this.project().completion.take() {
                completion.cancelled();
            }
        }
    }
}

impl<F, C: OnCompletion, M> ResponseFuture<F, C, M> {
    pub(crate) fn new(
        inner: F,
        completion: Option<Completion<C>>,
        head: bool,
        echo: Option<(HeaderName, RequestId)>,
    ) -> Self {
        Self {
            inner,
            completion,
            head,
            echo,
            mode: PhantomData,
        }
    }

    /// Polls the inner future inside the span; at the response head, echoes
    /// the request ID and hands back what the body needs: the completion (if
    /// any is still due), the status and whether the request was a HEAD.
    fn poll_head<B, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head<B, C>, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
    {
        let this = self.project();
        let mut result = {
            let _enter = this.completion.as_ref().map(|c| c.span.enter());
            ready!(this.inner.poll(cx))
        };
        if let (Some((name, id)), Ok(res)) = (this.echo.take(), result.as_mut()) {
            res.headers_mut().insert(name, id.into_header_value());
        }
        let completion = this.completion.take();
        Poll::Ready(match result {
            Ok(res) => Ok(Head {
                status: res.status().as_u16(),
                response: res,
                completion,
                head: *this.head,
            }),
            Err(e) => {
                if let Some(completion) = completion {
                    completion.service_error();
                }
                Err(e)
            }
        })
    }
}

/// A response head, with what its body's completion needs.
struct Head<B, C: OnCompletion> {
    response: Response<B>,
    completion: Option<Completion<C>>,
    status: u16,
    head: bool,
}

impl<F, C: OnCompletion, M> fmt::Debug for ResponseFuture<F, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E, C> Future for ResponseFuture<F, C, AnyBody>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    C: OnCompletion,
{
    type Output = Result<Response<ResponseBody<B, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let h = ready!(self.poll_head(cx))?;
        // The completion event waits for the end of the body (streams, SSE).
        Poll::Ready(Ok(h.response.map(|body| {
            ResponseBody::new(body, h.completion, h.status, h.head)
        })))
    }
}

/// The axum-native path: the body goes back as it came when the completion
/// event need not wait for it (excluded route, HEAD, a body sent with its
/// head); otherwise it is wrapped and boxed once.
#[cfg(feature = "axum")]
impl<F, E, C> Future for ResponseFuture<F, C, pf_http_core::AxumBody>
where
    F: Future<Output = Result<Response<axum::body::Body>, E>>,
    C: OnCompletion,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let h = ready!(self.poll_head(cx))?;
        let Some(completion) = h.completion else {
            return Poll::Ready(Ok(h.response));
        };
        let sent = if h.head {
            Some(0)
        } else {
            pf_http_core::sent_with_head(h.response.body())
        };
        Poll::Ready(Ok(match sent {
            Some(bytes) => {
                completion.response(h.status, pf_http_core::BodyEnd::Complete, bytes);
                h.response
            }
            None => h.response.map(|body| {
                axum::body::Body::new(ResponseBody::new(body, Some(completion), h.status, h.head))
            }),
        }))
    }
}
