//! The 401 answer of the bearer-protected `/metrics` endpoint (the token rule itself is
//! pf-http-core's [`BearerToken`](pf_http_core::BearerToken)).

use http::{HeaderValue, Response, StatusCode, header};
use pf_http_core::BearerRefusal;

/// The 401 answer (RFC 6750): `WWW-Authenticate: Bearer`, with
/// `error="invalid_token"` when a wrong token was presented. Echoes nothing
/// of what the client sent.
pub(crate) fn unauthorized(refusal: BearerRefusal) -> Response<String> {
    let mut response = Response::new(String::from("a bearer token is required\n"));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(match refusal {
            BearerRefusal::Missing => "Bearer realm=\"metrics\"",
            BearerRefusal::Invalid | _ => "Bearer realm=\"metrics\", error=\"invalid_token\"",
        }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_bearer_and_echo_nothing() {
        let r = unauthorized(BearerRefusal::Invalid);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert_eq!(
            challenge,
            "Bearer realm=\"metrics\", error=\"invalid_token\""
        );
        let r = unauthorized(BearerRefusal::Missing);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap(),
            "Bearer realm=\"metrics\""
        );
        assert_eq!(r.body(), "a bearer token is required\n");
    }
}
