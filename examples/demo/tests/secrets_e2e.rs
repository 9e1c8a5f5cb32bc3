//! Secrets never leave the demo: a corpus of secret shapes (query parameters of presigned URLs,
//! API keys, headers, JSON fields, DSNs with passwords, bearer and basic credentials) sent
//! through the demo *binary* backed by real PostgreSQL and Redis, and none of them appears on
//! stdout or stderr (JSON lines or the human format), in the OTLP spans and log records a real
//! receiver got, in the health output shown to a permitted caller, or on `/metrics`.
//!
//! Each secret value is unique (`Zq<NN>sEcr3tV`), so a leak names its shape.

use std::path::PathBuf;
use std::time::Duration;

use pf_tests::otlp::{OtlpReceiver, Received, attr_str};
use pf_tests::process::{CapturedDemo, wait_until_ready};

const PG_URL_BASE: &str = "127.0.0.1:5432/test";
const REDIS_URL_BASE: &str = "127.0.0.1:6379/";
/// A valid demo token (user 42, org 7): a bearer credential like any other.
const DEMO_TOKEN: &str = "demo-token-42-7";

fn demo_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pf-demo"))
}

/// Where a secret goes in a request.
enum Shape {
    /// `?key=secret` on an API route (and on the probes).
    Query(&'static str),
    /// A query value holding a URL with a password: `?key=scheme://user:SECRET@host`.
    QueryDsn(&'static str, &'static str),
    /// The same, percent-encoded.
    QueryDsnEncoded(&'static str, &'static str),
    /// A request header with the secret as its value (after a prefix such as `Bearer `).
    Header(&'static str, &'static str),
    /// `Authorization: Basic base64(user:secret)` (both the password and the encoded form
    /// are secrets).
    Basic(&'static str),
    /// A field of a JSON body posted to `/api/v1/projects`.
    JsonField(&'static str),
}

struct Secret {
    shape: Shape,
    value: String,
}

fn corpus() -> Vec<Secret> {
    use Shape::*;
    let shapes = vec![
        // presigned URLs
        Query("sig"),
        Query("signature"),
        Query("Signature"),
        Query("X-Amz-Signature"),
        Query("X-Amz-Credential"),
        Query("X-Amz-Security-Token"),
        Query("X-Goog-Signature"),
        Query("X-Goog-Credential"),
        Query("AWSAccessKeyId"),
        Query("X%2DAmz%2DSignature"),
        // keys and tokens
        Query("key"),
        Query("api_key"),
        Query("apikey"),
        Query("api-key"),
        Query("x-api-key"),
        Query("subscription-key"),
        Query("token"),
        Query("access_token"),
        Query("refresh_token"),
        Query("id_token"),
        Query("jwt"),
        Query("auth"),
        Query("authorization"),
        Query("client_secret"),
        Query("secret"),
        Query("private_key"),
        Query("hmac"),
        Query("otp"),
        Query("_csrf"),
        // passwords
        Query("password"),
        Query("passwd"),
        Query("pwd"),
        Query("pass"),
        Query("passphrase"),
        Query("db.password"),
        // sessions
        Query("session"),
        Query("sessionid"),
        Query("PHPSESSID"),
        Query("sid"),
        Query("credentials"),
        // DSNs
        Query("dsn"),
        QueryDsn("next", "postgres://app:"),
        QueryDsn("database_url", "mysql://root:"),
        QueryDsn("callback", "https://deploy:"),
        QueryDsnEncoded("redirect", "redis://:"),
        QueryDsnEncoded("source", "amqps://user:"),
        // headers
        Header("authorization", "Bearer "),
        Header("proxy-authorization", "Bearer "),
        Header("x-api-key", ""),
        Header("x-auth-token", ""),
        Header("cookie", "session="),
        Header("x-csrf-token", ""),
        Header("x-amz-security-token", ""),
        Header("x-goog-api-key", ""),
        Header("ocp-apim-subscription-key", ""),
        Header("x-hub-signature-256", "sha256="),
        Basic("authorization"),
        Basic("proxy-authorization"),
        // JSON bodies
        JsonField("password"),
        JsonField("apiKey"),
        JsonField("client_secret"),
        JsonField("refresh_token"),
        JsonField("privateKey"),
        JsonField("connectionString"),
    ];
    shapes
        .into_iter()
        .enumerate()
        .map(|(i, shape)| Secret {
            shape,
            value: format!("Zq{i:02}sEcr3tV"),
        })
        .collect()
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Outputs {
    request_ids: Vec<String>,
    health: String,
    metrics: String,
}

/// Sends every shape of the corpus; returns the request IDs of the API requests and the
/// health and metrics output.
fn send_corpus(demo: &CapturedDemo, corpus: &[Secret], health_token: &str) -> Outputs {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    // The demo connects PostgreSQL and Redis after it starts listening.
    wait_until_ready(&demo.url("/readyz"));
    let mut request_ids = Vec::new();
    let mut health = String::new();
    let mut send = |req: reqwest::blocking::RequestBuilder| {
        let res = req.send().expect("request");
        let status = res.status().as_u16();
        assert!(status < 500, "status {status}");
        let id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("x-request-id")
            .to_owned();
        request_ids.push(id);
    };
    for secret in corpus {
        let v = &secret.value;
        match secret.shape {
            Shape::Query(key) => {
                let query = format!("page=2&{key}={v}&q=rust");
                send(c.get(demo.url(&format!("/api/v1/users/1?{query}"))));
                send(c.get(demo.url(&format!("/no/such/route?{query}"))));
                for probe in ["/readyz", "/livez"] {
                    let res = c
                        .get(demo.url(&format!("{probe}?{query}")))
                        .send()
                        .expect("probe");
                    health.push_str(&res.text().expect("probe body"));
                }
            }
            Shape::QueryDsn(key, prefix) => {
                let value = format!("{prefix}{v}@db.internal:5432/app");
                send(c.get(demo.url(&format!("/api/v1/users/2?{key}={value}&page=1"))));
            }
            Shape::QueryDsnEncoded(key, prefix) => {
                let value = percent_encode(&format!("{prefix}{v}@cache.internal:6379"));
                send(c.get(demo.url(&format!("/api/v1/users/3?{key}={value}"))));
            }
            Shape::Header(name, prefix) => {
                send(
                    c.get(demo.url("/api/v1/projects"))
                        .header(name, format!("{prefix}{v}")),
                );
            }
            Shape::Basic(name) => {
                let encoded = base64(format!("alice:{v}").as_bytes());
                send(
                    c.get(demo.url("/api/v1/users/4"))
                        .header(name, format!("Basic {encoded}")),
                );
            }
            Shape::JsonField(field) => {
                send(
                    c.post(demo.url("/api/v1/projects"))
                        .header("authorization", format!("Bearer {DEMO_TOKEN}"))
                        .json(&serde_json::json!({"name": format!("corpus-{field}"), field: v})),
                );
            }
        }
    }
    // Health output as a permitted caller sees it (details, outputs, observed values).
    for path in ["/health?verbose", "/health", "/readyz?verbose", "/startupz"] {
        let res = c
            .get(demo.url(path))
            .header("authorization", format!("Bearer {health_token}"))
            .send()
            .expect("health");
        health.push_str(&res.text().expect("health body"));
    }
    assert!(
        health.contains("\"postgres:responseTime\"") && health.contains("\"redis:responseTime\""),
        "details were shown to the permitted caller: {health}"
    );
    let metrics = c
        .get(demo.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("metrics body");
    assert!(metrics.contains("http_requests_total"));
    Outputs {
        request_ids,
        health,
        metrics,
    }
}

/// Every secret string of the corpus (and of the demo's own configuration).
fn secret_strings(corpus: &[Secret], config: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = config.iter().map(|s| (*s).to_owned()).collect();
    for s in corpus {
        all.push(s.value.clone());
        if let Shape::Basic(_) = s.shape {
            all.push(base64(format!("alice:{}", s.value).as_bytes()));
        }
    }
    all.push(DEMO_TOKEN.to_owned());
    all
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} secret(s) leaked into {what}: {leaked:?}",
        leaked.len()
    );
}

#[test]
fn no_secret_reaches_logs_spans_health_or_metrics() {
    let corpus = corpus();
    assert!(corpus.len() >= 50, "{} shapes", corpus.len());
    let pg_password = "PgPw77sEcr3tV";
    let redis_password = "RdPw88sEcr3tV";
    let health_token = "HlTk99sEcr3tV";
    let exporter_key = "OtKy66sEcr3tV";
    let database_url = format!("postgres://postgres:{pg_password}@{PG_URL_BASE}");
    let redis_url = format!("redis://default:{redis_password}@{REDIS_URL_BASE}");
    let exporter_headers = format!("x-api-key={exporter_key}");
    let secrets = secret_strings(
        &corpus,
        &[pg_password, redis_password, health_token, exporter_key],
    );

    // 1. Cloud shipping: JSON lines on stdout, OTLP traces and logs to a real receiver.
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.http_endpoint();
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("RUST_LOG", "debug"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_HEADERS", &exporter_headers),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("HEALTH_DETAILS_TOKEN", health_token),
        ],
    );
    let out = send_corpus(&demo, &corpus, health_token);
    let (stdout, stderr) = demo.stop(Duration::from_secs(30));
    let (received, complete) = receiver.wait_until(Duration::from_secs(10), |r: &Received| {
        let spans = r.spans();
        let logs = r.log_records();
        out.request_ids.iter().all(|id| {
            spans
                .iter()
                .any(|s| attr_str(&s.span.attributes, "request_id") == Some(id))
                && logs
                    .iter()
                    .any(|l| attr_str(&l.record.attributes, "request_id") == Some(id))
        })
    });
    assert!(complete, "a span and a log record for every request");
    assert_clean("stdout (JSON lines)", &stdout, &secrets);
    assert_clean("stderr", &stderr, &secrets);
    assert_clean("OTLP spans", &format!("{:?}", received.traces), &secrets);
    assert_clean(
        "OTLP log records",
        &format!("{:?}", received.logs),
        &secrets,
    );
    assert_clean("health output", &out.health, &secrets);
    assert_clean("/metrics", &out.metrics, &secrets);
    // The shapes did reach the outputs, redacted (not just dropped).
    let spans = received.spans();
    assert!(
        spans
            .iter()
            .any(|s| attr_str(&s.span.attributes, "url.query")
                == Some("page=2&sig=[REDACTED]&q=rust")),
        "the sig= query is on a span, redacted"
    );
    assert!(stdout.contains("X-Amz-Signature=[REDACTED]"), "{stdout}");
    for id in &out.request_ids {
        assert!(stdout.contains(id.as_str()), "JSON line for {id}");
    }

    // 2. Local human format (no shipping): the same corpus, stdout and stderr.
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("RUST_LOG", "debug"),
            ("NO_COLOR", "1"),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("HEALTH_DETAILS_TOKEN", health_token),
        ],
    );
    let out = send_corpus(&demo, &corpus, health_token);
    let (stdout, stderr) = demo.stop(Duration::from_secs(30));
    assert!(stdout.contains("sig=[REDACTED]"), "{stdout}");
    // stdout is a pipe here: the human format writes no colours.
    assert!(!stdout.contains('\x1b'), "ANSI escapes off a terminal");
    for id in &out.request_ids {
        assert!(stdout.contains(id.as_str()), "log line for {id}");
    }
    assert_clean("stdout (human format)", &stdout, &secrets);
    assert_clean("stderr (human format)", &stderr, &secrets);
    assert_clean("health output", &out.health, &secrets);
    assert_clean("/metrics", &out.metrics, &secrets);
}
