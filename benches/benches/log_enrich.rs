//! Per-request cost of pf-log-enrich (request ID + request span + late identity + completion
//! event) against a bare router, a no-op layer pair applied the same way, and tower-http's
//! `TraceLayer` + `SetRequestId` + `PropagateRequestId` recording the same fields — without
//! output (registry + `EnvFilter` at INFO) and with one JSON access line per request to a sink.
//!
//! `cargo bench -p pf-benches --bench log_enrich`

use std::hint::black_box;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Response};
use criterion::{Criterion, criterion_group};
use pf_benches::{call_collect, user_routes};
use pf_log_enrich::init::LogConfig;
use pf_log_enrich::{Identity, Logging, RequestIdLayer, RequestSpanLayer};
use tower::layer::util::Identity as Noop;
use tower::{Layer, Service};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::field::Empty;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Fake authentication recording user and organization late, the way each contender allows.
#[derive(Clone)]
struct Auth<S> {
    inner: S,
    pf: bool,
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: Request<B>) -> S::Future {
        if self.pf {
            if let Some(id) = req.extensions().get::<Identity>() {
                id.set_user_id("42");
                id.set_organization_id("7");
            }
        } else {
            let span = tracing::Span::current();
            span.record("user.id", "42");
            span.record("pf.organization.id", "7");
        }
        self.inner.call(req)
    }
}

#[derive(Clone)]
struct AuthLayer(bool);
impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth { inner, pf: self.0 }
    }
}

/// UUIDv7 with `fast-rng` for tower-http too, so both pay the same for ID generation.
#[derive(Clone, Copy)]
struct UuidV7;
impl MakeRequestId for UuidV7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; 36];
        let s = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
        Some(RequestId::new(HeaderValue::from_str(s).unwrap()))
    }
}

fn pf_stack() -> Router {
    user_routes()
        .layer(AuthLayer(true))
        .layer(RequestSpanLayer::new())
        .layer(RequestIdLayer::new())
}

/// The same, with request ID and span in one layer (`RequestSpanLayer::with_request_id`).
fn pf_combined_stack() -> Router {
    user_routes()
        .layer(AuthLayer(true))
        .layer(RequestSpanLayer::new().with_request_id(pf_log_enrich::request_id::X_REQUEST_ID))
}

fn noop_stack() -> Router {
    user_routes()
        .layer(Noop::new())
        .layer(Noop::new())
        .layer(Noop::new())
}

fn tower_http_stack() -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<Body>| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_owned());
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let name = format!("{} {}", req.method(), route.as_deref().unwrap_or(""));
            tracing::info_span!(
                "HTTP request",
                otel.name = name.as_str(),
                otel.kind = "server",
                http.request.method = req.method().as_str(),
                http.route = route.as_deref(),
                url.path = req.uri().path(),
                url.scheme = "http",
                user_agent.original = req.headers().get("user-agent").and_then(|v| v.to_str().ok()),
                network.protocol.version = "1.1",
                request_id = id,
                http.response.status_code = Empty,
                error.type = Empty,
                user.id = Empty,
                pf.organization.id = Empty,
            )
        })
        .on_request(())
        .on_response(
            |res: &Response<Body>, latency: std::time::Duration, span: &tracing::Span| {
                span.record("http.response.status_code", res.status().as_u16());
                tracing::info!(
                    http.response.status_code = res.status().as_u16(),
                    duration_ms = latency.as_secs_f64() * 1000.0,
                    "request completed"
                );
            },
        )
        .on_body_chunk(())
        .on_eos(())
        .on_failure(());
    user_routes()
        .layer(AuthLayer(false))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(UuidV7))
}

fn quiet_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(EnvFilter::new("info"))
}

fn pf_json_subscriber() -> impl tracing::Subscriber + Send + Sync {
    let cfg = LogConfig::from_lookup(|k| match k {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    });
    let (subscriber, guard) = Logging::from_config(cfg)
        .with_writer(std::io::sink)
        .build()
        .unwrap();
    std::mem::forget(guard); // nothing to flush: no OTLP
    subscriber
}

fn fmt_json_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(EnvFilter::new("info"))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::sink),
        )
}

fn in_process(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("log_enrich/no_output");
    {
        let _s = tracing::subscriber::set_default(quiet_subscriber());
        for (name, app) in [
            ("bare", user_routes()),
            ("noop_layers", noop_stack()),
            ("pf_id_span", pf_stack()),
            ("pf_id_span_one_layer", pf_combined_stack()),
            ("tower_http_trace_id", tower_http_stack()),
        ] {
            g.bench_function(name, |b| b.to_async(&rt).iter(|| call_collect(&app)));
        }
    }
    g.finish();

    let mut g = c.benchmark_group("log_enrich/json_line");
    {
        let _s = tracing::subscriber::set_default(pf_json_subscriber());
        let bare = user_routes();
        g.bench_function("bare", |b| b.to_async(&rt).iter(|| call_collect(&bare)));
        let app = pf_stack();
        g.bench_function("pf_id_span_json", |b| {
            b.to_async(&rt).iter(|| call_collect(&app))
        });
    }
    {
        let _s = tracing::subscriber::set_default(fmt_json_subscriber());
        let app = tower_http_stack();
        g.bench_function("tower_http_trace_id_fmt_json", |b| {
            b.to_async(&rt).iter(|| call_collect(&app))
        });
    }
    g.finish();
}

/// One keep-alive HTTP/1.1 request over loopback: the denominator for "overhead %".
fn loopback(c: &mut Criterion) {
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;

    let rt = rt();
    let _s = tracing::subscriber::set_default(pf_json_subscriber());
    let mut g = c.benchmark_group("log_enrich/loopback");
    for (name, app) in [("bare", user_routes()), ("pf_id_span_json", pf_stack())] {
        let (addr, mut sender) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            (addr, sender)
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let req = hyper::Request::get("/api/v1/users/42")
                        .header("host", addr.to_string())
                        .body(http_body_util::Empty::<axum::body::Bytes>::new())
                        .unwrap();
                    let res = sender.send_request(req).await.unwrap();
                    black_box(res.into_body().collect().await.unwrap().to_bytes());
                })
            })
        });
    }
    g.finish();
}

/// `PF_LOG_BENCH_LOOP=<contender> PF_LOG_BENCH_ITERS=<n>`: run one contender `n` times without
/// Criterion, for instruction counts (`perf stat -e instructions:u`, `valgrind --tool=callgrind`),
/// which stay stable on a noisy machine.
fn instruction_loop() -> bool {
    let Ok(name) = std::env::var("PF_LOG_BENCH_LOOP") else {
        return false;
    };
    let iters: usize = std::env::var("PF_LOG_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (app, subscriber): (Router, tracing::Dispatch) = match name.as_str() {
        "bare" => (user_routes(), tracing::Dispatch::new(quiet_subscriber())),
        "noop_layers" => (noop_stack(), tracing::Dispatch::new(quiet_subscriber())),
        "pf_id_span" => (pf_stack(), tracing::Dispatch::new(quiet_subscriber())),
        "pf_combined" => (
            pf_combined_stack(),
            tracing::Dispatch::new(quiet_subscriber()),
        ),
        "pf_combined_json" => (
            pf_combined_stack(),
            tracing::Dispatch::new(pf_json_subscriber()),
        ),
        "tower_http" => (
            tower_http_stack(),
            tracing::Dispatch::new(quiet_subscriber()),
        ),
        "bare_json" => (user_routes(), tracing::Dispatch::new(pf_json_subscriber())),
        "pf_json" => (pf_stack(), tracing::Dispatch::new(pf_json_subscriber())),
        "tower_http_json" => (
            tower_http_stack(),
            tracing::Dispatch::new(fmt_json_subscriber()),
        ),
        other => panic!("unknown contender {other}"),
    };
    let rt = rt();
    tracing::dispatcher::with_default(&subscriber, || {
        rt.block_on(async {
            for _ in 0..iters {
                black_box(call_collect(&app).await);
            }
        })
    });
    true
}

criterion_group!(benches, in_process, loopback);

fn main() {
    if instruction_loop() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
