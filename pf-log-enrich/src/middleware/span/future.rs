//! [`ResponseFuture`]: echoes the request ID, records a service error, and hands the
//! request's end to the [`ResponseBody`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, Response};
use pin_project_lite::pin_project;

use crate::context::RequestId;
use crate::middleware::span::body::ResponseBody;
use crate::middleware::span::completion::{Completion, CompletionLevels, OnCompletion};

pin_project! {
    /// Response future of [`RequestSpan`](crate::RequestSpan).
    ///
    /// If it is dropped before completion (client went away, or the handler panicked without
    /// a catch-panic layer inside), a "request cancelled" event is emitted instead.
    pub struct ResponseFuture<F, C = CompletionLevels>
    where
        C: OnCompletion,
    {
        #[pin]
        inner: F,
        // `None` for an excluded route, and once the response is out.
        completion: Option<Completion<C>>,
        head: bool,
        echo: Option<(HeaderName, RequestId)>,
    }

    impl<F, C> PinnedDrop for ResponseFuture<F, C>
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

impl<F, C: OnCompletion> ResponseFuture<F, C> {
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
        }
    }
}

impl<F, C: OnCompletion> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E, C> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
    C: OnCompletion,
{
    type Output = Result<Response<ResponseBody<B, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = {
            let _enter = this.completion.as_ref().map(|c| c.span.enter());
            ready!(this.inner.poll(cx))
        };
        if let (Some((name, id)), Ok(res)) = (this.echo.take(), result.as_mut()) {
            res.headers_mut().insert(name, id.into_header_value());
        }
        let completion = this.completion.take();
        match result {
            Ok(res) => {
                let status = res.status().as_u16();
                let head = *this.head;
                // The completion event waits for the end of the body (streams, SSE).
                Poll::Ready(Ok(
                    res.map(|body| ResponseBody::new(body, completion, status, head))
                ))
            }
            Err(e) => {
                if let Some(completion) = completion {
                    completion.service_error();
                }
                Poll::Ready(Err(e))
            }
        }
    }
}
