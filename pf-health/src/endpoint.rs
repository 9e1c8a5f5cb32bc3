//! [`HealthEndpoints`]: the probe endpoints as a service of their own.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, StatusCode};
use tower_service::Service;

use crate::future::EndpointFuture;
use crate::registry::HealthRegistry;
use crate::respond::{Config, HealthResponse, respond, response};

/// A service answering only the health endpoints (404 for anything else), e.g. for a
/// separate admin port. For the usual case, in front of an application, use
/// [`HealthLayer`](crate::HealthLayer).
///
/// ```
/// use http_body_util::BodyExt;
/// use pf_health::{HealthEndpoints, HealthRegistry};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder().build().unwrap();
/// let endpoints = HealthEndpoints::new(registry);
/// let res = endpoints
///     .oneshot(http::Request::get("/livez").body(()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(res.status(), 200);
/// let body = res.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(&body[..], br#"{"status":"pass"}"#);
/// # }
/// ```
#[derive(Clone)]
pub struct HealthEndpoints {
    pub(crate) config: Arc<Config>,
}

impl fmt::Debug for HealthEndpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthEndpoints")
            .field("livez", &self.config.livez)
            .field("readyz", &self.config.readyz)
            .field("startupz", &self.config.startupz)
            .field("health", &self.config.health)
            .finish_non_exhaustive()
    }
}

impl HealthEndpoints {
    /// Endpoints for `registry` at the default paths, details hidden.
    pub fn new(registry: HealthRegistry) -> Self {
        Self {
            config: Arc::new(Config::new(registry)),
        }
    }

    /// An axum router serving the endpoints, to [`merge`](axum::Router::merge) into an
    /// application or serve on its own. Prefer [`HealthLayer`](crate::HealthLayer) in front
    /// of the application when probes must skip its middleware.
    ///
    /// ```
    /// use pf_health::{HealthEndpoints, HealthRegistry};
    ///
    /// let registry = HealthRegistry::builder().build().unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .merge(HealthEndpoints::new(registry).into_router());
    /// # let _ = app;
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> axum::Router<S> {
        let config = &self.config;
        let group_route = format!("{}/{{group}}", config.health);
        let mut router = axum::Router::new();
        for path in [
            config.livez.as_str(),
            config.readyz.as_str(),
            config.startupz.as_str(),
            config.health.as_str(),
            group_route.as_str(),
        ] {
            router = router.route_service(path, self.clone());
        }
        router
    }
}

impl<B> Service<Request<B>> for HealthEndpoints {
    type Response = HealthResponse;
    type Error = Infallible;
    type Future = EndpointFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = match self.config.route(request.uri().path()) {
            Some(endpoint) => respond(self.config.clone(), endpoint, request.into_parts().0),
            None => {
                let body = serde_json::json!({"status": "fail", "output": "not a health endpoint"});
                Box::pin(std::future::ready(response(
                    StatusCode::NOT_FOUND,
                    Some(body),
                    false,
                )))
            }
        };
        EndpointFuture::new(future)
    }
}
