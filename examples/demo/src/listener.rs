//! A hardened HTTP/1.1 listener: what `axum::serve` does, plus the limits a public listener
//! needs (`axum::serve` sets no header-read timeout: a client sending one header byte every
//! few seconds holds a connection, and a task, for ever).
//!
//! | setting | how | default (variable) |
//! |---|---|---|
//! | header-read timeout | hyper `http1::Builder::header_read_timeout` with a `TokioTimer`: the whole request head must arrive within it, else the connection is closed | 10 s (`PF_DEMO_HEADER_TIMEOUT_MS`) |
//! | idle keep-alive timeout | the same hyper timer: it starts when a connection waits for its next request head, so an idle keep-alive connection is closed after it too | same as above |
//! | connection limit | a semaphore around `accept`: past the limit new connections wait in the kernel's backlog instead of costing a task | 1024 (`PF_DEMO_MAX_CONNECTIONS`) |
//! | request-body limit | `tower_http::limit::RequestBodyLimitLayer`: a `Content-Length` above it is answered 413 before the body is read; a chunked body is cut off at the limit (413 from the extractor) | 64 KiB (`PF_DEMO_BODY_LIMIT_BYTES`) |
//! | graceful shutdown | each connection gets hyper's `graceful_shutdown` (finish the request in flight, then close); connections still open after the grace period are dropped | 5 s |

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// The listener's limits, from the environment (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The request head must arrive within this; also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request body accepted (413 above).
    pub body_limit: usize,
    /// How long open connections may finish after shutdown starts.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// Defaults, overridden by `PF_DEMO_HEADER_TIMEOUT_MS`, `PF_DEMO_MAX_CONNECTIONS` and
    /// `PF_DEMO_BODY_LIMIT_BYTES`.
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
        };
        Self {
            header_read_timeout: Duration::from_millis(
                var("PF_DEMO_HEADER_TIMEOUT_MS").unwrap_or(10_000),
            ),
            max_connections: var("PF_DEMO_MAX_CONNECTIONS").unwrap_or(1024) as usize,
            body_limit: var("PF_DEMO_BODY_LIMIT_BYTES").unwrap_or(64 * 1024) as usize,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// The body-limit layer for the router.
    pub fn body_limit_layer(&self) -> tower_http::limit::RequestBodyLimitLayer {
        tower_http::limit::RequestBodyLimitLayer::new(self.body_limit)
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open connections finish
/// their request within [`Limits::shutdown_grace`]. Each request carries the peer address as
/// `ConnectInfo<SocketAddr>` (as `into_make_service_with_connect_info` gives it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let response = app.oneshot(req.map(axum::body::Body::new)).await;
                    Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                }
            });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = std::pin::pin!(connection);
            let stopping = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopping => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit: all of them back means all connections closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "connections still open after the shutdown grace period are dropped"
        );
    }
}
