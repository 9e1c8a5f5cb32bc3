//! [`ResponseFuture`]: the one future a request goes through.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{HeaderName, Response};
use pf_http_core::AnyBody;
use pf_log_enrich::internal::{Completion as SpanCompletion, Opened};
use pf_log_enrich::{CompletionLevels, OnCompletion, RequestId};
use pf_metrics::internal::{Completion as MetricsCompletion, Ending, InFlight, Settled};
use pin_project_lite::pin_project;

use crate::body::{Due, ResponseBody, SpanEnd};

pin_project! {
    /// Response future of [`StackService`](crate::StackService).
    ///
    /// Polls the application inside the request span. At the response head it echoes the
    /// request ID and settles the metrics and the "request completed" event: at once when
    /// the body is sent with its head, else at the end of the body. Dropped before the head
    /// (the client went away), the request is recorded as `499` and a "request cancelled"
    /// event is written; a panic unwinding through it is recorded as `500` at once.
    ///
    /// `M` is the layer's body handling ([`AnyBody`] or `pf_http_core::AxumBody`).
    pub struct ResponseFuture<F, C = CompletionLevels, M = AnyBody>
    where
        C: OnCompletion,
    {
        #[pin]
        kind: Kind<F, C>,
        mode: PhantomData<fn() -> M>,
    }

    impl<F, C, M> PinnedDrop for ResponseFuture<F, C, M>
    where
        C: OnCompletion,
    {
        fn drop(this: Pin<&mut Self>) {
            if let KindProj::App { in_flight, completion, .. } = this.project().kind.project() {
                let ending = if std::thread::panicking() { Ending::Panic } else { Ending::Dropped };
                abort(in_flight, completion, ending);
            }
        }
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Health { answer: pf_health::internal::RespondFuture },
        App {
            #[pin]
            inner: F,
            // `None` for an excluded route, and once the head is out.
            in_flight: Option<InFlight>,
            completion: Option<SpanCompletion<C>>,
            echo: Option<(HeaderName, RequestId)>,
            head: bool,
        },
    }
}

impl<F, C: OnCompletion, M> ResponseFuture<F, C, M> {
    pub(crate) fn health(answer: pf_health::internal::RespondFuture) -> Self {
        Self {
            kind: Kind::Health { answer },
            mode: PhantomData,
        }
    }

    pub(crate) fn app(inner: F, in_flight: Option<InFlight>, opened: Opened<C>) -> Self {
        Self {
            kind: Kind::App {
                inner,
                in_flight,
                completion: opened.completion,
                echo: opened.echo,
                head: opened.head,
            },
            mode: PhantomData,
        }
    }
}

impl<F, C: OnCompletion, M> fmt::Debug for ResponseFuture<F, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Ends a request that has no response head (dropped, panicked, or the service failed):
/// the metrics record it and the span takes its duration from them (one clock read).
fn abort<C: OnCompletion>(
    in_flight: &mut Option<InFlight>,
    completion: &mut Option<SpanCompletion<C>>,
    ending: Ending,
) {
    let elapsed = in_flight
        .take()
        .map(|r| Duration::from_nanos(r.abort(ending)));
    if let Some(c) = completion.take() {
        match ending {
            Ending::ServiceError => c.service_error_after(elapsed),
            _ => c.cancelled_after(elapsed),
        }
    }
}

/// Ends the request at once when a panic unwinds through `poll`: the future itself may be
/// dropped much later (e.g. by `CatchPanic`), when `thread::panicking()` no longer tells.
struct PanicGuard<'a, C: OnCompletion> {
    in_flight: &'a mut Option<InFlight>,
    completion: &'a mut Option<SpanCompletion<C>>,
}

impl<C: OnCompletion> Drop for PanicGuard<'_, C> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            abort(self.in_flight, self.completion, Ending::Panic);
        }
    }
}

/// Either a probe's answer or the application's response with what its body still owes.
enum Head<B, C: OnCompletion> {
    Health(pf_health::internal::HealthResponse),
    App(Response<B>, Due<C>),
}

impl<F, C: OnCompletion, M> ResponseFuture<F, C, M> {
    #[inline]
    fn poll_head<B, E>(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Head<B, C>, E>>
    where
        F: Future<Output = Result<Response<B>, E>>,
        B: http_body::Body,
    {
        let (inner, in_flight, completion, echo, head) = match self.project().kind.project() {
            KindProj::Health { answer } => {
                return Poll::Ready(Ok(Head::Health(ready!(answer.as_mut().poll(cx)))));
            }
            KindProj::App {
                inner,
                in_flight,
                completion,
                echo,
                head,
            } => (inner, in_flight, completion, echo, *head),
        };
        let guard = PanicGuard {
            in_flight,
            completion,
        };
        let result = {
            let _enter = guard.completion.as_ref().map(|c| c.span().enter());
            ready!(inner.poll(cx))
        };
        // Not panicking from here on: the guard stays, idle, and lends its parts.
        let (in_flight, completion) = (&mut *guard.in_flight, &mut *guard.completion);
        Poll::Ready(match result {
            Ok(mut response) => {
                if let Some((name, id)) = echo.take() {
                    response.headers_mut().insert(name, id.into_header_value());
                }
                let (metrics, done) = match in_flight.take().map(|r| r.at_head(&response)) {
                    Some(Settled::Due(c)) => (Some(c), None),
                    Some(Settled::Done { nanos }) => (None, Some(nanos)),
                    None => (None, None),
                };
                let status = response.status().as_u16();
                let span = completion.take().and_then(|c| {
                    let sent = if head {
                        Some(0)
                    } else {
                        pf_http_core::sent_with_head(response.body())
                    };
                    match sent {
                        Some(bytes) => {
                            // The metrics' end, or their clock read now.
                            let nanos = done
                                .or_else(|| metrics.as_ref().map(MetricsCompletion::elapsed_nanos));
                            let elapsed = nanos.map(Duration::from_nanos);
                            c.response_after(
                                status,
                                pf_http_core::BodyEnd::Complete,
                                bytes,
                                elapsed,
                            );
                            None
                        }
                        None => Some(SpanEnd::new(c, status)),
                    }
                });
                Ok(Head::App(response, Due { metrics, span }))
            }
            Err(e) => {
                // No response: the server answers with an error of its own.
                abort(in_flight, completion, Ending::ServiceError);
                Err(e)
            }
        })
    }
}

impl<F, B, E, C> Future for ResponseFuture<F, C, AnyBody>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes>,
    C: OnCompletion,
{
    type Output = Result<Response<ResponseBody<B, C>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match ready!(self.poll_head(cx))? {
            Head::Health(answer) => answer.map(ResponseBody::health),
            Head::App(response, due) => response.map(|body| ResponseBody::app(body, due)),
        }))
    }
}

/// The axum-native path: the body goes back as it came unless its end is still due, and
/// only then is it wrapped (and boxed once).
#[cfg(feature = "axum")]
impl<F, E, C> Future for ResponseFuture<F, C, pf_http_core::AxumBody>
where
    F: Future<Output = Result<Response<axum::body::Body>, E>>,
    C: OnCompletion,
{
    type Output = Result<Response<axum::body::Body>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(match ready!(self.poll_head(cx))? {
            Head::Health(answer) => answer.map(axum::body::Body::new),
            Head::App(response, due) if due.is_empty() => response,
            Head::App(response, due) => {
                response.map(|body| axum::body::Body::new(ResponseBody::app(body, due)))
            }
        }))
    }
}
