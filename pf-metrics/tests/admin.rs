//! `/metrics` on an admin listener behind a bearer token, over real TCP:
//! the public listener has no `/metrics`, the admin one answers only with
//! the right token.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use pf_metrics::{HttpMetricsLayer, MetricsRegistry};
use pf_tests::loopback::{Server, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "7c1d0e5a9b3f4e2d8c6a1b0f9e8d7c6b";

struct Listeners {
    public: Server,
    admin: Server,
}

async fn start(registry: &MetricsRegistry) -> Listeners {
    let public = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .layer(HttpMetricsLayer::new(registry.clone()));
    let admin = Router::new().route_service(
        "/metrics",
        registry.exposition().bearer_token(TOKEN).unwrap(),
    );
    Listeners {
        public: serve(public).await,
        admin: serve(admin).await,
    }
}

impl Listeners {
    async fn stop(self) {
        self.public.stop().await;
        self.admin.stop().await;
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, headers, body).
async fn fetch(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn metrics_only_on_the_admin_listener_and_only_with_the_token() {
    let registry = MetricsRegistry::new();
    let l = start(&registry).await;

    assert_eq!(fetch(l.public.addr(), "/hello", None).await.0, 200);
    // The public listener has no /metrics, with or without a token.
    assert_eq!(fetch(l.public.addr(), "/metrics", None).await.0, 404);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        fetch(l.public.addr(), "/metrics", Some(&bearer)).await.0,
        404
    );

    // The admin listener answers the scraper that has the token.
    let (status, _, body) = fetch(l.admin.addr(), "/metrics", Some(&bearer)).await;
    assert_eq!(status, 200);
    assert!(
        body.contains(r#"http_requests_total{method="GET",route="/hello",status="200"} 1"#),
        "{body}"
    );
    // ... and nothing else.
    assert_eq!(fetch(l.admin.addr(), "/hello", Some(&bearer)).await.0, 404);

    // Missing, wrong, truncated, extended, other-scheme tokens: 401 with a Bearer challenge.
    let wrong_last = format!("Bearer {}x", &TOKEN[..TOKEN.len() - 1]);
    let truncated = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let extended = format!("Bearer {TOKEN}0");
    let basic = format!("Basic {TOKEN}");
    for (auth, error) in [
        (None, false),
        (Some("Bearer nope"), true),
        (Some(wrong_last.as_str()), true),
        (Some(truncated.as_str()), true),
        (Some(extended.as_str()), true),
        (Some(basic.as_str()), false),
    ] {
        let (status, head, body) = fetch(l.admin.addr(), "/metrics", auth).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(
            head.contains("\r\nwww-authenticate: bearer realm=\"metrics\""),
            "{head}"
        );
        assert_eq!(
            head.contains("error=\"invalid_token\""),
            error,
            "{auth:?}: {head}"
        );
        assert!(!body.contains("http_requests_total"), "{auth:?}");
        assert!(
            !body.contains(&TOKEN[..8]) && !head.contains(&TOKEN[..8]),
            "nothing echoed"
        );
    }
    // Refused scrapes are not recorded anywhere and leak no metrics.
    l.stop().await;
}
