//! [`ResponseBody`]: the one body wrapper, for the metrics and the completion event together.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pf_http_core::BodyEnd;
use pf_log_enrich::internal::Completion as SpanCompletion;
use pf_log_enrich::{CompletionLevels, OnCompletion};
use pf_metrics::internal::{BodyPanicGuard, Completion as MetricsCompletion};
use pin_project_lite::pin_project;

/// The "request completed" event still due at the end of the body, with the status it
/// reports.
pub(crate) struct SpanEnd<C> {
    completion: SpanCompletion<C>,
    status: u16,
}

impl<C: OnCompletion> SpanEnd<C> {
    pub(crate) fn new(completion: SpanCompletion<C>, status: u16) -> Self {
        Self { completion, status }
    }

    fn finish(self, end: BodyEnd, bytes: u64) {
        self.completion.response(self.status, end, bytes);
    }
}

/// What the head of a response leaves for its body: nothing, or the ends still due.
pub(crate) struct Due<C: OnCompletion> {
    pub(crate) metrics: Option<MetricsCompletion>,
    pub(crate) span: Option<SpanEnd<C>>,
}

impl<C: OnCompletion> Due<C> {
    pub(crate) fn is_empty(&self) -> bool {
        self.metrics.is_none() && self.span.is_none()
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Health { body: Full<Bytes> },
        App { #[pin] body: B },
    }
}

pin_project! {
    /// Response body of [`StackService`](crate::StackService): a probe's answer, or the
    /// application's body, counting the bytes that pass and completing the request's metrics
    /// and its "request completed" event when it ends, fails, or is dropped early (the
    /// client went away: `pf.response.incomplete = true`). A gRPC call's status is read from
    /// its trailers.
    pub struct ResponseBody<B, C = CompletionLevels>
    where
        C: OnCompletion,
    {
        #[pin]
        kind: Kind<B>,
        metrics: Option<MetricsCompletion>,
        span: Option<SpanEnd<C>>,
        bytes: u64,
    }

    impl<B, C> PinnedDrop for ResponseBody<B, C>
    where
        C: OnCompletion,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(mut m) = this.metrics.take() {
                m.set_bytes(*this.bytes);
                m.finish();
            }
            if let Some(s) = this.span.take() {
                s.finish(BodyEnd::Aborted, *this.bytes);
            }
        }
    }
}

impl<B, C: OnCompletion> ResponseBody<B, C> {
    pub(crate) fn health(body: Full<Bytes>) -> Self {
        Self {
            kind: Kind::Health { body },
            metrics: None,
            span: None,
            bytes: 0,
        }
    }

    pub(crate) fn app(body: B, due: Due<C>) -> Self {
        Self {
            kind: Kind::App { body },
            metrics: due.metrics,
            span: due.span,
            bytes: 0,
        }
    }
}

impl<B, C: OnCompletion> fmt::Debug for ResponseBody<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<B: Body<Data = Bytes>, C: OnCompletion> Body for ResponseBody<B, C> {
    type Data = Bytes;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let mut body = match this.kind.project() {
            KindProj::Health { body } => {
                let frame = ready!(Pin::new(body).poll_frame(cx));
                return Poll::Ready(frame.map(|f| f.map_err(|never| match never {})));
            }
            KindProj::App { body } => body,
        };
        // A gRPC call waiting for its trailers: a panic while producing its messages is its
        // status. Plain HTTP only tests a bool here.
        let guard = BodyPanicGuard::new(this.metrics);
        let frame = ready!(body.as_mut().poll_frame(cx));
        let metrics = guard.disarm();
        let end = match &frame {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    *this.bytes += d.remaining() as u64;
                } else if let Some(t) = f.trailers_ref()
                    && let Some(m) = metrics.as_mut()
                    && m.wants_trailers()
                {
                    // A gRPC call's status.
                    m.trailers(t);
                }
                body.is_end_stream().then_some(BodyEnd::Complete)
            }
            Some(Err(_)) => Some(BodyEnd::Errored),
            None => Some(BodyEnd::Complete),
        };
        if let Some(end) = end {
            if let Some(mut m) = metrics.take() {
                m.set_bytes(*this.bytes);
                m.finish_ended();
            }
            if let Some(s) = this.span.take() {
                s.finish(end, *this.bytes);
            }
        }
        Poll::Ready(frame)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Health { body } => body.is_end_stream(),
            Kind::App { body } => body.is_end_stream(),
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Health { body } => body.size_hint(),
            Kind::App { body } => body.size_hint(),
        }
    }
}
