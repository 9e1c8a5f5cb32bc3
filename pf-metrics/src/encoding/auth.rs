//! Bearer-token protection of the `/metrics` endpoint.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::config::ConfigError;

/// A bearer token, compared in constant time; never printed.
#[derive(Clone)]
pub(crate) struct BearerToken(Arc<[u8]>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization: Bearer ...` header.
    Missing,
    /// A bearer token that is not the configured one.
    Invalid,
}

impl BearerToken {
    /// # Errors
    ///
    /// When `token` is empty or holds characters a client cannot send in a
    /// header (only visible ASCII is allowed).
    pub(crate) fn new(token: &str) -> Result<Self, ConfigError> {
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "a metrics bearer token must be non-empty visible ASCII (the token itself is not shown)",
            ));
        }
        Ok(Self(token.as_bytes().into()))
    }

    /// Checks the request's `Authorization` header.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()))
            .ok_or(Refusal::Missing)?;
        if constant_time_eq(&*self.0, presented) {
            Ok(())
        } else {
            Err(Refusal::Invalid)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The 401 answer (RFC 6750): `WWW-Authenticate: Bearer`, with
/// `error="invalid_token"` when a wrong token was presented. Echoes nothing
/// of what the client sent.
pub(crate) fn unauthorized(refusal: Refusal) -> Response<String> {
    let mut response = Response::new(String::from("a bearer token is required\n"));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(match refusal {
            Refusal::Missing => "Bearer realm=\"metrics\"",
            Refusal::Invalid => "Bearer realm=\"metrics\", error=\"invalid_token\"",
        }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Bytes the comparison reads, by index; tests count the reads.
trait Bytes {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> u8;
}

impl Bytes for [u8] {
    #[inline]
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    #[inline]
    fn at(&self, i: usize) -> u8 {
        self[i]
    }
}

/// Whether `presented` equals `expected`, in time that depends on
/// `expected`'s length only: every byte of `expected` is read and compared
/// with the byte at the same place of `presented` (or 0 past its end), the
/// differences are OR-ed together and looked at once, after the loop. No
/// comparison stops at the first wrong byte, so the time of a guess tells
/// nothing about how long a prefix it got right.
#[inline(never)]
fn constant_time_eq<E: Bytes + ?Sized, P: Bytes + ?Sized>(expected: &E, presented: &P) -> bool {
    let n = expected.len();
    let m = presented.len();
    // Non-zero when the lengths differ.
    let mut diff = u8::from(n != m);
    for i in 0..n {
        // `i < m` depends on the presented length, which the client knows.
        let p = if i < m { presented.at(i) } else { 0 };
        // `black_box` keeps the optimiser from turning the loop into an early exit.
        diff = std::hint::black_box(diff | (expected.at(i) ^ p));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A byte string that counts how many of its bytes are read.
    struct Counting<'a> {
        bytes: &'a [u8],
        reads: Cell<usize>,
    }

    impl<'a> Counting<'a> {
        fn new(bytes: &'a [u8]) -> Self {
            Self {
                bytes,
                reads: Cell::new(0),
            }
        }
    }

    impl Bytes for Counting<'_> {
        fn len(&self) -> usize {
            self.bytes.len()
        }
        fn at(&self, i: usize) -> u8 {
            self.reads.set(self.reads.get() + 1);
            self.bytes[i]
        }
    }

    #[test]
    fn compares_whole_tokens() {
        let t = b"s3cret-token-0123456789";
        assert!(constant_time_eq(&t[..], &t[..]));
        assert!(!constant_time_eq(&t[..], &b"s3cret-token-012345678"[..]));
        assert!(!constant_time_eq(&t[..], &b"s3cret-token-01234567890"[..]));
        assert!(!constant_time_eq(&t[..], &b""[..]));
        assert!(!constant_time_eq(&t[..], &b"S3cret-token-0123456789"[..]));
        assert!(!constant_time_eq(&t[..], &b"s3cret-token-0123456788"[..]));
    }

    #[test]
    fn every_byte_is_read_whatever_prefix_matches() {
        // Deterministic structure, no clock: a guess wrong at its first byte and
        // one wrong only at its last byte make the comparison read exactly the
        // same bytes: all of the expected token and all of the guess.
        let expected = b"0123456789abcdef0123456789abcdef";
        let guesses: [&[u8]; 5] = [
            b"X123456789abcdef0123456789abcdef", // wrong first byte
            b"0123456789abcdef0123456789abcdeX", // wrong last byte
            b"0123456789abcdef0123456789abcdef", // right
            b"0123",                             // a right prefix, too short
            b"",                                 // nothing
        ];
        for guess in guesses {
            let e = Counting::new(expected);
            let g = Counting::new(guess);
            let equal = constant_time_eq(&e, &g);
            assert_eq!(equal, guess == expected);
            assert_eq!(e.reads.get(), expected.len(), "guess {guess:?}");
            assert_eq!(
                g.reads.get(),
                guess.len().min(expected.len()),
                "guess {guess:?}"
            );
        }
    }

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearerabc"), None);
    }

    #[test]
    fn refusals_say_bearer_and_never_show_the_token() {
        let token = BearerToken::new("hunter2-hunter2").unwrap();
        assert!(!format!("{token:?}").contains("hunter2"));
        let mut h = HeaderMap::new();
        assert_eq!(token.check(&h), Err(Refusal::Missing));
        h.insert(
            header::AUTHORIZATION,
            "Bearer hunter2-hunter3".parse().unwrap(),
        );
        assert_eq!(token.check(&h), Err(Refusal::Invalid));
        h.insert(
            header::AUTHORIZATION,
            "Bearer hunter2-hunter2".parse().unwrap(),
        );
        assert_eq!(token.check(&h), Ok(()));
        let r = unauthorized(Refusal::Invalid);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer ")
        );
        assert!(!r.body().contains("hunter"));
    }

    #[test]
    fn empty_tokens_are_refused() {
        let err = BearerToken::new("").unwrap_err();
        assert!(err.to_string().contains("non-empty visible ASCII"));
        let err = BearerToken::new("secret with spaces").unwrap_err();
        assert!(
            !err.to_string().contains("secret"),
            "the token is never shown"
        );
    }
}
