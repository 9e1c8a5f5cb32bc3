//! Peer crates as contenders on the same route (dev-dependencies of pf-benches only),
//! shared by the `metrics` and `allocations` bench targets.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::{HeaderValue, Request, Response};
use pf_benches::{Contender, serving, user_routes};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Dispatch;
use tracing::field::Empty;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Names of the peer contenders [`peer`] builds.
pub const PEERS: &[&str] = &[
    "axum_prometheus",
    "otel_tower_metrics",
    "tower_http_trace_id",
    "axum_tracing_otel",
    "tower_http_trace_id_json",
];

/// Every contender, ours and the peers, in report order.
pub fn all_contenders() -> Vec<Contender> {
    const ORDER: &[&str] = &[
        "bare",
        "noop_layer",
        "noop_layers2",
        "noop_layers4",
        "pf_metrics",
        "pf_metrics_exemplars_off",
        "pf_metrics_traced",
        "pf_metrics_traced_exemplars_off",
        "axum_prometheus",
        "otel_tower_metrics",
        "pf_id_span",
        "pf_id_span_otel",
        "pf_id_span_otel_tracked",
        "tower_http_trace_id",
        "axum_tracing_otel",
        "pf_stack",
        "pf_stack_json",
        "pf_stack_one_layer",
        "pf_stack_one_layer_no_metrics",
        "pf_fused",
        "pf_fused_json",
        "tower_http_trace_id_json",
    ];
    assert!(
        pf_benches::CONTENDERS
            .iter()
            .chain(PEERS)
            .all(|c| ORDER.contains(c))
    );
    ORDER
        .iter()
        .map(|name| {
            pf_benches::contender(name)
                .or_else(|| peer(name))
                .expect("known contender")
        })
        .collect()
}

/// Builds a peer contender by name.
pub fn peer(name: &str) -> Option<Contender> {
    let name: &'static str = PEERS.iter().copied().find(|p| *p == name)?;
    Some(match name {
        // metrics-exporter-prometheus behind axum-prometheus's default layer
        "axum_prometheus" => Contender::quiet(name, user_routes().layer(axum_prometheus_layer())),
        // OpenTelemetry HTTP server metrics into an SDK meter provider (metrics only, no spans)
        "otel_tower_metrics" => Contender::quiet(name, user_routes().layer(otel_metrics_layer())),
        // tower-http TraceLayer (span with the same fields as pf's) + SetRequestId + PropagateRequestId
        "tower_http_trace_id" => Contender::quiet(name, tower_http_stack()),
        // axum-tracing-opentelemetry's span (at INFO) and trace context in the response
        "axum_tracing_otel" => Contender::quiet(
            name,
            user_routes()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
        ),
        // the tower-http stack with tracing-subscriber's JSON formatter writing one line to a sink
        "tower_http_trace_id_json" => Contender {
            name,
            app: serving(tower_http_stack()),
            dispatch: fmt_json_dispatch(),
        },
        _ => return None,
    })
}

pub fn axum_prometheus_layer() -> axum_prometheus::PrometheusMetricLayer<'static> {
    // `pair()` installs the global `metrics` recorder, which can happen once per process.
    static LAYER: OnceLock<axum_prometheus::PrometheusMetricLayer<'static>> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            // The handle spawns the exporter's upkeep task (draining histogram buckets every
            // few seconds, as in production): give it a runtime of its own that lives on.
            let upkeep = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("upkeep runtime");
            let (layer, handle) = {
                let _entered = upkeep.enter();
                axum_prometheus::PrometheusMetricLayer::pair()
            };
            std::mem::forget(upkeep);
            std::mem::forget(handle);
            layer
        })
        .clone()
}

fn otel_metrics_layer() -> opentelemetry_instrumentation_tower::http::server::Layer {
    // The layer takes its meter from the global provider: an SDK provider with a manual
    // reader aggregates every measurement (no exporter, nothing is ever read).
    static PROVIDER: OnceLock<()> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(opentelemetry_sdk::metrics::ManualReader::builder().build())
            .build();
        opentelemetry::global::set_meter_provider(provider);
    });
    opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
        .with_tracing(false)
        .build()
        .expect("otel layer")
}

/// UUIDv7 with `fast-rng`, as pf's request ID layer generates it.
#[derive(Clone, Copy)]
struct UuidV7;

impl MakeRequestId for UuidV7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; 36];
        let s = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
        Some(RequestId::new(
            HeaderValue::from_str(s).expect("uuid is a header value"),
        ))
    }
}

/// tower-http's TraceLayer recording the fields pf's request span records, with request IDs.
fn tower_http_stack() -> Router {
    tower_http_layers(user_routes())
}

/// `routes` behind tower-http's TraceLayer (the fields pf's request span records), request IDs
/// set and propagated (the `server` bench applies it to its own routes).
pub fn tower_http_layers(routes: Router) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<Body>| {
            let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!(
                "HTTP request",
                otel.kind = "server",
                http.request.method = req.method().as_str(),
                http.route = route,
                url.path = req.uri().path(),
                user_agent.original = req
                    .headers()
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok()),
                request_id = id,
                http.response.status_code = Empty,
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
    routes
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(UuidV7))
}

fn fmt_json_dispatch() -> Dispatch {
    fmt_json_dispatch_to(std::io::sink)
}

/// tracing-subscriber's JSON formatter at INFO (the peers' JSON line) writing to `writer`.
pub fn fmt_json_dispatch_to<W>(writer: W) -> Dispatch
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    Dispatch::new(
        tracing_subscriber::registry()
            .with(EnvFilter::new("info"))
            .with(fmt_json_layer(writer)),
    )
}

/// The peers' JSON line: tracing-subscriber's JSON formatter, event fields flattened, the
/// current span's fields beside them.
pub fn fmt_json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}
