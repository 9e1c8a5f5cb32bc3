//! The tracing pipeline: [`init`] and [`Logging`] assemble the subscriber layers into pretty
//! or compact local logs, or JSON lines plus OTLP traces and logs when
//! `LOG_CLOUD_SHIPPING=true` (the variables are listed in the crate documentation).
//!
//! [`config`] reads the configuration from the environment (or any lookup function, for
//! tests), [`error`] says why building failed, [`export`] builds the OTLP exporters (feature
//! `otlp`) and [`redacting`] redacts their attributes, [`filter`] picks the cheapest filter
//! for `RUST_LOG`, [`stats`] counts what they do and
//! [`guard`] shuts them down.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::Layer;
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use crate::pipeline::config::{LogConfig, LogFormat, OtlpProtocol};
use crate::pipeline::error::InitError;
use crate::pipeline::filter::LogFilter;
use crate::pipeline::guard::LoggingGuard;
use crate::pipeline::writer::NonBlocking;
use crate::redact::Redactor;
use crate::subscriber::compact::RedactingFields;
use crate::subscriber::human::HumanLayer;
use crate::subscriber::json::JsonLayer;

pub(crate) mod config;
pub(crate) mod error;
#[cfg(feature = "otlp")]
pub(crate) mod export;
pub(crate) mod filter;
pub(crate) mod guard;
#[cfg(feature = "otlp")]
pub(crate) mod redacting;
pub(crate) mod stats;
pub(crate) mod writer;

/// A boxed layer over the registry.
pub type BoxLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The subscriber built by [`Logging::build`].
pub type LogSubscriber = tracing_subscriber::layer::Layered<Vec<BoxLayer>, Registry>;

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
/// use pf_log_enrich::{LogConfig, Logging};
/// // Build without installing globally, writing JSON to a sink:
/// let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".to_string()));
/// let (subscriber, _guard) = Logging::from_config(cfg)
///     .writer(std::io::sink)
///     .build()
///     .unwrap();
/// tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
/// ```
pub struct Logging {
    config: LogConfig,
    redactor: Redactor,
    writer: Option<BoxMakeWriter>,
    non_blocking: Option<usize>,
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
            non_blocking: None,
            is_terminal: std::io::stdout().is_terminal(),
        }
    }

    /// The configuration, to change before building.
    ///
    /// ```
    /// let mut logging = pf_log_enrich::Logging::from_env();
    /// if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
    ///     logging.config_mut().service_name = "my-service".to_owned();
    /// }
    /// ```
    pub fn config_mut(&mut self) -> &mut LogConfig {
        &mut self.config
    }

    /// Uses this redactor everywhere (JSON lines, OTLP span and log attributes).
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Writes log lines here instead of stdout (no colours).
    pub fn writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
    {
        self.writer = Some(BoxMakeWriter::new(writer));
        self.is_terminal = false;
        self
    }

    /// Writes log lines from a background thread: the formatter's line goes into a bounded
    /// queue of `queue_lines` lines (a full queue drops the line and counts it) and the
    /// request's thread never waits on the destination. The [`LoggingGuard`] flushes the queue
    /// within its shutdown deadline and prints a summary on stderr when lines were lost;
    /// [`LoggingGuard::writer_stats`] gives the counts (a `pf_metrics::Collector` with the
    /// `metrics` feature). See [`NonBlocking`].
    ///
    /// ```
    /// use pf_log_enrich::{LogConfig, Logging};
    /// let cfg = LogConfig::from_lookup(|k| (k == "LOG_FORMAT").then(|| "json".to_string()));
    /// let (subscriber, guard) = Logging::from_config(cfg)
    ///     .writer(std::io::sink)
    ///     .non_blocking(pf_log_enrich::DEFAULT_QUEUE_LINES)
    ///     .build()
    ///     .unwrap();
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("queued, not written here"));
    /// let stats = guard.writer_stats().expect("non-blocking");
    /// drop(guard); // flushes: the line is written
    /// assert_eq!(stats.lines_written(), 1);
    /// assert_eq!(stats.lines_dropped(), 0);
    /// ```
    pub fn non_blocking(mut self, queue_lines: usize) -> Self {
        self.non_blocking = Some(queue_lines);
        self
    }

    fn env_filter(&self) -> Result<LogFilter, InitError> {
        LogFilter::parse(&self.config.filter).map_err(InitError::Filter)
    }

    /// Whether this configuration exports over OTLP, or the error naming the feature this
    /// build lacks for it.
    fn exports(&self) -> Result<bool, InitError> {
        exports(&self.config, cfg!(feature = "otlp"), cfg!(feature = "grpc"))
    }

    /// Builds the layers (stdout and, when shipping, OTLP traces and logs) without installing
    /// anything globally.
    pub fn build_layers(self) -> Result<(Vec<BoxLayer>, LoggingGuard), InitError> {
        self.layers(false)
    }

    /// The layers. `whole`: they are the whole subscriber ([`Logging::build`]), so with one
    /// output (no export) its filter may act for the whole subscriber: a global filter in front
    /// of the output instead of a per-layer filter, which looks every span up again on each
    /// enter and exit (each poll of a future inside a span). With several outputs, or layers a
    /// caller adds to a subscriber of its own, each output keeps its own filter.
    fn layers(mut self, whole: bool) -> Result<(Vec<BoxLayer>, LoggingGuard), InitError> {
        let exports = self.exports()?;
        let mut layers: Vec<BoxLayer> = Vec::new();
        let mut writer = self
            .writer
            .take()
            .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
        let mut writer_guard = None;
        if let Some(queue_lines) = self.non_blocking {
            let (non_blocking, guard) = NonBlocking::new(writer, queue_lines);
            writer = BoxMakeWriter::new(non_blocking);
            writer_guard = Some(guard);
        }
        let json = self.config.cloud_shipping || self.config.format == LogFormat::Json;
        let filter = self.env_filter()?;
        let global = whole && !exports;
        fn output<L>(layer: L, filter: LogFilter, global: bool) -> BoxLayer
        where
            L: Layer<Registry> + Send + Sync,
        {
            if global {
                Box::new(filter.and_then(layer))
            } else {
                Box::new(layer.with_filter(filter))
            }
        }
        if json {
            layers.push(output(
                JsonLayer::new(writer).redactor(self.redactor.clone()),
                filter,
                global,
            ));
        } else {
            // Colours only on a terminal, and not with NO_COLOR.
            let ansi = self.is_terminal && self.config.color;
            if self.config.format == LogFormat::Compact {
                let fmt = tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi)
                    .fmt_fields(RedactingFields::new(self.redactor.clone()));
                layers.push(output(fmt.compact(), filter, global));
            } else {
                layers.push(output(
                    HumanLayer::new(writer)
                        .redactor(self.redactor.clone())
                        .ansi(ansi),
                    filter,
                    global,
                ));
            }
        }
        #[allow(unused_mut)]
        let mut guard = LoggingGuard::local(self.config.shutdown_timeout);
        guard.writer = writer_guard;
        #[cfg(feature = "otlp")]
        if exports {
            use tracing_subscriber::filter::{FilterExt, filter_fn};
            let (tracer, logger, stats) =
                crate::pipeline::export::build_providers(&self.config, &self.redactor)?;
            guard.stats = Some(stats);
            use opentelemetry::trace::TracerProvider as _;
            let otel = tracing_opentelemetry::layer()
                .with_tracer(tracer.tracer("pf-log-enrich"))
                .with_error_events_to_status(false)
                // No `busy_ns` / `idle_ns` attributes: they cost two clock reads and a lock of
                // the span's extensions on every poll of every future inside a span (a request
                // waiting on a database is polled again for each reply). The span's own start
                // and end times are exported either way.
                .with_tracked_inactivity(false)
                .with_filter(
                    self.env_filter()?
                        .and(filter_fn(|m| export_allowed(m.target()))),
                );
            layers.push(Box::new(otel));
            let logs = crate::subscriber::otel_logs::OtelLogLayer::new(&logger)
                .redactor(self.redactor.clone())
                .with_filter(
                    self.env_filter()?
                        .and(filter_fn(|m| export_allowed(m.target()))),
                );
            layers.push(Box::new(logs));
            guard.tracer = Some(tracer);
            guard.logger = Some(logger);
        }
        let _ = exports;
        Ok((layers, guard))
    }

    /// Builds the whole subscriber without installing it.
    pub fn build(self) -> Result<(LogSubscriber, LoggingGuard), InitError> {
        let (layers, guard) = self.layers(true)?;
        Ok((tracing_subscriber::registry().with(layers), guard))
    }

    /// Builds the subscriber, installs it globally, and installs the W3C trace-context
    /// propagator as the global propagator.
    ///
    /// When shipping, the first line it writes says where logs and traces go.
    pub fn init(self) -> Result<LoggingGuard, InitError> {
        let config = self.config.clone();
        let (subscriber, guard) = self.build()?;
        tracing::subscriber::set_global_default(subscriber).map_err(InitError::AlreadyInstalled)?;
        announce(&config, guard.is_exporting());
        #[cfg(feature = "opentelemetry")]
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        Ok(guard)
    }
}

/// Whether `cfg` exports over OTLP in a build with (`otlp`, `grpc`), or the error naming the
/// feature it lacks.
fn exports(cfg: &LogConfig, otlp: bool, grpc: bool) -> Result<bool, InitError> {
    if !cfg.cloud_shipping || cfg.sdk_disabled {
        return Ok(false);
    }
    if !otlp {
        return Err(InitError::MissingFeature {
            feature: "otlp",
            wanted_by: "LOG_CLOUD_SHIPPING=true",
        });
    }
    if !grpc
        && (cfg.traces.protocol == OtlpProtocol::Grpc || cfg.logs.protocol == OtlpProtocol::Grpc)
    {
        return Err(InitError::MissingFeature {
            feature: "grpc",
            wanted_by: "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        });
    }
    Ok(true)
}

/// The start-up line of a shipping pipeline: where logs and traces go, without credentials.
fn announce(cfg: &LogConfig, exporting: bool) {
    if !cfg.cloud_shipping {
        return;
    }
    #[cfg(feature = "otlp")]
    if exporting {
        use crate::pipeline::export::protocol_name;
        use crate::pipeline::stats::display_endpoint;
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
        "OTEL_SDK_DISABLED=true",
    );
}

/// Installs the pipeline configured by the process environment: pretty logs locally, JSON
/// lines plus OTLP traces and logs with `LOG_CLOUD_SHIPPING=true` (the variables are listed
/// in the [crate documentation](crate#init-and-the-environment)). Fails with
/// [`InitError::MissingFeature`] when the environment asks for OTLP (or gRPC) and this build
/// lacks the feature.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> LogConfig {
        LogConfig::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn shipping_without_the_otlp_feature_names_it() {
        let shipping = config(&[("LOG_CLOUD_SHIPPING", "true")]);
        let error = exports(&shipping, false, false).unwrap_err();
        assert!(matches!(
            error,
            InitError::MissingFeature {
                feature: "otlp",
                ..
            }
        ));
        assert!(error.to_string().contains("`otlp` feature"), "{error}");
        assert!(exports(&shipping, true, false).unwrap());
        // Shipping with the SDK disabled exports nothing: no feature needed.
        let disabled = config(&[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert!(!exports(&disabled, false, false).unwrap());
        assert!(!exports(&config(&[]), false, false).unwrap());
    }

    #[test]
    fn grpc_without_the_grpc_feature_names_it() {
        let grpc = config(&[
            ("LOG_CLOUD_SHIPPING", "true"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc"),
        ]);
        let error = exports(&grpc, true, false).unwrap_err();
        assert!(error.to_string().contains("`grpc` feature"), "{error}");
        assert!(exports(&grpc, true, true).unwrap());
    }
}
