//! Logging for the demo: `pf-log-enrich` wiring.
//!
//! - [`init`] installs the pipeline from the environment: pretty logs locally, JSON lines on
//!   stdout plus OTLP traces and logs with `LOG_CLOUD_SHIPPING=true` (endpoint and protocol
//!   from the standard `OTEL_EXPORTER_OTLP_*` variables).
//! - [`span_layer`] is the request span layer (`main` hands it to the fused `StackLayer`).
//! - [`record_identity`] is called by the fake auth once it knows the caller.

use axum::extract::Request;
use pf_log_enrich::{Identity, LoggingGuard, RequestSpanLayer, TrustedProxies};

/// Installs the global logging pipeline. Keep the guard until the server has stopped: dropping
/// it flushes the OTLP export (bounded time).
pub fn init() -> Result<LoggingGuard, pf_log_enrich::InitError> {
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        let mut logging = pf_log_enrich::Logging::from_env();
        logging.config_mut().service_name = "pf-demo".to_owned();
        return logging.init();
    }
    pf_log_enrich::init()
}

/// The request span: route, status, client address (behind private-network proxies),
/// user agent, and the authorization header (redacted) captured. `/metrics` scrapes get no
/// span and no log line.
pub fn span_layer() -> RequestSpanLayer {
    RequestSpanLayer::new()
        .trusted_proxies(TrustedProxies::private_networks())
        .capture_request_header(http::header::USER_AGENT)
        .capture_request_header(http::header::AUTHORIZATION)
        .exclude_route("/metrics")
}

/// Records the authenticated caller on the request span, its logs and the completion event.
pub fn record_identity(req: &Request, user_id: &str, org_id: &str) {
    if let Some(identity) = req.extensions().get::<Identity>() {
        identity.set_user_id(user_id);
        identity.set_organization_id(org_id);
    }
}
