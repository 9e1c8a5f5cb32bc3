//! pf demo backend: an axum API shaped like the original platform's, with
//! pf's metrics, logs and health wired in.
//!
//! ```sh
//! cargo run -p pf-demo                        # in-memory storage, 127.0.0.1:3000
//! cargo run -p pf-demo -- --addr 127.0.0.1:0  # any free port
//! DATABASE_URL=postgres://127.0.0.1/test REDIS_URL=redis://127.0.0.1/ cargo run -p pf-demo
//! ```
//!
//! Try `curl -H 'authorization: Bearer demo-token-42-7' localhost:3000/api/v1/projects`
//! and `curl localhost:3000/metrics`.

mod app;
mod auth;
mod health;
mod logging;
mod store;

use std::net::SocketAddr;

use clap::Parser;
use pf_log_enrich::RequestIdLayer;
use pf_metrics::HttpMetricsLayer;
use tower::ServiceBuilder;

/// Command line and environment of the demo.
#[derive(Parser, Debug)]
#[command(version, about = "pf demo backend")]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "PF_DEMO_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// PostgreSQL URL; in-memory storage when absent.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Redis URL; in-memory cache when absent.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("pf-demo: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // log-enrich: logging is initialised here (the guard flushes OTLP export on exit).
    let _log_guard = logging::init()?;
    let store =
        store::Store::connect(args.database_url.as_deref(), args.redis_url.as_deref()).await?;
    let registry = pf_metrics::MetricsRegistry::builder()
        .const_label("service", "pf-demo")
        .exclude_route("/metrics")
        .build()?;
    registry.register_collector(pf_metrics::ProcessCollector::new());
    let health = health::registry(&store, &registry)?;
    // The whole stack in one `Router::layer` call: axum boxes each route once per call, so
    // one composed stack costs one boxing instead of five. First listed = outermost.
    let stack = ServiceBuilder::new()
        // Probes are answered before everything else: no request ID, log, metrics or auth.
        .layer(health::layer(&health))
        .layer(RequestIdLayer::new())
        .layer(logging::span_layer())
        .layer(HttpMetricsLayer::new(registry.clone()))
        // axum middleware takes axum's own body type.
        .map_request(
            |req: http::Request<pf_metrics::RequestBody<axum::body::Body>>| {
                req.map(axum::body::Body::new)
            },
        )
        .layer(axum::middleware::from_fn(auth::authenticate));
    let app = app::routes(store.clone(), &registry).layer(stack);

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    eprintln!(
        "pf-demo: storage {}, cache {}",
        store.repository_kind(),
        store.cache_kind()
    );
    health.lifecycle().mark_ready();
    // Connect info gives the request span its `client.address`.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(
        health
            .lifecycle()
            .drain_on(shutdown_signal(), health::drain_delay()),
    )
    .await?;
    eprintln!("pf-demo: stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
