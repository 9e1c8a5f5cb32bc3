//! The [`HttpMetricsService`] service.

use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::middleware::body::{RequestBody, ResponseBody};
use crate::middleware::future::ResponseFuture;
use crate::middleware::grpc::{NOT_GRPC, grpc_route, grpc_timeout};
use crate::middleware::record::InFlight;
use crate::middleware::record::RequestSize;
use crate::registry::MetricsRegistry;
use crate::storage::intern::RouteEntry;
use pf_http_core::internal::method_index;
use pf_http_core::{AnyBody, MatchedPathRoute, RouteExtractor};

/// Records HTTP request metrics for the wrapped service; built by
/// [`HttpMetricsLayer`](crate::HttpMetricsLayer).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = MetricsRegistry::new();
/// let service = HttpMetricsLayer::new(registry.clone()).layer(service_fn(
///     |_req: Request<pf_metrics::RequestBody<String>>| async {
///         Ok::<_, Infallible>(Response::new(String::from("hello")))
///     },
/// ));
/// let response = service.oneshot(Request::new(String::new())).await.unwrap();
/// drop(response); // the body's end (or drop) completes the request
/// assert!(registry.encode(pf_metrics::Format::Prometheus).contains(
///     r#"http_requests_total{method="GET",route="__unmatched__",status="200"} 1"#
/// ));
/// # }
/// ```
///
/// `M` is the body handling: [`AnyBody`] (the default, for any service) or
/// `pf_http_core::AxumBody` (see [`HttpMetricsLayer::axum_body`](crate::HttpMetricsLayer::axum_body)).
pub struct HttpMetricsService<S, R = MatchedPathRoute, M = AnyBody> {
    inner: S,
    shared: Arc<Shared<R>>,
    mode: PhantomData<fn() -> M>,
}

pub(crate) struct Shared<R> {
    requests: RequestStart,
    extractor: R,
}

/// Starts recording requests for one registry: the route's series found by its template.
/// Shared by [`HttpMetricsService`] and pf-stack's fused layer (through `internal`).
#[doc(hidden)]
pub struct RequestStart {
    registry: MetricsRegistry,
    /// The route this service instance saw last. `Router::layer` builds one
    /// instance per route, so after the first request the template is found
    /// by one string compare instead of a hash lookup.
    last_route: AtomicPtr<RouteEntry>,
}

impl<S, R, M> HttpMetricsService<S, R, M> {
    pub(crate) fn new(inner: S, registry: MetricsRegistry, extractor: R) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                requests: RequestStart::new(registry),
                extractor,
            }),
            mode: PhantomData,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, R, M> Clone for HttpMetricsService<S, R, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            mode: PhantomData,
        }
    }
}

impl<S: std::fmt::Debug, R, M> std::fmt::Debug for HttpMetricsService<S, R, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsService")
            .field("inner", &self.inner)
            .field("registry", &self.shared.requests.registry)
            .finish()
    }
}

impl RequestStart {
    /// Recording into `registry`.
    pub fn new(registry: MetricsRegistry) -> Self {
        Self {
            registry,
            last_route: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The route of a request: `template` (the route extractor's), or for a
    /// gRPC call its `/package.Service/Method` path.
    #[inline]
    fn route<B>(&self, req: &Request<B>, template: Option<&str>, grpc: u32) -> &RouteEntry {
        let template = if grpc == NOT_GRPC {
            template
        } else {
            grpc_route(req.uri().path())
        };
        // Acquire pairs with the release store below: the entry was written before it was published.
        let last = self.last_route.load(Ordering::Acquire);
        if let Some(t) = template {
            // SAFETY: entries are owned by `self.registry` and never freed before it.
            if let Some(entry) = unsafe { last.as_ref() }
                && *entry.name == *t
            {
                return entry;
            }
        }
        let entry = self.registry.inner.route(template);
        if template.is_some() {
            self.last_route
                .store(ptr::from_ref(entry).cast_mut(), Ordering::Release);
        }
        entry
    }

    /// Starts recording a request whose route template is `template`: `None`
    /// for an excluded route; the request body's recorder is `None` too when
    /// the body is empty (its size, zero, is recorded at once). The exemplar's
    /// trace is the context current now.
    #[inline]
    pub fn start<B: http_body::Body>(
        &self,
        req: &Request<B>,
        template: Option<&str>,
    ) -> (Option<InFlight>, Option<RequestSize>) {
        let (mut in_flight, request_size) = self.start_untraced(req, template);
        if let Some(f) = in_flight.as_mut() {
            f.capture_trace();
        }
        (in_flight, request_size)
    }

    /// [`start`](Self::start) without the exemplar's trace: for a caller that
    /// enters the request's span afterwards and takes the trace there
    /// ([`InFlight::capture_trace`]), so the context is read once.
    #[inline]
    pub fn start_untraced<B: http_body::Body>(
        &self,
        req: &Request<B>,
        template: Option<&str>,
    ) -> (Option<InFlight>, Option<RequestSize>) {
        let grpc = grpc_timeout(req);
        let route = self.route(req, template, grpc);
        let in_flight = (!route.excluded)
            .then(|| InFlight::start(&self.registry, route, method_index(req.method()), grpc));
        let request_size = in_flight
            .as_ref()
            .and_then(|f| f.request_body(req.body().is_end_stream()));
        (in_flight, request_size)
    }
}

impl<R: RouteExtractor> Shared<R> {
    #[inline]
    fn start<B: http_body::Body>(
        &self,
        req: &Request<B>,
    ) -> (Option<InFlight>, Option<RequestSize>) {
        let template = self.extractor.route_str(req.uri(), req.extensions());
        self.requests.start(req, template)
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetricsService<S, R, AnyBody>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>>,
    R: RouteExtractor,
    ReqBody: http_body::Body,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (in_flight, request_size) = self.shared.start(&req);
        let req = req.map(|b| RequestBody::new(b, request_size));
        ResponseFuture::new(self.inner.call(req), in_flight)
    }
}

/// The axum-native path: `axum::body::Body` in, `axum::body::Body` out; a
/// request body is wrapped (and boxed) only when it is not empty.
#[cfg(feature = "axum")]
impl<S, R> Service<Request<axum::body::Body>> for HttpMetricsService<S, R, pf_http_core::AxumBody>
where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>>,
    R: RouteExtractor,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, pf_http_core::AxumBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: Request<axum::body::Body>) -> Self::Future {
        let (in_flight, request_size) = self.shared.start(&req);
        let req = match request_size {
            None => req,
            Some(size) => req.map(|b| axum::body::Body::new(RequestBody::new(b, Some(size)))),
        };
        ResponseFuture::new(self.inner.call(req), in_flight)
    }
}
