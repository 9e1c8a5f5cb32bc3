//! [`BearerToken`]: the one rule for `Authorization: Bearer <token>` (RFC 6750).

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, header};

use crate::error::ConfigError;

/// A bearer token that protects an endpoint (pf-metrics' `/metrics`, pf-health's
/// check details), compared in constant time and never printed.
///
/// A request presents it as `Authorization: Bearer <token>`: the scheme in any
/// case, then one or more spaces (RFC 6750 §2.1, `"Bearer" 1*SP b64token`), then the
/// token; spaces after the token are ignored. The comparison reads every byte of
/// the configured token whatever the presented one holds, so neither a wrong
/// first byte nor a wrong length answers sooner.
///
/// ```
/// use pf_http_core::{BearerRefusal, BearerToken};
///
/// let token = BearerToken::new("s3cret").unwrap();
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(token.check(&headers), Err(BearerRefusal::Missing));
/// headers.insert("authorization", "Bearer  s3cret".parse().unwrap());
/// assert_eq!(token.check(&headers), Ok(()));
/// headers.insert("authorization", "Bearer s3cret-not".parse().unwrap());
/// assert_eq!(token.check(&headers), Err(BearerRefusal::Invalid));
/// assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
/// ```
#[derive(Clone)]
pub struct BearerToken(Arc<[u8]>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Why [`BearerToken::check`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BearerRefusal {
    /// No `Authorization: Bearer <token>` header.
    Missing,
    /// A bearer token that is not the configured one.
    Invalid,
}

impl BearerToken {
    /// The token requests must present.
    ///
    /// # Errors
    ///
    /// When `token` is empty (it would let everyone in) or holds characters other
    /// than visible ASCII (no header could carry it). The message never shows it.
    ///
    /// ```
    /// use pf_http_core::BearerToken;
    ///
    /// assert!(BearerToken::new("s3cret").is_ok());
    /// assert!(BearerToken::new("").is_err());
    /// assert!(BearerToken::new("two words").is_err());
    /// ```
    pub fn new(token: impl AsRef<str>) -> Result<Self, ConfigError> {
        let token = token.as_ref();
        if token.is_empty() {
            return Err(ConfigError::new(
                "BearerToken::new",
                "the token must not be empty",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "BearerToken::new",
                "the token must be visible ASCII without spaces (the token itself is not shown)",
            ));
        }
        Ok(Self(token.as_bytes().into()))
    }

    /// Checks a request's `Authorization` header.
    ///
    /// # Errors
    ///
    /// [`BearerRefusal::Missing`] without a bearer credential,
    /// [`BearerRefusal::Invalid`] with another token.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), BearerRefusal> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer_credential(v.as_bytes()))
            .ok_or(BearerRefusal::Missing)?;
        if constant_time_eq(&*self.0, presented) {
            Ok(())
        } else {
            Err(BearerRefusal::Invalid)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value: the scheme in any case,
/// one or more spaces, the token; trailing spaces ignored.
fn bearer_credential(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
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

/// Whether `presented` equals `expected`, in time that depends on `expected`'s
/// length only: every byte of `expected` is read and compared with the byte at the
/// same place of `presented` (or 0 past its end), the differences are OR-ed
/// together and looked at once, after the loop. A length mismatch takes the same
/// path: no early return, so the time of a guess tells nothing about how long a
/// prefix it got right or how long it was.
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
    fn every_byte_is_read_whatever_prefix_or_length_matches() {
        // Deterministic structure, no clock: a guess wrong at its first byte, one
        // wrong only at its last byte, and guesses of another length make the
        // comparison read all of the expected token and the guess up to its
        // length: the same code path, no early return on a length mismatch.
        let expected = b"0123456789abcdef0123456789abcdef";
        let guesses: [&[u8]; 6] = [
            b"X123456789abcdef0123456789abcdef",        // wrong first byte
            b"0123456789abcdef0123456789abcdeX",        // wrong last byte
            b"0123456789abcdef0123456789abcdef",        // right
            b"0123",                                    // a right prefix, too short
            b"0123456789abcdef0123456789abcdef-longer", // too long
            b"",                                        // nothing
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
    fn parses_bearer_credentials_per_rfc_6750() {
        assert_eq!(bearer_credential(b"Bearer abc"), Some(&b"abc"[..]));
        // 1*SP: two spaces are allowed.
        assert_eq!(bearer_credential(b"Bearer  s3cret"), Some(&b"s3cret"[..]));
        assert_eq!(bearer_credential(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_credential(b"BEARER abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_credential(b"Basic abc"), None);
        assert_eq!(bearer_credential(b"Bearer"), None);
        assert_eq!(bearer_credential(b"Bearer "), None);
        assert_eq!(bearer_credential(b"Bearerabc"), None);
    }

    #[test]
    fn refusals_never_show_the_token() {
        let token = BearerToken::new("hunter2-hunter2").unwrap();
        assert!(!format!("{token:?}").contains("hunter2"));
        let mut h = HeaderMap::new();
        assert_eq!(token.check(&h), Err(BearerRefusal::Missing));
        h.insert(
            header::AUTHORIZATION,
            "Bearer hunter2-hunter3".parse().unwrap(),
        );
        assert_eq!(token.check(&h), Err(BearerRefusal::Invalid));
        h.insert(
            header::AUTHORIZATION,
            "Bearer  hunter2-hunter2".parse().unwrap(),
        );
        assert_eq!(token.check(&h), Ok(()));
        let err = BearerToken::new("secret with spaces").unwrap_err();
        assert!(
            !err.to_string().contains("secret with"),
            "the token is never shown"
        );
    }
}
