//! [`sanitize_output`]: what of a check's output may be shown. Which keys hold secrets comes
//! from [`pf_http_core::redact`], the rules every pf crate shares.

use pf_http_core::redact::{RedactionPolicy, is_sensitive_key};

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
/// // secrets by value (pf-http-core's `RedactionPolicy`)
/// assert_eq!(sanitize_output("GitHub said 401 for ghp_0123456789abcdefghijABCDEFGHIJ012345"),
///            "GitHub said 401 for [REDACTED]");
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
                Some(eq) if is_sensitive_key(&segment[..eq]) => {
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
    // Secrets by value, whatever precedes them (a token in an error message): the family's
    // policy, pf-http-core's `RedactionPolicy`.
    let out = match DEFAULT_POLICY.redact_text(&out) {
        std::borrow::Cow::Borrowed(_) => out,
        std::borrow::Cow::Owned(red) => red,
    };
    truncate(out, MAX_OUTPUT_LEN)
}

static DEFAULT_POLICY: std::sync::LazyLock<RedactionPolicy> =
    std::sync::LazyLock::new(RedactionPolicy::default);

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
}
