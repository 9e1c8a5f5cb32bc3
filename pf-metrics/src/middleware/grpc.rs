//! gRPC calls, the protocol side: which requests are calls, their timeout,
//! status codes from `grpc-status` in the response head or the trailers, and
//! the code of a call that ended without one. (Their series live in the
//! store, their families in the exposition.)
//!
//! A request is a gRPC call when it is an HTTP/2 `POST` whose `Content-Type`
//! starts with `application/grpc`. Plain HTTP requests are told apart by the
//! version and method (two integer compares) before any header is looked at.

use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, Method, Request, Version};

/// `grpc-status`, in the response head (trailers-only responses) or the trailers.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// gRPC status code names as grpc-go writes them (`codes.Code.String()`):
/// the values go-grpc-prometheus puts in `grpc_code`.
pub(crate) const CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

const CANCELLED: u8 = 1;
const UNKNOWN: u8 = 2;
const DEADLINE_EXCEEDED: u8 = 4;
const UNIMPLEMENTED: u8 = 12;
const INTERNAL: u8 = 13;
const UNAVAILABLE: u8 = 14;
const UNAUTHENTICATED: u8 = 16;
const PERMISSION_DENIED: u8 = 7;

/// "Not a gRPC call", in the fields that hold a call's timeout.
pub(crate) const NOT_GRPC: u32 = 0;
/// A gRPC call without a `grpc-timeout`.
pub(crate) const NO_DEADLINE: u32 = u32::MAX;

/// Whether `req` is a gRPC call, and if so its timeout in milliseconds,
/// rounded up ([`NO_DEADLINE`] without one); [`NOT_GRPC`] otherwise. A `u32`
/// fits in the padding of the request recorders: HTTP requests carry no
/// more bytes than before.
#[inline]
pub(crate) fn grpc_timeout<B>(req: &Request<B>) -> u32 {
    // gRPC is HTTP/2 POST only: HTTP/1 traffic stops at the first compare.
    if req.version() != Version::HTTP_2 || req.method() != Method::POST {
        return NOT_GRPC;
    }
    grpc_timeout_slow(req.headers())
}

#[cold]
fn grpc_timeout_slow(headers: &HeaderMap) -> u32 {
    let is_grpc = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return NOT_GRPC;
    }
    headers
        .get(GRPC_TIMEOUT)
        .and_then(|v| parse_timeout(v.as_bytes()))
        .unwrap_or(NO_DEADLINE)
}

/// `grpc-timeout`: at most 8 ASCII digits and a unit (`H M S m u n`), in
/// milliseconds rounded up (at most 49 days).
fn parse_timeout(v: &[u8]) -> Option<u32> {
    let (&unit, digits) = v.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let scale: u64 = match unit {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    let millis = n.saturating_mul(scale).div_ceil(1_000_000);
    // Never NOT_GRPC nor NO_DEADLINE.
    Some(
        u32::try_from(millis)
            .unwrap_or(u32::MAX)
            .clamp(1, NO_DEADLINE - 1),
    )
}

/// The route template of a gRPC call: its path when it has the
/// `/package.Service/Method` shape (interned once, bounded by the route cap),
/// otherwise `None` (`__unmatched__`).
#[inline]
pub(crate) fn grpc_route(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (service, method) = rest.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/')).then_some(path)
}

/// A status code from a `grpc-status` value; values outside 0..=16 are `Unknown`.
#[inline]
pub(crate) fn parse_code(v: &[u8]) -> u8 {
    match v {
        [d] if d.is_ascii_digit() => d - b'0',
        [b'1', d] if (b'0'..=b'6').contains(d) => 10 + (d - b'0'),
        _ => UNKNOWN,
    }
}

/// The code in a response head's `grpc-status` (trailers-only responses).
#[inline]
pub(crate) fn status_header(headers: &HeaderMap) -> Option<u8> {
    headers.get(GRPC_STATUS).map(|v| parse_code(v.as_bytes()))
}

/// The code of a response head: its `grpc-status` (`header`, from
/// [`status_header`]), the gRPC spec's mapping of a non-200 HTTP status, or
/// `None` when the code will come in the trailers.
#[inline]
pub(crate) fn head_code(status: u16, header: Option<u8>) -> Option<u8> {
    if header.is_some() {
        return header;
    }
    // https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
    match status {
        200 => None,
        400 => Some(INTERNAL),
        401 => Some(UNAUTHENTICATED),
        403 => Some(PERMISSION_DENIED),
        404 => Some(UNIMPLEMENTED),
        429 | 502 | 503 | 504 => Some(UNAVAILABLE),
        _ => Some(UNKNOWN),
    }
}

/// How a gRPC call ended without a status from the server's response.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The response body ended without a `grpc-status` trailer.
    NoStatus,
    /// The inner service returned an error (tonic turns unknown errors into `Unknown`).
    ServiceError,
    /// The handler panicked.
    Panic,
    /// The response future or body was dropped: the client went away or the
    /// call's deadline passed.
    Dropped,
}

/// A call dropped this close to its deadline was dropped because of it: the
/// server's timer started a little before this layer's clock.
const DEADLINE_SLACK_NANOS: u64 = 2_000_000;

/// The code recorded for a call that ended without a status.
pub(crate) fn ending_code(ending: Ending, timeout_millis: u32, elapsed_nanos: u64) -> u8 {
    match ending {
        Ending::NoStatus | Ending::ServiceError => UNKNOWN,
        Ending::Panic => INTERNAL,
        Ending::Dropped
            if timeout_millis != NO_DEADLINE
                && elapsed_nanos.saturating_add(DEADLINE_SLACK_NANOS)
                    >= u64::from(timeout_millis) * 1_000_000 =>
        {
            DEADLINE_EXCEEDED
        }
        Ending::Dropped => CANCELLED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_and_out_of_range_is_unknown() {
        for code in 0..=16u8 {
            assert_eq!(parse_code(code.to_string().as_bytes()), code);
        }
        for bad in ["17", "99", "-1", "", "1x", "007", " 0"] {
            assert_eq!(parse_code(bad.as_bytes()), UNKNOWN, "{bad:?}");
        }
    }

    #[test]
    fn timeouts_parse_per_spec() {
        assert_eq!(parse_timeout(b"100m"), Some(100));
        assert_eq!(parse_timeout(b"1S"), Some(1_000));
        assert_eq!(parse_timeout(b"2H"), Some(7_200_000));
        assert_eq!(parse_timeout(b"1500u"), Some(2), "rounded up");
        assert_eq!(parse_timeout(b"0n"), Some(1));
        assert_eq!(parse_timeout(b"99999999H"), Some(NO_DEADLINE - 1));
        assert_eq!(parse_timeout(b"123456789S"), None, "at most 8 digits");
        assert_eq!(parse_timeout(b"10x"), None);
        assert_eq!(parse_timeout(b"m"), None);
    }

    #[test]
    fn only_http2_post_with_grpc_content_type_is_grpc() {
        let req = |version, method: Method, ct: &str| {
            Request::builder()
                .version(version)
                .method(method)
                .header(CONTENT_TYPE, ct)
                .header("grpc-timeout", "5S")
                .body(())
                .unwrap()
        };
        assert_eq!(
            grpc_timeout(&req(
                Version::HTTP_2,
                Method::POST,
                "application/grpc+proto"
            )),
            5_000
        );
        assert_eq!(
            grpc_timeout(&req(Version::HTTP_11, Method::POST, "application/grpc")),
            NOT_GRPC
        );
        assert_eq!(
            grpc_timeout(&req(Version::HTTP_2, Method::GET, "application/grpc")),
            NOT_GRPC
        );
        assert_eq!(
            grpc_timeout(&req(Version::HTTP_2, Method::POST, "application/json")),
            NOT_GRPC
        );
    }

    #[test]
    fn routes_must_look_like_service_and_method() {
        assert_eq!(grpc_route("/a.B/C"), Some("/a.B/C"));
        assert_eq!(grpc_route("/a.B/C/D"), None);
        assert_eq!(grpc_route("/a.B/"), None);
        assert_eq!(grpc_route("//C"), None);
        assert_eq!(grpc_route("/"), None);
    }

    #[test]
    fn head_codes_follow_the_http_mapping() {
        let mut h = HeaderMap::new();
        assert_eq!(head_code(200, status_header(&h)), None);
        assert_eq!(head_code(404, status_header(&h)), Some(UNIMPLEMENTED));
        assert_eq!(head_code(503, status_header(&h)), Some(UNAVAILABLE));
        assert_eq!(head_code(500, status_header(&h)), Some(UNKNOWN));
        h.insert(GRPC_STATUS, "5".parse().unwrap());
        assert_eq!(head_code(200, status_header(&h)), Some(5));
        assert_eq!(head_code(503, status_header(&h)), Some(5));
    }

    #[test]
    fn endings_without_status() {
        assert_eq!(ending_code(Ending::Panic, NO_DEADLINE, 0), INTERNAL);
        assert_eq!(ending_code(Ending::NoStatus, NO_DEADLINE, 0), UNKNOWN);
        assert_eq!(ending_code(Ending::Dropped, NO_DEADLINE, 10), CANCELLED);
        assert_eq!(ending_code(Ending::Dropped, 100, 10), CANCELLED);
        assert_eq!(ending_code(Ending::Dropped, 100, 97_000_000), CANCELLED);
        assert_eq!(
            ending_code(Ending::Dropped, 100, 99_000_000),
            DEADLINE_EXCEEDED
        );
        assert_eq!(
            ending_code(Ending::Dropped, 100, 150_000_000),
            DEADLINE_EXCEEDED
        );
    }
}
