//! Writing JSON text: string escaping (eight bytes at a time over plain text) and numbers
//! written as `Display` writes them.

use std::fmt::{self, Write as _};

/// Writes JSON-escaped text into a `String`.
pub(super) struct Escaped<'a>(pub(super) &'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Bytes that need escaping in a JSON string.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Whether any of the eight bytes of `w` needs escaping (a control character, `"` or `\\`):
/// the classic "has a zero byte" test on `w` and on `w` with each special byte cancelled out.
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    // A byte below 0x20 is one whose top three bits are zero.
    let control = has_zero(w & 0xE0E0_E0E0_E0E0_E0E0);
    let quote = has_zero(w ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(w ^ (ONES * u64::from(b'\\')));
    control | quote | backslash != 0
}

pub(super) fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Most text needs no escaping: skip it eight bytes at a time.
    while i + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[i..i + 8].try_into().expect("eight bytes"));
        if word_needs_escape(word) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() {
        let b = bytes[i];
        if !NEEDS_ESCAPE[b as usize] {
            i += 1;
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
}

pub(super) fn push_str_value(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// A finite `f64` exactly as `Display` writes it (the shortest digits that read back the same,
/// no exponent), through `ryu`: the completion event's `duration_ms` is on every access line.
pub(super) fn push_f64(out: &mut String, v: f64) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(v);
    if s.contains('e') {
        // Display never uses an exponent: spell the number out.
        let _ = write!(out, "{v}");
    } else {
        // ryu writes integers as `3.0`, Display as `3`.
        out.push_str(s.strip_suffix(".0").unwrap_or(s));
    }
}

pub(super) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "a\\\"b\\\\c\\nd\\u0001é");
    }

    #[test]
    fn floats_are_written_as_display_writes_them() {
        let mut values = vec![
            0.0,
            -0.0,
            0.488,
            12.345,
            1000.0,
            3.0,
            0.1 + 0.2,
            1e-7,
            1.5e-5,
            123_456.789,
            1e15,
            1e16,
            1e21,
            2.5e300,
            -4.25,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::EPSILON,
        ];
        // Microsecond durations in milliseconds, as the completion event writes them.
        values.extend((0..5000u32).map(|us| f64::from(us * 37) / 1000.0));
        for v in values {
            let mut s = String::new();
            push_f64(&mut s, v);
            assert_eq!(s, v.to_string(), "{v:?}");
        }
    }

    /// The word-at-a-time scan agrees with the byte table for every byte in every position,
    /// after plain prefixes of every length.
    #[test]
    fn escaping_agrees_with_the_byte_table_at_every_offset() {
        for b in 0u8..=127 {
            for prefix in 0..20 {
                let text: String = "x".repeat(prefix) + &char::from(b).to_string() + "tail text";
                let mut fast = String::new();
                escape_into(&mut fast, &text);
                let mut slow = String::new();
                for c in text.chars() {
                    if c.is_ascii() && NEEDS_ESCAPE[c as usize] {
                        let mut one = String::new();
                        // The byte path (no plain word before it).
                        escape_into(&mut one, &c.to_string());
                        slow.push_str(&one);
                    } else {
                        slow.push(c);
                    }
                }
                assert_eq!(fast, slow, "byte {b:#04x} after {prefix} plain bytes");
                assert_eq!(
                    fast == text,
                    !NEEDS_ESCAPE[b as usize],
                    "byte {b:#04x} after {prefix}"
                );
            }
        }
        // Bytes of multi-byte UTF-8 characters never need escaping.
        let mut s = String::new();
        escape_into(&mut s, "ééééééééé\"");
        assert_eq!(s, "ééééééééé\\\"");
    }
}
