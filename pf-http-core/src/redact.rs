//! Which keys hold secrets: one list for every pf crate.
//!
//! A key is sensitive when, lower-cased and with `-`, `_`, `.` and spaces
//! removed, it *contains* one of [`SENSITIVE_WORDS`] or *is* one of
//! [`SENSITIVE_KEYS`] (short names such as `sig` or `key` that would match
//! too much as parts of other names). So `password`, `db.password`,
//! `X-Api-Key`, `access_token`, `Set-Cookie`, `X-Amz-Signature` and Azure's
//! `sig` are caught, while `signal` or `cache_key` are not.
//!
//! pf-log-enrich's `Redactor` (headers, query strings, log fields, OTLP
//! attributes) and pf-health's output sanitiser both use these rules.
//!
//! ```
//! use pf_http_core::redact::is_sensitive_key;
//!
//! assert!(is_sensitive_key("X-Amz-Signature"));
//! assert!(is_sensitive_key("db.password"));
//! assert!(is_sensitive_key("sig"));
//! assert!(!is_sensitive_key("signal"));
//! assert!(!is_sensitive_key("cache_key"));
//! ```

/// The replacement written instead of a sensitive value.
pub const REDACTED: &str = "[REDACTED]";

/// Sensitive words, normalised (lower case, no separators): a key
/// *containing* one of them is sensitive.
pub const SENSITIVE_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "apikey",
    "accesskey",
    "accountkey",
    "subscriptionkey",
    "privatekey",
    "credential",
    "sessionid",
    "sessid",
    "signature",
    "hmac",
    "jwt",
    "csrf",
    "xsrf",
    "dsn",
    "connectionstring",
];

/// Sensitive exact keys, normalised: a key *equal* to one of them is
/// sensitive. Presigned URLs (`sig` in Azure SAS), API keys in query strings
/// (`key`), basic `auth`, session cookies (`session`, `sid`), one-time passwords.
pub const SENSITIVE_KEYS: &[&str] = &[
    "sig", "key", "auth", "pass", "pw", "otp", "sid", "session", "creds",
];

/// `key` lower-cased without `-`, `_`, `.` and spaces, and without leading or
/// trailing characters that are not ASCII letters or digits.
///
/// ```
/// assert_eq!(pf_http_core::redact::normalize_key("\"X-Api_Key\":"), "xapikey");
/// ```
pub fn normalize_key(key: &str) -> String {
    key.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether `key` names a secret under the default rules.
pub fn is_sensitive_key(key: &str) -> bool {
    is_sensitive_normalized(&normalize_key(key), SENSITIVE_WORDS, SENSITIVE_KEYS)
}

/// Whether an already [normalised](normalize_key) key is sensitive under the
/// given words (contained) and exact keys (equal).
///
/// ```
/// use pf_http_core::redact::is_sensitive_normalized;
/// assert!(is_sensitive_normalized("tenantpin", &["pin"], &[] as &[&str]));
/// assert!(!is_sensitive_normalized("", &["pin"], &["x"]));
/// ```
pub fn is_sensitive_normalized<W: AsRef<str>, K: AsRef<str>>(
    normalized: &str,
    words: &[W],
    keys: &[K],
) -> bool {
    !normalized.is_empty()
        && (keys.iter().any(|k| k.as_ref() == normalized)
            || words.iter().any(|w| normalized.contains(w.as_ref())))
}

/// Whether `value` holds a URL with user information
/// (`scheme://user:password@host`, `https://token@host`): redacted whatever
/// its key.
///
/// ```
/// use pf_http_core::redact::has_userinfo;
/// assert!(has_userinfo("postgres://app:hunter2@db/app"));
/// assert!(!has_userinfo("https://example.com/a@b"));
/// ```
pub fn has_userinfo(value: &str) -> bool {
    value.match_indices("://").any(|(at, sep)| {
        let rest = &value[at + sep.len()..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority.contains('@')
    })
}
