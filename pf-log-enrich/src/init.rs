//! One entry point for the logging pipeline: pretty/compact local logs, or JSON lines plus
//! OTLP traces and logs when `LOG_CLOUD_SHIPPING=true`.
//!
//! With `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` (feature `grpc`) build the pipeline inside a
//! multi-threaded Tokio runtime (e.g. at the top of `#[tokio::main]`): the gRPC channel runs
//! on it. The HTTP exporter needs no runtime. Export runs on background threads with bounded
//! queues (2048 spans, 2048 log records; the excess is dropped, never blocking a request).
//!
//! Configuration is read through a lookup function, so it can be tested without touching the
//! process environment: [`LogConfig::from_lookup`]. [`init`] reads `std::env`.
//!
//! | variable | meaning |
//! |---|---|
//! | `LOG_CLOUD_SHIPPING` | `true`: JSON lines on stdout + OTLP export |
//! | `LOG_FORMAT` | `pretty` (default), `compact` or `json` when not shipping |
//! | `RUST_LOG` | filter directives (default `info`) |
//! | `NO_COLOR` | no ANSI colours (colours are only used on a terminal anyway) |
//! | `OTEL_SDK_DISABLED` | `true`: no OTLP export |
//! | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` | resource |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]ENDPOINT` | collector endpoint |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]PROTOCOL` | `http/protobuf` (default) or `grpc` (feature `grpc`) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]HEADERS` | `key=value,...` (never logged) |
//! | `OTEL_EXPORTER_OTLP_[TRACES_\|LOGS_]TIMEOUT` | export timeout in milliseconds (default 10000) |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampler (default `parentbased_always_on`) |
//! | `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE` | spans / log records waiting for export at most (default 2048; the excess is dropped and counted) |
//!
//! Export never fails silently: when shipping, [`init`] writes one start-up line saying where
//! logs and traces go (endpoint without credentials or query, protocol); a failed export or a
//! full queue writes a warning (target `pf_log_enrich::export`, at most one per
//! [`LogConfig::export_warning_interval`] and signal, with the totals and how many warnings
//! were held back); [`LoggingGuard::export_stats`] counts exported / failed / dropped spans and
//! log records (with the `metrics` feature, on pf-metrics' `/metrics`).

use std::fmt;
use std::io::IsTerminal;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::{JsonLayer, Redactor};

/// Local (non-shipping) output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human format read like `pino-pretty` ([`HumanLayer`](crate::human::HumanLayer)): time,
    /// level, method, route, status and duration first, then request ID, user and
    /// organization, then the message and the other fields, each once.
    #[default]
    Pretty,
    /// tracing-subscriber's compact format (span context, target, message, fields), with
    /// this crate's redacting field formatter.
    Compact,
    /// JSON lines (as when shipping, without OTLP).
    Json,
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf` (default).
    #[default]
    HttpProtobuf,
    /// `grpc` (needs the `grpc` feature; falls back to HTTP otherwise).
    Grpc,
}

/// Sampler for traces (`OTEL_TRACES_SAMPLER`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerConfig {
    /// `always_on`
    AlwaysOn,
    /// `always_off`
    AlwaysOff,
    /// `traceidratio` with a ratio
    TraceIdRatio(f64),
    /// `parentbased_always_on` (default)
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio` with a ratio
    ParentBasedTraceIdRatio(f64),
}

/// Exporter settings for one signal (traces or logs).
#[derive(Clone, PartialEq)]
pub struct OtlpSignalConfig {
    /// Full endpoint URL (for HTTP including the `/v1/traces` or `/v1/logs` path).
    pub endpoint: String,
    /// Transport.
    pub protocol: OtlpProtocol,
    /// Extra headers (API keys); shown redacted by `Debug`.
    pub headers: Vec<(String, String)>,
    /// Export timeout.
    pub timeout: Duration,
    /// Items waiting for export at most (`OTEL_BSP_MAX_QUEUE_SIZE` for traces,
    /// `OTEL_BLRP_MAX_QUEUE_SIZE` for logs; default 2048); the excess is dropped and counted.
    pub max_queue_size: usize,
}

impl fmt::Debug for OtlpSignalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, _)| (k.as_str(), crate::redact::REDACTED))
            .collect();
        f.debug_struct("OtlpSignalConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("max_queue_size", &self.max_queue_size)
            .finish()
    }
}

/// The resolved configuration of the logging pipeline.
///
/// ```
/// use pf_log_enrich::init::{LogConfig, OtlpProtocol};
/// let env = [
///     ("LOG_CLOUD_SHIPPING", "true"),
///     ("OTEL_SERVICE_NAME", "api"),
///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
///     ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t"),
/// ];
/// let cfg = LogConfig::from_lookup(|k| {
///     env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
/// });
/// assert!(cfg.cloud_shipping);
/// assert_eq!(cfg.service_name, "api");
/// assert_eq!(cfg.traces.endpoint, "http://127.0.0.1:4318/v1/traces");
/// assert_eq!(cfg.logs.protocol, OtlpProtocol::HttpProtobuf);
/// assert!(!format!("{cfg:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// JSON on stdout + OTLP export.
    pub cloud_shipping: bool,
    /// Local format when not shipping.
    pub format: LogFormat,
    /// `RUST_LOG`-style directives.
    pub filter: String,
    /// `false` when `NO_COLOR` is set.
    pub color: bool,
    /// OTLP export disabled (`OTEL_SDK_DISABLED=true`).
    pub sdk_disabled: bool,
    /// `service.name`.
    pub service_name: String,
    /// Other resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// Trace exporter.
    pub traces: OtlpSignalConfig,
    /// Log exporter.
    pub logs: OtlpSignalConfig,
    /// Sampler.
    pub sampler: SamplerConfig,
    /// Upper bound for the flush and shutdown done by [`LoggingGuard`].
    pub shutdown_timeout: Duration,
    /// At most one export warning (failure or drop) per signal in this interval (default 60 s).
    pub export_warning_interval: Duration,
}

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = percent_decode(k.trim());
            (!k.is_empty()).then(|| (k, percent_decode(v.trim())))
        })
        .collect()
}

impl LogConfig {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup` (return `None` for unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let format = match get("LOG_FORMAT").map(|v| v.to_ascii_lowercase()).as_deref() {
            Some("compact") => LogFormat::Compact,
            Some("json") => LogFormat::Json,
            _ => LogFormat::Pretty,
        };
        let resource_attributes = get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| parse_pairs(&v))
            .unwrap_or_default();
        let service_name = get("OTEL_SERVICE_NAME")
            .or_else(|| {
                resource_attributes
                    .iter()
                    .find(|(k, _)| k == "service.name")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "unknown_service".to_owned());
        let protocol = |signal: &str| {
            let v = get(&format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"))
                .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"));
            match v.as_deref().map(str::trim) {
                Some("grpc") => OtlpProtocol::Grpc,
                _ => OtlpProtocol::HttpProtobuf,
            }
        };
        let signal = |signal: &str, path: &str, queue_var: &str| {
            let protocol = protocol(signal);
            let endpoint = match get(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")) {
                Some(e) => e,
                None => {
                    let base = get("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| {
                        match protocol {
                            OtlpProtocol::Grpc => "http://localhost:4317",
                            OtlpProtocol::HttpProtobuf => "http://localhost:4318",
                        }
                        .to_owned()
                    });
                    match protocol {
                        OtlpProtocol::Grpc => base,
                        OtlpProtocol::HttpProtobuf => {
                            format!("{}{}", base.trim_end_matches('/'), path)
                        }
                    }
                }
            };
            let mut headers = get("OTEL_EXPORTER_OTLP_HEADERS")
                .map(|v| parse_pairs(&v))
                .unwrap_or_default();
            if let Some(h) = get(&format!("OTEL_EXPORTER_OTLP_{signal}_HEADERS")) {
                for (k, v) in parse_pairs(&h) {
                    headers.retain(|(k2, _)| !k2.eq_ignore_ascii_case(&k));
                    headers.push((k, v));
                }
            }
            let timeout = get(&format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"))
                .or_else(|| get("OTEL_EXPORTER_OTLP_TIMEOUT"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_secs(10));
            let max_queue_size = get(queue_var)
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(2048);
            OtlpSignalConfig {
                endpoint,
                protocol,
                headers,
                timeout,
                max_queue_size,
            }
        };
        let ratio = get("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|r| (0.0..=1.0).contains(r))
            .unwrap_or(1.0);
        let sampler = match get("OTEL_TRACES_SAMPLER").as_deref().map(str::trim) {
            Some("always_on") => SamplerConfig::AlwaysOn,
            Some("always_off") => SamplerConfig::AlwaysOff,
            Some("traceidratio") => SamplerConfig::TraceIdRatio(ratio),
            Some("parentbased_always_off") => SamplerConfig::ParentBasedAlwaysOff,
            Some("parentbased_traceidratio") => SamplerConfig::ParentBasedTraceIdRatio(ratio),
            _ => SamplerConfig::ParentBasedAlwaysOn,
        };
        Self {
            cloud_shipping: truthy(get("LOG_CLOUD_SHIPPING")),
            format,
            filter: get("RUST_LOG").unwrap_or_else(|| "info".to_owned()),
            color: get("NO_COLOR").is_none(),
            sdk_disabled: truthy(get("OTEL_SDK_DISABLED")),
            service_name,
            resource_attributes,
            traces: signal("TRACES", "/v1/traces", "OTEL_BSP_MAX_QUEUE_SIZE"),
            logs: signal("LOGS", "/v1/logs", "OTEL_BLRP_MAX_QUEUE_SIZE"),
            sampler,
            shutdown_timeout: Duration::from_secs(5),
            export_warning_interval: Duration::from_secs(60),
        }
    }
}

/// Errors from building the pipeline.
#[derive(Debug)]
pub enum InitError {
    /// `RUST_LOG` could not be parsed.
    Filter(String),
    /// An OTLP exporter could not be built.
    Exporter(String),
    /// A global subscriber was already installed.
    AlreadyInstalled,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filter(e) => write!(f, "invalid log filter: {e}"),
            Self::Exporter(e) => write!(f, "cannot build the OTLP exporter: {e}"),
            Self::AlreadyInstalled => f.write_str("a global tracing subscriber is already set"),
        }
    }
}

impl std::error::Error for InitError {}

/// A boxed layer over the registry.
pub type BoxLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The subscriber built by [`Logging::build`].
pub type LogSubscriber = tracing_subscriber::layer::Layered<Vec<BoxLayer>, Registry>;

/// Flushes and shuts down the OTLP pipeline when dropped, waiting at most
/// [`LogConfig::shutdown_timeout`]. Keep it alive for the life of the program.
#[must_use = "dropping the guard shuts the OTLP export down"]
pub struct LoggingGuard {
    #[cfg(feature = "otlp")]
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    #[cfg(feature = "otlp")]
    logger: Option<opentelemetry_sdk::logs::SdkLoggerProvider>,
    stats: Option<crate::ExportStats>,
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    timeout: Duration,
}

impl fmt::Debug for LoggingGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggingGuard")
            .field("exporting", &self.is_exporting())
            .finish()
    }
}

impl LoggingGuard {
    /// Whether OTLP export is active.
    pub fn is_exporting(&self) -> bool {
        #[cfg(feature = "otlp")]
        {
            self.tracer.is_some()
        }
        #[cfg(not(feature = "otlp"))]
        {
            false
        }
    }

    /// Live counts of exported / failed / dropped spans and log records, when exporting.
    ///
    /// ```
    /// use pf_log_enrich::{Logging, init::LogConfig};
    /// let (_subscriber, guard) = Logging::from_config(LogConfig::from_lookup(|_| None))
    ///     .with_writer(std::io::sink)
    ///     .build()
    ///     .unwrap();
    /// assert!(guard.export_stats().is_none(), "not shipping: nothing is exported");
    /// ```
    pub fn export_stats(&self) -> Option<crate::ExportStats> {
        self.stats.clone()
    }

    /// The tracer provider, when exporting (e.g. for a global `opentelemetry` tracer).
    #[cfg(feature = "otlp")]
    pub fn tracer_provider(&self) -> Option<&opentelemetry_sdk::trace::SdkTracerProvider> {
        self.tracer.as_ref()
    }

    /// Flushes and shuts down now (also done on drop).
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    fn shutdown_inner(&mut self) {
        #[cfg(feature = "otlp")]
        {
            let tracer = self.tracer.take();
            let logger = self.logger.take();
            if tracer.is_none() && logger.is_none() {
                return;
            }
            let timeout = self.timeout;
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("pf-log-shutdown".into())
                .spawn(move || {
                    if let Some(t) = tracer {
                        let _ = t.shutdown_with_timeout(timeout);
                    }
                    if let Some(l) = logger {
                        let _ = l.shutdown_with_timeout(timeout);
                    }
                    let _ = tx.send(());
                });
            if spawned.is_ok() {
                // Bounded: an unreachable collector never holds the process.
                let _ = rx.recv_timeout(timeout + Duration::from_millis(500));
            }
        }
    }
}

impl Drop for LoggingGuard {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

/// Targets never exported over OTLP (the exporter's own stack).
/// (`pf_log_enrich::export` is the export's own warnings: they go to stdout only.)
pub const EXPORT_EXCLUDED_TARGETS: &[&str] = &[
    "opentelemetry",
    "tonic",
    "h2",
    "hyper",
    "reqwest",
    "tower",
    "pf_log_enrich::export",
];

#[cfg(feature = "otlp")]
fn export_allowed(target: &str) -> bool {
    !EXPORT_EXCLUDED_TARGETS
        .iter()
        .any(|t| target.starts_with(t))
}

/// Builder for the logging pipeline.
///
/// ```
/// use pf_log_enrich::{Logging, init::LogConfig};
/// // Build without installing globally, writing JSON to a sink:
/// let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".to_string()));
/// let (subscriber, _guard) = Logging::from_config(cfg)
///     .with_writer(std::io::sink)
///     .build()
///     .unwrap();
/// tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
/// ```
pub struct Logging {
    config: LogConfig,
    redactor: Redactor,
    writer: Option<BoxMakeWriter>,
    is_terminal: bool,
}

impl fmt::Debug for Logging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logging")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Logging {
    /// Configuration from the process environment.
    pub fn from_env() -> Self {
        Self::from_config(LogConfig::from_env())
    }

    /// Configuration given explicitly.
    pub fn from_config(config: LogConfig) -> Self {
        Self {
            config,
            redactor: Redactor::default(),
            writer: None,
            is_terminal: std::io::stdout().is_terminal(),
        }
    }

    /// The configuration.
    pub fn config_mut(&mut self) -> &mut LogConfig {
        &mut self.config
    }

    /// Uses this redactor everywhere (JSON lines, OTLP span and log attributes).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Writes log lines here instead of stdout (no colours).
    pub fn with_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
    {
        self.writer = Some(BoxMakeWriter::new(writer));
        self.is_terminal = false;
        self
    }

    #[cfg(feature = "otlp")]
    fn env_filter(&self) -> Result<EnvFilter, InitError> {
        EnvFilter::builder()
            .parse(&self.config.filter)
            .map_err(|e| InitError::Filter(e.to_string()))
    }

    /// Builds the layers (stdout and, when shipping, OTLP traces and logs) without installing
    /// anything globally.
    pub fn build_layers(mut self) -> Result<(Vec<BoxLayer>, LoggingGuard), InitError> {
        let mut layers: Vec<BoxLayer> = Vec::new();
        let writer = self
            .writer
            .take()
            .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
        let json = self.config.cloud_shipping || self.config.format == LogFormat::Json;
        let filter = EnvFilter::builder()
            .parse(&self.config.filter)
            .map_err(|e| InitError::Filter(e.to_string()))?;
        if json {
            layers.push(Box::new(
                JsonLayer::new(writer)
                    .with_redactor(self.redactor.clone())
                    .with_filter(filter),
            ));
        } else {
            // Colours only on a terminal, and not with NO_COLOR.
            let ansi = self.is_terminal && self.config.color;
            if self.config.format == LogFormat::Compact {
                let fmt = tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi)
                    .fmt_fields(crate::human::RedactingFields::new(self.redactor.clone()));
                layers.push(Box::new(fmt.compact().with_filter(filter)));
            } else {
                layers.push(Box::new(
                    crate::human::HumanLayer::new(writer)
                        .with_redactor(self.redactor.clone())
                        .with_ansi(ansi)
                        .with_filter(filter),
                ));
            }
        }
        #[allow(unused_mut)]
        let mut guard = LoggingGuard {
            #[cfg(feature = "otlp")]
            tracer: None,
            #[cfg(feature = "otlp")]
            logger: None,
            stats: None,
            timeout: self.config.shutdown_timeout,
        };
        #[cfg(feature = "otlp")]
        if self.config.cloud_shipping && !self.config.sdk_disabled {
            use tracing_subscriber::filter::{FilterExt, filter_fn};
            let (tracer, logger, stats) =
                crate::export::build_providers(&self.config, &self.redactor)?;
            guard.stats = Some(stats);
            use opentelemetry::trace::TracerProvider as _;
            let otel = tracing_opentelemetry::layer()
                .with_tracer(tracer.tracer("pf-log-enrich"))
                .with_error_events_to_status(false)
                .with_filter(
                    self.env_filter()?
                        .and(filter_fn(|m| export_allowed(m.target()))),
                );
            layers.push(Box::new(otel));
            let logs = crate::OtelLogLayer::new(&logger)
                .with_redactor(self.redactor.clone())
                .with_filter(
                    self.env_filter()?
                        .and(filter_fn(|m| export_allowed(m.target()))),
                );
            layers.push(Box::new(logs));
            guard.tracer = Some(tracer);
            guard.logger = Some(logger);
        }
        Ok((layers, guard))
    }

    /// Builds the whole subscriber without installing it.
    pub fn build(self) -> Result<(LogSubscriber, LoggingGuard), InitError> {
        let (layers, guard) = self.build_layers()?;
        Ok((tracing_subscriber::registry().with(layers), guard))
    }

    /// Builds the subscriber, installs it globally, and installs the W3C trace-context
    /// propagator as the global propagator.
    ///
    /// When shipping, the first line it writes says where logs and traces go.
    pub fn init(self) -> Result<LoggingGuard, InitError> {
        let config = self.config.clone();
        let (subscriber, guard) = self.build()?;
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| InitError::AlreadyInstalled)?;
        announce(&config, guard.is_exporting());
        #[cfg(feature = "opentelemetry")]
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        Ok(guard)
    }
}

/// The start-up line of a shipping pipeline: where logs and traces go, without credentials.
fn announce(cfg: &LogConfig, exporting: bool) {
    if !cfg.cloud_shipping {
        return;
    }
    #[cfg(feature = "otlp")]
    if exporting {
        use crate::export::protocol_name;
        use crate::export_stats::display_endpoint;
        let traces = display_endpoint(&cfg.traces.endpoint);
        let logs = display_endpoint(&cfg.logs.endpoint);
        let (tp, lp) = (
            protocol_name(cfg.traces.protocol),
            protocol_name(cfg.logs.protocol),
        );
        tracing::info!(
            target: "pf_log_enrich::export",
            service_name = %cfg.service_name,
            traces_endpoint = %traces,
            traces_protocol = tp,
            logs_endpoint = %logs,
            logs_protocol = lp,
            "log shipping: JSON lines to stdout, OTLP traces to {traces} ({tp}), OTLP logs to {logs} ({lp})",
        );
        return;
    }
    let _ = exporting;
    tracing::info!(
        target: "pf_log_enrich::export",
        "log shipping: JSON lines to stdout; OTLP export of traces and logs is off ({})",
        if cfg.sdk_disabled {
            "OTEL_SDK_DISABLED=true"
        } else {
            "built without the `otlp` feature"
        },
    );
}

/// Installs the pipeline configured by the process environment (see the module docs).
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// let _guard = pf_log_enrich::init().expect("logging");
/// tracing::info!("started");
/// # }
/// ```
pub fn init() -> Result<LoggingGuard, InitError> {
    Logging::from_env().init()
}
