//! Method and status labels with bounded cardinality.

use http::Method;

/// Method labels by [`method_index`]; the last one, `_OTHER`, stands for every
/// method that is not one of the nine standard ones (the OpenTelemetry
/// semantic conventions' value), so hostile methods cannot grow label sets.
pub const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The index of a method's label in [`METHOD_LABELS`] (9 for `_OTHER`).
///
/// ```
/// use pf_http_core::internal::{METHOD_LABELS, method_index};
/// assert_eq!(METHOD_LABELS[usize::from(method_index(&http::Method::PATCH))], "PATCH");
/// ```
#[inline]
pub fn method_index(method: &Method) -> u8 {
    // `Method` compares standard methods by enum tag: no string compare.
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// The label of a method: its name when standard, `_OTHER` otherwise.
///
/// ```
/// use pf_http_core::method_label;
/// assert_eq!(method_label(&http::Method::GET), "GET");
/// assert_eq!(method_label(&http::Method::from_bytes(b"PROPFIND").unwrap()), "_OTHER");
/// ```
#[inline]
pub fn method_label(method: &Method) -> &'static str {
    METHOD_LABELS[usize::from(method_index(method))]
}

/// The class of a status code: `"1xx"` to `"5xx"`, `"_OTHER"` outside 100..=599.
///
/// ```
/// assert_eq!(pf_http_core::status_class(404), "4xx");
/// assert_eq!(pf_http_core::status_class(99), "_OTHER");
/// ```
#[inline]
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "_OTHER",
    }
}
