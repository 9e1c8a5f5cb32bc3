//! [`ResponseBody`]: the completion event at the end of the response body, so that the
//! duration and the span cover streamed bodies too. Built on pf-http-core's [`ObservedBody`],
//! which tells how the body ended exactly once (a body already at its end and a HEAD
//! response's body are complete at once: the server never polls or sends them).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pf_http_core::{BodyEnd, ObservedBody, OnBodyEnd};
use pin_project_lite::pin_project;

use crate::middleware::span::completion::{Completion, CompletionLevels, OnCompletion};

/// Told by [`ObservedBody`] how the body ended; finishes the request (none for an excluded
/// route).
pub(crate) struct Finish<C> {
    completion: Option<Completion<C>>,
    status: u16,
}

impl<C: OnCompletion> OnBodyEnd for Finish<C> {
    #[inline]
    fn on_body_end(self, end: BodyEnd, bytes: u64) {
        if let Some(completion) = self.completion {
            completion.response(self.status, end, bytes);
        }
    }
}

pin_project! {
    /// Response body of [`RequestSpanService`](crate::RequestSpanService): counts the bytes and emits the
    /// "request completed" event at the end of the body (or when it is dropped early, with
    /// `pf.response.incomplete = true`).
    pub struct ResponseBody<B, C = CompletionLevels>
    where
        C: OnCompletion,
    {
        #[pin]
        inner: ObservedBody<B, Finish<C>>,
    }
}

impl<B: Body, C: OnCompletion> ResponseBody<B, C> {
    /// `head`: the response to a HEAD request, whose body is never sent.
    pub(crate) fn new(
        inner: B,
        completion: Option<Completion<C>>,
        status: u16,
        head: bool,
    ) -> Self {
        let finish = Finish { completion, status };
        let inner = if head {
            ObservedBody::head(inner, finish)
        } else {
            ObservedBody::new(inner, finish)
        };
        Self { inner }
    }
}

impl<B, C: OnCompletion> fmt::Debug for ResponseBody<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B: Body, C: OnCompletion> Body for ResponseBody<B, C> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
