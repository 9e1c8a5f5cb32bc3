//! Fake Bearer authentication: `Bearer demo-token-<user>-<org>` is user
//! `<user>` of organization `<org>`. Anything else is anonymous (401 on
//! routes that need a user).

use axum::extract::{FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::Response;

/// The authenticated caller, placed in request extensions by [`authenticate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user_id: String,
    pub org_id: String,
}

impl Identity {
    /// Parses `demo-token-<user>-<org>` (both parts alphanumeric, 1..=32 chars).
    pub fn from_token(token: &str) -> Option<Self> {
        let rest = token.strip_prefix("demo-token-")?;
        let (user, org) = rest.split_once('-')?;
        let ok =
            |s: &str| (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
        (ok(user) && ok(org)).then(|| Self {
            user_id: user.to_owned(),
            org_id: org.to_owned(),
        })
    }
}

/// Middleware: finds the caller and stores the [`Identity`] in extensions.
pub async fn authenticate(mut req: Request, next: Next) -> Response {
    let identity = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(Identity::from_token);
    if let Some(identity) = identity {
        // log-enrich: record user and organization on the request span here.
        crate::logging::record_identity(&req, &identity.user_id, &identity.org_id);
        req.extensions_mut().insert(identity);
    }
    next.run(req).await
}

/// Extractor for handlers that need a user: 401 without one.
pub struct RequireUser(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for RequireUser {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(RequireUser)
            .ok_or((
                StatusCode::UNAUTHORIZED,
                "missing or invalid bearer token\n",
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_tokens() {
        assert_eq!(
            Identity::from_token("demo-token-42-7"),
            Some(Identity {
                user_id: "42".into(),
                org_id: "7".into()
            })
        );
        assert_eq!(Identity::from_token("demo-token-42"), None);
        assert_eq!(Identity::from_token("demo-token--7"), None);
        assert_eq!(Identity::from_token("demo-token-4 2-7"), None);
        assert_eq!(Identity::from_token("other-42-7"), None);
    }
}
