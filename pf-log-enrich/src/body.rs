//! [`ResponseBody`]: emits the completion event when the response body ends, so that the
//! duration and the span cover streamed bodies too.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracing::Level;

use crate::future::{State, completion_event, millis, status_str};

pub(crate) struct Done {
    state: State,
    status: u16,
    bytes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    BodyError,
    Dropped,
}

impl Done {
    fn finish(self, outcome: Outcome) {
        let Done {
            state,
            status,
            bytes,
        } = self;
        let _enter = state.span.enter();
        let ms = millis(state.start.elapsed());
        let server_error = status >= 500 || outcome == Outcome::BodyError;
        let error_type = if status >= 500 {
            Some(status_str(status))
        } else if outcome == Outcome::BodyError {
            Some("body_error")
        } else {
            None
        };
        let incomplete = (outcome != Outcome::Complete).then_some(true);
        if state.emit {
            let level = if server_error {
                state.config.levels.server_error
            } else {
                state.config.levels.for_status(status)
            };
            completion_event!(
                level,
                http.response.status_code = i64::from(status),
                error.type = error_type,
                duration_ms = ms,
                http.response.body.size = bytes,
                pf.response.incomplete = incomplete,
                "request completed"
            );
        }
        // Recorded after the event so human formats do not print them twice.
        state
            .span
            .record(crate::fields::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
        if let Some(error_type) = error_type {
            state.span.record(crate::fields::ERROR_TYPE, error_type);
            state.span.record("otel.status_code", "ERROR");
        }
        let _ = &state.ctx;
    }
}

pin_project! {
    /// Response body of [`RequestSpan`](crate::RequestSpan): counts the bytes and emits the
    /// "request completed" event at the end of the body (or when it is dropped early, with
    /// `pf.response.incomplete = true`).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        done: Option<Done>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(done) = this.done.take() {
                done.finish(Outcome::Dropped);
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, state: State, status: u16) -> Self {
        let done = Done {
            state,
            status,
            bytes: 0,
        };
        // A body already at its end is never polled (404 fallback, 405, 204), and a HEAD
        // response's body is never sent: both are complete now, not a client gone later.
        if done.state.head || inner.is_end_stream() {
            done.finish(Outcome::Complete);
            return Self { inner, done: None };
        }
        Self {
            inner,
            done: Some(done),
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let (Some(data), Some(done)) = (f.data_ref(), this.done.as_mut()) {
                    done.bytes += data.remaining() as u64;
                }
                if this.inner.is_end_stream()
                    && let Some(done) = this.done.take()
                {
                    done.finish(Outcome::Complete);
                }
            }
            Some(Err(_)) => {
                if let Some(done) = this.done.take() {
                    done.finish(Outcome::BodyError);
                }
            }
            None => {
                if let Some(done) = this.done.take() {
                    done.finish(Outcome::Complete);
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
