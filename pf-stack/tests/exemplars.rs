//! Exemplars through the fused layer (feature `exemplars`): the duration bucket's exemplar is
//! the trace of the request span the layer opens (parent from `traceparent`), read once, inside
//! that span; a registry with exemplars off writes none.

use std::sync::Once;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use pf_log_enrich::{NoCompletionEvent, RequestSpanLayer};
use pf_metrics::{Format, MetricsRegistry};
use pf_stack::StackLayer;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

/// One global subscriber for this test binary: tracing-opentelemetry over an SDK tracer (no
/// exporter), and the W3C trace-context propagator.
fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = provider.tracer("pf-stack-exemplars-test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
    });
}

/// Two requests with `traceparent` (sampled, then not sampled) through the fused layer.
async fn two_requests(metrics: &MetricsRegistry, sampled: &str, unsampled: &str) {
    let app = Router::new()
        .route("/work", get(|| async { "done" }))
        .layer(
            StackLayer::new(metrics.clone())
                .span(RequestSpanLayer::new().on_completion(NoCompletionEvent))
                .axum_body(),
        );
    for (trace, flags) in [(sampled, "01"), (unsampled, "00")] {
        let response = app
            .clone()
            .oneshot(
                Request::get("/work")
                    .header(
                        "traceparent",
                        format!("00-{trace}-b7ad6b7169203331-{flags}"),
                    )
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_exemplar_is_the_request_spans_trace() {
    install_tracing();
    let sampled = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = "4bf92f3577b34da6a3ce929d0e0e4736";

    let metrics = MetricsRegistry::new();
    two_requests(&metrics, sampled, unsampled).await;
    let om = metrics.encode(Format::OpenMetrics);
    assert!(
        om.contains(r#"http_requests_total{method="GET",route="/work",status="200"} 2"#),
        "{om}"
    );
    assert!(
        om.contains(&format!(r#"# {{trace_id="{sampled}"}}"#)),
        "the sampled request's trace is an exemplar: {om}"
    );
    assert!(
        !om.contains(unsampled),
        "an unsampled trace is never an exemplar: {om}"
    );
    assert_eq!(om.matches("trace_id=").count(), 1, "{om}");

    let off = MetricsRegistry::builder().exemplars(false).build().unwrap();
    two_requests(&off, sampled, unsampled).await;
    let without = off.encode(Format::OpenMetrics);
    assert!(
        without.contains(r#"http_requests_total{method="GET",route="/work",status="200"} 2"#),
        "{without}"
    );
    assert!(!without.contains("trace_id"), "{without}");
}
