//! What is a secret: one policy for every pf crate, by **name** and by **value**.
//!
//! # By name
//!
//! A key (query parameter, header, log field, span or OTLP attribute, JSON key) is split into
//! words at separators (`-`, `_`, `.`, spaces, …), at lower-to-upper case changes
//! (`apiKey`, `AWSAccessKey`) and between letters and digits. It is sensitive when
//!
//! - one word, or several consecutive words joined (`api` `key` → `apikey`), *equals* one of
//!   [`SENSITIVE_WORDS`] (or its plural with `s`), or one word of at least five letters
//!   *ends with* such a word (`userpassword`, `JSESSIONID`, `PHPSESSID`, `csrftoken`);
//! - or the whole key equals one of [`SENSITIVE_KEYS`]: short names such as `key`, `sig`,
//!   `code` or `auth` that would match too much as parts of other names.
//!
//! So `password`, `db.password`, `X-Api-Key`, `access_token`, `Set-Cookie`,
//! `X-Amz-Signature`, `client_assertion`, `code` (an OAuth authorization code) and
//! `;jsessionid=` are caught, while `tokenizer`, `secretary`, `author`, `signal`,
//! `cache_key` and `status_code` are not.
//!
//! ```
//! use pf_http_core::redact::is_sensitive_key;
//!
//! assert!(is_sensitive_key("X-Amz-Signature"));
//! assert!(is_sensitive_key("db.password"));
//! assert!(is_sensitive_key("client_assertion"));
//! assert!(is_sensitive_key("JSESSIONID"));
//! assert!(is_sensitive_key("code"));
//! assert!(!is_sensitive_key("tokenizer"));
//! assert!(!is_sensitive_key("secretary"));
//! assert!(!is_sensitive_key("author"));
//! assert!(!is_sensitive_key("status_code"));
//! ```
//!
//! # By value
//!
//! A [`RedactionPolicy`] also looks at values, whatever their key, in a single pass over the
//! text (a value with nothing to hide is returned borrowed, without allocating):
//!
//! 1. **Known token formats**, from their providers' published formats, found at the start of
//!    a token or after a non-alphanumeric character (`MyApp/ghp_…`):
//!    JWT/JWS/JWE compact form (`eyJ…` header, 3 or 5 dot-separated base64url parts),
//!    GitHub (`ghp_` `gho_` `ghu_` `ghs_` `ghr_` `github_pat_`), GitLab (`glpat-`, `gldt-`,
//!    `glrt-`, `glptt-`, `glft-`, `glcbt-`, `glimt-`, `glagent-`, `gloas-`, `GR1348941`),
//!    Slack (`xoxb-` `xoxp-` `xoxa-` `xoxr-` `xoxs-` `xoxe-` `xapp-`), Stripe (`sk_live_`
//!    `rk_live_` `sk_test_` `rk_test_` `whsec_`), AWS access key IDs (`AKIA` `ASIA` `ABIA`
//!    `ACCA` `AGPA` `AIDA` `AIPA` `ANPA` `ANVA` `AROA` `APKA` `ASCA` + 16 characters),
//!    Google (`AIza` API keys, `ya29.` access tokens, `GOCSPX-` client secrets), Telegram bot
//!    tokens (`123456789:AA…`, 35 characters after the colon), npm (`npm_`), PyPI
//!    (`pypi-AgEIcHlwaS5vcmc`), Docker Hub (`dckr_pat_`), HashiCorp Vault (`hvs.` `hvb.`
//!    `hvr.`), OpenAI and Anthropic (`sk-proj-`, `sk-svcacct-`, `sk-admin-`, `sk-ant-`, and
//!    `sk-` followed by 32 or more characters), SendGrid (`SG.`), Mailgun (`key-` + 32 hex),
//!    Shopify (`shpat_` `shpss_` `shpca_` `shppa_`), DigitalOcean (`dop_v1_` `doo_v1_`
//!    `dor_v1_`), Hugging Face (`hf_`), Databricks (`dapi` + 32 hex), Linear (`lin_api_`),
//!    Postman (`PMAK-`), Grafana (`glc_` `glsa_`), New Relic (`NRAK-`), Figma (`figd_`),
//!    Sentry (`sntrys_` `sntryu_`), Doppler (`dp.pt.` `dp.st.` `dp.sa.` `dp.ct.`), Pulumi
//!    (`pul-`), age (`AGE-SECRET-KEY-1`), Mapbox secret tokens (`sk.eyJ`), Atlassian
//!    (`ATATT3`), Bitbucket (`ATBB`), Square (`sq0atp-` `sq0csp-` `EAAA`), Supabase
//!    (`sbp_`), Heroku (`HRKU-`), Fly.io (`fm1r_` `fm2_`), Alibaba Cloud (`LTAI`), Tencent
//!    Cloud (`AKID`), Clojars (`CLOJARS_`), PEM private-key blocks
//!    (`-----BEGIN … PRIVATE KEY-----` to its `END` line) and URLs with user information
//!    (`scheme://user:password@host`).
//! 2. **Long high-entropy runs** (the *entropy rule*): a run of `[A-Za-z0-9+/_-]` (no `/`
//!    in a path segment) at least [`ValueRules::min_len`] characters long (default **32**)
//!    holding upper-case letters, lower-case letters and digits, whose Shannon entropy is at
//!    least [`ValueRules::min_bits_per_char`] bits per character (default **4.0**: random
//!    base64url of 32 characters measures 4.08 or more in 999 cases of 1000, English
//!    identifiers 3.5–4.3), and which is not mostly words: less than 60% of it in runs of
//!    four or more lower-case letters (with an optional leading capital), five or more
//!    capitals, or four or more digits (`Quarterly_Report_2024_Q3_FINAL_v2`,
//!    `AbstractSingletonProxyFactoryBean2` stay visible).
//! 3. **Long hex** (the *hex rule*): a piece of a run (between `-`, `_`, `+`, `/`) of at
//!    least [`ValueRules::hex_min_len`] hexadecimal digits (default **32**) with both
//!    letters and digits: reset and verification tokens, session IDs, API keys of several
//!    providers.
//!
//! The knob is [`RedactionPolicy::value_rules`]; [`ValueRules::OFF`] checks names only.
//!
//! ## Trade-offs chosen
//!
//! - **A 40-hex value can be a password-reset token or a commit SHA.** Nothing in the value
//!   tells them apart, so the hex rule redacts it in paths, headers, the user agent and log
//!   fields: `/reset/4f9c…` and `/commits/4f9c…` both become `/…/[REDACTED]` (the route
//!   template, e.g. `/commits/{sha}`, still says what it was). Under a key that names a
//!   digest ([`DIGEST_WORDS`]: `?sha=`, `?commit=`, `?etag=`, `trace_id`, `checksum`, …)
//!   the hex rule is skipped, so `?sha=<40 hex>` and trace IDs stay visible; the other rules
//!   still apply there. Set `hex_min_len` to 0 to keep all hex (MD5s, SHAs) and rely on the
//!   names and the other rules.
//! - UUIDs (they contain dashes and one case only) and ULIDs (no lower case) stay visible;
//!   so do random identifiers in one case only, such as lower-case base32. Random
//!   mixed-case identifiers of 32 or more characters (KSUIDs, opaque pagination cursors)
//!   look exactly like API keys and are redacted.
//! - A secret shorter than the rules' lengths (a 20-character random password in a path) is
//!   only caught by its name: keep secrets out of paths.
//! - In a path, the whole segment is replaced (`/files/[REDACTED]`); in a query string,
//!   the whole value (`?q=[REDACTED]`); in other text (user agent, header and log values),
//!   the token between separators. `Authorization`-like headers keep their scheme:
//!   `Bearer [REDACTED]`, `Basic [REDACTED]`.
//!
//! ```
//! use pf_http_core::redact::RedactionPolicy;
//!
//! let p = RedactionPolicy::default();
//! assert_eq!(
//!     p.redact_path("/api/v1/reset/4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3"),
//!     "/api/v1/reset/[REDACTED]"
//! );
//! assert_eq!(p.redact_path("/app;jsessionid=0AB1C2D3E4/home"), "/app;jsessionid=[REDACTED]/home");
//! assert_eq!(p.redact_query("q=ghp_0123456789abcdefghijABCDEFGHIJ012345&page=2"), "q=[REDACTED]&page=2");
//! assert_eq!(p.redact_query("tokenizer=bpe&sha=4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3"),
//!            "tokenizer=bpe&sha=4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3");
//! assert_eq!(p.redact_header("authorization", "Basic YWxpY2U6aHVudGVyMg=="), "Basic [REDACTED]");
//! assert_eq!(p.redact_text("MyApp/1.0 (AKIAIOSFODNN7EXAMPLE)"), "MyApp/1.0 ([REDACTED])");
//! // nothing to hide: borrowed, no allocation
//! assert!(matches!(p.redact_path("/api/v1/users/42"), std::borrow::Cow::Borrowed(_)));
//! ```
//!
//! pf-log-enrich's `Redactor` (span fields, headers, query strings, log fields, OTLP
//! attributes) and pf-health's output sanitiser both use these rules.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::internal::text::percent_decode;

/// The replacement written instead of a sensitive value.
pub const REDACTED: &str = "[REDACTED]";

/// Sensitive words (lower case, no separators), matched as words: see the
/// [module documentation](self).
pub const SENSITIVE_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "secret",
    "secretkey",
    "token",
    "authorization",
    "authcode",
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
    "assertion",
    "codeverifier",
    "samlresponse",
];

/// Sensitive exact keys, normalised: a key *equal* to one of them is
/// sensitive. Presigned URLs (`sig` in Azure SAS), API keys in query strings
/// (`key`), basic `auth`, session cookies (`session`, `sid`, ColdFusion's `cfid`),
/// one-time passwords and PINs, OAuth authorization codes (`code`), CAS tickets.
pub const SENSITIVE_KEYS: &[&str] = &[
    "sig", "key", "auth", "pass", "pw", "otp", "pin", "sid", "session", "creds", "code", "ticket",
    "cfid",
];

/// Words naming a digest or an identifier made of hex (matched like
/// [`SENSITIVE_WORDS`]): under such a key the hex rule is skipped, so `?sha=`, `commit`,
/// `etag` and `trace_id` values stay visible.
pub const DIGEST_WORDS: &[&str] = &[
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "commit",
    "rev",
    "revision",
    "hash",
    "digest",
    "checksum",
    "etag",
    "oid",
    "trace",
    "traceid",
    "spanid",
    "traceparent",
    "tracestate",
];

/// `key` lower-cased without `-`, `_`, `.` and spaces, and without leading or
/// trailing characters that are not ASCII letters or digits.
///
/// ```
/// assert_eq!(pf_http_core::redact::normalize_key("\"X-Api_Key\":"), "xapikey");
/// ```
#[doc(hidden)] // shared by the pf crates; not public API (outside semver)
pub fn normalize_key(key: &str) -> String {
    key.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether `key` names a secret under the default rules ([`SENSITIVE_WORDS`] as words,
/// [`SENSITIVE_KEYS`] whole).
#[doc(hidden)] // shared by the pf crates; not public API (outside semver)
pub fn is_sensitive_key(key: &str) -> bool {
    key_matches(key, SENSITIVE_WORDS, SENSITIVE_KEYS)
}

/// Whether `key` matches `words` (as words: see the [module documentation](self)) or
/// equals one of `keys` (normalised), without allocating for keys up to 128 characters.
///
/// ```
/// use pf_http_core::redact::key_matches;
/// assert!(key_matches("tenant_pin", &["pin"], &[] as &[&str]));
/// assert!(key_matches("tenantPins", &["pin"], &[] as &[&str]));
/// assert!(!key_matches("spinner", &["pin"], &[] as &[&str]));
/// assert!(key_matches("X-Sig", &[] as &[&str], &["xsig"]));
/// ```
#[doc(hidden)] // shared by the pf crates; not public API (outside semver)
pub fn key_matches<W: AsRef<str>, K: AsRef<str>>(key: &str, words: &[W], keys: &[K]) -> bool {
    KeyWords::new(key).matches(words, keys, |s, single| {
        words
            .iter()
            .any(|w| word_matches(s, w.as_ref().as_bytes(), single))
    })
}

/// A key split into its words once (see the [module documentation](self)), to be matched
/// against several lists (the sensitive words, then the digest words).
struct KeyWords<'a> {
    key: &'a str,
    /// The key's ASCII letters and digits, lower-cased.
    buf: [u8; 128],
    /// Its words' `(start, end)` in `buf`.
    spans: [(u8, u8); 32],
    /// `(letters, words)`, or `None` for a key too long for `buf` or `spans`.
    split: Option<(usize, usize)>,
}

impl<'a> KeyWords<'a> {
    #[inline]
    fn new(key: &'a str) -> Self {
        let mut buf = [0u8; 128];
        let mut spans = [(0u8, 0u8); 32];
        let split = split_words(key, &mut buf, &mut spans);
        Self {
            key,
            buf,
            spans,
            split,
        }
    }

    /// Whether the key equals one of `keys` (normalised), or `word(s, single)` holds for one
    /// of its words or up to four consecutive words joined (`single`: one word). `words` is
    /// the list `word` tests, for keys too long to split.
    fn matches<W: AsRef<str>, K: AsRef<str>>(
        &self,
        words: &[W],
        keys: &[K],
        word: impl Fn(&[u8], bool) -> bool,
    ) -> bool {
        let Some((n, nw)) = self.split else {
            // very long key: compare whole and by substring, allocating
            let norm = normalize_key(self.key);
            return keys.iter().any(|k| k.as_ref() == norm)
                || words.iter().any(|w| norm.contains(w.as_ref()));
        };
        if n == 0 {
            return false;
        }
        let whole = &self.buf[..n];
        if keys.iter().any(|k| k.as_ref().as_bytes() == whole) {
            return true;
        }
        for i in 0..nw {
            let start = usize::from(self.spans[i].0);
            for (j, span) in self.spans.iter().enumerate().take(nw.min(i + 4)).skip(i) {
                if word(&self.buf[start..usize::from(span.1)], i == j) {
                    return true;
                }
            }
        }
        false
    }
}

/// The word rule: `s` (one word of a key, or consecutive words joined) equals `w`, or `w`
/// plus a plural `s`; or, when `s` is a single word, it ends with a `w` of five or more
/// characters (`tenantpassword`).
#[inline]
fn word_matches(s: &[u8], w: &[u8], single: bool) -> bool {
    !w.is_empty()
        && (s == w
            || (s.len() == w.len() + 1 && s.starts_with(w) && s[w.len()] == b's')
            || (single && w.len() >= 5 && s.len() > w.len() && s.ends_with(w)))
}

/// A word list indexed for [`word_matches`]: a word can equal `s` (or its singular) only if
/// it starts with `s`'s first byte, and end it only if it has five or more characters and
/// ends with `s`'s last byte. A key's words are compared with those few words instead of the
/// whole list (a query string's keys and a header name are checked on every request).
struct WordIndex {
    words: Box<[Box<str>]>,
    /// Indices into `words` by first byte.
    by_first: Box<[Vec<usize>]>,
    /// Indices into `words` of five or more characters, by last byte.
    by_last: Box<[Vec<usize>]>,
}

impl fmt::Debug for WordIndex {
    /// The words: the index is derived from them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.words.iter()).finish()
    }
}

impl WordIndex {
    fn new(words: impl IntoIterator<Item = Box<str>>) -> Self {
        let words: Box<[Box<str>]> = words.into_iter().collect();
        let mut by_first = vec![Vec::new(); 256].into_boxed_slice();
        let mut by_last = vec![Vec::new(); 256].into_boxed_slice();
        for (i, w) in words.iter().enumerate() {
            let b = w.as_bytes();
            let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
                continue;
            };
            by_first[usize::from(first)].push(i);
            if b.len() >= 5 {
                by_last[usize::from(last)].push(i);
            }
        }
        Self {
            words,
            by_first,
            by_last,
        }
    }

    /// Whether `s` matches a word of the list (the same answer as [`word_matches`] with
    /// each word).
    #[inline]
    fn matches(&self, s: &[u8], single: bool) -> bool {
        let (Some(&first), Some(&last)) = (s.first(), s.last()) else {
            return false;
        };
        let test = |&i: &usize| word_matches(s, self.words[i].as_bytes(), single);
        self.by_first[usize::from(first)].iter().any(test)
            || (single && self.by_last[usize::from(last)].iter().any(test))
    }
}

/// Lower-cases the ASCII letters and digits of `key` into `buf` and records its words'
/// `(start, end)` in `spans`; `None` when either is too small.
fn split_words(
    key: &str,
    buf: &mut [u8; 128],
    spans: &mut [(u8, u8); 32],
) -> Option<(usize, usize)> {
    let b = key.as_bytes();
    let (mut n, mut nw) = (0usize, 0usize);
    let mut in_word = false;
    for (i, &c) in b.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            in_word = false;
            continue;
        }
        let boundary = in_word && {
            let p = b[i - 1];
            (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (p.is_ascii_alphabetic() && c.is_ascii_digit())
                || (p.is_ascii_digit() && c.is_ascii_alphabetic())
                || (p.is_ascii_uppercase()
                    && c.is_ascii_uppercase()
                    && b.get(i + 1).is_some_and(u8::is_ascii_lowercase))
        };
        if n == buf.len() {
            return None;
        }
        if !in_word || boundary {
            if nw == spans.len() {
                return None;
            }
            spans[nw] = (n as u8, n as u8);
            nw += 1;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
        spans[nw - 1].1 = n as u8;
        in_word = true;
    }
    Some((n, nw))
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
#[doc(hidden)] // shared by the pf crates; not public API (outside semver)
pub fn has_userinfo(value: &str) -> bool {
    value.match_indices("://").any(|(at, sep)| {
        let rest = &value[at + sep.len()..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        authority.contains('@')
    })
}

/// The value rules of a [`RedactionPolicy`]: see the [module documentation](self).
///
/// ```
/// use pf_http_core::redact::{RedactionPolicy, ValueRules};
///
/// // Stricter: 24-character high-entropy runs, and keep long hex (commit SHAs) visible.
/// let p = RedactionPolicy::default().value_rules(ValueRules {
///     min_len: 24,
///     hex_min_len: 0,
///     ..ValueRules::default()
/// });
/// assert_eq!(p.redact_path("/k/Zx8Qw2Lr5Tn7Vb3Mk9Pj4Hs6"), "/k/[REDACTED]");
/// assert_eq!(p.redact_path("/c/4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3"),
///            "/c/4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRules {
    /// Look for the known token formats (JWT, provider prefixes, PEM blocks, URLs with
    /// user information). Default `true`.
    pub known_formats: bool,
    /// The entropy rule's minimum run length in characters; 0 turns it off. Default 32.
    pub min_len: usize,
    /// The entropy rule's minimum Shannon entropy, in bits per character. Default 4.0.
    pub min_bits_per_char: f64,
    /// The hex rule's minimum length in hex digits; 0 turns it off. Default 32.
    pub hex_min_len: usize,
}

impl ValueRules {
    /// No value rule: names only.
    pub const OFF: ValueRules = ValueRules {
        known_formats: false,
        min_len: 0,
        min_bits_per_char: 0.0,
        hex_min_len: 0,
    };

    /// The defaults: known formats on, entropy rule 32 characters at 4.0 bits per
    /// character, hex rule 32 digits.
    pub const DEFAULT: ValueRules = ValueRules {
        known_formats: true,
        min_len: 32,
        min_bits_per_char: 4.0,
        hex_min_len: 32,
    };
}

impl Default for ValueRules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The one redaction policy: sensitive names ([`SENSITIVE_WORDS`] and
/// [`SENSITIVE_KEYS`] by default, add your own) and value rules ([`ValueRules`]).
/// Cheap to clone (shared lists).
///
/// Every method returns its input borrowed when there is nothing to hide.
///
/// ```
/// use pf_http_core::redact::RedactionPolicy;
///
/// let p = RedactionPolicy::default().add_word("ssn").add_key("pin2");
/// assert!(p.is_sensitive_key("customer_ssn"));
/// assert!(p.is_sensitive_key("PIN2"));
/// assert_eq!(p.redact_query("ssn=123-45-6789&a=1"), "ssn=[REDACTED]&a=1");
/// assert_eq!(
///     p.redact_text("GET /x?token=abc failed"),
///     "GET /x?token=[REDACTED] failed"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct RedactionPolicy {
    words: Arc<WordIndex>,
    keys: Arc<[Box<str>]>,
    /// [`DIGEST_WORDS`], indexed.
    digest: Arc<WordIndex>,
    rules: ValueRules,
}

impl Default for RedactionPolicy {
    /// [`SENSITIVE_WORDS`], [`SENSITIVE_KEYS`] and [`ValueRules::DEFAULT`].
    fn default() -> Self {
        Self {
            words: Arc::new(WordIndex::new(
                SENSITIVE_WORDS.iter().map(|w| Box::from(*w)),
            )),
            keys: SENSITIVE_KEYS.iter().map(|w| Box::from(*w)).collect(),
            digest: digest_index(),
            rules: ValueRules::DEFAULT,
        }
    }
}

fn digest_index() -> Arc<WordIndex> {
    Arc::new(WordIndex::new(DIGEST_WORDS.iter().map(|w| Box::from(*w))))
}

impl RedactionPolicy {
    /// Whether the split key names a secret (the policy's words and keys).
    #[inline]
    fn is_sensitive(&self, key: &KeyWords<'_>) -> bool {
        key.matches(&self.words.words, &self.keys, |s, single| {
            self.words.matches(s, single)
        })
    }

    /// Whether the split key names a digest ([`DIGEST_WORDS`]).
    #[inline]
    fn is_digest(&self, key: &KeyWords<'_>) -> bool {
        key.matches(&self.digest.words, &[] as &[&str], |s, single| {
            self.digest.matches(s, single)
        })
    }
}

fn normalised(word: &str) -> Option<Box<str>> {
    let w = normalize_key(word);
    let w: String = w.chars().filter(char::is_ascii_alphanumeric).collect();
    (!w.is_empty()).then(|| w.into_boxed_str())
}

impl RedactionPolicy {
    /// A policy with exactly these words, no exact keys, and the default value rules.
    /// Words are normalised (lower case, separators removed); empty ones are ignored.
    ///
    /// ```
    /// use pf_http_core::redact::RedactionPolicy;
    /// let p = RedactionPolicy::with_words(["ssn"]);
    /// assert!(p.is_sensitive_key("customer_ssn"));
    /// assert!(!p.is_sensitive_key("password"));
    /// ```
    pub fn with_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            words: Arc::new(WordIndex::new(
                words.into_iter().filter_map(|w| normalised(w.as_ref())),
            )),
            keys: Arc::new([]),
            digest: digest_index(),
            rules: ValueRules::DEFAULT,
        }
    }

    /// Adds a word (matched as a word, see the [module documentation](self)).
    pub fn add_word(mut self, word: impl AsRef<str>) -> Self {
        if let Some(w) = normalised(word.as_ref()) {
            self.words = Arc::new(WordIndex::new(self.words.words.iter().cloned().chain([w])));
        }
        self
    }

    /// Adds an exact key: a key equal to it (after normalisation) is sensitive, a key merely
    /// containing it is not.
    pub fn add_key(mut self, key: impl AsRef<str>) -> Self {
        if let Some(k) = normalised(key.as_ref()) {
            self.keys = self.keys.iter().cloned().chain([k]).collect();
        }
        self
    }

    /// Uses these value rules (the knob: lengths, entropy, formats).
    pub fn value_rules(mut self, rules: ValueRules) -> Self {
        self.rules = rules;
        self
    }

    /// The value rules in use.
    pub fn rules(&self) -> &ValueRules {
        &self.rules
    }

    /// The words, normalised.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.words.iter().map(|w| &**w)
    }

    /// The exact keys, normalised.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|w| &**w)
    }

    /// Whether values under `key` must not be shown.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.is_sensitive(&KeyWords::new(key))
    }

    /// Whether `value`, taken as a whole text, holds a secret by the value rules (names in
    /// `key=value` pairs inside it included).
    ///
    /// ```
    /// use pf_http_core::redact::RedactionPolicy;
    /// let p = RedactionPolicy::default();
    /// assert!(p.is_secret_value("xoxb-2048-4096-AbCdEfGhIjKl"));
    /// assert!(!p.is_secret_value("550e8400-e29b-41d4-a716-446655440000"));
    /// ```
    pub fn is_secret_value(&self, value: &str) -> bool {
        let mut found = false;
        self.text_ranges(value, true, |_, _| found = true);
        found
    }

    /// `url.path` with each secret-looking segment (or matrix parameter value, as in
    /// `;jsessionid=…`) replaced by [`REDACTED`]. Percent-encoded segments are decoded to be
    /// checked.
    pub fn redact_path<'a>(&self, path: &'a str) -> Cow<'a, str> {
        // Most paths (`/api/v1/users/42`) have no matrix parameter and no segment long enough
        // to be a secret: one byte scan tells, without splitting or decoding anything.
        if !may_hold_secret_segment(path) {
            return Cow::Borrowed(path);
        }
        self.redact_path_segments(path)
    }

    /// [`redact_path`](Self::redact_path) segment by segment, without the fast path.
    fn redact_path_segments<'a>(&self, path: &'a str) -> Cow<'a, str> {
        let mut w = Rewriter::new(path);
        let mut seg_start = 0;
        for seg in path.split('/') {
            let mut at = seg_start;
            for (i, piece) in seg.split(';').enumerate() {
                if i == 0 {
                    if self.segment_is_secret(piece) {
                        w.replace(at, at + piece.len());
                    }
                } else {
                    match piece.split_once('=') {
                        Some((k, v)) => {
                            if !v.is_empty()
                                && (self.is_sensitive_key(&percent_decode(k, false))
                                    || self.segment_is_secret(v))
                            {
                                let vs = at + k.len() + 1;
                                w.replace(vs, vs + v.len());
                            }
                        }
                        None => {
                            if self.segment_is_secret(piece) {
                                w.replace(at, at + piece.len());
                            }
                        }
                    }
                }
                at += piece.len() + 1;
            }
            seg_start += seg.len() + 1;
        }
        w.finish()
    }

    fn segment_is_secret(&self, seg: &str) -> bool {
        if seg.len() < SHORTEST_SECRET_SEGMENT && !has_scheme_separator(seg) {
            return false;
        }
        let seg = percent_decode(seg, false);
        let mut found = false;
        self.text_ranges(&seg, true, |_, _| found = true);
        found
    }

    /// A query string with the values of sensitive keys, and values holding a secret by
    /// the value rules, replaced by [`REDACTED`] (keys are kept). A bare token without `=`
    /// that is a secret is replaced whole. Under a digest key ([`DIGEST_WORDS`]) the hex rule
    /// is skipped.
    pub fn redact_query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let mut w = Rewriter::new(query);
        let mut at = 0;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some((k, v)) => {
                    let key = percent_decode(k, true);
                    let key = KeyWords::new(&key);
                    let secret = !v.is_empty()
                        && (self.is_sensitive(&key) || {
                            let hex = !self.is_digest(&key);
                            let value = percent_decode(v, true);
                            let mut found = false;
                            self.text_ranges(&value, hex, |_, _| found = true);
                            found
                        });
                    if secret {
                        let vs = at + k.len() + 1;
                        w.replace(vs, vs + v.len());
                    }
                }
                None => {
                    if self.is_secret_value(&percent_decode(pair, true)) {
                        w.replace(at, at + pair.len());
                    }
                }
            }
            at += pair.len() + 1;
        }
        w.finish()
    }

    /// A request or response header's value for logs: a sensitive name hides the value,
    /// except that an `Authorization`-like header keeps its scheme (`Bearer [REDACTED]`);
    /// any other value is scanned like [`RedactionPolicy::redact_text`].
    pub fn redact_header<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_key(name) {
            if key_matches(name, &["authorization"], &[] as &[&str])
                && let Some((scheme, rest)) = value.trim_start().split_once(' ')
                && !scheme.is_empty()
                && scheme.len() <= 32
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !rest.trim().is_empty()
            {
                return Cow::Owned(format!("{scheme} {REDACTED}"));
            }
            return Cow::Borrowed(REDACTED);
        }
        self.redact_text(value)
    }

    /// Free text (a user agent, a header or log value, a message) with each token holding a
    /// secret replaced by [`REDACTED`]: the value rules, the credentials after `Bearer` /
    /// `Basic`, and the value of a `key=value` token whose key is sensitive.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut w = Rewriter::new(text);
        self.text_ranges(text, true, |s, e| w.replace(s, e));
        w.finish()
    }

    /// A named value (log field, span or OTLP attribute): [`REDACTED`] under a sensitive
    /// name; `url.query` as a query string, `url.path` as a path; under a digest name
    /// ([`DIGEST_WORDS`]) text without the hex rule; any other as text.
    ///
    /// ```
    /// use pf_http_core::redact::RedactionPolicy;
    /// let p = RedactionPolicy::default();
    /// let sha = "4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3";
    /// assert_eq!(p.redact_field("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert_eq!(p.redact_field("git.commit", sha), sha);
    /// assert_eq!(p.redact_field("note", sha), "[REDACTED]");
    /// assert_eq!(p.redact_field("db.password", "x"), "[REDACTED]");
    /// ```
    pub fn redact_field<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        let key = KeyWords::new(name);
        if self.is_sensitive(&key) {
            return Cow::Borrowed(REDACTED);
        }
        match name {
            "url.query" => return self.redact_query(value),
            "url.path" => return self.redact_path(value),
            _ => {}
        }
        let hex = !self.is_digest(&key);
        let mut w = Rewriter::new(value);
        self.text_ranges(value, hex, |s, e| w.replace(s, e));
        w.finish()
    }

    /// Calls `found(start, end)` for each secret range of `text`, in order.
    fn text_ranges(&self, text: &str, hex: bool, mut found: impl FnMut(usize, usize)) {
        let b = text.as_bytes();
        let n = b.len();
        let mut i = 0;
        let mut pending = Pending::No;
        while i < n {
            while i < n && is_sep(b[i]) {
                i += 1;
            }
            if i >= n {
                break;
            }
            let start = i;
            while i < n && !is_sep(b[i]) {
                i += 1;
            }
            let tok = &text[start..i];
            if tok.eq_ignore_ascii_case("redacted") {
                pending = Pending::No;
                continue;
            }
            match std::mem::replace(&mut pending, Pending::No) {
                Pending::Yes => {
                    found(start, i);
                    continue;
                }
                Pending::IfEncoded if looks_encoded(tok) => {
                    found(start, i);
                    continue;
                }
                _ => {}
            }
            if tok.eq_ignore_ascii_case("bearer") {
                pending = Pending::Yes;
                continue;
            }
            if tok.eq_ignore_ascii_case("basic") {
                pending = Pending::IfEncoded;
                continue;
            }
            if self.rules.known_formats && tok.starts_with("-----BEGIN") {
                let head = &text[start..(start + 80).min(n)];
                if head.contains("PRIVATE KEY-----") {
                    let end = text[start + 10..]
                        .find("-----END")
                        .map(|e| {
                            let after = start + 10 + e + 8;
                            text[after..].find("-----").map_or(n, |f| after + f + 5)
                        })
                        .unwrap_or(n);
                    found(start, end);
                    i = end;
                    continue;
                }
            }
            if let Some(eq) = tok.bytes().position(|c| c == b'=')
                && eq > 0
                && self.is_sensitive_key(&tok[..eq])
            {
                if eq + 1 < tok.len() {
                    found(start + eq + 1, i);
                }
                continue;
            }
            if self.token_is_secret(tok, hex) {
                found(start, i);
            }
        }
    }

    /// Whether one token (no separators) is a secret by the value rules.
    fn token_is_secret(&self, tok: &str, hex: bool) -> bool {
        let b = tok.as_bytes();
        let r = &self.rules;
        if r.known_formats && has_scheme_separator(tok) && has_userinfo(tok) {
            return true;
        }
        if b.len() < 16 {
            return false;
        }
        if r.known_formats {
            for i in 0..b.len() {
                if (i == 0 || !b[i - 1].is_ascii_alphanumeric()) && known_format_at(&b[i..]) {
                    return true;
                }
                if b[i].is_ascii_digit()
                    && (i == 0 || !b[i - 1].is_ascii_digit())
                    && telegram_at(&b[i..])
                {
                    return true;
                }
            }
        }
        if r.min_len == 0 && (r.hex_min_len == 0 || !hex) {
            return false;
        }
        // runs of [A-Za-z0-9+/_-]
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && !is_run(b[i]) {
                i += 1;
            }
            let s = i;
            while i < b.len() && is_run(b[i]) {
                i += 1;
            }
            let run = &b[s..i];
            if run.is_empty() {
                continue;
            }
            if r.min_len > 0 && run.len() >= r.min_len && high_entropy(run, r.min_bits_per_char) {
                return true;
            }
            if hex && r.hex_min_len > 0 && run.len() >= r.hex_min_len {
                let long_hex = run
                    .split(|c| matches!(c, b'-' | b'_' | b'+' | b'/'))
                    .any(|p| {
                        p.len() >= r.hex_min_len
                            && p.iter().all(u8::is_ascii_hexdigit)
                            && p.iter().any(u8::is_ascii_digit)
                            && p.iter().any(u8::is_ascii_alphabetic)
                    });
                if long_hex {
                    return true;
                }
            }
        }
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    No,
    Yes,
    IfEncoded,
}

/// Token separators in text: whitespace, controls, quotes, brackets and list punctuation.
#[inline]
fn is_sep(b: u8) -> bool {
    SEPARATORS[usize::from(b)]
}

/// [`is_sep`]'s table: one load per byte of every scanned text.
static SEPARATORS: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b <= b' ' {
        t[b as usize] = true;
        b += 1;
    }
    t[0x7f] = true;
    let punctuation = b"\"'()[]{}<>,;&?#!|\\`*^";
    let mut i = 0;
    while i < punctuation.len() {
        t[punctuation[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `s` holds `://`: a byte loop (most tokens are short, where `str::contains` spends
/// more setting up its searcher than scanning).
#[inline]
fn has_scheme_separator(s: &str) -> bool {
    s.as_bytes()
        .windows(3)
        .any(|w| w[0] == b':' && w[1] == b'/' && w[2] == b'/')
}

fn is_run(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-')
}

/// Base64-looking credentials after `Basic` (not an English word such as "auth").
fn looks_encoded(tok: &str) -> bool {
    tok.len() >= 8
        && tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
        && tok
            .bytes()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'=')
}

/// Shannon entropy and character classes of a run: the entropy rule.
fn high_entropy(run: &[u8], min_bits: f64) -> bool {
    let (mut upper, mut lower, mut digit) = (false, false, false);
    let mut counts = [0u16; 128];
    for &c in run {
        upper |= c.is_ascii_uppercase();
        lower |= c.is_ascii_lowercase();
        digit |= c.is_ascii_digit();
        counts[usize::from(c & 0x7f)] += 1;
    }
    if !(upper && lower && digit) {
        return false;
    }
    let n = run.len() as f64;
    let bits: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    bits >= min_bits && word_share(run) * 10 < run.len() * 6
}

/// Characters of `run` in word-like stretches: `[A-Z]?[a-z]{4,}`, `[A-Z]{5,}`, `[0-9]{4,}`.
fn word_share(run: &[u8]) -> usize {
    let mut total = 0;
    let mut i = 0;
    while i < run.len() {
        let c = run[i];
        let s = i;
        if c.is_ascii_uppercase() {
            while i < run.len() && run[i].is_ascii_uppercase() {
                i += 1;
            }
            let caps = i - s;
            let l = i;
            while i < run.len() && run[i].is_ascii_lowercase() {
                i += 1;
            }
            let lows = i - l;
            if caps >= 5 {
                total += caps;
            }
            if lows >= 4 {
                total += lows + usize::from(caps < 5);
            }
        } else if c.is_ascii_lowercase() {
            while i < run.len() && run[i].is_ascii_lowercase() {
                i += 1;
            }
            if i - s >= 4 {
                total += i - s;
            }
        } else if c.is_ascii_digit() {
            while i < run.len() && run[i].is_ascii_digit() {
                i += 1;
            }
            if i - s >= 4 {
                total += i - s;
            }
        } else {
            i += 1;
        }
    }
    total
}

/// Characters allowed after a known prefix.
#[derive(Clone, Copy)]
enum Set {
    /// `[A-Za-z0-9]`
    Alnum,
    /// `[A-Za-z0-9_]`
    Word,
    /// `[A-Za-z0-9_-]`
    Url,
    /// `[A-Za-z0-9_.-]`
    Dotted,
    /// `[0-9a-fA-F]`
    Hex,
    /// `[A-Z0-9]`
    Upper,
    /// `[A-Za-z0-9+/=_-]`
    B64,
}

impl Set {
    fn has(self, c: u8) -> bool {
        match self {
            Set::Alnum => c.is_ascii_alphanumeric(),
            Set::Word => c.is_ascii_alphanumeric() || c == b'_',
            Set::Url => c.is_ascii_alphanumeric() || c == b'_' || c == b'-',
            Set::Dotted => c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'),
            Set::Hex => c.is_ascii_hexdigit(),
            Set::Upper => c.is_ascii_uppercase() || c.is_ascii_digit(),
            Set::B64 => c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-'),
        }
    }
}

/// Published token prefixes: (prefix, minimum characters after it, their set, exact
/// length after it or 0).
const PREFIXES: &[(&str, usize, Set, usize)] = &[
    // GitHub: https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/
    ("ghp_", 30, Set::Alnum, 0),
    ("gho_", 30, Set::Alnum, 0),
    ("ghu_", 30, Set::Alnum, 0),
    ("ghs_", 30, Set::Alnum, 0),
    ("ghr_", 30, Set::Alnum, 0),
    ("github_pat_", 22, Set::Word, 0),
    // GitLab: https://docs.gitlab.com/security/tokens/#token-prefixes
    ("glpat-", 20, Set::Url, 0),
    ("gldt-", 20, Set::Url, 0),
    ("glrt-", 20, Set::Url, 0),
    ("glcbt-", 20, Set::Url, 0),
    ("glptt-", 20, Set::Url, 0),
    ("glft-", 20, Set::Url, 0),
    ("glimt-", 20, Set::Url, 0),
    ("glagent-", 20, Set::Url, 0),
    ("gloas-", 20, Set::Url, 0),
    ("glsoat-", 20, Set::Url, 0),
    ("GR1348941", 20, Set::Url, 0),
    // Slack: https://api.slack.com/authentication/token-types
    ("xoxb-", 10, Set::Url, 0),
    ("xoxp-", 10, Set::Url, 0),
    ("xoxa-", 10, Set::Url, 0),
    ("xoxr-", 10, Set::Url, 0),
    ("xoxs-", 10, Set::Url, 0),
    ("xoxe-", 10, Set::Url, 0),
    ("xoxe.xoxp-", 10, Set::Url, 0),
    ("xapp-", 10, Set::Url, 0),
    // Stripe: https://docs.stripe.com/keys
    ("sk_live_", 16, Set::Alnum, 0),
    ("rk_live_", 16, Set::Alnum, 0),
    ("sk_test_", 16, Set::Alnum, 0),
    ("rk_test_", 16, Set::Alnum, 0),
    ("whsec_", 16, Set::Alnum, 0),
    // AWS access key IDs: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html
    ("AKIA", 16, Set::Upper, 16),
    ("ASIA", 16, Set::Upper, 16),
    ("ABIA", 16, Set::Upper, 16),
    ("ACCA", 16, Set::Upper, 16),
    ("AGPA", 16, Set::Upper, 16),
    ("AIDA", 16, Set::Upper, 16),
    ("AIPA", 16, Set::Upper, 16),
    ("ANPA", 16, Set::Upper, 16),
    ("ANVA", 16, Set::Upper, 16),
    ("AROA", 16, Set::Upper, 16),
    ("APKA", 16, Set::Upper, 16),
    ("ASCA", 16, Set::Upper, 16),
    // Google: API keys, OAuth access tokens, OAuth client secrets
    ("AIza", 35, Set::Url, 0),
    ("ya29.", 20, Set::Dotted, 0),
    ("GOCSPX-", 20, Set::Url, 0),
    // npm, PyPI, Docker Hub
    ("npm_", 36, Set::Alnum, 0),
    ("pypi-AgEIcHlwaS5vcmc", 20, Set::Url, 0),
    ("dckr_pat_", 20, Set::Url, 0),
    // HashiCorp Vault
    ("hvs.", 20, Set::Url, 0),
    ("hvb.", 20, Set::Url, 0),
    ("hvr.", 20, Set::Url, 0),
    // OpenAI, Anthropic
    ("sk-proj-", 20, Set::Url, 0),
    ("sk-svcacct-", 20, Set::Url, 0),
    ("sk-admin-", 20, Set::Url, 0),
    ("sk-ant-", 20, Set::Url, 0),
    ("sk-", 32, Set::Url, 0),
    // SendGrid, Mailgun, Shopify, DigitalOcean
    ("SG.", 40, Set::Dotted, 0),
    ("key-", 32, Set::Hex, 32),
    ("shpat_", 32, Set::Hex, 0),
    ("shpss_", 32, Set::Hex, 0),
    ("shpca_", 32, Set::Hex, 0),
    ("shppa_", 32, Set::Hex, 0),
    ("dop_v1_", 64, Set::Hex, 0),
    ("doo_v1_", 64, Set::Hex, 0),
    ("dor_v1_", 64, Set::Hex, 0),
    // Hugging Face, Databricks, Linear, Postman, Grafana, New Relic, Figma, Sentry
    ("hf_", 30, Set::Alnum, 0),
    ("dapi", 32, Set::Hex, 0),
    ("lin_api_", 32, Set::Alnum, 0),
    ("PMAK-", 20, Set::Url, 0),
    ("glc_", 32, Set::B64, 0),
    ("glsa_", 32, Set::Word, 0),
    ("NRAK-", 27, Set::Upper, 0),
    ("figd_", 20, Set::Url, 0),
    ("sntrys_", 20, Set::B64, 0),
    ("sntryu_", 20, Set::Hex, 0),
    // Doppler, Pulumi, age, Mapbox (secret), Atlassian, Bitbucket
    ("dp.pt.", 20, Set::Alnum, 0),
    ("dp.st.", 20, Set::Dotted, 0),
    ("dp.sa.", 20, Set::Alnum, 0),
    ("dp.ct.", 20, Set::Alnum, 0),
    ("pul-", 40, Set::Hex, 0),
    ("AGE-SECRET-KEY-1", 20, Set::Upper, 0),
    ("sk.eyJ", 20, Set::Dotted, 0),
    ("ATATT3", 20, Set::B64, 0),
    ("ATBB", 20, Set::Alnum, 0),
    // Square, Supabase, Heroku, Fly.io, Alibaba Cloud, Tencent Cloud, Clojars
    ("sq0atp-", 20, Set::Url, 0),
    ("sq0csp-", 20, Set::Url, 0),
    ("EAAA", 40, Set::Url, 0),
    ("sbp_", 40, Set::Hex, 0),
    ("HRKU-", 20, Set::Url, 0),
    ("fm1r_", 20, Set::B64, 0),
    ("fm2_", 20, Set::B64, 0),
    ("LTAI", 12, Set::Alnum, 0),
    ("AKID", 32, Set::Alnum, 0),
    ("CLOJARS_", 20, Set::Alnum, 0),
];

/// The known formats by first byte: bit `i` of `BY_FIRST[c]` is set when `PREFIXES[i]` starts
/// with `c`. A position is compared only with the prefixes that start with its byte (one or a
/// few, where scanning the whole table cost thousands of instructions per long token).
static BY_FIRST: [u128; 256] = {
    assert!(PREFIXES.len() <= 128, "BY_FIRST holds 128 prefixes");
    let mut t = [0u128; 256];
    let mut i = 0;
    while i < PREFIXES.len() {
        t[PREFIXES[i].0.as_bytes()[0] as usize] |= 1 << i;
        i += 1;
    }
    t
};

/// Whether `b` starts with `p`: a byte loop, which leaves at the first differing byte (the
/// second, mostly) instead of calling `memcmp` for a few bytes.
#[inline]
fn has_prefix(b: &[u8], p: &[u8]) -> bool {
    b.len() >= p.len() && p.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether a known format starts at `b[0]`.
fn known_format_at(b: &[u8]) -> bool {
    if b.len() < 12 {
        return false;
    }
    if b.starts_with(b"eyJ") && jwt_at(b) {
        return true;
    }
    let mut candidates = BY_FIRST[usize::from(b[0])];
    while candidates != 0 {
        let (prefix, min, set, exact) = PREFIXES[candidates.trailing_zeros() as usize];
        candidates &= candidates - 1;
        let p = prefix.as_bytes();
        if !has_prefix(b, p) {
            continue;
        }
        let rest = &b[p.len()..];
        let k = rest.iter().take_while(|&&c| set.has(c)).count();
        let found = if exact > 0 {
            k == exact || (k > exact && !rest[exact].is_ascii_alphanumeric())
        } else {
            k >= min
        };
        if found {
            return true;
        }
    }
    false
}

/// JWS (3 parts) or JWE (5 parts) compact serialisation: base64url parts joined by dots, the
/// first a JSON header (`eyJ`).
fn jwt_at(b: &[u8]) -> bool {
    let len = b
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        .count();
    let token = &b[..len];
    let dots = token.iter().filter(|&&c| c == b'.').count();
    let first = token.iter().position(|&c| c == b'.').unwrap_or(len);
    let second = token[(first + 1).min(len)..]
        .iter()
        .position(|&c| c == b'.')
        .unwrap_or(0);
    matches!(dots, 2 | 4) && first >= 10 && second > 0
}

/// A Telegram bot token: 8–10 digits, `:`, 35 characters of `[A-Za-z0-9_-]`.
fn telegram_at(b: &[u8]) -> bool {
    let d = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(8..=10).contains(&d) || b.get(d) != Some(&b':') {
        return false;
    }
    b[d + 1..].iter().take_while(|&&c| Set::Url.has(c)).count() >= 35
}

/// Copies the source into a new string only at the first replacement.
struct Rewriter<'a> {
    src: &'a str,
    out: Option<String>,
    at: usize,
}

impl<'a> Rewriter<'a> {
    fn new(src: &'a str) -> Self {
        Self {
            src,
            out: None,
            at: 0,
        }
    }

    fn replace(&mut self, start: usize, end: usize) {
        if start < self.at {
            return;
        }
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.src.len() + 8));
        out.push_str(&self.src[self.at..start]);
        out.push_str(REDACTED);
        self.at = end;
    }

    fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.src),
            Some(mut out) => {
                out.push_str(&self.src[self.at..]);
                Cow::Owned(out)
            }
        }
    }
}

/// A path segment shorter than this is never a secret by value (the value rules look at
/// longer tokens).
const SHORTEST_SECRET_SEGMENT: usize = 16;

/// Whether `path` has a matrix parameter (`;`) or a segment of at least
/// [`SHORTEST_SECRET_SEGMENT`] bytes: only then can [`RedactionPolicy::redact_path`] replace
/// anything (a segment never holds `/`, so the `://` rule cannot apply to a short one).
#[inline]
fn may_hold_secret_segment(path: &str) -> bool {
    let mut run = 0;
    for &b in path.as_bytes() {
        match b {
            b';' => return true,
            b'/' => run = 0,
            _ => {
                run += 1;
                if run >= SHORTEST_SECRET_SEGMENT {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_path_fast_path_agrees_with_the_segment_scan() {
        let policy = RedactionPolicy::default();
        let long = "a".repeat(15);
        let paths = [
            "/",
            "",
            "/api/v1/users/42",
            "/a/b/c/d/e/f/g/h/i/j/k",
            &format!("/x/{long}"),
            &format!("/x/{long}b"),
            "/x/ghp_0123456789abcdefghijABCDEFGHIJ012345/y",
            "/login;jsessionid=ABC123",
            "/a;b",
            "/reset/0123456789abcdef0123456789abcdef01234567",
            "/p%3A%2F%2Fq",
            "/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl",
        ];
        for path in paths {
            assert_eq!(
                policy.redact_path(path),
                policy.redact_path_segments(path),
                "{path}"
            );
            if !may_hold_secret_segment(path) {
                assert!(
                    matches!(policy.redact_path(path), Cow::Borrowed(_)),
                    "{path}"
                );
            }
        }
        assert!(!may_hold_secret_segment("/api/v1/users/42"));
        assert!(may_hold_secret_segment("/login;jsessionid=1"));
        assert!(may_hold_secret_segment(&format!("/x/{long}b")));
        assert_ne!(
            policy.redact_path("/x/ghp_0123456789abcdefghijABCDEFGHIJ012345/y"),
            "/x/ghp_0123456789abcdefghijABCDEFGHIJ012345/y"
        );
    }

    /// The word index gives the linear scan's answer: every default word and key, plural,
    /// prefixed and suffixed forms, digest names, and innocent keys.
    #[test]
    fn the_word_index_agrees_with_the_word_list() {
        let policy = RedactionPolicy::default().add_word("ssn");
        let mut words: Vec<&str> = SENSITIVE_WORDS.to_vec();
        words.push("ssn");
        let mut keys: Vec<String> = [
            "page",
            "per_page",
            "sort",
            "q",
            "user-agent",
            "tokenizer",
            "secretary",
            "author",
            "status_code",
            "X-Api-Key",
            "tenantPasswords",
            "customer_ssn",
            "ssns",
            "assns",
            "client_assertion",
            "JSESSIONID",
            "git.commit",
            "trace_id",
            "sha",
            "etag",
            "x-request-id",
            "",
            "-",
            "a",
            "s",
            "passwords",
            "mypassword",
            "password1",
        ]
        .map(String::from)
        .to_vec();
        for w in SENSITIVE_WORDS
            .iter()
            .chain(SENSITIVE_KEYS)
            .chain(DIGEST_WORDS)
        {
            for form in [
                w.to_string(),
                format!("{w}s"),
                format!("x_{w}"),
                format!("my{w}"),
                format!("{w}_id"),
                format!("{w}x"),
                w[1..].to_string(),
            ] {
                keys.push(form);
            }
        }
        keys.push("k".repeat(200) + "password");
        // Debug shows the words, not the index derived from them
        let debug = format!("{policy:?}");
        assert!(
            debug.contains("\"ssn\"") && !debug.contains("by_first"),
            "{debug}"
        );
        for key in &keys {
            assert_eq!(
                policy.is_sensitive_key(key),
                key_matches(key, &words, SENSITIVE_KEYS),
                "sensitive: {key}"
            );
            assert_eq!(
                policy.is_digest(&KeyWords::new(key)),
                key_matches(key, DIGEST_WORDS, &[] as &[&str]),
                "digest: {key}"
            );
        }
    }

    /// Every known format is reachable through the first-byte index, and only at its length.
    #[test]
    fn every_known_prefix_is_found_through_the_index() {
        for &(prefix, min, set, exact) in PREFIXES {
            let filler = match set {
                Set::Hex => b'a',
                Set::Upper => b'Q',
                _ => b'z',
            };
            let n = if exact > 0 { exact } else { min.max(1) };
            let mut token = prefix.as_bytes().to_vec();
            token.extend(std::iter::repeat_n(filler, n));
            assert!(known_format_at(&token), "{prefix}");
            // one character short of the format is not it
            assert!(
                !known_format_at(&token[..token.len() - 1]),
                "{prefix} short"
            );
        }
        assert!(!known_format_at(b"Mozilla/5.0-compatible"));
    }
    use super::*;

    #[test]
    fn names_match_as_words() {
        for k in [
            "password",
            "user_password",
            "userpassword",
            "db.password",
            "X-Api-Key",
            "apiKey",
            "AWSAccessKeyId",
            "access_token",
            "accesstoken",
            "csrftoken",
            "Set-Cookie",
            "X-Amz-Signature",
            "client_assertion",
            "assertion",
            "code",
            "JSESSIONID",
            "jsessionid",
            "PHPSESSID",
            "ASPSESSIONID",
            "session_id",
            "credentials",
            "SAMLResponse",
            "code_verifier",
            "X-Hub-Signature-256",
            "Ocp-Apim-Subscription-Key",
            "http.request.header.authorization",
            "SENTRY_DSN",
        ] {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in [
            "tokenizer",
            "secretary",
            "author",
            "authority",
            "signal",
            "design",
            "cache_key",
            "keyboard",
            "monkey",
            "compass",
            "passenger",
            "status_code",
            "error_code",
            "country_code",
            "sessions_count",
            "sidebar",
            "url.path",
            "request_id",
            "user.id",
            "page",
        ] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn values() {
        let p = RedactionPolicy::default();
        let jwt =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(p.redact_path(&format!("/a/{jwt}/b")), "/a/[REDACTED]/b");
        assert_eq!(
            p.redact_text(&format!("curl/8.0 token {jwt}")),
            "curl/8.0 token [REDACTED]"
        );
        assert_eq!(
            p.redact_path("/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ/sendMessage"),
            "/[REDACTED]/sendMessage"
        );
        assert_eq!(
            p.redact_header("Authorization", "Bearer abc.def"),
            "Bearer [REDACTED]"
        );
        assert_eq!(p.redact_header("cookie", "a=b"), "[REDACTED]");
        assert_eq!(p.redact_header("authorization", "opaque"), "[REDACTED]");
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- after";
        assert_eq!(p.redact_text(pem), "[REDACTED] after");
        // idempotent
        let once = p.redact_header("authorization", "Bearer x").into_owned();
        assert_eq!(
            p.redact_text(&format!("authorization: {once}")),
            format!("authorization: {once}")
        );
        assert_eq!(p.redact_text("password=[REDACTED]"), "password=[REDACTED]");
    }

    #[test]
    fn innocent_values_borrowed() {
        let p = RedactionPolicy::default();
        for v in [
            "/api/v1/users/42",
            "/api/v1/users/550e8400-e29b-41d4-a716-446655440000",
            "/files/Quarterly_Report_2024_Q3_FINAL_v2.pdf",
            "/ulid/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "/static/app.3f2a9c.js",
        ] {
            assert!(matches!(p.redact_path(v), Cow::Borrowed(_)), "{v}");
        }
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        assert!(matches!(p.redact_text(ua), Cow::Borrowed(_)));
        assert!(matches!(
            p.redact_query("page=2&sort=name&tokenizer=bpe&author=ann"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn entropy_rule_on_random_tokens() {
        // deterministic xorshift: 2000 random base64url tokens of 40 characters
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let p = RedactionPolicy::default();
        let mut caught = 0;
        for _ in 0..2000 {
            let t: String = (0..40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % 64) as usize] as char
                })
                .collect();
            caught += usize::from(p.is_secret_value(&t));
        }
        // a token without a digit or one case (about 2%) is not caught by the entropy rule
        assert!(caught >= 1940, "{caught} of 2000");
    }
}
