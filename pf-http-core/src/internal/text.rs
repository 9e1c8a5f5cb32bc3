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
/// use pf_http_core::internal::text::percent_decode;
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
/// assert_eq!(pf_http_core::internal::text::hex(&[0x0a, 0xff]), "0aff");
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
/// use pf_http_core::internal::text::{SubSecond, write_rfc3339};
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
    if (0..10_000).contains(&year) {
        // The common case, into one stack buffer and one push: every log line has a timestamp.
        let mut b = *b"0000-00-00T00:00:00.000000Z";
        put_digits(&mut b[0..4], year);
        put_digits(&mut b[5..7], month);
        put_digits(&mut b[8..10], day);
        put_digits(&mut b[11..13], rem / 3600);
        put_digits(&mut b[14..16], (rem % 3600) / 60);
        put_digits(&mut b[17..19], rem % 60);
        let len = match fraction {
            SubSecond::Millis => {
                put_digits(&mut b[20..23], i64::from(d.subsec_millis()));
                b[23] = b'Z';
                24
            }
            SubSecond::Micros => {
                put_digits(&mut b[20..26], i64::from(d.subsec_micros()));
                27
            }
        };
        out.push_str(std::str::from_utf8(&b[..len]).expect("ASCII digits"));
        return;
    }
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

/// Writes `n` (non-negative, fitting) as zero-padded decimal digits filling `slot`.
fn put_digits(slot: &mut [u8], mut n: i64) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// [`write_rfc3339`] into a new string.
///
/// ```
/// let s = pf_http_core::internal::text::rfc3339(std::time::UNIX_EPOCH, pf_http_core::internal::text::SubSecond::Millis);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The civil date and time of every 37th hour from 1970 to 2100 against a plain count of
    /// days per month, in both precisions.
    #[test]
    fn rfc3339_agrees_with_a_day_count() {
        use std::time::{Duration, UNIX_EPOCH};
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = |y: i64, m: usize| {
            let february = if leap(y) { 29 } else { 28 };
            [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m]
        };
        let mut secs: i64 = 0;
        while secs < 4_102_444_800 {
            let (mut y, mut m, mut days) = (1970, 0, secs / 86_400);
            loop {
                let in_year = if leap(y) { 366 } else { 365 };
                if days < in_year {
                    break;
                }
                days -= in_year;
                y += 1;
            }
            while days >= month_days(y, m) {
                days -= month_days(y, m);
                m += 1;
            }
            let rem = secs % 86_400;
            let t = UNIX_EPOCH + Duration::new(secs as u64, 123_456_789);
            let expected = format!(
                "{y:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                m + 1,
                days + 1,
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            );
            assert_eq!(rfc3339(t, SubSecond::Micros), format!("{expected}.123456Z"));
            assert_eq!(rfc3339(t, SubSecond::Millis), format!("{expected}.123Z"));
            secs += 37 * 3600 + 61;
        }
    }
}
