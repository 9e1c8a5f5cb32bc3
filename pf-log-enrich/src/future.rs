//! [`ResponseFuture`]: records the outcome on the span and emits the completion event.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;
use tracing::{Level, Span};

use crate::body::ResponseBody;
use crate::identity::ContextInner;
use crate::layer::Config;

pub(crate) struct State {
    pub(crate) span: Span,
    pub(crate) ctx: Arc<ContextInner>,
    pub(crate) config: Arc<Config>,
    pub(crate) start: Instant,
    pub(crate) emit: bool,
    /// The request was a HEAD: its response body is dropped unread when complete.
    pub(crate) head: bool,
}

pin_project! {
    /// Response future of [`RequestSpan`](crate::RequestSpan).
    ///
    /// If it is dropped before completion (client went away, or the handler panicked without
    /// a catch-panic layer inside), a "request cancelled" event is emitted instead.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<State>,
        echo: Option<(http::HeaderName, crate::RequestId)>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(state) = this.state.take() {
                let _enter = state.span.enter();
                if state.emit {
                    let ms = millis(state.start.elapsed());
                    tracing::warn!(
                        target: "pf_log_enrich::request",
                        duration_ms = ms,
                        "request cancelled"
                    );
                }
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        inner: F,
        span: Span,
        ctx: Arc<ContextInner>,
        config: Arc<Config>,
        start: Instant,
        emit: bool,
        head: bool,
        echo: Option<(http::HeaderName, crate::RequestId)>,
    ) -> Self {
        Self {
            echo,
            inner,
            state: Some(State {
                span,
                ctx,
                config,
                start,
                emit,
                head,
            }),
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

macro_rules! completion_event {
    ($level:expr, $($fields:tt)*) => {
        match $level {
            Level::ERROR => tracing::event!(target: "pf_log_enrich::request", Level::ERROR, $($fields)*),
            Level::WARN => tracing::event!(target: "pf_log_enrich::request", Level::WARN, $($fields)*),
            Level::INFO => tracing::event!(target: "pf_log_enrich::request", Level::INFO, $($fields)*),
            Level::DEBUG => tracing::event!(target: "pf_log_enrich::request", Level::DEBUG, $($fields)*),
            _ => tracing::event!(target: "pf_log_enrich::request", Level::TRACE, $($fields)*),
        }
    };
}
pub(crate) use completion_event;

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = {
            let _enter = this.state.as_ref().map(|s| s.span.enter());
            ready!(this.inner.poll(cx))
        };
        if let (Some((name, id)), Ok(res)) = (this.echo.take(), result.as_mut()) {
            res.headers_mut().insert(name, id.header_value().clone());
        }
        let state = this
            .state
            .take()
            .expect("ResponseFuture polled after completion");
        match result {
            Ok(res) => {
                let status = res.status().as_u16();
                // The completion event waits for the end of the body (streams, SSE).
                Poll::Ready(Ok(res.map(|body| ResponseBody::new(body, state, status))))
            }
            Err(e) => {
                let _enter = state.span.enter();
                let ms = millis(state.start.elapsed());
                if state.emit {
                    completion_event!(
                        state.config.levels.server_error,
                        error.type = "_OTHER",
                        duration_ms = ms,
                        "request completed"
                    );
                }
                state.span.record(crate::fields::ERROR_TYPE, "_OTHER");
                state.span.record("otel.status_code", "ERROR");
                Poll::Ready(Err(e))
            }
        }
    }
}

pub(crate) fn status_str(status: u16) -> &'static str {
    // error.type for HTTP errors is the status code as a string (semconv).
    const CODES: [&str; 12] = [
        "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "510", "511",
    ];
    CODES
        .get(usize::from(status.saturating_sub(500)))
        .copied()
        .unwrap_or("5xx")
}

/// Milliseconds with microsecond resolution (short decimal output: `0.5`, `12.345`).
pub(crate) fn millis(d: std::time::Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
