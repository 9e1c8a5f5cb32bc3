//! The `/metrics` endpoint.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use crate::encode::Format;
use crate::registry::MetricsRegistry;

/// A [`Service`] answering scrapes: Prometheus text 0.0.4 or OpenMetrics 1.0,
/// chosen from the `Accept` header. Made by [`MetricsRegistry::exposition`].
///
/// ```
/// use http::{Request, header};
/// use pf_metrics::MetricsRegistry;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = MetricsRegistry::new().exposition();
/// let request = Request::get("/metrics")
///     .header(header::ACCEPT, "application/openmetrics-text; version=1.0.0")
///     .body(())
///     .unwrap();
/// let response = service.oneshot(request).await.unwrap();
/// assert_eq!(
///     response.headers()[header::CONTENT_TYPE],
///     "application/openmetrics-text; version=1.0.0; charset=utf-8"
/// );
/// assert!(response.body().ends_with("# EOF\n"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MetricsService {
    registry: MetricsRegistry,
}

impl MetricsRegistry {
    /// The `/metrics` [`MetricsService`] of this registry. With axum:
    /// `Router::route_service("/metrics", registry.exposition())`.
    pub fn exposition(&self) -> MetricsService {
        MetricsService {
            registry: self.clone(),
        }
    }
}

impl MetricsService {
    /// Renders the response to `req` (usable from any framework's handler).
    pub fn render<B>(&self, req: &Request<B>) -> Response<String> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = Response::new(String::from("use GET to scrape metrics\n"));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let format = Format::from_accept(req.headers().get(header::ACCEPT));
        let body = self.registry.encode(format);
        let mut response = Response::new(body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        response
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.render(&req)))
    }
}
