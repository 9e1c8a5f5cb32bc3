//! One key-based redactor for headers, query strings, log and span fields and OTLP attributes.
//!
//! A key is sensitive when, lower-cased and with `-`, `_`, `.` and spaces removed, it
//! *contains* one of the configured words. So `password`, `db.password`, `X-Api-Key`,
//! `access_token` and `Set-Cookie` are all caught by the defaults.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The replacement written instead of a sensitive value.
pub const REDACTED: &str = "[REDACTED]";

/// The default sensitive words (in normalised form: lower case, no separators).
pub const DEFAULT_SENSITIVE_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "privatekey",
    "credential",
    "sessionid",
    "signature",
];

/// Key-based redactor. Cheap to clone (shared list).
///
/// ```
/// use pf_log_enrich::Redactor;
/// let r = Redactor::default();
/// assert!(r.is_sensitive("password"));
/// assert!(r.is_sensitive("X-Api-Key"));
/// assert!(r.is_sensitive("refresh_token"));
/// assert!(!r.is_sensitive("user.id"));
/// assert_eq!(r.redact_query("a=1&token=abc"), "a=1&token=[REDACTED]");
/// let r = r.with_word("ssn");
/// assert!(r.is_sensitive("customer_ssn"));
/// ```
#[derive(Clone)]
pub struct Redactor {
    words: Arc<[Box<[u8]>]>,
    /// Bit per (first byte, second byte) of a word: positions in a key whose bigram starts
    /// no word are skipped without comparing (field names are checked on every event).
    starts: Arc<[u64; 1024]>,
    /// Identity of this word list, for the per-thread cache of static field names.
    id: usize,
}

static NEXT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

fn next_id() -> usize {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

const CACHE_SLOTS: usize = 512;

thread_local! {
    /// Direct-mapped cache: (redactor id, name pointer, name length) -> sensitive.
    static FIELD_CACHE: std::cell::RefCell<[(usize, usize, usize, bool); CACHE_SLOTS]> =
        const { std::cell::RefCell::new([(0, 0, 0, false); CACHE_SLOTS]) };
}

fn bigram(a: u8, b: u8) -> usize {
    (usize::from(a) << 8) | usize::from(b)
}

fn start_table(words: &[Box<[u8]>]) -> Arc<[u64; 1024]> {
    let mut t = [0u64; 1024];
    for w in words {
        if w.len() >= 2 {
            let i = bigram(w[0], w[1]);
            t[i / 64] |= 1 << (i % 64);
        }
    }
    Arc::new(t)
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_SENSITIVE_WORDS.iter().copied())
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self
            .words
            .iter()
            .map(|w| String::from_utf8_lossy(w))
            .collect();
        f.debug_struct("Redactor").field("words", &words).finish()
    }
}

fn normalise(key: &str) -> Vec<u8> {
    key.bytes()
        .filter(|b| !matches!(b, b'-' | b'_' | b'.' | b' '))
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

impl Redactor {
    /// A redactor with exactly these words (normalised on the way in; words shorter than two
    /// characters are ignored).
    pub fn new<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let words: Vec<Box<[u8]>> = words
            .into_iter()
            .map(|w| normalise(w.as_ref()).into_boxed_slice())
            .filter(|w| w.len() >= 2)
            .collect();
        Self {
            starts: start_table(&words),
            words: words.into(),
            id: next_id(),
        }
    }

    /// Adds one word to the list.
    pub fn with_word(self, word: impl AsRef<str>) -> Self {
        let mut words: Vec<Box<[u8]>> = self.words.iter().cloned().collect();
        let w = normalise(word.as_ref());
        if w.len() >= 2 {
            words.push(w.into_boxed_slice());
        }
        Self {
            starts: start_table(&words),
            words: words.into(),
            id: next_id(),
        }
    }

    /// `true` when values under `key` must not be shown.
    pub fn is_sensitive(&self, key: &str) -> bool {
        let mut buf = [0u8; 96];
        let mut n = 0;
        for b in key.bytes() {
            if matches!(b, b'-' | b'_' | b'.' | b' ') {
                continue;
            }
            if n == buf.len() {
                // very long key: fall back to an allocation
                let norm = normalise(key);
                return self.contains_word(&norm);
            }
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        }
        self.contains_word(&buf[..n])
    }

    /// [`Redactor::is_sensitive`] for a `'static` name (a tracing field name), answered from
    /// a per-thread cache after the first call.
    pub fn is_sensitive_static(&self, key: &'static str) -> bool {
        let ptr = key.as_ptr() as usize;
        // Fibonacci hashing of the address: field names of one callsite sit next to each other.
        let slot = ((ptr ^ key.len()).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize)
            >> (usize::BITS - 9))
            % CACHE_SLOTS;
        let hit = FIELD_CACHE.try_with(|c| {
            let c = c.borrow();
            let (id, p, l, v) = c[slot];
            (id == self.id && p == ptr && l == key.len()).then_some(v)
        });
        if let Ok(Some(v)) = hit {
            return v;
        }
        let v = self.is_sensitive(key);
        let _ = FIELD_CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                c[slot] = (self.id, ptr, key.len(), v);
            }
        });
        v
    }

    fn contains_word(&self, hay: &[u8]) -> bool {
        for i in 0..hay.len().saturating_sub(1) {
            let b = bigram(hay[i], hay[i + 1]);
            if self.starts[b / 64] & (1 << (b % 64)) == 0 {
                continue;
            }
            let rest = &hay[i..];
            if self.words.iter().any(|w| rest.starts_with(w)) {
                return true;
            }
        }
        false
    }

    /// `value`, or [`REDACTED`] when `key` is sensitive.
    pub fn redact<'a>(&self, key: &str, value: &'a str) -> &'a str {
        if self.is_sensitive(key) {
            REDACTED
        } else {
            value
        }
    }

    /// Replaces the values of sensitive keys in a query string (keys are kept).
    ///
    /// ```
    /// use pf_log_enrich::Redactor;
    /// let r = Redactor::default();
    /// assert_eq!(r.redact_query("q=rust&api_key=k1&page=2"), "q=rust&api_key=[REDACTED]&page=2");
    /// assert_eq!(r.redact_query("password"), "password");
    /// ```
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let needs = query.split('&').any(|pair| match pair.split_once('=') {
            Some((k, _)) => self.is_sensitive(&percent_decode_key(k)),
            None => false,
        });
        if !needs {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len());
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, _)) if self.is_sensitive(&percent_decode_key(k)) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        Cow::Owned(out)
    }

    /// Redacts sensitive keys in a JSON value, recursively (for applications that log bodies).
    ///
    /// ```
    /// use pf_log_enrich::Redactor;
    /// let mut v = serde_json::json!({"name": "p", "auth": {"password": "hunter2"}});
    /// Redactor::default().redact_json(&mut v);
    /// assert_eq!(v["auth"]["password"], "[REDACTED]");
    /// ```
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_sensitive(k) {
                        *v = serde_json::Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_json(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

fn percent_decode_key(k: &str) -> Cow<'_, str> {
    if !k.contains(['%', '+']) {
        return Cow::Borrowed(k);
    }
    let bytes = k.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let r = Redactor::default();
        for k in [
            "password",
            "Password",
            "user_password",
            "passwd",
            "client_secret",
            "token",
            "Authorization",
            "http.request.header.authorization",
            "cookie",
            "set-cookie",
            "api-key",
            "X-API-KEY",
            "api_key",
        ] {
            assert!(r.is_sensitive(k), "{k}");
        }
        for k in ["user.id", "request_id", "http.route", "message", "url.path"] {
            assert!(!r.is_sensitive(k), "{k}");
        }
    }

    #[test]
    fn query() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_query("a%5Ftoken=x&b=2"),
            "a%5Ftoken=[REDACTED]&b=2"
        );
        assert_eq!(r.redact_query("x=%ZZ&b"), "x=%ZZ&b");
        assert_eq!(r.redact_query("to%6Ben=1"), "to%6Ben=[REDACTED]");
        assert_eq!(r.redact_query("k%=1"), "k%=1");
    }
}
