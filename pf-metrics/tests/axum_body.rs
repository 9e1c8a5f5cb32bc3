//! The axum-native body path (`HttpMetricsLayer::axum_body`) records what the
//! default path records, and composes with `axum::middleware::from_fn` as is.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::{Next, from_fn};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
use tower::ServiceExt;

/// Every sample line except the duration sums, which differ between runs.
fn counts(registry: &MetricsRegistry) -> Vec<String> {
    registry
        .encode(Format::Prometheus)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("http_request_duration_seconds_sum"))
        .map(str::to_owned)
        .collect()
}

fn routes(mock: std::sync::Arc<quanta::Mock>) -> Router {
    Router::new()
        .route("/json", get(|| async { r#"{"id":7}"# }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/upload",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/stream",
            get(move || {
                let mock = mock.clone();
                async move {
                    Body::from_stream(futures_util::stream::iter((0..3).map(move |_| {
                        // Each chunk takes a second: the duration covers the stream.
                        mock.increment(Duration::from_secs(1));
                        Ok::<_, Infallible>(Bytes::from_static(b"chunk"))
                    })))
                }
            }),
        )
        .route(
            "/large",
            // One byte over the 64 KiB a body may have to count as sent with its head.
            get(|| async { vec![b'x'; 64 * 1024 + 1] }),
        )
}

async fn send_all(app: Router) {
    let requests = [
        Request::get("/json").body(Body::empty()),
        Request::get("/empty").body(Body::empty()),
        Request::head("/json").body(Body::empty()),
        Request::get("/nowhere").body(Body::empty()),
        Request::delete("/json").body(Body::empty()),
        Request::post("/upload").body(Body::from(vec![1u8; 3000])),
        Request::get("/stream").body(Body::empty()),
        Request::get("/large").body(Body::empty()),
    ];
    for req in requests {
        let response = app.clone().oneshot(req.unwrap()).await.unwrap();
        response.into_body().collect().await.unwrap();
    }
}

#[tokio::test]
async fn the_axum_body_path_records_what_the_default_path_records() {
    let (clock, mock) = quanta::Clock::mock();
    let default = MetricsRegistry::builder().clock(clock).build().unwrap();
    send_all(routes(mock).layer(HttpMetricsLayer::new(default.clone()))).await;

    let (clock, mock) = quanta::Clock::mock();
    let native = MetricsRegistry::builder().clock(clock).build().unwrap();
    send_all(routes(mock).layer(HttpMetricsLayer::new(native.clone()).axum_body())).await;

    let native_counts = counts(&native);
    assert_eq!(counts(&default), native_counts);
    // The table is not empty, and holds what the requests were.
    for line in [
        r#"http_requests_total{method="GET",route="/json",status="200"} 1"#,
        r#"http_requests_total{method="HEAD",route="/json",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="/empty",status="204"} 1"#,
        r#"http_requests_total{method="GET",route="__unmatched__",status="404"} 1"#,
        r#"http_requests_total{method="DELETE",route="/json",status="405"} 1"#,
        r#"http_request_size_bytes_sum{method="POST",route="/upload"} 3000"#,
        r#"http_response_size_bytes_sum{method="GET",route="/stream",status="200"} 15"#,
        r#"http_response_size_bytes_sum{method="GET",route="/json",status="200"} 8"#,
        r#"http_response_size_bytes_sum{method="GET",route="/large",status="200"} 65537"#,
    ] {
        assert!(
            native_counts.iter().any(|l| l == line),
            "missing {line} in {native_counts:#?}"
        );
    }
    // The stream is timed to its end (3 s of mock time) on both paths.
    for registry in [&default, &native] {
        let text = registry.encode(Format::Prometheus);
        assert!(
            text.contains(
                r#"http_request_duration_seconds_sum{method="GET",route="/stream",status="200"} 3"#
            ),
            "{text}"
        );
    }
}

#[tokio::test]
async fn from_fn_composes_after_the_layer_without_map_request() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(HttpMetricsLayer::new(registry.clone()).axum_body())
        // `Next` takes `Request<Body>`: the layer inside hands `Body` through.
        .layer(from_fn(|req: Request<Body>, next: Next| async move {
            let mut response = next.run(req).await;
            response
                .headers_mut()
                .insert("x-seen-by", "from_fn".parse().unwrap());
            response
        }));
    let response = app
        .oneshot(Request::get("/hello").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.headers()["x-seen-by"], "from_fn");
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "hello"
    );
    assert!(
        registry
            .encode(Format::Prometheus)
            .contains(r#"http_requests_total{method="GET",route="/hello",status="200"} 1"#)
    );
}
