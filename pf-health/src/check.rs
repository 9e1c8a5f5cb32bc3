//! The [`HealthCheck`] trait, its result type and closure helpers.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

/// The status of a check or of a whole report, as in the IETF health+json draft.
///
/// `Pass` and `Warn` answer HTTP 200, `Fail` answers 503.
///
/// ```
/// use pf_health::Status;
///
/// assert!(Status::Warn.is_healthy());
/// assert_eq!(Status::Pass.worst(Status::Fail), Status::Fail);
/// assert_eq!(Status::Warn.as_str(), "warn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a concern (e.g. a saturated pool): still serves traffic.
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The lowercase name used in health+json and in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// `true` for `Pass` and `Warn`.
    pub const fn is_healthy(self) -> bool {
        !matches!(self, Status::Fail)
    }

    /// The worse of two statuses (`Fail` > `Warn` > `Pass`).
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// All statuses, in order of severity.
    pub const ALL: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement a check observed (health+json `observedValue` / `observedUnit`).
///
/// A check may report several; each becomes its own `name:measurement` key in health+json.
///
/// ```
/// use pf_health::Observation;
///
/// let o = Observation::new("responseTime", 1.5, Some("ms"));
/// assert_eq!(o.measurement(), "responseTime");
/// assert_eq!(o.value(), &serde_json::json!(1.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    measurement: Cow<'static, str>,
    value: serde_json::Value,
    unit: Option<Cow<'static, str>>,
}

impl Observation {
    /// A measurement name (e.g. `responseTime`, `utilization`), a value and an optional unit.
    pub fn new(
        measurement: impl Into<Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
        unit: Option<&'static str>,
    ) -> Self {
        Self {
            measurement: measurement.into(),
            value: value.into(),
            unit: unit.map(Cow::Borrowed),
        }
    }

    /// The measurement name.
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// The observed value.
    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }

    /// The unit, if any.
    pub fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
}

/// What one run of a [`HealthCheck`] found.
///
/// ```
/// use pf_health::{CheckResult, Status};
///
/// let r = CheckResult::warn("pool 9/10 busy")
///     .observe("utilization", 90.0, Some("percent"))
///     .detail("max_connections", 10);
/// assert_eq!(r.status(), Status::Warn);
/// assert_eq!(r.output(), Some("pool 9/10 busy"));
/// assert_eq!(r.observations().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    status: Status,
    output: Option<String>,
    observations: Vec<Observation>,
    details: serde_json::Map<String, serde_json::Value>,
}

impl CheckResult {
    /// A result with `status` and nothing else.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            output: None,
            observations: Vec::new(),
            details: serde_json::Map::new(),
        }
    }

    /// A passing result.
    pub fn pass() -> Self {
        Self::new(Status::Pass)
    }

    /// A warning with a message.
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn).with_output(output)
    }

    /// A failure with a message.
    ///
    /// The message is sanitised before it is shown: see [`sanitize_output`].
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail).with_output(output)
    }

    /// Sets the human-readable output (health+json `output`).
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Adds an observation (health+json `observedValue` / `observedUnit`).
    pub fn observe(
        mut self,
        measurement: impl Into<Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
        unit: Option<&'static str>,
    ) -> Self {
        self.observations
            .push(Observation::new(measurement, value, unit));
        self
    }

    /// Adds a free-form detail (shown only to callers allowed to see details).
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The output message, if any.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The observations.
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// The details.
    pub fn details(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.details
    }

    pub(crate) fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    pub(crate) fn set_output(&mut self, output: Option<String>) {
        self.output = output;
    }
}

impl From<Status> for CheckResult {
    fn from(status: Status) -> Self {
        CheckResult::new(status)
    }
}

/// `Ok(_)` passes; `Err(e)` fails with `e`'s `Display` as output.
impl<T, E: fmt::Display> From<Result<T, E>> for CheckResult {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(_) => CheckResult::pass(),
            Err(e) => CheckResult::fail(e.to_string()),
        }
    }
}

/// A dependency check: asynchronous, returns a [`CheckResult`].
///
/// The registry runs it with a timeout in its own task, so a hanging check times out, a
/// panicking check counts as a failure and a probe that gives up does not cancel a run other
/// probes wait for.
///
/// ```
/// use pf_health::{CheckResult, HealthCheck};
///
/// struct DiskSpace;
///
/// impl HealthCheck for DiskSpace {
///     async fn check(&self) -> CheckResult {
///         let free_percent = 42.0;
///         CheckResult::pass().observe("free", free_percent, Some("percent"))
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = CheckResult> + Send;

    /// The health+json `componentType` (e.g. `datastore`, `system`); `None` by default.
    fn component_type(&self) -> Option<&str> {
        None
    }
}

impl<C: HealthCheck> HealthCheck for Arc<C> {
    fn check(&self) -> impl Future<Output = CheckResult> + Send {
        (**self).check()
    }

    fn component_type(&self) -> Option<&str> {
        (**self).component_type()
    }
}

/// A [`HealthCheck`] made from a closure returning a future: see [`check_fn`].
#[derive(Clone)]
pub struct CheckFn<F> {
    f: F,
}

impl<F> fmt::Debug for CheckFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFn").finish_non_exhaustive()
    }
}

/// Makes a [`HealthCheck`] from a closure returning a future whose output converts into a
/// [`CheckResult`] (a `CheckResult`, a [`Status`] or a `Result<_, impl Display>`).
///
/// ```
/// use pf_health::{check_fn, CheckResult, Status};
///
/// let always_ok = check_fn(|| async { Status::Pass });
/// let from_result = check_fn(|| async { Ok::<_, std::io::Error>(()) });
/// let detailed = check_fn(|| async { CheckResult::pass().observe("queueDepth", 3, None) });
/// # let _ = (always_ok, from_result, detailed);
/// ```
pub fn check_fn<F, Fut, R>(f: F) -> CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Into<CheckResult>,
{
    CheckFn { f }
}

impl<F, Fut, R> HealthCheck for CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Into<CheckResult>,
{
    async fn check(&self) -> CheckResult {
        (self.f)().await.into()
    }
}

/// The object-safe form the registry stores.
pub(crate) type BoxCheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send + 'static>>;

pub(crate) trait DynCheck: Send + Sync + 'static {
    fn run(self: Arc<Self>) -> BoxCheckFuture;
    fn component_type(&self) -> Option<String>;
}

pub(crate) struct Erased<C>(pub(crate) C);

impl<C: HealthCheck> DynCheck for Erased<C> {
    fn run(self: Arc<Self>) -> BoxCheckFuture {
        Box::pin(async move { self.0.check().await })
    }

    fn component_type(&self) -> Option<String> {
        self.0.component_type().map(str::to_owned)
    }
}

/// The maximum length in bytes of a check's output as shown in reports.
pub const MAX_OUTPUT_LEN: usize = 256;

/// Makes a check's output safe to show: removes URLs (connection strings such as
/// `postgres://user:password@host/db`), masks the values of secret-looking keys
/// (`password=`, `"token": "…"`, `X-Amz-Signature=`, `sig=` in a query string, …) and the
/// credentials after `Bearer` / `Basic`, and caps the length at [`MAX_OUTPUT_LEN`] bytes.
///
/// The registry applies it to every output; built-in checks and tests may call it directly.
///
/// ```
/// use pf_health::sanitize_output;
///
/// let out = sanitize_output("cannot connect to postgres://app:hunter2@db:5432/app");
/// assert!(!out.contains("hunter2"));
/// assert_eq!(out, "cannot connect to postgres://[redacted]");
/// assert_eq!(sanitize_output("host=db password=hunter2 user=app"),
///            "host=db password=[redacted] user=app");
/// assert_eq!(sanitize_output("GET /blob?sv=1&sig=abc failed: 403"),
///            "GET /blob?sv=1&sig=[redacted] failed: 403");
/// assert_eq!(sanitize_output("authorization: Bearer abc.def"),
///            "authorization: Bearer [redacted]");
/// ```
pub fn sanitize_output(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_OUTPUT_LEN + 8));
    // The previous word asked for this one to be hidden (`password: hunter2`, `Bearer xyz`).
    let mut pending = Pending::No;
    for (i, word) in raw.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let lower = word.to_ascii_lowercase();
        let bare = lower.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if matches!(bare, "bearer" | "basic" | "token" | "digest") && pending != Pending::No
            || bare == "bearer"
        {
            // An auth scheme: the credentials follow.
            out.push_str(word);
            pending = Pending::Yes;
            continue;
        }
        if bare == "basic" {
            out.push_str(word);
            pending = Pending::IfEncoded;
            continue;
        }
        let hide = match pending {
            Pending::No => false,
            Pending::Yes => !bare.is_empty(),
            Pending::IfEncoded => looks_encoded(word),
        };
        pending = Pending::No;
        if hide {
            out.push_str("[redacted]");
            continue;
        }
        if let Some(pos) = lower.find("://") {
            // Any URL may be a connection string with credentials: keep only the scheme.
            let scheme_start = lower[..pos]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |p| p + 1);
            out.push_str(&word[..scheme_start]);
            out.push_str(&word[scheme_start..pos]);
            out.push_str("://[redacted]");
            continue;
        }
        // `key=value` / `key:value` pairs, several per word in query strings and JSON.
        let mut rest = word;
        while !rest.is_empty() {
            let end = rest
                .find(['?', '&', ';', ',', '{', '}'])
                .unwrap_or(rest.len());
            let segment = &rest[..end];
            match segment.find(['=', ':']) {
                Some(eq) if is_secret_key(&segment[..eq]) => {
                    out.push_str(&segment[..=eq]);
                    let value = segment[eq + 1..].trim_matches(|c: char| c == '"' || c == '\'');
                    if !value.is_empty() {
                        out.push_str("[redacted]");
                    } else if end == rest.len() {
                        out.push_str(&segment[eq + 1..]);
                        pending = Pending::Yes;
                    } else {
                        out.push_str(&segment[eq + 1..]);
                    }
                }
                _ => out.push_str(segment),
            }
            if end < rest.len() {
                out.push_str(&rest[end..=end]);
                rest = &rest[end + 1..];
            } else {
                rest = "";
            }
        }
    }
    truncate(out, MAX_OUTPUT_LEN)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    No,
    Yes,
    IfEncoded,
}

/// Base64-looking credentials after `Basic` (not an English word such as "auth").
fn looks_encoded(word: &str) -> bool {
    let w = word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | ';' | ')' | '('));
    w.len() >= 8
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
        && w.bytes()
            .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'=')
}

/// Secret-looking key names, the same shapes as pf-log-enrich's `Redactor` (the crates do not
/// depend on each other, so the lists are kept in step by hand): a normalised key (lower
/// case, without `-`, `_`, `.` and spaces) *containing* one of these words is secret ...
const SECRET_WORDS: &[&str] = &[
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

/// ... and so is one *equal* to one of these.
const SECRET_KEYS: &[&str] = &[
    "sig", "key", "auth", "pass", "pw", "otp", "sid", "session", "creds",
];

fn is_secret_key(raw: &str) -> bool {
    let key: String = raw
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    !key.is_empty()
        && (SECRET_KEYS.contains(&key.as_str()) || SECRET_WORDS.iter().any(|w| key.contains(w)))
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut cut = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_urls_and_secrets_and_caps_length() {
        let s = sanitize_output("error: redis://:s3cret@127.0.0.1:6379/0 refused");
        assert!(!s.contains("s3cret"), "{s}");
        assert_eq!(s, "error: redis://[redacted] refused");
        let s = sanitize_output("(postgresql://u:pw@h/db) token=abc Password:xyz");
        assert!(!s.contains("pw@"), "{s}");
        assert!(!s.contains("abc"), "{s}");
        assert!(!s.contains("xyz"), "{s}");
        let long = "é".repeat(1000);
        let s = sanitize_output(&long);
        assert!(s.len() <= MAX_OUTPUT_LEN);
        assert!(s.ends_with('…'));
        assert_eq!(
            sanitize_output("plain message: fine"),
            "plain message: fine"
        );
    }

    /// Check outputs carrying a secret (`S3KRET` marks it): none survives.
    #[test]
    fn sanitize_secret_corpus() {
        let corpus = [
            "password=S3KRET",
            "db_password=S3KRET host=db",
            "PASSWORD: S3KRET",
            "passwd=S3KRET",
            "passphrase=S3KRET",
            "pwd=S3KRET",
            "pass=S3KRET",
            "pw=S3KRET",
            "secret=S3KRET",
            "client_secret=S3KRET",
            "token=S3KRET",
            "access_token=S3KRET",
            "refresh_token: S3KRET",
            "X-Auth-Token: S3KRET",
            "x-csrf-token=S3KRET",
            "authorization: Bearer S3KRET",
            "Authorization: Basic S3KRETdXNlcjpwdw==",
            "proxy-authorization: Basic S3KRETdXNlcjpw",
            "Bearer S3KRET",
            "got 401 for Bearer S3KRET.payload.sig",
            "auth=S3KRET",
            "cookie: session=S3KRET",
            "Set-Cookie: S3KRET",
            "session=S3KRET",
            "sessionid=S3KRET",
            "PHPSESSID=S3KRET",
            "sid=S3KRET",
            "api_key=S3KRET",
            "api-key: S3KRET",
            "apiKey=S3KRET",
            "X-API-KEY: S3KRET",
            "key=S3KRET",
            "Ocp-Apim-Subscription-Key: S3KRET",
            "AWSAccessKeyId=S3KRET",
            "aws_secret_access_key=S3KRET",
            "AccountKey=S3KRET;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3KRET",
            "private_key=S3KRET",
            "GET /blob?sv=2024&sig=S3KRET&se=2026 failed",
            "/obj?Signature=S3KRET&Expires=1",
            "/obj?X-Amz-Algorithm=AWS4&X-Amz-Credential=S3KRET&X-Amz-Signature=S3KRET",
            "/obj?X-Amz-Security-Token=S3KRET",
            "/obj?X-Goog-Credential=S3KRET&X-Goog-Signature=S3KRET",
            "X-Hub-Signature-256: S3KRET",
            "hmac=S3KRET",
            "jwt=S3KRET",
            "otp=S3KRET",
            "credentials=S3KRET",
            "creds: S3KRET",
            "dsn=S3KRET",
            "connection_string=S3KRET",
            r#"{"password":"S3KRET"}"#,
            r#"{"user":"a","token":"S3KRET"}"#,
            r#"{"apiKey": "S3KRET"}"#,
            "postgres://app:S3KRET@db:5432/app refused",
            "(redis://:S3KRET@127.0.0.1:6379/0)",
            "url=mysql://root:S3KRET@h/db",
            "amqps://u:S3KRET@mq/vhost",
            "mongodb+srv://u:S3KRET@cluster0.example.net/db",
            "https://ghp_S3KRET@github.com/o/r.git",
        ];
        assert!(corpus.len() >= 50);
        for raw in corpus {
            let out = sanitize_output(raw);
            assert!(!out.contains("S3KRET"), "{raw:?} -> {out:?}");
        }
        for keep in [
            "connection refused (os error 111)",
            "pool busy: 9 of 10 connections in use",
            "signal: killed; assign the design to the monkey",
            "Basic auth is not configured",
            "redis: unexpected PING reply \"PONG2\"",
        ] {
            assert_eq!(sanitize_output(keep), keep);
        }
    }

    #[test]
    fn result_conversions() {
        let r: CheckResult = Err::<(), _>("boom").into();
        assert_eq!(r.status(), Status::Fail);
        assert_eq!(r.output(), Some("boom"));
        let r: CheckResult = Status::Warn.into();
        assert_eq!(r.status(), Status::Warn);
    }
}
