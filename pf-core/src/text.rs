//! Small text utilities the crates share: percent-decoding, RFC 3339
//! timestamps, hex.

use std::borrow::Cow;
use std::time::SystemTime;

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in
/// `application/x-www-form-urlencoded` query strings). Invalid escapes stay
/// as they are; invalid UTF-8 becomes U+FFFD. Borrows when there is nothing
/// to decode.
///
/// ```
/// use pf_core::text::percent_decode;
/// assert_eq!(percent_decode("api%5Fkey", false), "api_key");
/// assert_eq!(percent_decode("a+b%zz", true), "a b%zz");
/// assert!(matches!(percent_decode("plain", true), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn percent_decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let decodable = s.contains('%') || (plus_is_space && s.contains('+'));
    if !decodable {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex_value(b[i + 1]), hex_value(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex of `bytes` (trace and span IDs).
///
/// ```
/// assert_eq!(pf_core::text::hex(&[0x0a, 0xff]), "0aff");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Fraction digits of [`write_rfc3339`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubSecond {
    /// `.123Z`
    Millis,
    /// `.123456Z`
    Micros,
}

/// Appends `t` as an RFC 3339 UTC timestamp (`2026-12-01T20:15:00.123456Z`),
/// without a date-time dependency and without allocating.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pf_core::text::{SubSecond, write_rfc3339};
///
/// let t = UNIX_EPOCH + Duration::from_micros(1_764_620_100_123_456);
/// let mut s = String::new();
/// write_rfc3339(&mut s, t, SubSecond::Micros);
/// assert_eq!(s, "2025-12-01T20:15:00.123456Z");
/// s.clear();
/// write_rfc3339(&mut s, t, SubSecond::Millis);
/// assert_eq!(s, "2025-12-01T20:15:00.123Z");
/// ```
pub fn write_rfc3339(out: &mut String, t: SystemTime, fraction: SubSecond) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    push_padded(out, year, 4);
    out.push('-');
    push_padded(out, month, 2);
    out.push('-');
    push_padded(out, day, 2);
    out.push('T');
    push_padded(out, rem / 3600, 2);
    out.push(':');
    push_padded(out, (rem % 3600) / 60, 2);
    out.push(':');
    push_padded(out, rem % 60, 2);
    out.push('.');
    match fraction {
        SubSecond::Millis => push_padded(out, i64::from(d.subsec_millis()), 3),
        SubSecond::Micros => push_padded(out, i64::from(d.subsec_micros()), 6),
    }
    out.push('Z');
}

/// [`write_rfc3339`] into a new string.
///
/// ```
/// let s = pf_core::text::rfc3339(std::time::UNIX_EPOCH, pf_core::text::SubSecond::Millis);
/// assert_eq!(s, "1970-01-01T00:00:00.000Z");
/// ```
pub fn rfc3339(t: SystemTime, fraction: SubSecond) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339(&mut s, t, fraction);
    s
}

fn push_padded(out: &mut String, v: i64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = v.unsigned_abs();
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for &c in &buf[..width] {
        out.push(char::from(c));
    }
}
