//! OTLP exporters and providers (feature `otlp`).

use std::collections::HashMap;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

use crate::Redactor;
use crate::init::{InitError, LogConfig, OtlpProtocol, OtlpSignalConfig, SamplerConfig};
use crate::otel::export::RedactingSpanExporter;

fn resource(cfg: &LogConfig) -> Resource {
    Resource::builder_empty()
        .with_attributes(
            cfg.resource_attributes
                .iter()
                .filter(|(k, _)| k != "service.name")
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_attributes([
            KeyValue::new("telemetry.sdk.language", "rust"),
            KeyValue::new("telemetry.sdk.name", "opentelemetry"),
        ])
        .with_service_name(cfg.service_name.clone())
        .build()
}

fn sampler(s: SamplerConfig) -> Sampler {
    match s {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

fn headers(sig: &OtlpSignalConfig) -> HashMap<String, String> {
    sig.headers.iter().cloned().collect()
}

#[cfg(feature = "grpc")]
fn metadata(sig: &OtlpSignalConfig) -> tonic::metadata::MetadataMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in &sig.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            map.insert(k, v);
        }
    }
    tonic::metadata::MetadataMap::from_headers(map)
}

fn err(e: impl std::fmt::Display) -> InitError {
    InitError::Exporter(e.to_string())
}

fn span_exporter(sig: &OtlpSignalConfig) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
    #[cfg(feature = "grpc")]
    if sig.protocol == OtlpProtocol::Grpc {
        use opentelemetry_otlp::WithTonicConfig;
        return opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(sig.endpoint.clone())
            .with_timeout(sig.timeout)
            .with_metadata(metadata(sig))
            .build()
            .map_err(err);
    }
    let _ = OtlpProtocol::Grpc;
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(sig.endpoint.clone())
        .with_timeout(sig.timeout)
        .with_headers(headers(sig))
        .build()
        .map_err(err)
}

fn log_exporter(sig: &OtlpSignalConfig) -> Result<opentelemetry_otlp::LogExporter, InitError> {
    #[cfg(feature = "grpc")]
    if sig.protocol == OtlpProtocol::Grpc {
        use opentelemetry_otlp::WithTonicConfig;
        return opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(sig.endpoint.clone())
            .with_timeout(sig.timeout)
            .with_metadata(metadata(sig))
            .build()
            .map_err(err);
    }
    opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(sig.endpoint.clone())
        .with_timeout(sig.timeout)
        .with_headers(headers(sig))
        .build()
        .map_err(err)
}

/// Builds the tracer and logger providers (batch processors: bounded queues, export on a
/// background thread, never on the request path).
pub(crate) fn build_providers(
    cfg: &LogConfig,
    redactor: &Redactor,
) -> Result<(SdkTracerProvider, SdkLoggerProvider), InitError> {
    let res = resource(cfg);
    let spans = RedactingSpanExporter {
        inner: span_exporter(&cfg.traces)?,
        redactor: redactor.clone(),
    };
    let tracer = SdkTracerProvider::builder()
        .with_resource(res.clone())
        .with_sampler(sampler(cfg.sampler))
        .with_batch_exporter(spans)
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_resource(res)
        .with_batch_exporter(log_exporter(&cfg.logs)?)
        .build();
    Ok((tracer, logger))
}
