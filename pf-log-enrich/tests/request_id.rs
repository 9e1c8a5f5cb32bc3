//! Request IDs over a real loopback server: kept when valid, replaced otherwise, echoed on
//! 2xx, 4xx, 5xx and on panics (catch-panic inside the span layer).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use pf_log_enrich::{RequestId, RequestIdLayer, RequestSpanLayer};
use pf_tests::loopback;
use tower_http::catch_panic::CatchPanicLayer;

fn app(combined: bool) -> Router {
    let router = Router::new()
        .route("/ok", get(|id: RequestId| async move { id.to_string() }))
        .route("/bad", get(|| async { (StatusCode::BAD_REQUEST, "no") }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/panic",
            get(|| async {
                panic!("handler panicked");
                #[allow(unreachable_code)]
                ""
            }),
        )
        .layer(CatchPanicLayer::new());
    if combined {
        // one layer doing both jobs
        router.layer(RequestSpanLayer::new().request_id(pf_log_enrich::X_REQUEST_ID))
    } else {
        router
            .layer(RequestSpanLayer::new())
            .layer(RequestIdLayer::new())
    }
}

fn is_generated(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 7)
}

#[tokio::test]
async fn valid_ids_are_kept_and_echoed_everywhere() {
    for combined in [false, true] {
        valid_ids(combined).await;
    }
}

async fn valid_ids(combined: bool) {
    let server = loopback::serve(app(combined)).await;
    let addr = server.addr();
    for (path, status) in [
        ("/ok", 200),
        ("/bad", 400),
        ("/fail", 500),
        ("/panic", 500),
        ("/nope", 404),
    ] {
        let head = loopback::get(addr, path, &[b"x-request-id: client-id-1"]).await;
        assert_eq!(head.status, status, "{path}");
        assert_eq!(head.one("x-request-id"), "client-id-1", "{path}");
    }
    let max = "a".repeat(128);
    let head = loopback::get(addr, "/ok", &[format!("x-request-id: {max}").as_bytes()]).await;
    assert_eq!(head.one("x-request-id"), max);
}

#[tokio::test]
async fn invalid_ids_are_replaced() {
    for combined in [false, true] {
        invalid_ids(combined).await;
    }
}

async fn invalid_ids(combined: bool) {
    let server = loopback::serve(app(combined)).await;
    let addr = server.addr();
    let too_long = format!("x-request-id: {}", "a".repeat(129));
    let cases: [&[&[u8]]; 6] = [
        &[too_long.as_bytes()],
        &[b"x-request-id: caf\xc3\xa9"],
        &[b"x-request-id: has space"],
        &[b"x-request-id:"],
        &[b"x-request-id: one", b"x-request-id: two"],
        &[],
    ];
    for headers in cases {
        for path in ["/ok", "/bad", "/fail", "/panic"] {
            let head = loopback::get(addr, path, headers).await;
            let id = head.one("x-request-id");
            assert!(is_generated(&id), "{path} {headers:?}: {id}");
        }
    }
    // The handler sees the same ID as the response.
    let head = loopback::get(addr, "/ok", &[b"x-request-id: one", b"x-request-id: two"]).await;
    assert!(is_generated(&head.one("x-request-id")));
}

#[tokio::test]
async fn custom_header_name_and_generator() {
    let app = Router::new().route("/", get(|| async { "" })).layer(
        RequestIdLayer::new()
            .header_name(http::HeaderName::from_static("x-correlation-id"))
            .make_request_id(pf_log_enrich::make_request_id_fn(|| {
                RequestId::from_static("generated")
            })),
    );
    let server = loopback::serve(app).await;
    let addr = server.addr();
    let head = loopback::get(addr, "/", &[]).await;
    assert_eq!(head.one("x-correlation-id"), "generated");
    assert!(head.all("x-request-id").is_empty());
    let head = loopback::get(addr, "/", &[b"x-correlation-id: mine"]).await;
    assert_eq!(head.one("x-correlation-id"), "mine");
}

/// The request ID and span layers share one request extension, the `Identity`: it carries the
/// request ID, the span, and a user set by a layer between the two.
#[tokio::test(flavor = "current_thread")]
async fn the_id_and_span_layers_share_one_extension() {
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    let subscriber = tracing_subscriber::registry();
    let _default = tracing::subscriber::set_default(subscriber);
    let inner = tower::service_fn(|req: http::Request<String>| async move {
        let extensions = req.extensions();
        let identity = pf_log_enrich::Identity::from_extensions(extensions).expect("an Identity");
        let seen = format!(
            "{} {} {:?} {}",
            extensions.len(),
            identity.request_id().map(RequestId::as_str).unwrap_or("-"),
            identity.user_id(),
            identity.span().is_none(),
        );
        Ok::<_, Infallible>(http::Response::new(seen))
    });
    let service = ServiceBuilder::new()
        .layer(RequestIdLayer::new())
        // An authentication step between the two layers: its user is kept.
        .map_request(|req: http::Request<String>| {
            if let Some(identity) = pf_log_enrich::Identity::from_extensions(req.extensions()) {
                identity.set_user_id("u7");
            }
            req
        })
        .layer(RequestSpanLayer::new())
        .service(inner);
    let request = http::Request::get("/x")
        .header("x-request-id", "one-extension")
        .body(String::new())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "one-extension");
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body, r#"1 one-extension Some("u7") false"#);
}
