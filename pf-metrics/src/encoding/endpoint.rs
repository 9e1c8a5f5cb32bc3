//! The `/metrics` endpoint.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tower_service::Service;

use pf_http_core::{BearerToken, ConfigError};

use crate::encoding::auth::unauthorized;
use crate::encoding::format::Format;
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
///
/// # Protecting it
///
/// Metrics name routes, error rates and process details: do not serve them
/// to the internet. Serve the endpoint on a separate admin listener that the
/// public one does not route to (a port only the scraper can reach), and/or
/// require a bearer token with [`MetricsService::bearer_token`]. See
/// the `admin_listener` example.
#[derive(Clone, Debug)]
pub struct MetricsService {
    registry: MetricsRegistry,
    token: Option<BearerToken>,
}

impl MetricsRegistry {
    /// The `/metrics` [`MetricsService`] of this registry. With axum:
    /// `Router::route_service("/metrics", registry.exposition())`.
    pub fn exposition(&self) -> MetricsService {
        MetricsService {
            registry: self.clone(),
            token: None,
        }
    }
}

impl MetricsService {
    /// Answers only requests with `Authorization: Bearer <token>`; others get
    /// `401 Unauthorized` with `WWW-Authenticate: Bearer`. The token is
    /// compared in constant time (every byte is compared, whatever prefix of
    /// it a guess got right) and never printed, logged or echoed.
    ///
    /// Prometheus sends it with `authorization: { credentials_file: ... }` (or
    /// `bearer_token_file`) in the scrape config.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `token` is empty or holds anything but visible
    /// ASCII characters (the message never shows the token).
    ///
    /// ```
    /// use http::{Request, StatusCode, header};
    /// use pf_metrics::MetricsRegistry;
    ///
    /// // In production: read it from a secret, e.g. std::env::var("METRICS_TOKEN").
    /// let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    /// let service = MetricsRegistry::new().exposition().bearer_token(token)?;
    ///
    /// let anonymous = Request::get("/metrics").body(()).unwrap();
    /// let refused = service.render(&anonymous);
    /// assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(refused.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"metrics\"");
    ///
    /// let scraper = Request::get("/metrics")
    ///     .header(header::AUTHORIZATION, format!("Bearer {token}"))
    ///     .body(())
    ///     .unwrap();
    /// assert_eq!(service.render(&scraper).status(), StatusCode::OK);
    /// assert!(MetricsRegistry::new().exposition().bearer_token("").is_err());
    /// # Ok::<(), pf_metrics::ConfigError>(())
    /// ```
    pub fn bearer_token(mut self, token: impl AsRef<str>) -> Result<Self, ConfigError> {
        let token = BearerToken::new(token)
            .map_err(|e| ConfigError::new("bearer_token", e.reason().to_owned()))?;
        self.token = Some(token);
        Ok(self)
    }

    /// Renders the response to `req` (usable from any framework's handler).
    pub fn render<B>(&self, req: &Request<B>) -> Response<String> {
        if let Some(token) = &self.token
            && let Err(refusal) = token.check(req.headers())
        {
            return unauthorized(refusal);
        }
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
