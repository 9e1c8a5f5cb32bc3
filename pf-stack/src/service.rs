//! [`StackService`]: the service made by [`StackLayer`](crate::StackLayer).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use pf_http_core::{AnyBody, MatchedPathRoute, RouteExtractor};
use pf_log_enrich::{CompletionLevels, OnCompletion};
use pf_metrics::internal::{RequestSize, RequestStart};
use pf_metrics::{MetricsRegistry, RequestBody};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;

/// What every service of one layer shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) metrics: MetricsRegistry,
    pub(crate) health: Option<Arc<pf_health::internal::Config>>,
    pub(crate) span: Arc<pf_log_enrich::internal::Shared>,
}

/// Answers probes, and wraps every other request in its request ID, span and metrics; made
/// by [`StackLayer`](crate::StackLayer).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use pf_metrics::MetricsRegistry;
/// use pf_stack::StackLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let metrics = MetricsRegistry::new();
/// let app = service_fn(|_req: Request<pf_metrics::RequestBody<String>>| async {
///     Ok::<_, Infallible>(Response::new(http_body_util::Full::new(bytes::Bytes::from("hello"))))
/// });
/// let service = StackLayer::new(metrics.clone()).layer(app);
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// assert!(response.headers().contains_key("x-request-id"));
/// assert!(metrics.encode(pf_metrics::Format::Prometheus).contains(
///     r#"http_requests_total{method="GET",route="__unmatched__",status="200"} 1"#
/// ));
/// # }
/// ```
///
/// Its readiness is the application's: a probe waits for it like any request. axum's
/// `Router` is always ready; in front of a service that applies backpressure, answer probes
/// with pf-health's `HealthLayer` outside it instead.
pub struct StackService<S, R = MatchedPathRoute, C = CompletionLevels, M = AnyBody> {
    inner: S,
    route: R,
    on_completion: C,
    shared: Arc<Shared>,
    mode: PhantomData<fn() -> M>,
}

/// One service instance's state (`Router::layer` makes one per route).
struct Shared {
    health: Option<Arc<pf_health::internal::Config>>,
    span: Arc<pf_log_enrich::internal::Shared>,
    metrics: RequestStart,
}

impl<S, R, C, M> StackService<S, R, C, M> {
    pub(crate) fn new(inner: S, route: R, on_completion: C, settings: &Settings) -> Self {
        Self {
            inner,
            route,
            on_completion,
            shared: Arc::new(Shared {
                health: settings.health.clone(),
                span: settings.span.clone(),
                metrics: RequestStart::new(settings.metrics.clone()),
            }),
            mode: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, R: Clone, C: Clone, M> Clone for StackService<S, R, C, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            route: self.route.clone(),
            on_completion: self.on_completion.clone(),
            shared: self.shared.clone(),
            mode: PhantomData,
        }
    }
}

impl<S: fmt::Debug, R, C, M> fmt::Debug for StackService<S, R, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, R: RouteExtractor, C: OnCompletion, M> StackService<S, R, C, M> {
    /// A probe's answer, or: the route extracted once, metrics started, the span opened, and
    /// the application called inside it. `wrap` hands the request body to the application
    /// (with the metrics' size counter when it is not empty).
    #[inline]
    fn start<ReqBody, B2, M2>(
        &mut self,
        req: Request<ReqBody>,
        wrap: impl FnOnce(ReqBody, Option<RequestSize>) -> B2,
    ) -> ResponseFuture<S::Future, C, M2>
    where
        ReqBody: http_body::Body,
        S: Service<Request<B2>>,
    {
        let shared = &*self.shared;
        if let Some(health) = &shared.health
            && let Some(endpoint) = health.route(req.uri().path())
        {
            let (parts, _body) = req.into_parts();
            return ResponseFuture::health(pf_health::internal::respond(
                health.clone(),
                endpoint,
                parts,
            ));
        }
        let route = self.route.route(req.uri(), req.extensions());
        let (mut in_flight, request_size) = shared.metrics.start_untraced(&req, route.as_deref());
        // One clock read at the start: the metrics' when the request is recorded (the span
        // then takes its durations from them), else the span's own.
        let start = in_flight.is_none().then(Instant::now);
        let (req, opened) = shared.span.open(req, route, &self.on_completion, start);
        let req = req.map(|body| wrap(body, request_size));
        let fut = {
            let _enter = opened.completion.as_ref().map(|c| c.span().enter());
            if let Some(f) = in_flight.as_mut() {
                // The exemplar's trace is the request span's: the context's one read.
                f.capture_trace();
            }
            self.inner.call(req)
        };
        ResponseFuture::app(fut, in_flight, opened)
    }
}

impl<S, R, C, ReqBody, ResBody> Service<Request<ReqBody>> for StackService<S, R, C, AnyBody>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    R: RouteExtractor,
    C: OnCompletion,
    ReqBody: http_body::Body,
    ResBody: http_body::Body<Data = bytes::Bytes>,
{
    type Response = Response<ResponseBody<ResBody, C>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        self.start(req, RequestBody::new)
    }
}

/// The axum-native path: `axum::body::Body` in and out; a request body is wrapped (and
/// boxed) only when it is not empty, a response body only when its end must be observed.
#[cfg(feature = "axum")]
impl<S, R, C> Service<Request<axum::body::Body>> for StackService<S, R, C, pf_http_core::AxumBody>
where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>>,
    R: RouteExtractor,
    C: OnCompletion,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C, pf_http_core::AxumBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<axum::body::Body>) -> Self::Future {
        self.start(req, |body, size| match size {
            None => body,
            Some(size) => axum::body::Body::new(RequestBody::new(body, Some(size))),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::{BodyExt, StreamBody};
    use pf_health::{HealthLayer, HealthRegistry};
    use pf_metrics::{Format, MetricsRegistry};
    use tower::{Layer, ServiceExt, service_fn};

    use crate::StackLayer;

    /// The default body path (any service): a probe is answered with its own body, and an
    /// application's streamed body is counted to its end, once.
    #[tokio::test(flavor = "current_thread")]
    async fn any_body_probes_and_streams() {
        let metrics = MetricsRegistry::new();
        let health = HealthRegistry::builder().build().unwrap();
        health.lifecycle().mark_ready();
        let app = service_fn(|_req: Request<pf_metrics::RequestBody<String>>| async {
            let chunks = futures_util::stream::iter(["abc", "de", "f"].map(|c| {
                Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(c.as_bytes())))
            }));
            Ok::<_, Infallible>(Response::new(StreamBody::new(chunks)))
        });
        let service = StackLayer::new(metrics.clone())
            .health(HealthLayer::new(health))
            .layer(app);

        let probe = service
            .clone()
            .oneshot(Request::get("/readyz").body(String::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(probe.status(), 200);
        assert!(!probe.headers().contains_key("x-request-id"));
        let body = probe.into_body().collect().await.unwrap().to_bytes();
        assert!(body.starts_with(b"{"), "{body:?}");

        let response = service
            .oneshot(Request::get("/stream").body(String::new()).unwrap())
            .await
            .unwrap();
        assert!(response.headers().contains_key("x-request-id"));
        let text = metrics.encode(Format::Prometheus);
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="__unmatched__",status="200"} 0"#
            ),
            "counted before its body ended: {text}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "abcdef");
        let text = metrics.encode(Format::Prometheus);
        assert!(
            text.contains(
                r#"http_response_size_bytes_sum{method="GET",route="__unmatched__",status="200"} 6"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="__unmatched__",status="200"} 1"#
            )
        );
    }
}
