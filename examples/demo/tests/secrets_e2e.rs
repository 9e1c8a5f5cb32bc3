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

// ---------------------------------------------------------------------------------------------
// Secrets by value (issue 21): the corpus of `secret_corpus.txt` (over 100 token shapes from
// public formats, and innocent values) through every output of the demo binary. The test
// counts leaks (a secret, or a 12+ character alphanumeric part of it, in any output) and
// over-redactions (an innocent value missing from an output), and expects 0 and 0.

/// One line of `secret_corpus.txt`.
struct Entry {
    secret: bool,
    place: String,
    name: String,
    value: String,
}

fn value_corpus() -> Vec<Entry> {
    include_str!("secret_corpus.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 4, "{l}");
            Entry {
                secret: f[0] == "secret",
                place: f[1].to_owned(),
                name: f[2].to_owned(),
                value: f[3].replace("\\n", "\n"),
            }
        })
        .collect()
}

/// A path segment: unreserved characters and `:` `+` `=` stay, the rest is escaped.
fn path_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:+=".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The strings whose presence in an output is a leak of `value`.
fn needles(value: &str) -> Vec<String> {
    let mut all = vec![value.to_owned(), path_encode(value), percent_encode(value)];
    all.extend(
        value
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|p| p.len() >= 12)
            .map(str::to_owned),
    );
    all.sort();
    all.dedup();
    all
}

struct Collected {
    request_ids: Vec<String>,
    /// Every response body of the corpus requests (error bodies included).
    bodies: String,
    /// Health bodies, with and without the details token.
    health: String,
    metrics: String,
}

fn send_value_corpus(demo: &CapturedDemo, corpus: &[Entry], health_token: &str) -> Collected {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    wait_until_ready(&demo.url("/readyz"));
    let mut out = Collected {
        request_ids: Vec::new(),
        bodies: String::new(),
        health: String::new(),
        metrics: String::new(),
    };
    let send = |req: reqwest::blocking::RequestBuilder, out: &mut Collected| {
        let res = req.send().expect("request");
        if let Some(id) = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
        {
            out.request_ids.push(id.to_owned());
        }
        out.bodies.push_str(&res.text().expect("body"));
        out.bodies.push('\n');
    };
    let health = |path: String, token: bool, out: &mut Collected| {
        let mut req = c.get(demo.url(&path));
        if token {
            req = req.header("authorization", format!("Bearer {health_token}"));
        }
        let res = req.send().expect("health");
        out.health.push_str(&res.text().expect("health body"));
        out.health.push('\n');
    };
    for e in corpus {
        let v = &e.value;
        let places: Vec<&str> = e.place.split(',').collect();
        for place in places {
            match place.split_once(':') {
                Some(("query", key)) => {
                    let url = format!("/api/v1/users/1?page=1&{key}={}", percent_encode(v));
                    send(c.get(demo.url(&url)), &mut out);
                }
                Some(("matrix", key)) => {
                    let url = format!("/api/v1/users/1;{key}={}", path_encode(v));
                    send(c.get(demo.url(&url)), &mut out);
                }
                _ => {}
            }
            let all = place == "all";
            match (e.secret, place) {
                (true, "all" | "query") => {
                    let q = percent_encode(v);
                    send(c.get(demo.url(&format!("/api/v1/users/1?q={q}"))), &mut out);
                    health(format!("/readyz?q={q}"), false, &mut out);
                    health(format!("/health?verbose&q={q}"), true, &mut out);
                }
                (false, "query") => {
                    send(c.get(demo.url(&format!("/api/v1/users/1?{v}"))), &mut out);
                }
                (false, "path") => {
                    send(c.get(demo.url(&format!("/api/v1/users/{v}"))), &mut out);
                }
                (false, "ua") => {
                    send(
                        c.get(demo.url("/api/v1/users/1"))
                            .header("user-agent", v.as_str()),
                        &mut out,
                    );
                }
                _ => {}
            }
            if e.secret && (all || place == "ua") {
                send(
                    c.get(demo.url("/api/v1/users/1"))
                        .header("user-agent", format!("corpus-agent/1.0 ({v})")),
                    &mut out,
                );
            }
            if e.secret && all {
                let seg = path_encode(v);
                send(c.get(demo.url(&format!("/api/v1/users/{seg}"))), &mut out);
                send(c.get(demo.url(&format!("/no/such/{seg}/route"))), &mut out);
                send(
                    c.get(demo.url("/api/v1/projects"))
                        .header("authorization", format!("Bearer {v}")),
                    &mut out,
                );
            }
        }
    }
    for token in [false, true] {
        for path in [
            "/health?verbose",
            "/health",
            "/readyz?verbose",
            "/livez",
            "/startupz",
        ] {
            health(path.to_owned(), token, &mut out);
        }
    }
    out.metrics = c
        .get(demo.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("metrics body");
    assert!(out.metrics.contains("http_requests_total"));
    out
}

/// The secrets found in each output: `(output, names)`.
fn leaks<'a>(
    corpus: &'a [Entry],
    outputs: &[(&'static str, &str)],
) -> Vec<(&'static str, Vec<&'a str>)> {
    outputs
        .iter()
        .map(|(what, text)| {
            let names = corpus
                .iter()
                .filter(|e| e.secret && needles(&e.value).iter().any(|n| text.contains(n.as_str())))
                .map(|e| e.name.as_str())
                .collect();
            (*what, names)
        })
        .collect()
}

/// Whether an innocent entry is shown as sent, in `text`.
fn visible(e: &Entry, text: &str) -> bool {
    match e.place.as_str() {
        "path" => text.contains(&format!("/api/v1/users/{}", e.value)),
        _ => text.contains(e.value.as_str()),
    }
}

#[test]
fn value_corpus_counts_zero_leaks_and_zero_over_redactions() {
    let corpus = value_corpus();
    let secrets = corpus.iter().filter(|e| e.secret).count();
    let innocents = corpus.len() - secrets;
    assert!(
        secrets >= 100 && innocents >= 30,
        "{secrets} secrets, {innocents} innocent values"
    );
    let pg_password = "PgPw77sEcr3tV";
    let redis_password = "RdPw88sEcr3tV";
    let health_token = "HlTk99sEcr3tV";
    let database_url = format!("postgres://postgres:{pg_password}@{PG_URL_BASE}");
    let redis_url = format!("redis://default:{redis_password}@{REDIS_URL_BASE}");

    // 1. JSON lines on stdout, OTLP traces and logs to a real receiver.
    let receiver = OtlpReceiver::start();
    let endpoint = receiver.http_endpoint();
    let demo = CapturedDemo::start(
        &demo_binary(),
        &[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("RUST_LOG", "debug"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("HEALTH_DETAILS_TOKEN", health_token),
        ],
    );
    let json = send_value_corpus(&demo, &corpus, health_token);
    let (json_stdout, json_stderr) = demo.stop(Duration::from_secs(30));
    let (received, complete) = receiver.wait_until(Duration::from_secs(15), |r: &Received| {
        let spans = r.spans();
        json.request_ids.iter().all(|id| {
            spans
                .iter()
                .any(|s| attr_str(&s.span.attributes, "request_id") == Some(id))
        })
    });
    assert!(complete, "a span for every request");
    let spans = format!("{:?}", received.traces);
    let logs = format!("{:?}", received.logs);
    let span_attrs: String = received
        .spans()
        .iter()
        .flat_map(|s| {
            ["url.path", "url.query", "user_agent.original"]
                .map(|k| attr_str(&s.span.attributes, k).unwrap_or("").to_owned())
        })
        .collect::<Vec<_>>()
        .join("\n");

    // 2. The local human format.
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
    let human = send_value_corpus(&demo, &corpus, health_token);
    let (human_stdout, human_stderr) = demo.stop(Duration::from_secs(30));
    for id in json.request_ids.iter().take(5) {
        assert!(json_stdout.contains(id.as_str()), "JSON line for {id}");
    }
    for id in human.request_ids.iter().take(5) {
        assert!(human_stdout.contains(id.as_str()), "log line for {id}");
    }

    let outputs: Vec<(&'static str, &str)> = vec![
        ("stdout (JSON lines)", &json_stdout),
        ("stderr (JSON run)", &json_stderr),
        ("OTLP spans", &spans),
        ("OTLP log records", &logs),
        ("response bodies (JSON run)", &json.bodies),
        ("health bodies (JSON run)", &json.health),
        ("/metrics (JSON run)", &json.metrics),
        ("stdout (human format)", &human_stdout),
        ("stderr (human format)", &human_stderr),
        ("response bodies (human run)", &human.bodies),
        ("health bodies (human run)", &human.health),
        ("/metrics (human run)", &human.metrics),
    ];
    let found = leaks(&corpus, &outputs);
    let mut leaked: Vec<&str> = found.iter().flat_map(|(_, n)| n.iter().copied()).collect();
    leaked.sort_unstable();
    leaked.dedup();
    let over: Vec<(&str, &str)> = corpus
        .iter()
        .filter(|e| !e.secret)
        .flat_map(|e| {
            [
                ("stdout (JSON lines)", json_stdout.as_str()),
                ("stdout (human format)", human_stdout.as_str()),
                ("OTLP span attributes", span_attrs.as_str()),
            ]
            .into_iter()
            .filter(|(_, text)| !visible(e, text))
            .map(|(what, _)| (what, e.value.as_str()))
            .collect::<Vec<_>>()
        })
        .collect();
    let mut over_values: Vec<&str> = over.iter().map(|(_, v)| *v).collect();
    over_values.sort_unstable();
    over_values.dedup();
    eprintln!(
        "value corpus: {secrets} secret shapes, {innocents} innocent values, {} requests per run; \
         leaks: {} ({:?}); over-redactions: {} ({over:?})",
        json.request_ids.len(),
        leaked.len(),
        found
            .iter()
            .filter(|(_, n)| !n.is_empty())
            .collect::<Vec<_>>(),
        over_values.len(),
    );
    // The shapes reached the outputs, redacted.
    assert!(
        json_stdout.contains("/no/such/[REDACTED]/route"),
        "a redacted path segment"
    );
    assert!(
        human_stdout.contains("Bearer [REDACTED]"),
        "the scheme stays"
    );
    assert_eq!(leaked.len(), 0, "leaked secrets");
    assert_eq!(over_values.len(), 0, "over-redacted innocent values");
}

/// The same corpus against pf-http-core's policy directly (fast, and names the rule's
/// failures one by one).
#[test]
fn value_corpus_against_the_policy() {
    let p = pf_http_core::redact::RedactionPolicy::default();
    let mut missed = Vec::new();
    let mut over = Vec::new();
    for e in value_corpus() {
        let v = &e.value;
        if e.secret {
            let mut outs: Vec<String> = Vec::new();
            if let Some((kind, key)) = e.place.split_once(':') {
                outs.push(match kind {
                    "query" => p
                        .redact_query(&format!("{key}={}", percent_encode(v)))
                        .into_owned(),
                    _ => p
                        .redact_path(&format!("/a;{key}={}", path_encode(v)))
                        .into_owned(),
                });
            } else {
                outs.push(
                    p.redact_query(&format!("q={}", percent_encode(v)))
                        .into_owned(),
                );
                outs.push(p.redact_text(&format!("agent/1 ({v})")).into_owned());
                if e.place == "all" {
                    outs.push(
                        p.redact_path(&format!("/a/{}/b", path_encode(v)))
                            .into_owned(),
                    );
                    outs.push(
                        p.redact_header("authorization", &format!("Bearer {v}"))
                            .into_owned(),
                    );
                }
            }
            if outs
                .iter()
                .any(|o| needles(v).iter().any(|n| o.contains(n.as_str())))
            {
                missed.push((e.name.clone(), outs));
            }
        } else {
            let ok = match e.place.as_str() {
                "query" => p.redact_query(v) == v.as_str(),
                "path" => p.redact_path(&format!("/a/{v}")) == format!("/a/{v}"),
                _ => p.redact_header("user-agent", v) == v.as_str(),
            };
            if !ok {
                over.push(v.clone());
            }
        }
    }
    assert!(
        missed.is_empty() && over.is_empty(),
        "missed: {missed:#?}\nover-redacted: {over:#?}"
    );
}
