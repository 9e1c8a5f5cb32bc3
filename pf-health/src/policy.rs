//! Who may see check details: the [`DetailPolicy`] trait and ready-made policies.

use http::request::Parts;

use pf_http_core::BearerToken;

/// Decides whether a caller may see the `checks` of a report (names, outputs, observed
/// values). Everyone sees the overall status.
///
/// Implemented for closures `Fn(&http::request::Parts) -> bool`:
///
/// ```
/// use pf_health::{DetailPolicy, HealthLayer, HealthRegistry};
///
/// let registry = HealthRegistry::builder().build().unwrap();
/// // e.g. trust a header set by the internal gateway only
/// let layer = HealthLayer::new(registry)
///     .show_details(|parts: &http::request::Parts| parts.headers.contains_key("x-internal"));
/// # let _ = layer;
/// ```
pub trait DetailPolicy: Send + Sync + 'static {
    /// `true` if the caller of this request may see details.
    fn allows(&self, request: &Parts) -> bool;

    /// What a caller who asked for details (`?verbose`, `/health`) and was refused is
    /// told in the report's `notes`, so that details never vanish without a word. Never
    /// include a secret.
    fn refusal_note(&self) -> &'static str {
        "check details are shown only to callers the service's detail policy permits"
    }
}

impl<F> DetailPolicy for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn allows(&self, request: &Parts) -> bool {
        self(request)
    }
}

/// Shows details to everyone (e.g. when the health endpoints are on an internal port).
///
/// ```
/// use pf_health::{HealthLayer, HealthRegistry, ShowDetails};
///
/// let layer = HealthLayer::new(HealthRegistry::builder().build().unwrap()).show_details(ShowDetails);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ShowDetails;

impl DetailPolicy for ShowDetails {
    fn allows(&self, _: &Parts) -> bool {
        true
    }
}

/// Shows details to no one (the default).
///
/// ```
/// use pf_health::{HealthLayer, HealthRegistry, HideDetails};
///
/// let layer = HealthLayer::new(HealthRegistry::builder().build().unwrap()).show_details(HideDetails);
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HideDetails;

impl DetailPolicy for HideDetails {
    fn allows(&self, _: &Parts) -> bool {
        false
    }

    fn refusal_note(&self) -> &'static str {
        "check details are not served here (HideDetails): see the service's metrics and logs"
    }
}

/// Shows details to callers sending `Authorization: Bearer <token>` (pf-http-core's
/// [`BearerToken`]: RFC 6750, compared in constant time, the same rule as pf-metrics'
/// protected `/metrics`).
///
/// ```
/// use pf_health::{BearerToken, DetailPolicy};
///
/// let policy = BearerToken::new("s3cret").unwrap();
/// let (parts, ()) = http::Request::get("/health")
///     .header("authorization", "Bearer  s3cret") // RFC 6750 allows several spaces
///     .body(())
///     .unwrap()
///     .into_parts();
/// assert!(policy.allows(&parts));
/// ```
impl DetailPolicy for BearerToken {
    fn refusal_note(&self) -> &'static str {
        "check details need `Authorization: Bearer <token>` with the service's health-details token"
    }

    fn allows(&self, request: &Parts) -> bool {
        self.check(&request.headers).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>) -> Parts {
        let mut builder = http::Request::get("/health");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_token_checks_scheme_and_value() {
        let policy = BearerToken::new("abc").unwrap();
        assert!(policy.allows(&parts(Some("Bearer abc"))));
        assert!(policy.allows(&parts(Some("bearer abc"))));
        // RFC 6750: one or more spaces after the scheme, as pf-metrics' /metrics accepts.
        assert!(policy.allows(&parts(Some("Bearer  abc"))));
        assert!(!policy.allows(&parts(Some("Bearer abd"))));
        assert!(!policy.allows(&parts(Some("Bearer abcd"))));
        assert!(!policy.allows(&parts(Some("Basic abc"))));
        assert!(!policy.allows(&parts(None)));
        assert!(!format!("{policy:?}").contains("abc"));
    }
}
