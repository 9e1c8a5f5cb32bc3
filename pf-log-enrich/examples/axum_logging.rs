//! A small axum service with request IDs, request spans, late identity and redaction.
//!
//! ```sh
//! cargo run -p pf-log-enrich --example axum_logging --features axum,otlp     # pretty logs
//! LOG_FORMAT=json cargo run -p pf-log-enrich --example axum_logging --features axum,otlp
//! LOG_CLOUD_SHIPPING=true OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//!     cargo run -p pf-log-enrich --example axum_logging --features axum,otlp  # JSON + OTLP
//! curl -H 'authorization: Bearer alice' 'localhost:3000/users/1?token=hidden'
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use pf_log_enrich::db::DbOperation;
use pf_log_enrich::{Identity, RequestIdLayer, RequestSpanLayer, TrustedProxies};

async fn auth(req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let (Some(user), Some(identity)) = (user, req.extensions().get::<Identity>()) {
        identity.set_user_id(user);
        identity.set_organization_id("acme");
    }
    next.run(req).await
}

async fn user(Path(id): Path<u64>) -> String {
    let op = DbOperation::sql("postgresql", "SELECT name FROM users WHERE id = 42");
    op.finish(Some(1));
    tracing::info!(user = id, password = "never shown", "user loaded");
    format!("user {id}\n")
}

#[tokio::main]
async fn main() {
    let _guard = pf_log_enrich::init().expect("logging");
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::from_fn(auth))
        .layer(
            RequestSpanLayer::new()
                .trusted_proxies(TrustedProxies::private_networks())
                .capture_request_header(http::header::AUTHORIZATION)
                .exclude_route("/healthz"),
        )
        .layer(RequestIdLayer::new());
    let addr: SocketAddr = std::env::var("ADDR")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(([127, 0, 0, 1], 3000).into());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    tracing::info!(%addr, "listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .expect("serve");
}
