//! Shared fixtures of the pf benches: the same route for every contender, and
//! the pf contenders themselves (the Criterion benches add the peer crates,
//! which are dev-dependencies of this crate only).
#![deny(missing_docs)]

use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::http::Request;
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Serialize;
use tower::ServiceExt;
use tracing::Dispatch;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// The benched route's body: a small JSON user.
#[derive(Serialize)]
pub struct User {
    id: u64,
    name: &'static str,
    org_id: u64,
}

/// How many times the benched handler yields to the runtime before it answers (environment
/// variable `PF_BENCH_YIELDS`, default 0, read once): each yield is one more poll of the
/// request's future through every layer, as a request waiting on a database is polled again
/// when its reply arrives. `scripts/instructions` counts with 0 and with
/// `per_poll.yields` to get the instructions each layer adds per poll.
pub fn handler_yields() -> u32 {
    static YIELDS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *YIELDS.get_or_init(|| {
        std::env::var("PF_BENCH_YIELDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// The route every contender serves: `GET /api/v1/users/{id}` with a small JSON body (after
/// [`handler_yields`] yields to the runtime).
pub fn user_routes() -> Router {
    Router::new().route(
        "/api/v1/users/{id}",
        get(|Path(id): Path<u64>| async move {
            for _ in 0..handler_yields() {
                tokio::task::yield_now().await;
            }
            Json(User {
                id,
                name: "Ada Lovelace",
                org_id: 7,
            })
        }),
    )
}

/// The benched request: `GET /api/v1/users/42` with the one header every HTTP/1.1 request
/// carries, `host` (RFC 9112 §3.2), as hyper hands it to a server: a layer that writes a
/// request header (the request ID) adds to an existing header map, as it does in production,
/// instead of allocating the map of a header-less request.
pub fn user_request() -> Request<Body> {
    Request::get("/api/v1/users/42")
        .header(axum::http::header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .expect("valid request")
}

/// A keep-alive HTTP/1.1 connection to a router that axum serves on a free 127.0.0.1 port:
/// the client of the loopback benches (R, R_db). Server and client run on the caller's runtime.
pub struct LoopbackClient {
    host: String,
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Empty<axum::body::Bytes>>,
}

impl LoopbackClient {
    /// Serves `app` on 127.0.0.1 and opens one connection to it (`TCP_NODELAY`), within 10 s
    /// (the runtime needs its timer).
    pub async fn start(app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        let connect = async {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect to 127.0.0.1");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP/1.1 handshake")
        };
        let (sender, conn) = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .unwrap_or_else(|_| panic!("no HTTP/1.1 connection to {addr} within 10 s"));
        tokio::spawn(conn);
        LoopbackClient {
            host: addr.to_string(),
            sender,
        }
    }

    /// `GET /api/v1/users/42` with its `host` header: the status and the whole body. No timeout
    /// of its own, so that the timed loop measures the request alone: callers that wait on
    /// other servers wrap it (`loopback_db` does).
    pub async fn get_user(&mut self) -> (axum::http::StatusCode, axum::body::Bytes) {
        let req = axum::http::Request::get("/api/v1/users/42")
            .header(axum::http::header::HOST, self.host.as_str())
            .body(http_body_util::Empty::new())
            .expect("valid request");
        let res = self
            .sender
            .send_request(req)
            .await
            .expect("loopback request");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }
}

/// Sends one request through `app` in-process and collects the body, as a server would.
pub async fn call_collect(app: &Router) -> usize {
    let response = app
        .clone()
        .oneshot(user_request())
        .await
        .expect("infallible");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(!body.is_empty());
    body.len()
}

/// Names of the contenders [`contender`] builds, in report order.
///
/// - `bare`: the route alone;
/// - `noop_layer`: one no-op layer applied with `Router::layer` (the floor for one layer);
/// - `noop_layers2`: two no-op layers applied the same way (the floor for request ID + span);
/// - `noop_layers4`: four no-op layers applied the same way (the floor for the whole stack);
/// - `pf_metrics`: `HttpMetricsLayer` (feature `exemplars` compiled and on, no trace context);
/// - `pf_metrics_exemplars_off`: the same on a registry built with `.exemplars(false)` (the
///   difference to `pf_metrics` is what the compiled-in exemplars cost without a trace);
/// - `pf_metrics_traced`: `HttpMetricsLayer` behind [`SampledTraceLayer`] (a sampled
///   OpenTelemetry context current while the layer and the route run), both in one
///   `Router::layer` call;
/// - `pf_metrics_traced_exemplars_off`: the same with `.exemplars(false)` (the difference to
///   `pf_metrics_traced` is the exemplar's cost with a trace context);
/// - `pf_id_span`: `RequestSpanLayer` + `RequestIdLayer` (subscriber at INFO, no output);
/// - `pf_stack`: metrics, request span, request ID and `HealthLayer` in front (no output);
/// - `pf_stack_json`: the same with pf-log-enrich's JSON formatter writing one access line
///   per request to `std::io::sink`;
/// - `pf_stack_one_layer`: the whole stack composed with `tower::ServiceBuilder` and applied
///   with a single `Router::layer` call (one boxing by axum instead of four; no output);
/// - `pf_stack_one_layer_no_metrics`: the same minus `HttpMetricsLayer` (the difference is the
///   metrics layer's marginal cost inside the composed stack);
/// - `pf_fused`: pf-stack's `StackLayer` (health, request ID, span, metrics in one service,
///   one future, at most one body wrapper), one `Router::layer` call; no output;
/// - `pf_fused_json`: the same with pf-log-enrich's JSON formatter writing one access line
///   per request to `std::io::sink`;
/// - `pf_id_span_otel`: `pf_id_span` under [`otel_dispatch`]`(false)`: every request span is
///   also a sampled OpenTelemetry span (never exported), as `init()` builds the layer;
/// - `pf_id_span_otel_tracked`: the same with tracing-opentelemetry's default inactivity
///   tracking (`busy_ns` / `idle_ns`: two clock reads and a lock per poll).
pub const CONTENDERS: &[&str] = &[
    "bare",
    "noop_layer",
    "noop_layers2",
    "noop_layers4",
    "pf_metrics",
    "pf_metrics_exemplars_off",
    "pf_metrics_traced",
    "pf_metrics_traced_exemplars_off",
    "pf_id_span",
    "pf_stack",
    "pf_stack_json",
    "pf_stack_one_layer",
    "pf_stack_one_layer_no_metrics",
    "pf_fused",
    "pf_fused_json",
    "pf_id_span_otel",
    "pf_id_span_otel_tracked",
];

/// A contender: a prepared router and the tracing dispatcher it runs under.
pub struct Contender {
    /// The contender's name (one of [`CONTENDERS`] or a peer's name).
    pub name: &'static str,
    /// The router, prepared with [`serving`].
    pub app: Router,
    /// The subscriber the contender runs under: an INFO filter without output, or a JSON
    /// formatter writing to a sink.
    pub dispatch: Dispatch,
}

impl Contender {
    /// A contender running under the quiet subscriber ([`quiet_dispatch`]).
    pub fn quiet(name: &'static str, app: Router) -> Self {
        Contender {
            name,
            app: serving(app),
            dispatch: quiet_dispatch(),
        }
    }
}

/// Builds a pf contender by name (see [`CONTENDERS`]).
pub fn contender(name: &str) -> Option<Contender> {
    let name: &'static str = CONTENDERS.iter().copied().find(|c| *c == name)?;
    let noop = tower::layer::util::Identity::new;
    let app = match name {
        "bare" => user_routes(),
        "noop_layer" => user_routes().layer(noop()),
        "noop_layers2" => user_routes().layer(noop()).layer(noop()),
        "noop_layers4" => user_routes()
            .layer(noop())
            .layer(noop())
            .layer(noop())
            .layer(noop()),
        "pf_metrics" => user_routes().layer(
            pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()).axum_body(),
        ),
        "pf_metrics_exemplars_off" => {
            user_routes().layer(pf_metrics::HttpMetricsLayer::new(exemplars_off()).axum_body())
        }
        "pf_metrics_traced" => user_routes().layer(
            tower::ServiceBuilder::new()
                .layer(SampledTraceLayer::new())
                .layer(
                    pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())
                        .axum_body(),
                ),
        ),
        "pf_metrics_traced_exemplars_off" => user_routes().layer(
            tower::ServiceBuilder::new()
                .layer(SampledTraceLayer::new())
                .layer(pf_metrics::HttpMetricsLayer::new(exemplars_off()).axum_body()),
        ),
        "pf_id_span" | "pf_id_span_otel" | "pf_id_span_otel_tracked" => user_routes()
            .layer(pf_log_enrich::RequestSpanLayer::new().axum_body())
            .layer(pf_log_enrich::RequestIdLayer::new()),
        "pf_stack" | "pf_stack_json" => pf_stack(),
        "pf_stack_one_layer" => user_routes().layer(
            tower::ServiceBuilder::new()
                .layer(pf_health::HealthLayer::new(health_registry()).axum_body())
                .layer(pf_log_enrich::RequestIdLayer::new())
                .layer(pf_log_enrich::RequestSpanLayer::new().axum_body())
                .layer(
                    pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new())
                        .axum_body(),
                ),
        ),
        "pf_stack_one_layer_no_metrics" => user_routes().layer(
            tower::ServiceBuilder::new()
                .layer(pf_health::HealthLayer::new(health_registry()).axum_body())
                .layer(pf_log_enrich::RequestIdLayer::new())
                .layer(pf_log_enrich::RequestSpanLayer::new().axum_body()),
        ),
        "pf_fused" | "pf_fused_json" => user_routes().layer(
            pf_stack::StackLayer::new(pf_metrics::MetricsRegistry::new())
                .health(pf_health::HealthLayer::new(health_registry()))
                .axum_body(),
        ),
        _ => return None,
    };
    let dispatch = match name {
        "pf_stack_json" | "pf_fused_json" => json_dispatch(),
        "pf_id_span_otel" => otel_dispatch(false),
        "pf_id_span_otel_tracked" => otel_dispatch(true),
        _ => quiet_dispatch(),
    };
    Some(Contender {
        name,
        app: serving(app),
        dispatch,
    })
}

/// A registry with exemplars switched off at run time (the `exemplars` feature is compiled).
pub fn exemplars_off() -> pf_metrics::MetricsRegistry {
    pf_metrics::MetricsRegistry::builder()
        .exemplars(false)
        .build()
        .expect("valid configuration")
}

/// Makes a sampled OpenTelemetry context (a remote parent, as propagated from `traceparent`)
/// current while the inner service's `call` and its future run, as `tracing-opentelemetry`
/// does while a request span is entered, without a tracing subscriber. One `Context` clone
/// and attach per `call` and per poll.
#[derive(Clone)]
pub struct SampledTraceLayer {
    cx: opentelemetry::Context,
}

impl SampledTraceLayer {
    /// The layer with a fixed sampled trace.
    pub fn new() -> Self {
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
        };
        let span = SpanContext::new(
            TraceId::from_bytes(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128.to_be_bytes()),
            SpanId::from_bytes(0x00f0_67aa_0ba9_02b7u64.to_be_bytes()),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        SampledTraceLayer {
            cx: opentelemetry::Context::new().with_remote_span_context(span),
        }
    }
}

impl Default for SampledTraceLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> tower::Layer<S> for SampledTraceLayer {
    type Service = SampledTrace<S>;

    fn layer(&self, inner: S) -> SampledTrace<S> {
        SampledTrace {
            inner,
            cx: self.cx.clone(),
        }
    }
}

/// The service of [`SampledTraceLayer`].
#[derive(Clone)]
pub struct SampledTrace<S> {
    inner: S,
    cx: opentelemetry::Context,
}

impl<S: tower::Service<R>, R> tower::Service<R> for SampledTrace<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = opentelemetry::context::WithContext<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        use opentelemetry::context::FutureExt as _;
        let _current = self.cx.clone().attach();
        self.inner.call(req).with_context(self.cx.clone())
    }
}

/// The whole pf stack in the order the demo applies it (with `Router::layer` the last call
/// is the outermost): health endpoints in front, then request ID, request span, metrics.
pub fn pf_stack() -> Router {
    user_routes()
        .layer(pf_metrics::HttpMetricsLayer::new(pf_metrics::MetricsRegistry::new()).axum_body())
        .layer(pf_log_enrich::RequestSpanLayer::new().axum_body())
        .layer(pf_log_enrich::RequestIdLayer::new())
        .layer(pf_health::HealthLayer::new(health_registry()).axum_body())
}

/// A ready health registry with one on-demand check (never run by application requests).
pub fn health_registry() -> pf_health::HealthRegistry {
    let registry = pf_health::HealthRegistry::builder()
        .check(
            "dependency",
            pf_health::check_fn(|| async { pf_health::Status::Pass }),
            pf_health::CheckOptions::new().on_demand(Duration::from_secs(2)),
        )
        .build()
        .expect("health registry");
    registry.lifecycle().mark_ready();
    registry
}

/// A subscriber with an INFO filter and no output: spans and events are built and filtered,
/// nothing is formatted.
pub fn quiet_dispatch() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(EnvFilter::new("info")))
}

/// An INFO filter and tracing-opentelemetry's layer on an SDK tracer provider that samples
/// every span and exports none (no span processor): the OpenTelemetry side of a request span
/// without a network. `tracked_inactivity`: tracing-opentelemetry's `busy_ns` / `idle_ns`
/// (its default; `pf_log_enrich::init()` switches it off).
pub fn otel_dispatch(tracked_inactivity: bool) -> Dispatch {
    use opentelemetry::trace::TracerProvider as _;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("pf-benches"))
        .with_tracked_inactivity(tracked_inactivity);
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(layer),
    )
}

/// pf-log-enrich's JSON formatter at INFO writing to `std::io::sink`: one access line per request.
pub fn json_dispatch() -> Dispatch {
    let config = pf_log_enrich::LogConfig::from_lookup(|key| match key {
        "LOG_FORMAT" => Some("json".into()),
        "RUST_LOG" => Some("info".into()),
        _ => None,
    });
    let (subscriber, guard) = pf_log_enrich::Logging::from_config(config)
        .writer(std::io::sink)
        .build()
        .expect("logging");
    std::mem::forget(guard); // no OTLP export: nothing to flush
    Dispatch::new(subscriber)
}

/// The median of `v` (sorted in place; the mean of the middle two for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Shuffles `order` (Fisher-Yates over xorshift64 with the caller's `state`, any non-zero
/// seed): the interleaved benches give every round a fresh contender order, so that no
/// contender always runs right after the same neighbour (the first requests after different
/// code run colder).
pub fn shuffle(order: &mut [usize], state: &mut u64) {
    for k in (1..order.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        order.swap(k, (*state % (k as u64 + 1)) as usize);
    }
}

/// The router as `axum::serve` runs it: `with_state(())` turns handlers into
/// routes once, as `into_make_service` does. Calling an unprepared `Router<()>`
/// directly re-applies every layer to a fresh handler route on each request.
pub fn serving(app: Router) -> Router {
    app.with_state(())
}

/// Criterion measurement of the calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, user and
/// system) instead of wall time: time the thread spends preempted by other processes is not
/// counted, so same-run comparisons stay meaningful on a loaded machine. Values are nanoseconds.
pub mod cpu_time {
    use criterion::Throughput;
    use criterion::measurement::{Measurement, ValueFormatter};

    /// The calling thread's CPU time in nanoseconds.
    pub fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// Thread CPU time as a Criterion [`Measurement`].
    pub struct ThreadCpuTime;

    impl Measurement for ThreadCpuTime {
        type Intermediate = u64;
        type Value = u64;

        fn start(&self) -> u64 {
            thread_cpu_ns()
        }
        fn end(&self, start: u64) -> u64 {
            thread_cpu_ns().saturating_sub(start)
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, value: &u64) -> f64 {
            *value as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuNanos
        }
    }

    struct CpuNanos;

    impl CpuNanos {
        fn unit(typical_ns: f64) -> (f64, &'static str) {
            match typical_ns {
                t if t < 1e3 => (1.0, "ns cpu"),
                t if t < 1e6 => (1e3, "µs cpu"),
                t if t < 1e9 => (1e6, "ms cpu"),
                _ => (1e9, "s cpu"),
            }
        }
    }

    impl ValueFormatter for CpuNanos {
        fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
            let (div, unit) = Self::unit(typical);
            values.iter_mut().for_each(|v| *v /= div);
            unit
        }
        fn scale_throughputs(
            &self,
            _typical: f64,
            throughput: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let per = match *throughput {
                Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                    n as f64
                }
                Throughput::Bits(n) => n as f64,
                Throughput::ElementsAndBytes { elements, .. } => elements as f64,
            };
            values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
            "per cpu second"
        }
        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns"
        }
    }
}

/// The same route as a plain tower service (no axum router, no boxing), with and without
/// pf's metrics layer: the layer's own cost and allocations, apart from axum's `Router::layer`.
pub mod plain {
    use std::convert::Infallible;

    use axum::body::{Bytes, HttpBody};
    use axum::http::{Extensions, Request, Response, Uri};
    use http_body_util::{BodyExt, Empty, Full};
    use tower::{Layer, Service, ServiceExt};

    /// Names of the plain-service contenders `pf-instructions` counts.
    pub const PLAIN_CONTENDERS: &[&str] = &["tower_bare", "tower_pf_metrics"];

    /// The handler: the same small JSON body as [`crate::user_routes`], from a static buffer.
    pub fn handler<B>()
    -> impl Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
        tower::service_fn(|_req: Request<B>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                br#"{"id":42,"name":"Ada Lovelace","org_id":7}"#,
            ))))
        })
    }

    /// A route extractor naming the benched route (a plain service has no `MatchedPath`).
    #[derive(Clone, Copy)]
    pub struct UsersRoute;

    impl pf_metrics::RouteExtractor for UsersRoute {
        fn route_str<'r>(&self, _: &'r Uri, _: &'r Extensions) -> Option<&'r str> {
            Some("/api/v1/users/{id}")
        }
    }

    /// `handler` behind `HttpMetricsLayer`.
    pub fn with_metrics(
        registry: pf_metrics::MetricsRegistry,
    ) -> impl Service<
        Request<Empty<Bytes>>,
        Response = Response<pf_metrics::ResponseBody<Full<Bytes>>>,
        Error = Infallible,
    > + Clone {
        pf_metrics::HttpMetricsLayer::new(registry)
            .route_extractor(UsersRoute)
            .layer(handler())
    }

    /// Sends one request through a plain service and drains the body frame by frame (no
    /// buffering, so no allocation of its own); returns the body length.
    pub async fn call_collect_plain<S, B>(service: &mut S) -> usize
    where
        S: Service<Request<Empty<Bytes>>, Response = Response<B>, Error = Infallible>,
        B: HttpBody<Data = Bytes> + Unpin,
        B::Error: std::fmt::Debug,
    {
        let req = Request::get("/api/v1/users/42")
            .body(Empty::new())
            .expect("valid request");
        let res = service
            .ready()
            .await
            .expect("infallible")
            .call(req)
            .await
            .expect("infallible");
        let mut body = res.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body").into_data() {
                len += data.len();
            }
        }
        assert!(len > 0);
        len
    }
}
