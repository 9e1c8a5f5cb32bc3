//! One key-based redactor for headers, query strings, log and span fields and OTLP attributes.
//!
//! A key is sensitive when, lower-cased and with `-`, `_`, `.` and spaces removed, it
//! *contains* one of the configured words, or *is* one of the configured exact keys (short
//! names such as `sig` or `key` that would match too much as parts of other names). So
//! `password`, `db.password`, `X-Api-Key`, `access_token`, `Set-Cookie`, `X-Amz-Signature`
//! and Azure's `sig` are all caught by the defaults, while `signal` or `cache_key` are not.
//!
//! Query strings are also checked by value: a value holding a URL with user information
//! (`postgres://app:hunter2@db/app`, percent-encoded or not) is redacted whatever its key.
//!
//! The default words and keys are pf-http-core's ([`pf_http_core::redact::SENSITIVE_WORDS`],
//! [`pf_http_core::redact::SENSITIVE_KEYS`]), the same lists pf-health's output sanitiser uses;
//! a [`Redactor`] adds its own words and keys on top.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use pf_http_core::redact::{
    REDACTED, SENSITIVE_KEYS, SENSITIVE_WORDS, has_userinfo, normalize_key,
};
use pf_http_core::text::percent_decode;

/// Key-based redactor. Cheap to clone (shared list).
///
/// ```
/// use pf_log_enrich::Redactor;
/// let r = Redactor::default();
/// assert!(r.is_sensitive("password"));
/// assert!(r.is_sensitive("X-Api-Key"));
/// assert!(r.is_sensitive("refresh_token"));
/// assert!(r.is_sensitive("X-Amz-Signature"));
/// assert!(r.is_sensitive("sig"));
/// assert!(!r.is_sensitive("signal"));
/// assert!(!r.is_sensitive("user.id"));
/// assert_eq!(r.redact_query("a=1&token=abc"), "a=1&token=[REDACTED]");
/// let r = r.add_word("ssn");
/// assert!(r.is_sensitive("customer_ssn"));
/// ```
#[derive(Clone)]
pub struct Redactor {
    words: Arc<[Box<[u8]>]>,
    /// Keys sensitive only as a whole (normalised).
    keys: Arc<[Box<[u8]>]>,
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
    /// pf-http-core's [`SENSITIVE_WORDS`] and [`SENSITIVE_KEYS`].
    fn default() -> Self {
        SENSITIVE_KEYS
            .iter()
            .fold(Self::new(SENSITIVE_WORDS.iter().copied()), |r, key| {
                r.add_key(key)
            })
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self
            .words
            .iter()
            .map(|w| String::from_utf8_lossy(w))
            .collect();
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|w| String::from_utf8_lossy(w))
            .collect();
        f.debug_struct("Redactor")
            .field("words", &words)
            .field("keys", &keys)
            .finish()
    }
}

fn normalise(key: &str) -> Vec<u8> {
    normalize_key(key).into_bytes()
}

impl Redactor {
    /// A redactor with exactly these words and no exact keys (normalised on the way in; words
    /// shorter than two characters are ignored).
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
            keys: Arc::new([]),
            id: next_id(),
        }
    }

    /// Adds one word to the list.
    pub fn add_word(self, word: impl AsRef<str>) -> Self {
        let mut words: Vec<Box<[u8]>> = self.words.iter().cloned().collect();
        let w = normalise(word.as_ref());
        if w.len() >= 2 {
            words.push(w.into_boxed_slice());
        }
        Self {
            starts: start_table(&words),
            words: words.into(),
            keys: self.keys,
            id: next_id(),
        }
    }

    /// Adds one exact key: a key equal to it (after normalisation) is sensitive, a key merely
    /// containing it is not. For short names such as `sig` that are parts of harmless words.
    ///
    /// ```
    /// use pf_log_enrich::Redactor;
    /// let r = Redactor::new(["password"]).add_key("pin");
    /// assert!(r.is_sensitive("PIN"));
    /// assert!(!r.is_sensitive("spinner"));
    /// ```
    pub fn add_key(self, key: impl AsRef<str>) -> Self {
        let mut keys: Vec<Box<[u8]>> = self.keys.iter().cloned().collect();
        let k = normalise(key.as_ref());
        if !k.is_empty() {
            keys.push(k.into_boxed_slice());
        }
        Self {
            words: self.words,
            starts: self.starts,
            keys: keys.into(),
            id: next_id(),
        }
    }

    /// `true` when values under `key` must not be shown.
    pub fn is_sensitive(&self, key: &str) -> bool {
        // `normalize_key` without allocating: trimmed, separators out, lower case.
        let key = key.trim_matches(|c: char| !c.is_ascii_alphanumeric());
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
        if self.keys.iter().any(|k| **k == *hay) {
            return true;
        }
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
    /// assert_eq!(r.redact_query("sv=2024&sig=abc%3D"), "sv=2024&sig=[REDACTED]");
    /// // a URL with user information is redacted whatever its key
    /// assert_eq!(r.redact_query("next=postgres%3A%2F%2Fapp%3Ahunter2%40db"), "next=[REDACTED]");
    /// ```
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let sensitive =
            |k: &str, v: &str| self.is_sensitive(&percent_decode(k, true)) || value_has_userinfo(v);
        let needs = query.split('&').any(|pair| match pair.split_once('=') {
            Some((k, v)) => sensitive(k, v),
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
                Some((k, v)) if sensitive(k, v) => {
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
    /// let mut v = serde_json::json!({"name": "p", "login": {"password": "hunter2"}, "auth": {"k": "v"}});
    /// Redactor::default().redact_json(&mut v);
    /// assert_eq!(v["login"]["password"], "[REDACTED]");
    /// assert_eq!(v["auth"], "[REDACTED]"); // a sensitive key hides its whole value
    /// assert_eq!(v["name"], "p");
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

/// [`has_userinfo`] on a query value, decoding it only when it may hide one.
fn value_has_userinfo(v: &str) -> bool {
    if v.contains("://") {
        return has_userinfo(v);
    }
    v.contains('%') && has_userinfo(&percent_decode(v, true))
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

    /// Secret shapes met in real traffic: each key must be sensitive.
    const SECRET_KEYS: &[&str] = &[
        "password",
        "Password",
        "user_password",
        "db.password",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "pw",
        "secret",
        "client_secret",
        "CLIENT-SECRET",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "X-Auth-Token",
        "X-CSRF-Token",
        "_csrf",
        "XSRF-TOKEN",
        "authorization",
        "Proxy-Authorization",
        "auth",
        "cookie",
        "Set-Cookie",
        "session",
        "sessionid",
        "session_id",
        "PHPSESSID",
        "JSESSIONID",
        "sid",
        "api_key",
        "api-key",
        "apiKey",
        "X-API-KEY",
        "x-goog-api-key",
        "key",
        "Ocp-Apim-Subscription-Key",
        "subscription-key",
        "AWSAccessKeyId",
        "aws_secret_access_key",
        "AccountKey",
        "private_key",
        "privateKey",
        "sig",
        "signature",
        "Signature",
        "X-Amz-Signature",
        "x-amz-signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "X-Goog-Signature",
        "X-Goog-Credential",
        "X-Hub-Signature-256",
        "hmac",
        "jwt",
        "otp",
        "credentials",
        "creds",
        "dsn",
        "SENTRY_DSN",
        "connection_string",
        "ConnectionString",
    ];

    #[test]
    fn secret_key_corpus() {
        assert!(SECRET_KEYS.len() >= 50);
        let r = Redactor::default();
        for k in SECRET_KEYS {
            assert!(r.is_sensitive(k), "{k}");
            assert_eq!(
                r.redact_query(&format!("a=1&{k}=v4lue&b=2")),
                format!("a=1&{k}=[REDACTED]&b=2"),
                "{k}"
            );
        }
        // Short exact keys do not catch longer harmless names.
        for k in [
            "signal",
            "design",
            "assign",
            "keyboard",
            "cache_key",
            "monkey",
            "passenger",
            "compass",
            "author",
            "authority",
            "hotpath",
            "sidebar",
            "inside",
            "sessions_count",
            "user.id",
            "request_id",
            "http.route",
            "url.path",
            "page",
            "q",
        ] {
            assert!(!r.is_sensitive(k), "{k}");
        }
    }

    #[test]
    fn query_values_with_userinfo() {
        let r = Redactor::default();
        for (q, want) in [
            (
                "next=postgres://app:hunter2@db/app&x=1",
                "next=[REDACTED]&x=1",
            ),
            ("u=https://ghp_t0ken@github.com/o/r", "u=[REDACTED]"),
            ("to=redis%3A%2F%2F%3Apw%40cache%3A6379", "to=[REDACTED]"),
            ("to=https://example.com/a@b", "to=https://example.com/a@b"),
            (
                "to=https://example.com/?u=a@b",
                "to=https://example.com/?u=a@b",
            ),
            ("mail=a%40b.c", "mail=a%40b.c"),
        ] {
            assert_eq!(r.redact_query(q), want, "{q}");
        }
    }

    #[test]
    fn custom_words_and_keys() {
        let r = Redactor::new(["ssn"]);
        assert!(!r.is_sensitive("sig"), "new() has no exact keys");
        let r = r.add_key("sig");
        assert!(r.is_sensitive("customer_ssn") && r.is_sensitive("SIG"));
        assert!(!r.is_sensitive("signal"));
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
