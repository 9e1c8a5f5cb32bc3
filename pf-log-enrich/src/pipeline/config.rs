//! The configuration of the logging pipeline, read from the environment (or any lookup
//! function): [`LogConfig::from_lookup`]. Nothing here builds anything; `Logging` in the
//! parent module assembles the pipeline from it.

use std::fmt;
use std::time::Duration;

use pf_http_core::internal::text::percent_decode;
use pf_http_core::redact::REDACTED;

/// Local (non-shipping) output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human format read like `pino-pretty` ([`HumanLayer`](crate::HumanLayer)): time,
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
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `http/protobuf` (default).
    #[default]
    HttpProtobuf,
    /// `grpc` (needs the `grpc` feature: without it, building the pipeline fails with
    /// [`InitError::MissingFeature`](crate::InitError::MissingFeature)).
    Grpc,
}

/// Sampler for traces (`OTEL_TRACES_SAMPLER`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
            .map(|(k, _)| (k.as_str(), REDACTED))
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
/// use pf_log_enrich::{LogConfig, OtlpProtocol};
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
#[non_exhaustive]
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
    /// Total deadline for the flush and shutdown done by [`LoggingGuard`](crate::LoggingGuard),
    /// both signals together (`LOG_SHUTDOWN_TIMEOUT_MS`, default 2500 ms): past it the rest
    /// is abandoned and reported, so a collector that never answers cannot hold the exit.
    pub shutdown_timeout: Duration,
    /// At most one export warning (failure or drop) per signal in this interval (default 60 s).
    pub export_warning_interval: Duration,
}

/// Default of [`LogConfig::shutdown_timeout`]: short enough for a container's grace period
/// after the server's own drain.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(2500);

fn truthy(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn parse_pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            // W3C baggage octets: `%XX` escapes, `+` is a plus sign.
            let k = percent_decode(k.trim(), false).into_owned();
            (!k.is_empty()).then(|| (k, percent_decode(v.trim(), false).into_owned()))
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
            shutdown_timeout: get("LOG_SHUTDOWN_TIMEOUT_MS")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from_millis),
            export_warning_interval: Duration::from_secs(60),
        }
    }
}
