//! What the test binaries share: a writer capturing log lines, and the fake authentication
//! and handler of the request tests.
#![allow(dead_code)] // not every test binary uses every helper

use std::io;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use pf_log_enrich::Identity;
use serde_json::Value;

/// A `MakeWriter` (through `move || capture.clone()`) collecting everything written.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    pub fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Installs pf-log-enrich's JSON output, writing into `capture`, as this thread's subscriber
/// for as long as the returned guards live.
pub fn json_into(
    capture: &Capture,
) -> (
    tracing::subscriber::DefaultGuard,
    pf_log_enrich::LoggingGuard,
) {
    let cfg = pf_log_enrich::LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".into()));
    let writer = capture.clone();
    let (subscriber, guard) = pf_log_enrich::Logging::from_config(cfg)
        .writer(move || writer.clone())
        .build()
        .unwrap();
    (tracing::subscriber::set_default(subscriber), guard)
}

impl Capture {
    /// The completion event of request `id`, waited for (at most 10 s): the server completes a
    /// request asynchronously, after the client has its response.
    pub async fn completion(&self, id: &str) -> Value {
        for _ in 0..400 {
            if let Some(line) = self
                .lines()
                .into_iter()
                .find(|l| l["request_id"] == id && l["message"] == "request completed")
            {
                return line;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no completion event for {id}: {}", self.text());
    }
}

/// A streamed body of three chunks, six bytes: `abc`, `de`, `f`.
pub fn chunked_body() -> axum::body::Body {
    use futures_util::StreamExt;
    let chunks = futures_util::stream::iter(["abc", "de", "f"])
        .map(|c| Ok::<_, io::Error>(axum::body::Bytes::from_static(c.as_bytes())));
    axum::body::Body::from_stream(chunks)
}

/// A streamed body that sends `first` and then never ends (for clients that leave mid-body).
pub fn endless_body() -> axum::body::Body {
    use futures_util::StreamExt;
    let first =
        futures_util::stream::iter([Ok::<_, io::Error>(axum::body::Bytes::from_static(b"first"))]);
    axum::body::Body::from_stream(first.chain(futures_util::stream::pending()))
}

/// Authentication: `Bearer user-<id>` records user `<id>` and organization `org-9`.
pub async fn auth(req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer user-"))
        .map(str::to_owned);
    if let (Some(user), Some(identity)) = (user, req.extensions().get::<Identity>()) {
        identity.set_user_id(user);
        identity.set_organization_id("org-9");
    }
    next.run(req).await
}

/// A handler logging secrets (redacted on the way out) inside the request and a nested span.
pub async fn project(identity: Identity) -> &'static str {
    tracing::info!(
        password = "p4ss-inside",
        api_key = "k3y-inside",
        note = "n",
        "inside handler"
    );
    let span = tracing::info_span!("work", token = "t0ken-inside", step = 1);
    span.in_scope(|| tracing::warn!(rows = 3u64, "nested"));
    assert_eq!(identity.user_id(), Some("u1"));
    "ok"
}
