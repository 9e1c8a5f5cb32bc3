//! Body wrappers that count the bytes that actually pass.
//!
//! Why not pf-http-core's `ObservedBody`: the response body also watches a gRPC
//! call's trailers (its status) and a panic unwinding through `poll_frame`
//! (status `Internal`), which an end-of-body observer cannot see. For the
//! request body `ObservedBody` would do, but it keeps its byte counter
//! beside the optional observer, so every request pays one more store (one
//! instruction per request in `scripts/instructions`) than this wrapper, whose
//! counter lives inside the optional recorder.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::middleware::record::{Completion, RequestSize};

pin_project! {
    /// Request body handed to the inner service: counts the bytes the
    /// application reads and records them when the body ends or is dropped.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        recorder: Option<RequestSize>,
    }

    impl<B> PinnedDrop for RequestBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(r) = this.project().recorder.take() {
                r.finish();
            }
        }
    }
}

impl<B> RequestBody<B> {
    /// Not public API (pf-stack's fused layer).
    #[doc(hidden)]
    pub fn new(inner: B, recorder: Option<RequestSize>) -> Self {
        Self { inner, recorder }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(r) = this.recorder.as_mut() {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        r.bytes += d.remaining() as u64;
                    }
                }
                Some(Err(_)) | None => {
                    if let Some(r) = this.recorder.take() {
                        r.finish();
                    }
                }
            }
        }
        Poll::Ready(frame)
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

pin_project! {
    /// Response body returned by [`HttpMetricsService`](crate::HttpMetricsService): counts
    /// the bytes sent and completes the request's metrics at the end of the
    /// body, or when the body is dropped (client gone).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        completion: Option<Completion>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(c) = this.project().completion.take() {
                c.finish();
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    /// Wraps a body whose recorder was already [settled](Completion::settle)
    /// (an empty or buffered body is complete at its head).
    #[inline]
    pub(crate) fn started(inner: B, completion: Option<Completion>) -> Self {
        Self { inner, completion }
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        // A gRPC call waiting for its trailers: a panic while producing its
        // messages is its status. Plain HTTP only tests a bool here.
        let guard = PanicGuard::new(this.completion);
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let completion = guard.disarm();
        if let Some(c) = completion.as_mut() {
            let ended = match &frame {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        c.bytes += d.remaining() as u64;
                    } else if c.wants_trailers()
                        && let Some(t) = f.trailers_ref()
                    {
                        // A gRPC call's status.
                        c.trailers(t);
                    }
                    this.inner.is_end_stream()
                }
                Some(Err(_)) | None => true,
            };
            if ended && let Some(c) = completion.take() {
                c.finish_ended();
            }
        }
        Poll::Ready(frame)
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

/// Records a gRPC call as `Internal` when a panic unwinds through the body's
/// `poll_frame`: the body itself may be dropped later, when
/// `thread::panicking()` no longer tells.
#[doc(hidden)]
pub struct PanicGuard<'a> {
    /// `None` once disarmed.
    completion: Option<&'a mut Option<Completion>>,
    /// Only gRPC calls waiting for their trailers.
    armed: bool,
}

impl<'a> PanicGuard<'a> {
    /// Guards the recorder in `slot` while the body is polled.
    #[inline]
    pub fn new(slot: &'a mut Option<Completion>) -> Self {
        let armed = slot.as_ref().is_some_and(Completion::wants_trailers);
        Self {
            completion: Some(slot),
            armed,
        }
    }

    /// The poll returned: hands the recorder back without running `drop`.
    #[inline]
    pub fn disarm(mut self) -> &'a mut Option<Completion> {
        match self.completion.take() {
            Some(completion) => completion,
            None => unreachable!("a PanicGuard is disarmed once"),
        }
    }
}

impl Drop for PanicGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.armed
            && std::thread::panicking()
            && let Some(slot) = self.completion.as_mut()
            && let Some(c) = slot.take()
        {
            c.finish_panicked();
        }
    }
}
