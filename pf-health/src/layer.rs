//! [`HealthLayer`]: answers probes in front of an application.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use pf_http_core::AnyBody;

use tower_layer::Layer;

use crate::endpoint::HealthEndpoints;
use crate::policy::DetailPolicy;
use crate::registry::HealthRegistry;
use crate::respond::{Config, check_path};
use crate::service::HealthService;
use pf_http_core::ConfigError;

/// A layer that answers `/livez`, `/readyz`, `/startupz`, `/health` and `/health/<group>`
/// itself and passes every other request to the application.
///
/// Put it outermost so probes skip authentication, rate limits and the request log, and so
/// they never wait for the application's readiness (backpressure).
///
/// ```
/// use std::time::Duration;
/// use pf_health::{check_fn, BearerToken, CheckOptions, HealthLayer, HealthRegistry, Status};
///
/// let registry = HealthRegistry::builder()
///     .check("queue", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .build()
///     .unwrap();
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     // .layer(auth) .layer(rate_limit) .layer(metrics) ...
///     .layer(HealthLayer::new(registry.clone()).show_details(BearerToken::new("ops-token").unwrap()));
/// registry.lifecycle().mark_ready();
/// # let _ = app;
/// ```
///
/// `M` is the body handling: [`AnyBody`] by default (responses carry a
/// [`HealthBody`](crate::HealthBody)), or `pf_http_core::AxumBody` through
/// `axum_body` (feature `axum`).
#[must_use]
pub struct HealthLayer<M = AnyBody> {
    config: Arc<Config>,
    mode: PhantomData<fn() -> M>,
}

impl<M> Clone for HealthLayer<M> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            mode: PhantomData,
        }
    }
}

impl<M> fmt::Debug for HealthLayer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthLayer")
            .field("livez", &self.config.livez)
            .field("readyz", &self.config.readyz)
            .field("startupz", &self.config.startupz)
            .field("health", &self.config.health)
            .finish_non_exhaustive()
    }
}

impl HealthLayer {
    /// Endpoints for `registry` at the default paths, details hidden.
    pub fn new(registry: HealthRegistry) -> Self {
        Self {
            config: Arc::new(Config::new(registry)),
            mode: PhantomData,
        }
    }
}

impl<M> HealthLayer<M> {
    /// Takes and hands back `axum::body::Body` (feature `axum`, for axum
    /// routers): the application's responses pass through untouched, so
    /// `Router::layer` does not box their bodies again and
    /// `axum::middleware::from_fn` layers compose after this one as they are.
    ///
    /// ```
    /// use pf_health::{HealthLayer, HealthRegistry};
    ///
    /// let registry = HealthRegistry::builder().build().unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .layer(HealthLayer::new(registry).axum_body());
    /// # let _ = app;
    /// ```
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn axum_body(self) -> HealthLayer<pf_http_core::AxumBody> {
        HealthLayer {
            config: self.config,
            mode: PhantomData,
        }
    }

    /// Who may see check details ([`BearerToken`](crate::BearerToken),
    /// [`ShowDetails`](crate::ShowDetails), a closure...). Default: no one.
    pub fn show_details(mut self, policy: impl DetailPolicy) -> Self {
        Arc::make_mut(&mut self.config).policy = Arc::new(policy);
        self
    }

    /// Path of the liveness endpoint (default `/livez`); a trailing `/` is ignored.
    ///
    /// Errors: a path that does not start with `/`, is just `/`, or has a query or fragment.
    ///
    /// ```
    /// use pf_health::{HealthLayer, HealthRegistry};
    ///
    /// # fn main() -> Result<(), pf_health::ConfigError> {
    /// let layer = HealthLayer::new(HealthRegistry::builder().build().unwrap())
    ///     .livez_path("/-/live")?
    ///     .readyz_path("/-/ready")?
    ///     .startupz_path("/-/started")?
    ///     .health_path("/-/health")?;
    /// # let _ = layer;
    /// assert!(HealthLayer::new(HealthRegistry::builder().build().unwrap()).readyz_path("ready").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn livez_path(mut self, path: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.config).livez = check_path("livez_path", path)?;
        Ok(self)
    }

    /// Path of the readiness endpoint (default `/readyz`). Errors like [`livez_path`](Self::livez_path).
    pub fn readyz_path(mut self, path: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.config).readyz = check_path("readyz_path", path)?;
        Ok(self)
    }

    /// Path of the startup endpoint (default `/startupz`). Errors like [`livez_path`](Self::livez_path).
    pub fn startupz_path(mut self, path: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.config).startupz = check_path("startupz_path", path)?;
        Ok(self)
    }

    /// Path of the full report (default `/health`; groups under `<path>/<group>`). Errors like
    /// [`livez_path`](Self::livez_path).
    pub fn health_path(mut self, path: &str) -> Result<Self, ConfigError> {
        Arc::make_mut(&mut self.config).health = check_path("health_path", path)?;
        Ok(self)
    }

    /// The endpoints' settings, for pf-stack's fused layer. Not public API.
    #[doc(hidden)]
    pub fn config(&self) -> Arc<Config> {
        self.config.clone()
    }

    /// The same endpoints as a standalone service (404 for other paths), e.g. for an admin port.
    pub fn endpoints(&self) -> HealthEndpoints {
        HealthEndpoints {
            config: self.config.clone(),
        }
    }
}

impl<S, M> Layer<S> for HealthLayer<M> {
    type Service = HealthService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthService::new(inner, self.config.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{Request, Response, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn status(layer: &HealthLayer, path: &str) -> StatusCode {
        let app = tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::builder().status(418).body(String::new()).unwrap())
        });
        let request = Request::get(path).body(()).unwrap();
        layer.layer(app).oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn custom_paths_replace_the_defaults() {
        let registry = HealthRegistry::builder().build().unwrap();
        registry.lifecycle().mark_ready();
        let layer = HealthLayer::new(registry)
            .livez_path("/-/live/")
            .unwrap()
            .readyz_path("/-/ready")
            .unwrap();
        assert_eq!(status(&layer, "/-/live").await, StatusCode::OK);
        assert_eq!(status(&layer, "/-/ready").await, StatusCode::OK);
        // The old paths now reach the application.
        assert_eq!(status(&layer, "/livez").await, StatusCode::IM_A_TEAPOT);
        assert_eq!(status(&layer, "/readyz").await, StatusCode::IM_A_TEAPOT);
        // Untouched defaults still answer.
        assert_eq!(status(&layer, "/startupz").await, StatusCode::OK);
    }

    #[test]
    fn a_refused_path_is_the_source_of_a_build_error() {
        use std::error::Error;

        let layer = HealthLayer::new(HealthRegistry::builder().build().unwrap());
        let err = layer.health_path("/?verbose").unwrap_err();
        assert_eq!(err.setting(), "health_path");
        let build = crate::BuildError::from(err.clone());
        let source = build.source().expect("the ConfigError is kept");
        assert_eq!(source.to_string(), err.to_string());
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn the_axum_body_path_answers_probes_and_passes_application_bodies_through() {
        use http_body_util::BodyExt;

        let registry = HealthRegistry::builder().build().unwrap();
        registry.lifecycle().mark_ready();
        let app = tower::service_fn(|_: Request<axum::body::Body>| async {
            Ok::<_, Infallible>(Response::new(axum::body::Body::from("application")))
        });
        let service = HealthLayer::new(registry).axum_body().layer(app);
        let body = |response: Response<axum::body::Body>| async move {
            response.into_body().collect().await.unwrap().to_bytes()
        };
        let get = |path: &str| Request::get(path).body(axum::body::Body::empty()).unwrap();
        let probe = service.clone().oneshot(get("/readyz")).await.unwrap();
        assert_eq!(probe.status(), StatusCode::OK);
        assert_eq!(
            probe.headers()[http::header::CONTENT_TYPE],
            "application/health+json"
        );
        assert!(body(probe).await.starts_with(b"{"));
        let response = service.oneshot(get("/users")).await.unwrap();
        assert_eq!(body(response).await, "application");
    }
}
