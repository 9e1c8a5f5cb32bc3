//! One redactor for headers, query strings, paths, the user agent, log and span fields and
//! OTLP attributes: pf-http-core's [`RedactionPolicy`] (secrets by name and by value) with a
//! per-thread cache for tracing's static field names.
//!
//! A key is sensitive when one of its words is a sensitive word (`password`, `db.password`,
//! `X-Api-Key`, `access_token`, `Set-Cookie`, `X-Amz-Signature`, `client_assertion`,
//! `JSESSIONID`) or the whole key is a short sensitive name (`sig`, `key`, `code`); values
//! are checked by the policy's value rules (known token formats such as JWTs and provider
//! keys, long high-entropy runs, long hex, URLs with user information), whatever their key.
//! The rules and their trade-offs are documented once, in [`pf_http_core::redact`].

use std::borrow::Cow;
use std::fmt;

use pf_http_core::redact::{REDACTED, RedactionPolicy, ValueRules};

/// The redactor every pf-log-enrich output uses. Cheap to clone (shared lists).
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
/// assert!(!r.is_sensitive("tokenizer"));
/// assert!(!r.is_sensitive("user.id"));
/// assert_eq!(r.redact_query("a=1&token=abc"), "a=1&token=[REDACTED]");
/// // by value: a GitHub token under a harmless name, a JWT in a path
/// assert_eq!(r.redact_query("q=ghp_0123456789abcdefghijABCDEFGHIJ012345"), "q=[REDACTED]");
/// assert_eq!(
///     r.redact_path("/s/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"),
///     "/s/[REDACTED]"
/// );
/// let r = r.add_word("ssn");
/// assert!(r.is_sensitive("customer_ssn"));
/// ```
#[derive(Clone)]
pub struct Redactor {
    policy: RedactionPolicy,
    /// Identity of this policy, for the per-thread cache of static field names.
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

impl Default for Redactor {
    /// pf-http-core's default [`RedactionPolicy`]: its sensitive words and keys
    /// ([`pf_http_core::redact::SENSITIVE_WORDS`], [`pf_http_core::redact::SENSITIVE_KEYS`])
    /// and the default value rules.
    fn default() -> Self {
        Self::from_policy(RedactionPolicy::default())
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("words", &self.policy.words().collect::<Vec<_>>())
            .field("keys", &self.policy.keys().collect::<Vec<_>>())
            .field("rules", self.policy.rules())
            .finish()
    }
}

impl Redactor {
    /// A redactor with exactly these words, no exact keys, and the default value rules
    /// (normalised on the way in; empty words are ignored).
    pub fn new<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::from_policy(RedactionPolicy::with_words(words))
    }

    /// A redactor applying `policy`.
    ///
    /// ```
    /// use pf_log_enrich::{RedactionPolicy, Redactor, ValueRules};
    /// // names only, no value rules
    /// let r = Redactor::from_policy(RedactionPolicy::default().value_rules(ValueRules::OFF));
    /// assert_eq!(r.redact_path("/k/AKIAIOSFODNN7EXAMPLE"), "/k/AKIAIOSFODNN7EXAMPLE");
    /// ```
    pub fn from_policy(policy: RedactionPolicy) -> Self {
        Self {
            policy,
            id: next_id(),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &RedactionPolicy {
        &self.policy
    }

    /// Adds one word to the list.
    pub fn add_word(self, word: impl AsRef<str>) -> Self {
        Self::from_policy(self.policy.add_word(word))
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
        Self::from_policy(self.policy.add_key(key))
    }

    /// Uses these value rules (see [`pf_http_core::redact`] for the rules and their knob).
    pub fn value_rules(self, rules: ValueRules) -> Self {
        Self::from_policy(self.policy.value_rules(rules))
    }

    /// `true` when values under `key` must not be shown.
    pub fn is_sensitive(&self, key: &str) -> bool {
        self.policy.is_sensitive_key(key)
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

    /// `value` as it may be shown under `key`: [`REDACTED`] under a sensitive key, otherwise
    /// with the secrets the value rules find replaced
    /// ([`RedactionPolicy::redact_field`]).
    pub fn redact<'a>(&self, key: &str, value: &'a str) -> Cow<'a, str> {
        self.policy.redact_field(key, value)
    }

    /// [`Redactor::redact`] for a tracing field name (name answered from the cache).
    pub fn redact_static<'a>(&self, key: &'static str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_static(key) {
            return Cow::Borrowed(REDACTED);
        }
        self.policy.redact_field(key, value)
    }

    /// Replaces the values of sensitive keys, and values holding a secret, in a query string
    /// (keys are kept).
    ///
    /// ```
    /// use pf_log_enrich::Redactor;
    /// let r = Redactor::default();
    /// assert_eq!(r.redact_query("q=rust&api_key=k1&page=2"), "q=rust&api_key=[REDACTED]&page=2");
    /// assert_eq!(r.redact_query("password"), "password");
    /// assert_eq!(r.redact_query("sv=2024&sig=abc%3D"), "sv=2024&sig=[REDACTED]");
    /// // a URL with user information is redacted whatever its key
    /// assert_eq!(r.redact_query("next=postgres%3A%2F%2Fapp%3Ahunter2%40db"), "next=[REDACTED]");
    /// assert_eq!(r.redact_query("tokenizer=bpe&author=ann"), "tokenizer=bpe&author=ann");
    /// ```
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        self.policy.redact_query(query)
    }

    /// `url.path` with secret-looking segments replaced ([`RedactionPolicy::redact_path`]).
    pub fn redact_path<'a>(&self, path: &'a str) -> Cow<'a, str> {
        self.policy.redact_path(path)
    }

    /// A header value as it may be logged ([`RedactionPolicy::redact_header`]):
    /// `Authorization: Bearer [REDACTED]` keeps its scheme.
    pub fn redact_header<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        self.policy.redact_header(name, value)
    }

    /// Free text (user agent, message) with secret tokens replaced
    /// ([`RedactionPolicy::redact_text`]).
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.policy.redact_text(text)
    }

    /// Redacts sensitive keys in a JSON value, and secrets in its strings, recursively (for
    /// applications that log bodies).
    ///
    /// ```
    /// use pf_log_enrich::Redactor;
    /// let mut v = serde_json::json!({"name": "p", "login": {"password": "hunter2"}, "auth": {"k": "v"},
    ///     "note": "key AKIAIOSFODNN7EXAMPLE"});
    /// Redactor::default().redact_json(&mut v);
    /// assert_eq!(v["login"]["password"], "[REDACTED]");
    /// assert_eq!(v["auth"], "[REDACTED]"); // a sensitive key hides its whole value
    /// assert_eq!(v["name"], "p");
    /// assert_eq!(v["note"], "key [REDACTED]");
    /// ```
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        self.redact_json_under("", value);
    }

    fn redact_json_under(&self, key: &str, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if self.is_sensitive(k) {
                        *v = serde_json::Value::String(REDACTED.to_owned());
                    } else {
                        self.redact_json_under(k, v);
                    }
                }
            }
            serde_json::Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.redact_json_under(key, v)),
            serde_json::Value::String(s) => {
                if let Cow::Owned(red) = self.policy.redact_field(key, s) {
                    *s = red;
                }
            }
            _ => {}
        }
    }
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
