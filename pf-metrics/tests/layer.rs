//! Behaviour of `HttpMetricsLayer` in an axum router and over real TCP.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::BodyExt;
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, Naming, Timing};
use pf_tests::loopback::serve;
use tower::ServiceExt;

/// The value of one sample line, `None` when the series is absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().expect("numeric sample"))
    })
}

fn in_flight_total(registry: &MetricsRegistry) -> f64 {
    registry
        .encode(Format::Prometheus)
        .lines()
        .filter(|l| l.starts_with("http_requests_in_flight{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// Polls `cond` for at most 10 s: server-side completion is asynchronous.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Bytes) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn counts_by_method_route_and_status() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}") }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .layer(HttpMetricsLayer::new(registry.clone()))
        .route_service("/metrics", registry.exposition());
    for id in 0..3 {
        assert_eq!(
            call(&app, get_req(&format!("/users/{id}"))).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        call(&app, get_req("/users/x")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&app, get_req("/fail")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (_, body) = call(&app, get_req("/metrics")).await;
    let text = std::str::from_utf8(&body).unwrap();
    let s = |series: &str| sample(text, series);
    assert_eq!(
        s(r#"http_requests_total{method="GET",route="/users/{id}",status="200"}"#),
        Some(3.0)
    );
    assert_eq!(
        s(r#"http_requests_total{method="GET",route="/users/{id}",status="400"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"http_requests_total{method="GET",route="/fail",status="500"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"http_request_duration_seconds_count{method="GET",route="/users/{id}",status="200"}"#),
        Some(3.0)
    );
    assert_eq!(
        s(r#"http_response_size_bytes_sum{method="GET",route="/users/{id}",status="200"}"#),
        Some(18.0),
        "three bodies of 6 bytes"
    );
    // The scrape itself is outside the layer.
    assert!(!text.contains(r#"route="/metrics""#));
}

#[tokio::test]
async fn ten_thousand_unknown_paths_make_one_unmatched_series() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route("/known", get(|| async { "ok" }))
        .layer(HttpMetricsLayer::new(registry.clone()));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..10_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (status, _) = call(&app, get_req(&format!("/wp-admin/{seed:x}.php?x={seed}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let text = registry.encode(Format::Prometheus);
    let unmatched: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .collect();
    assert_eq!(
        unmatched,
        vec![r#"http_requests_total{method="GET",route="__unmatched__",status="404"} 10000"#]
    );
    assert_eq!(registry.series_count(), 1);
    assert_eq!(registry.dropped_series(), 0);
}

#[tokio::test]
async fn series_cap_holds_and_overflow_is_counted() {
    let registry = MetricsRegistry::builder().max_series(5).build().unwrap();
    let app = Router::new()
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    for code in 200..220 {
        call(&app, get_req(&format!("/status/{code}"))).await;
    }
    assert_eq!(registry.series_count(), 5);
    assert_eq!(registry.dropped_series(), 15);
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="_OTHER",route="__overflow__",status="_OTHER"}"#
        ),
        Some(15.0)
    );
    assert_eq!(sample(&text, "pf_metrics_dropped_series_total"), Some(15.0));
    let series = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .count();
    assert_eq!(series, 6, "five series and one overflow series");
}

#[tokio::test]
async fn unknown_methods_become_other_and_hostile_headers_are_ignored() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route("/x", axum::routing::any(|| async { "ok" }))
        .layer(HttpMetricsLayer::new(registry.clone()));
    let huge = "a".repeat(64 * 1024);
    let req = Request::builder()
        .method(Method::from_bytes(b"BREW").unwrap())
        .uri("/x")
        .header(
            "x-bin",
            axum::http::HeaderValue::from_bytes(&[0xff, 0xfe, b'"', b'\\']).unwrap(),
        )
        .header("x-huge", huge.as_str())
        .header(header::ACCEPT, huge.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="_OTHER",route="/x",status="200"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("BREW"));
}

#[tokio::test]
async fn streamed_body_counts_exact_bytes_and_duration_covers_the_stream() {
    let (clock, mock) = quanta::Clock::mock();
    let registry = MetricsRegistry::builder().clock(clock).build().unwrap();
    let app = Router::new()
        .route(
            "/stream",
            get(move || {
                let mock = mock.clone();
                async move {
                    // Each chunk "takes" one second on the mock clock.
                    let chunks = futures_util::stream::iter((0..3).map(move |i| {
                        mock.increment(Duration::from_secs(1));
                        Ok::<_, Infallible>(Bytes::from(vec![b'a' + i as u8; 1000 + i]))
                    }));
                    Body::from_stream(chunks)
                }
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    let (status, body) = call(&app, get_req("/stream")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), 3003);
    let text = registry.encode(Format::Prometheus);
    let labels = r#"{method="GET",route="/stream",status="200"}"#;
    assert_eq!(
        sample(&text, &format!("http_response_size_bytes_sum{labels}")),
        Some(3003.0)
    );
    assert_eq!(
        sample(&text, &format!("http_request_duration_seconds_sum{labels}")),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{method="GET",route="/stream",status="200",le="2.5"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_bucket{method="GET",route="/stream",status="200",le="5"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn event_streams_and_upgrades_are_timed_to_their_head() {
    let (clock, mock) = quanta::Clock::mock();
    let registry = MetricsRegistry::builder().clock(clock).build().unwrap();
    let sse_mock = mock.clone();
    let app = Router::new()
        .route(
            "/events",
            get(move || {
                let mock = sse_mock.clone();
                async move {
                    let events = futures_util::stream::iter((0..3).map(move |_| {
                        mock.increment(Duration::from_secs(100));
                        Ok::<_, Infallible>(Bytes::from_static(b"data: x\n\n"))
                    }));
                    (
                        [(header::CONTENT_TYPE, "text/event-stream")],
                        Body::from_stream(events),
                    )
                }
            }),
        )
        .route(
            "/ws",
            get(|| async {
                Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .body(Body::empty())
                    .unwrap()
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    let (_, body) = call(&app, get_req("/events")).await;
    assert_eq!(body.len(), 27);
    assert_eq!(
        call(&app, get_req("/ws")).await.0,
        StatusCode::SWITCHING_PROTOCOLS
    );
    let text = registry.encode(Format::Prometheus);
    let events = r#"{method="GET",route="/events",status="200"}"#;
    assert_eq!(
        sample(&text, &format!("http_request_duration_seconds_sum{events}")),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, &format!("http_response_size_bytes_sum{events}")),
        Some(27.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_requests_total{method="GET",route="/ws",status="101"}"#
        ),
        Some(1.0)
    );
    assert_eq!(in_flight_total(&registry), 0.0);
}

#[tokio::test]
async fn headers_timing_ignores_the_body() {
    let (clock, mock) = quanta::Clock::mock();
    let registry = MetricsRegistry::builder()
        .clock(clock)
        .timing(Timing::Headers)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/s",
            get(move || {
                let mock = mock.clone();
                async move {
                    mock.increment(Duration::from_millis(20));
                    let mock = mock.clone();
                    Body::from_stream(futures_util::stream::iter((0..2).map(move |_| {
                        mock.increment(Duration::from_secs(1));
                        Ok::<_, Infallible>(Bytes::from_static(b"xx"))
                    })))
                }
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    call(&app, get_req("/s")).await;
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"http_request_duration_seconds_sum{method="GET",route="/s",status="200"}"#
        ),
        Some(0.02)
    );
    assert!(text.contains("to the response head"));
}

#[tokio::test]
async fn dropped_future_leaves_flight_as_client_closed() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route("/hang", get(std::future::pending::<&'static str>))
        .layer(HttpMetricsLayer::new(registry.clone()));
    let fut = app.clone().oneshot(get_req("/hang"));
    // Poll once so the handler is running, then give up on it.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), fut)
            .await
            .is_err()
    );
    assert_eq!(in_flight_total(&registry), 0.0);
    assert_eq!(
        sample(
            &registry.encode(Format::Prometheus),
            r#"http_requests_total{method="GET",route="/hang",status="499"}"#
        ),
        Some(1.0)
    );
}

async fn panics() -> &'static str {
    panic!("handler bug")
}

#[tokio::test]
async fn panicking_handler_with_catch_panic_outside_or_inside() {
    for outside in [true, false] {
        let registry = MetricsRegistry::new();
        let routes = Router::new().route("/panic", get(panics));
        let app = if outside {
            routes
                .layer(HttpMetricsLayer::new(registry.clone()))
                .layer(tower_http::catch_panic::CatchPanicLayer::new())
        } else {
            routes
                .layer(tower_http::catch_panic::CatchPanicLayer::new())
                .layer(HttpMetricsLayer::new(registry.clone()))
        };
        assert_eq!(
            call(&app, get_req("/panic")).await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(in_flight_total(&registry), 0.0, "outside={outside}");
        assert_eq!(
            sample(
                &registry.encode(Format::Prometheus),
                r#"http_requests_total{method="GET",route="/panic",status="500"}"#
            ),
            Some(1.0),
            "outside={outside}"
        );
    }
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_without_catch_panic_over_tcp() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route("/panic", get(panics))
        .layer(HttpMetricsLayer::new(registry.clone()));
    let server = serve(app).await;
    let mut s = raw_get(server.addr(), "/panic").await;
    // The connection dies with the panicking task: read to EOF.
    let mut buf = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf).await;
    assert!(
        eventually(|| sample(
            &registry.encode(Format::Prometheus),
            r#"http_requests_total{method="GET",route="/panic",status="500"}"#
        ) == Some(1.0))
        .await
    );
    assert_eq!(in_flight_total(&registry), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_body_over_tcp() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route(
            "/forever",
            get(|| async {
                let chunks = futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(&[b'z'; 512])), ()))
                });
                Body::from_stream(chunks).into_response()
            }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    let server = serve(app).await;
    let mut s = raw_get(server.addr(), "/forever").await;
    let mut buf = vec![0u8; 2048];
    let mut got = 0;
    while got < 1500 {
        got += tokio::io::AsyncReadExt::read(&mut s, &mut buf)
            .await
            .unwrap();
    }
    assert!(
        in_flight_total(&registry) >= 1.0,
        "the stream is being served"
    );
    drop(s);
    assert!(eventually(|| in_flight_total(&registry) == 0.0).await);
    let text = registry.encode(Format::Prometheus);
    let labels = r#"{method="GET",route="/forever",status="200"}"#;
    assert_eq!(
        sample(&text, &format!("http_requests_total{labels}")),
        Some(1.0)
    );
    assert!(sample(&text, &format!("http_response_size_bytes_sum{labels}")).unwrap() >= 512.0);
}

#[tokio::test]
async fn opentelemetry_naming_and_const_labels() {
    let registry = MetricsRegistry::builder()
        .naming(Naming::OpenTelemetry)
        .prefix("shop")
        .unwrap()
        .const_label("service", "a\"b")
        .unwrap()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/fail", get(|| async { StatusCode::BAD_GATEWAY }))
        .layer(HttpMetricsLayer::new(registry.clone()));
    call(&app, get_req("/fail")).await;
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"shop_http_server_request_duration_seconds_count{service="a\"b",http_request_method="GET",http_route="/fail",http_response_status_code="502",error_type="502"}"#
        ),
        Some(1.0)
    );
    assert!(!text.contains("shop_http_requests_total"));
}

#[tokio::test]
async fn exposition_negotiates_the_format() {
    let registry = MetricsRegistry::new();
    let app = Router::new().route_service("/metrics", registry.exposition());
    let om = app
        .clone()
        .oneshot(
            Request::get("/metrics")
                .header(
                    header::ACCEPT,
                    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                )
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        om.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = app.clone().oneshot(get_req("/metrics")).await.unwrap();
    assert_eq!(
        text.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let post = app
        .oneshot(Request::post("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn request_body_bytes_are_counted_as_read() {
    let registry = MetricsRegistry::new();
    let app = Router::new()
        .route(
            "/upload",
            axum::routing::post(|body: Bytes| async move { body.len().to_string() }),
        )
        .layer(HttpMetricsLayer::new(registry.clone()));
    let req = Request::post("/upload")
        .body(Body::from(vec![7u8; 5000]))
        .unwrap();
    assert_eq!(call(&app, req).await.1, "5000");
    let text = registry.encode(Format::Prometheus);
    assert_eq!(
        sample(
            &text,
            r#"http_request_size_bytes_sum{method="POST",route="/upload"}"#
        ),
        Some(5000.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"http_request_size_bytes_bucket{method="POST",route="/upload",le="4096"}"#
        ),
        Some(0.0)
    );
}
