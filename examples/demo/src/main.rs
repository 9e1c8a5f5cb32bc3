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
mod listener;
mod logging;
mod store;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use pf_stack::StackLayer;
use tower::ServiceBuilder;

/// What the demo serves, printed at start and in `--help`.
const ROUTES: &str = "  GET  /api/v1/users/{id}    a user (1..=100), read through the cache
  GET  /api/v1/projects      the caller's organization's projects (Authorization: Bearer demo-token-<user>-<org>)
  POST /api/v1/projects      create one: {\"name\": \"...\"} (same header)
  GET  /api/v1/fail          always 500
  GET  /api/v1/slow?ms=300   answers after ms milliseconds
  GET  /api/v1/stream        a streamed body (?chunks=5&size=1024&interval_ms=20)
  GET  /metrics              Prometheus text / OpenMetrics
  GET  /livez /readyz /startupz /health[?verbose]   probes (details with HEALTH_DETAILS_TOKEN)";

const ENVIRONMENT: &str = "\
Environment:
  PF_DEMO_ADDR              listen address (default 127.0.0.1:3000)
  PF_DEMO_ADMIN_ADDR        admin listener for /metrics and health details (then not on the public one)
  METRICS_TOKEN             bearer token /metrics requires
  DATABASE_URL              PostgreSQL; in-memory storage when unset
  REDIS_URL                 Redis; in-memory cache when unset
  HEALTH_DETAILS_TOKEN      callers sending `Authorization: Bearer <token>` see health details
  PF_DEMO_DRAIN_DELAY_MS    how long readiness fails before the listener closes on shutdown (default 0)
  PF_DEMO_HEADER_TIMEOUT_MS request head (and idle keep-alive) timeout (default 10000)
  PF_DEMO_MAX_CONNECTIONS   connections served at once (default 1024)
  PF_DEMO_BODY_LIMIT_BYTES  largest request body, 413 above (default 65536)
  PF_DEMO_BREAKER_THRESHOLD consecutive connection failures that open a dependency's circuit (default 5)
  PF_DEMO_BREAKER_COOL_DOWN_MS how long an open circuit fails at once before one probe (default 5000)
  LOG_SHUTDOWN_TIMEOUT_MS   total deadline of the OTLP flush on exit (default 2500)
  LOG_CLOUD_SHIPPING=true   JSON logs on stdout plus OTLP traces and logs; otherwise pretty logs
  LOG_LEVEL, RUST_LOG       log filter (default info)
  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_HEADERS,
  OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED   the standard OTLP settings";

/// Command line and environment of the demo.
#[derive(Parser, Debug)]
#[command(
    version,
    about = "pf demo backend",
    after_help = format!("Routes:\n{ROUTES}\n\n{ENVIRONMENT}")
)]
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
    /// Admin listener for `/metrics` and the health endpoints with details (bind it to a
    /// private address); when set, the public listener has no `/metrics`.
    #[arg(long, env = "PF_DEMO_ADMIN_ADDR")]
    admin_addr: Option<SocketAddr>,
    /// Bearer token `/metrics` requires (constant-time compare; never printed).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
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
    let registry = pf_metrics::MetricsRegistry::builder()
        .const_label("service", "pf-demo")?
        .exclude_route("/metrics")
        .build()?;
    registry.register_collector(pf_metrics::ProcessCollector::new());
    registry.register_collector(
        pf_metrics::RuntimeCollector::current().scheduling_lag(Duration::from_millis(250)),
    );
    // log-enrich: exported / failed / dropped spans and log records when shipping.
    if let Some(stats) = _log_guard.export_stats() {
        registry.register_collector(stats);
    }
    // Nothing connects yet: the server answers /livez at once, and /startupz and /readyz
    // stay 503 until PostgreSQL and Redis answer (retried with backoff, each failure logged).
    let store = store::Store::open(
        args.database_url.as_deref(),
        args.redis_url.as_deref(),
        &registry,
    )?;
    let health = health::registry(&store, &registry)?;
    // The whole stack in one `Router::layer` call: axum boxes each route once per call.
    // pf-stack's fused layer answers probes first (no request ID, log, metrics or auth for
    // them), then gives each request its ID, span and metrics in one service and one
    // future. `axum_body()`: axum's own body type passes through, so axum boxes no body
    // again and the `from_fn` middleware below takes the request as it is.
    let stack = ServiceBuilder::new()
        .layer(
            StackLayer::new(registry.clone())
                .health(health::layer(&health))
                .span(logging::span_layer())
                .axum_body(),
        )
        .layer(axum::middleware::from_fn(auth::authenticate));
    let limits = listener::Limits::from_env();
    let mut metrics = registry.exposition();
    if let Some(token) = args.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        metrics = metrics.bearer_token(token)?;
    }
    // The recommended production setup: `/metrics` (and health details) only on an admin
    // listener the public one does not route to, behind a token.
    let (public_metrics, admin) = match args.admin_addr {
        None => (Some(metrics), None),
        Some(admin_addr) => {
            let admin_listener = tokio::net::TcpListener::bind(admin_addr)
                .await
                .map_err(|e| format!("cannot listen on {admin_addr} (admin): {e}"))?;
            let admin_app = axum::Router::new()
                .route_service("/metrics", metrics)
                .layer(
                    pf_health::HealthLayer::new(health.clone())
                        .show_details(pf_health::ShowDetails),
                );
            println!("admin on http://{}", admin_listener.local_addr()?);
            let server = tokio::spawn(listener::serve(
                admin_listener,
                admin_app,
                limits,
                pf_health::shutdown_signal(),
            ));
            (None, Some(server))
        }
    };
    // The body limit sits inside the stack: a 413 is logged and counted like any answer.
    let app = app::routes(store.clone(), public_metrics)
        .layer(limits.body_limit_layer())
        .layer(stack);

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    eprintln!(
        "pf-demo: storage {}, cache {}\nroutes:\n{ROUTES}",
        store.repository_kind(),
        store.cache_kind()
    );

    // Ready once the dependencies answer; a configuration no retry can fix ends the process.
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<store::Misconfigured>();
    let startup = {
        let (store, lifecycle) = (store.clone(), health.lifecycle().clone());
        tokio::spawn(async move {
            match store.connect().await {
                Ok(()) => {
                    lifecycle.mark_ready();
                    tracing::info!("dependencies connected; ready");
                }
                Err(e) => {
                    let _ = fatal_tx.send(e);
                }
            }
        })
    };
    let fatal = std::sync::Arc::new(std::sync::Mutex::new(None));
    let shutdown = {
        let fatal = fatal.clone();
        async move {
            tokio::select! {
                () = pf_health::shutdown_signal() => {}
                Ok(e) = fatal_rx => {
                    *fatal.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
            }
        }
    };
    // The hardened listener (header-read and idle timeouts, connection limit); it gives each
    // request its peer address, the request span's `client.address`.
    listener::serve(
        listener,
        app,
        limits,
        health.lifecycle().drain_on(shutdown, health::drain_delay()),
    )
    .await;
    startup.abort();
    if let Some(admin) = admin {
        admin.abort();
    }
    let fatal = fatal.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(e) = fatal {
        tracing::error!(error = %e, "cannot start");
        return Err(e.into());
    }
    eprintln!("pf-demo: stopped");
    Ok(())
}
