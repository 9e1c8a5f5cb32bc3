//! Answering probes (`/livez`, `/readyz`, `/startupz`, `/health`, `/health/<group>`):
//! the endpoint paths, request matching, query parameters and health+json responses. Shared by
//! [`HealthLayer`](crate::HealthLayer) / [`HealthService`](crate::HealthService), the
//! standalone [`HealthEndpoints`](crate::HealthEndpoints) and their response futures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::Full;
use pf_http_core::internal::text::percent_decode;

use crate::check::Status;
use crate::lifecycle::Phase;
use crate::options::valid_name;
use crate::policy::{DetailPolicy, HideDetails};
use crate::registry::{HealthRegistry, Selection};
use crate::report::{HEALTH_JSON, HealthReport};
use pf_http_core::ConfigError;

/// Which endpoint a request is for.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Livez,
    Readyz,
    Startupz,
    Health,
    Group(String),
}

/// The endpoint paths and detail policy; shared by [`HealthLayer`](crate::HealthLayer) and
/// [`HealthEndpoints`](crate::HealthEndpoints).
#[doc(hidden)]
#[derive(Clone)]
pub struct Config {
    pub(crate) registry: HealthRegistry,
    pub(crate) livez: String,
    pub(crate) readyz: String,
    pub(crate) startupz: String,
    pub(crate) health: String,
    pub(crate) policy: Arc<dyn DetailPolicy>,
}

impl Config {
    pub(crate) fn new(registry: HealthRegistry) -> Self {
        Self {
            registry,
            livez: "/livez".into(),
            readyz: "/readyz".into(),
            startupz: "/startupz".into(),
            health: "/health".into(),
            policy: Arc::new(HideDetails),
        }
    }

    /// The endpoint a path is for, if any.
    pub fn route(&self, path: &str) -> Option<Endpoint> {
        if path == self.readyz {
            Some(Endpoint::Readyz)
        } else if path == self.livez {
            Some(Endpoint::Livez)
        } else if path == self.startupz {
            Some(Endpoint::Startupz)
        } else if path == self.health {
            Some(Endpoint::Health)
        } else {
            let group = path.strip_prefix(self.health.as_str())?.strip_prefix('/')?;
            Some(Endpoint::Group(group.to_owned()))
        }
    }
}

/// An endpoint path as matched: absolute, without a trailing `/`, no query or fragment.
pub(crate) fn check_path(setting: &'static str, path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    if !path.starts_with('/') || trimmed.is_empty() || path.contains(['?', '#']) {
        return Err(ConfigError::new(
            setting,
            format!(
                "{path:?} must start with '/', name more than '/' and have no query or fragment"
            ),
        ));
    }
    Ok(trimmed.to_owned())
}

/// The response of a health endpoint.
#[doc(hidden)]
pub type HealthResponse = Response<Full<Bytes>>;

/// The boxed future answering a probe.
#[doc(hidden)]
pub type RespondFuture = Pin<Box<dyn Future<Output = HealthResponse> + Send>>;

#[derive(Debug, Default)]
struct Query {
    verbose: bool,
    exclude: Vec<String>,
}

fn parse_query(query: Option<&str>) -> Query {
    let mut parsed = Query::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "verbose" => parsed.verbose = !matches!(value, "false" | "0"),
            "exclude" => {
                let value = percent_decode(value, true);
                parsed.exclude.extend(
                    value
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                );
            }
            _ => {}
        }
    }
    parsed
}

pub(crate) fn response(
    code: StatusCode,
    body: Option<serde_json::Value>,
    head: bool,
) -> HealthResponse {
    let bytes = match (&body, head) {
        (Some(body), false) => Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
        _ => Bytes::new(),
    };
    let mut res = Response::new(Full::new(bytes));
    *res.status_mut() = code;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    // Probe answers must never be served from a cache between the prober and us.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn status_code(status: Status) -> StatusCode {
    if status.is_healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// Answers one probe. Only the request head is used; the body is never read.
#[doc(hidden)]
pub fn respond(config: Arc<Config>, endpoint: Endpoint, request: Parts) -> RespondFuture {
    let head = request.method == Method::HEAD;
    if request.method != Method::GET && !head {
        let mut res = response(
            StatusCode::METHOD_NOT_ALLOWED,
            Some(serde_json::json!({"status": "fail", "output": "use GET or HEAD"})),
            false,
        );
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Box::pin(std::future::ready(res));
    }
    let query = parse_query(request.uri.query());
    let allowed = config.policy.allows(&request);
    Box::pin(async move {
        let registry = &config.registry;
        let info = Some(registry.info());
        match endpoint {
            Endpoint::Livez => {
                // Liveness is the process itself: never a dependency, also fine while draining.
                let report = HealthReport::from_parts(Status::Pass, None);
                response(StatusCode::OK, Some(report.to_json_with(false, info)), head)
            }
            Endpoint::Startupz => {
                let phase = registry.phase();
                let report = if phase == Phase::Starting {
                    HealthReport::from_parts(Status::Fail, Some(phase.as_str().to_owned()))
                } else {
                    HealthReport::from_parts(Status::Pass, None)
                };
                let code = status_code(report.status());
                response(code, Some(report.to_json_with(false, info)), head)
            }
            Endpoint::Readyz | Endpoint::Health | Endpoint::Group(_) => {
                let selection = match endpoint {
                    Endpoint::Readyz => Selection::Readiness,
                    Endpoint::Health => Selection::All,
                    Endpoint::Group(group) => {
                        if !valid_name(&group) || !registry.groups().contains(&group) {
                            let body = serde_json::json!({"status": "fail", "output": "unknown health group"});
                            return response(StatusCode::NOT_FOUND, Some(body), head);
                        }
                        Selection::Group(group)
                    }
                    _ => unreachable!(),
                };
                let exclude: Vec<&str> = query.exclude.iter().map(String::as_str).collect();
                let wants_checks = query.verbose || selection != Selection::Readiness;
                let report = registry.report(&selection, &exclude).await;
                let code = status_code(report.status());
                let mut json = report.to_json_with(allowed && wants_checks, info);
                if wants_checks && !allowed {
                    // Say why the details are missing, and how to get them.
                    json["notes"] = serde_json::json!([config.policy.refusal_note()]);
                }
                response(code, Some(json), head)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query(Some("verbose&exclude=a,b&exclude=c%2Cd&other=1"));
        assert!(q.verbose);
        assert_eq!(q.exclude, ["a", "b", "c", "d"]);
        assert!(!parse_query(Some("verbose=false")).verbose);
        assert!(!parse_query(None).verbose);
    }

    #[test]
    fn routing() {
        let config = Config::new(HealthRegistry::builder().build().unwrap());
        assert_eq!(config.route("/readyz"), Some(Endpoint::Readyz));
        assert_eq!(
            config.route("/health/db"),
            Some(Endpoint::Group("db".into()))
        );
        assert_eq!(config.route("/healthz"), None);
        assert_eq!(config.route("/api"), None);
    }

    #[test]
    fn paths_are_checked_not_panicked_on() {
        assert_eq!(check_path("livez_path", "/live/").unwrap(), "/live");
        assert_eq!(check_path("livez_path", "/a/b").unwrap(), "/a/b");
        for bad in ["", "/", "//", "live", "/live?x=1", "/live#top"] {
            let err = check_path("livez_path", bad).unwrap_err();
            assert_eq!(err.setting(), "livez_path");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
