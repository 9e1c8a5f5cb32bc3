//! OTLP exporters and providers (feature `otlp`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord, SdkLoggerProvider,
};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter, SpanProcessor,
};

use crate::limit::WarnLimiter;
use crate::pipeline::config::{LogConfig, OtlpProtocol, OtlpSignalConfig, SamplerConfig};
use crate::pipeline::error::InitError;
use crate::pipeline::redacting::RedactingSpanExporter;
use crate::pipeline::stats::{
    Counters, ExportStats, SignalCounters, WARN_TARGET, display_endpoint, strip_userinfo,
};
use crate::redact::Redactor;

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

fn err(e: opentelemetry_otlp::ExporterBuildError) -> InitError {
    InitError::Exporter(Box::new(e))
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
/// background thread, never on the request path), counting what becomes of every span and
/// log record in the returned [`ExportStats`].
pub(crate) fn build_providers(
    cfg: &LogConfig,
    redactor: &Redactor,
) -> Result<(SdkTracerProvider, SdkLoggerProvider, ExportStats), InitError> {
    let res = resource(cfg);
    let stats = ExportStats::default();
    let counters = stats.inner.clone();

    let span_watch = SignalWatch::new("spans", &cfg.traces, cfg.export_warning_interval);
    let spans = CountingSpanExporter {
        inner: RedactingSpanExporter {
            inner: span_exporter(&cfg.traces)?,
            redactor: redactor.clone(),
        },
        counters: counters.clone(),
        watch: span_watch.clone(),
    };
    // The inner queue is as large as the bound: it never fills, every drop is counted here.
    let span_processor = BoundedSpanProcessor {
        inner: BatchSpanProcessor::builder(spans)
            .with_batch_config(
                opentelemetry_sdk::trace::BatchConfigBuilder::default()
                    .with_max_queue_size(cfg.traces.max_queue_size)
                    .build(),
            )
            .build(),
        capacity: cfg.traces.max_queue_size as u64,
        counters: counters.clone(),
        watch: span_watch,
    };
    let tracer = SdkTracerProvider::builder()
        .with_resource(res.clone())
        .with_sampler(sampler(cfg.sampler))
        .with_span_processor(span_processor)
        .build();

    let log_watch = SignalWatch::new("log records", &cfg.logs, cfg.export_warning_interval);
    let logs = CountingLogExporter {
        inner: log_exporter(&cfg.logs)?,
        counters: counters.clone(),
        watch: log_watch.clone(),
    };
    let log_processor = BoundedLogProcessor {
        inner: BatchLogProcessor::builder(logs)
            .with_batch_config(
                opentelemetry_sdk::logs::BatchConfigBuilder::default()
                    .with_max_queue_size(cfg.logs.max_queue_size)
                    .build(),
            )
            .build(),
        capacity: cfg.logs.max_queue_size as u64,
        counters,
        watch: log_watch,
    };
    let logger = SdkLoggerProvider::builder()
        .with_resource(res)
        .with_log_processor(log_processor)
        .build();
    Ok((tracer, logger, stats))
}

/// What the export warnings say about one signal.
#[derive(Debug)]
pub(crate) struct SignalWatch {
    /// `spans` or `log records`.
    pub(crate) signal: &'static str,
    /// Endpoint without credentials.
    pub(crate) endpoint: String,
    /// `http/protobuf` or `grpc`.
    pub(crate) protocol: &'static str,
    /// Export failures (the collector refused or did not answer).
    pub(crate) failed_limiter: WarnLimiter,
    /// Queue-full drops: their own limiter, so that one kind never silences the other.
    pub(crate) dropped_limiter: WarnLimiter,
}

impl SignalWatch {
    fn new(signal: &'static str, sig: &OtlpSignalConfig, interval: Duration) -> Arc<Self> {
        Arc::new(Self {
            signal,
            endpoint: display_endpoint(&sig.endpoint),
            protocol: protocol_name(sig.protocol),
            failed_limiter: WarnLimiter::new(interval),
            dropped_limiter: WarnLimiter::new(interval),
        })
    }

    /// Counts a batch of `batch` items as exported or failed, and warns (rate-limited) on
    /// failure.
    fn settle(&self, counters: &SignalCounters, batch: usize, result: &OTelSdkResult) {
        match result {
            Ok(()) => {
                counters.exported.fetch_add(batch as u64, Ordering::AcqRel);
            }
            Err(e) => {
                counters.failed.fetch_add(batch as u64, Ordering::AcqRel);
                self.warn_failed(counters, batch, &e.to_string());
            }
        }
    }

    fn warn_failed(&self, counters: &SignalCounters, batch: usize, error: &str) {
        let Some(suppressed) = self.failed_limiter.allow() else {
            return;
        };
        let error = strip_userinfo(error);
        tracing::warn!(
            target: WARN_TARGET,
            signal = self.signal,
            endpoint = %self.endpoint,
            protocol = self.protocol,
            batch,
            error = %error,
            failed_total = counters.failed.load(Ordering::Relaxed),
            dropped_total = counters.dropped.load(Ordering::Relaxed),
            warnings_suppressed = suppressed,
            "OTLP export of {} to {} failed: telemetry is being lost",
            self.signal,
            self.endpoint,
        );
    }

    /// Called on the request path: the warning is written by a short-lived thread so that no
    /// tracing event is emitted from inside a span's close.
    fn warn_dropped(self: &Arc<Self>, counters: &Arc<Counters>, spans: bool) {
        let Some(suppressed) = self.dropped_limiter.allow() else {
            return;
        };
        let watch = self.clone();
        let counters = counters.clone();
        let _ = std::thread::Builder::new()
            .name("pf-log-export-warn".into())
            .spawn(move || {
                let c = if spans { &counters.spans } else { &counters.logs };
                tracing::warn!(
                    target: WARN_TARGET,
                    signal = watch.signal,
                    endpoint = %watch.endpoint,
                    protocol = watch.protocol,
                    failed_total = c.failed.load(Ordering::Relaxed),
                    dropped_total = c.dropped.load(Ordering::Relaxed),
                    warnings_suppressed = suppressed,
                    "OTLP export queue of {} is full: {} are being dropped (collector at {} slow or unreachable)",
                    watch.signal,
                    watch.signal,
                    watch.endpoint,
                );
            });
    }
}

pub(crate) fn protocol_name(p: OtlpProtocol) -> &'static str {
    match p {
        OtlpProtocol::Grpc if cfg!(feature = "grpc") => "grpc",
        _ => "http/protobuf",
    }
}

/// Counts exported and failed spans; warns (rate-limited) on failure.
#[derive(Debug)]
struct CountingSpanExporter<E> {
    inner: E,
    counters: Arc<Counters>,
    watch: Arc<SignalWatch>,
}

impl<E: SpanExporter> SpanExporter for CountingSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.watch.settle(&self.counters.spans, n, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// Bounds the spans in flight (queued or being exported) itself, so that every span the
/// batch processor would drop is counted: past `capacity` a span is dropped here.
#[derive(Debug)]
struct BoundedSpanProcessor {
    inner: BatchSpanProcessor,
    capacity: u64,
    counters: Arc<Counters>,
    watch: Arc<SignalWatch>,
}

impl SpanProcessor for BoundedSpanProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.inner.on_start(span, cx)
    }

    fn on_end(&self, span: SpanData) {
        if admit(self.capacity, &self.counters.spans) {
            self.inner.on_end(span);
        } else {
            self.counters.spans.dropped.fetch_add(1, Ordering::Relaxed);
            self.watch.warn_dropped(&self.counters, true);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// Takes one slot when fewer than `capacity` items are in flight (accepted, not yet
/// exported or failed).
fn admit(capacity: u64, counters: &SignalCounters) -> bool {
    let accepted = &counters.accepted;
    let mut current = accepted.load(Ordering::Acquire);
    loop {
        if current.saturating_sub(counters.settled()) >= capacity {
            return false;
        }
        match accepted.compare_exchange_weak(
            current,
            current + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(now) => current = now,
        }
    }
}

/// Counts exported and failed log records; warns (rate-limited) on failure.
#[derive(Debug)]
struct CountingLogExporter<E> {
    inner: E,
    counters: Arc<Counters>,
    watch: Arc<SignalWatch>,
}

impl<E: LogExporter> LogExporter for CountingLogExporter<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count();
        let result = self.inner.export(batch).await;
        self.watch.settle(&self.counters.logs, n, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}

/// [`BoundedSpanProcessor`] for log records.
#[derive(Debug)]
struct BoundedLogProcessor {
    inner: BatchLogProcessor,
    capacity: u64,
    counters: Arc<Counters>,
    watch: Arc<SignalWatch>,
}

impl LogProcessor for BoundedLogProcessor {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if admit(self.capacity, &self.counters.logs) {
            self.inner.emit(record, scope);
        } else {
            self.counters.logs.dropped.fetch_add(1, Ordering::Relaxed);
            self.watch.warn_dropped(&self.counters, false);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource)
    }
}
