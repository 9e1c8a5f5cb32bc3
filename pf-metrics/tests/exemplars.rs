//! Exemplars (feature `exemplars`): the trace ID of the request span's
//! OpenTelemetry context on the duration buckets of the OpenMetrics output,
//! read back from a real Prometheus (`--enable-feature=exemplar-storage`).

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
use pf_tests::loopback::serve;
use pf_tests::prometheus::Prometheus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// One global subscriber for this test binary: tracing-opentelemetry over an
/// SDK tracer (no exporter), and the W3C trace-context propagator.
fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("pf-metrics-exemplars-test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
    });
}

fn remote_parent(trace: u128, sampled: bool) -> opentelemetry::Context {
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_bytes(trace.to_be_bytes()),
        SpanId::from_bytes(0x1122_3344_5566_7788u64.to_be_bytes()),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::default(),
    ))
}

fn bucket_line<'a>(text: &'a str, route: &str, le: &str) -> &'a str {
    let prefix = format!(
        r#"http_request_duration_seconds_bucket{{method="GET",route="{route}",status="200",le="{le}"}}"#
    );
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
}

#[tokio::test]
async fn the_span_trace_id_is_the_exemplar_of_its_bucket_in_openmetrics_only() {
    install_tracing();
    let (clock, mock) = quanta::Clock::mock();
    let registry = MetricsRegistry::builder().clock(clock).build().unwrap();
    let app = Router::new()
        .route(
            "/work",
            get(move || {
                // The request "takes" 30 ms on the mock clock: bucket le="0.05".
                mock.increment(Duration::from_millis(30));
                async { "done" }
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    let call = |app: Router| async move {
        let response = app
            .oneshot(Request::get("/work").body(Body::empty()).unwrap())
            .await
            .unwrap();
        drop(response); // ends the body: the duration is observed now
    };

    // Outside any span: no exemplar.
    call(app.clone()).await;
    assert!(!registry.encode(Format::OpenMetrics).contains("trace_id"));

    // Inside a span whose parent is an unsampled remote trace: none either
    // (its trace is not stored anywhere).
    let span = tracing::info_span!("request");
    span.set_parent(remote_parent(0xdead, false)).unwrap();
    call(app.clone()).instrument(span).await;
    assert!(!registry.encode(Format::OpenMetrics).contains("trace_id"));

    // Inside a span with a sampled parent trace.
    let trace = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128;
    let span = tracing::info_span!("request");
    span.set_parent(remote_parent(trace, true)).unwrap();
    call(app.clone()).instrument(span).await;

    let om = registry.encode(Format::OpenMetrics);
    let line = bucket_line(&om, "/work", "0.05");
    let (sample, exemplar) = line.split_once(" # ").expect("an exemplar on le=0.05");
    assert!(sample.ends_with(" 3"), "{line}");
    let mut parts = exemplar.split(' ');
    assert_eq!(
        parts.next(),
        Some(r#"{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}"#)
    );
    assert_eq!(parts.next(), Some("0.03"), "the observed duration");
    let ts: f64 = parts.next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - ts).abs() < 3600.0, "a wall-clock timestamp: {ts}");
    // Other buckets carry no exemplar, and the Prometheus text format none at all.
    assert!(!bucket_line(&om, "/work", "0.025").contains('#'));
    assert!(!bucket_line(&om, "/work", "0.075").contains('#'));
    let text = registry.encode(Format::Prometheus);
    assert!(!text.contains("trace_id"), "{text}");
    assert!(!bucket_line(&text, "/work", "0.05").contains('#'));
}

#[tokio::test]
async fn switched_off_a_sampled_request_leaves_no_exemplar() {
    install_tracing();
    let app = |registry: &MetricsRegistry| {
        Router::new()
            .route("/work", get(|| async { "done" }))
            .layer(HttpMetricsLayer::new(registry.clone()))
    };
    let call = |app: Router| async move {
        let response = app
            .oneshot(Request::get("/work").body(Body::empty()).unwrap())
            .await
            .unwrap();
        drop(response);
    };
    let on = MetricsRegistry::builder().exemplars(true).build().unwrap();
    let off = MetricsRegistry::builder().exemplars(false).build().unwrap();
    let (a, b) = (
        0x0af7_6519_16cd_43dd_8448_eb21_1c80_319cu128,
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128,
    );
    let mut encoded = Vec::new();
    for registry in [&on, &off] {
        // Inside a span with a sampled parent (tracing-opentelemetry's context)...
        let span = tracing::info_span!("request");
        span.set_parent(remote_parent(a, true)).unwrap();
        call(app(registry)).instrument(span).await;
        encoded.push(registry.encode(Format::OpenMetrics));
        // ...and with a context attached by other code (current while polled).
        call(app(registry))
            .with_context(remote_parent(b, true))
            .await;
        encoded.push(registry.encode(Format::OpenMetrics));
    }

    // On: each request's trace is its bucket's exemplar in turn (latest wins).
    assert!(
        encoded[0].contains(r#"# {trace_id="0af7651916cd43dd8448eb211c80319c"}"#),
        "{}",
        encoded[0]
    );
    assert!(
        encoded[1].contains(r#"# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}"#),
        "{}",
        encoded[1]
    );
    // Off: both requests are counted, and no exemplar is written.
    let without = off.encode(Format::OpenMetrics);
    assert!(
        without.contains(r#"http_requests_total{method="GET",route="/work",status="200"} 2"#),
        "{without}"
    );
    assert!(!without.contains("trace_id"), "{without}");
    assert!(!without.contains(" # {"), "{without}");
}

async fn fetch(addr: SocketAddr, path: &str, headers: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[test]
fn prometheus_stores_the_trace_id_sent_in_traceparent() {
    install_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = MetricsRegistry::new();
    // pf-log-enrich's request span (parent from `traceparent`) around the metrics layer.
    let app = Router::new()
        .route("/work", get(|| async { "done" }))
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition())
        .layer(
            pf_log_enrich::RequestSpanLayer::new().on_completion(pf_log_enrich::NoCompletionEvent),
        );
    let server = runtime.block_on(serve(app));
    let addr = server.addr();

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("traceparent: 00-{trace}-b7ad6b7169203331-01\r\n");
    runtime.block_on(async {
        for _ in 0..5 {
            fetch(addr, "/work", &traceparent).await;
        }
        // What Prometheus will read: the exemplar in OpenMetrics, none in the text format.
        let om = fetch(
            addr,
            "/metrics",
            "Accept: application/openmetrics-text; version=1.0.0\r\n",
        )
        .await;
        assert!(om.contains(&format!(r#"# {{trace_id="{trace}"}}"#)), "{om}");
        let text = fetch(addr, "/metrics", "").await;
        assert!(!text.contains("trace_id"), "{text}");
    });

    let prometheus = Prometheus::start_with_flags(
        "pf",
        &[addr.to_string()],
        Duration::from_secs(1),
        &[],
        &["--enable-feature=exemplar-storage"],
    );
    let found = prometheus.poll(Duration::from_secs(60), || {
        let data = prometheus.query_exemplars(
            r#"http_request_duration_seconds_bucket{route="/work"}"#,
            Duration::from_secs(600),
        );
        data.iter()
            .flat_map(|series| series["exemplars"].as_array().cloned().unwrap_or_default())
            .find(|e| e["labels"]["trace_id"] == trace)
    });
    let exemplar = found.unwrap_or_else(|| {
        panic!(
            "Prometheus has no exemplar with trace_id {trace}: up = {:?}",
            prometheus.query("up")
        )
    });
    let value: f64 = exemplar["value"].as_str().unwrap().parse().unwrap();
    assert!(value > 0.0 && value < 10.0, "{exemplar}");
    drop(prometheus);

    runtime.block_on(server.stop());
}
