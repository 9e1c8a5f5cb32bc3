//! The axum-native body path (`RequestSpanLayer::axum_body`): the same completion events as
//! the default path, over a real loopback server with the real JSON formatter.

mod support;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use pf_log_enrich::{RequestIdLayer, RequestSpanLayer};
use pf_tests::loopback;
use support::Capture;

#[tokio::test(flavor = "current_thread")]
async fn completion_events_are_the_same_as_on_the_default_path() {
    let capture = Capture::default();
    let _logging = support::json_into(&capture);
    let app = Router::new()
        .route("/users", get(|| async { "a body of some bytes" }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
        .route("/stream", get(|| async { support::chunked_body() }))
        .route("/endless", get(|| async { support::endless_body() }))
        // A from_fn layer outside the span layer takes its `Request<Body>` as it is.
        .layer(RequestSpanLayer::new().axum_body())
        .layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| next.run(req),
        ))
        .layer(RequestIdLayer::new());
    let server = loopback::serve(app).await;
    let addr = server.addr();
    // (method, path, request ID, status, body bytes in the completion event)
    let cases: [(&str, &str, &str, u16, u64); 6] = [
        ("GET", "/users", "a-200", 200, 20),
        ("GET", "/stream", "a-stream", 200, 6),
        ("GET", "/nowhere", "a-404", 404, 0),
        ("POST", "/users", "a-405", 405, 0),
        ("GET", "/empty", "a-204", 204, 0),
        ("HEAD", "/users", "a-head", 200, 0),
    ];
    for (method, path, id, status, _) in cases {
        let header = format!("x-request-id: {id}");
        let head = loopback::request(addr, method, path, &[header.as_bytes()]).await;
        assert_eq!(head.status, status, "{method} {path}");
    }
    // A client that leaves mid-stream: the event comes, marked incomplete.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /endless HTTP/1.1\r\nhost: x\r\nx-request-id: a-gone\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(s.read(&mut buf).await.unwrap() > 0);
    }
    for (_, _, id, status, bytes) in cases {
        let line = capture.completion(id).await;
        assert!(
            line.get("pf.response.incomplete").is_none(),
            "{id} logged as incomplete: {line}"
        );
        assert_eq!(line["http.response.status_code"], status, "{id}: {line}");
        assert_eq!(line["http.response.body.size"], bytes, "{id}: {line}");
    }
    let gone = capture.completion("a-gone").await;
    assert_eq!(gone["pf.response.incomplete"], true, "{gone}");
}
