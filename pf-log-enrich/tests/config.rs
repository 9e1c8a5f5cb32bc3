//! Configuration from a lookup map (never the process environment), and the guard's bounded
//! shutdown with an unreachable collector.

use std::collections::HashMap;
use std::time::Duration;

use pf_log_enrich::Logging;
use pf_log_enrich::{LogConfig, LogFormat, OtlpProtocol, SamplerConfig};

fn cfg(vars: &[(&str, &str)]) -> LogConfig {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogConfig::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults() {
    let c = cfg(&[]);
    assert!(!c.cloud_shipping);
    assert_eq!(c.format, LogFormat::Pretty);
    assert_eq!(c.filter, "info");
    assert_eq!(c.service_name, "unknown_service");
    assert_eq!(c.traces.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(c.logs.endpoint, "http://localhost:4318/v1/logs");
    assert_eq!(c.traces.timeout, Duration::from_secs(10));
    assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert!(!c.sdk_disabled);
}

#[test]
fn otel_variables() {
    let c = cfg(&[
        ("LOG_CLOUD_SHIPPING", "TRUE"),
        ("LOG_FORMAT", "compact"),
        ("RUST_LOG", "warn,app=debug"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs,deployment.environment=prod%20eu",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://127.0.0.1:9999/custom/logs",
        ),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=abc,x-other=1"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=override"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_SDK_DISABLED", "true"),
        ("NO_COLOR", "1"),
    ]);
    assert!(c.cloud_shipping);
    assert_eq!(c.format, LogFormat::Compact);
    assert_eq!(c.filter, "warn,app=debug");
    assert_eq!(c.service_name, "from-attrs");
    assert!(
        c.resource_attributes
            .contains(&("deployment.environment".into(), "prod eu".into()))
    );
    assert_eq!(c.traces.protocol, OtlpProtocol::Grpc);
    assert_eq!(c.traces.endpoint, "http://127.0.0.1:4317");
    assert_eq!(c.logs.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(c.logs.endpoint, "http://127.0.0.1:9999/custom/logs");
    assert!(
        c.traces
            .headers
            .contains(&("x-api-key".into(), "override".into()))
    );
    assert!(c.logs.headers.contains(&("x-api-key".into(), "abc".into())));
    assert_eq!(c.traces.timeout, Duration::from_millis(2500));
    assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.25));
    assert!(c.sdk_disabled);
    assert!(!c.color);
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("abc") && !debug.contains("override"),
        "{debug}"
    );
}

#[test]
fn service_name_wins_over_resource_attribute() {
    let c = cfg(&[
        ("OTEL_SERVICE_NAME", "svc"),
        ("OTEL_RESOURCE_ATTRIBUTES", "service.name=other"),
    ]);
    assert_eq!(c.service_name, "svc");
}

#[test]
fn bad_filter_is_an_error() {
    let c = cfg(&[("RUST_LOG", "app=notalevel")]);
    assert!(Logging::from_config(c).build().is_err());
}

#[cfg(feature = "otlp")]
#[test]
fn guard_shutdown_is_bounded_with_an_unreachable_collector() {
    // Port from a listener we close again: nothing listens there.
    let port = pf_tests::process::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut c = cfg(&[
        ("LOG_CLOUD_SHIPPING", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
    ]);
    c.shutdown_timeout = Duration::from_secs(2);
    let (subscriber, guard) = Logging::from_config(c)
        .writer(std::io::sink)
        .build()
        .unwrap();
    assert!(guard.is_exporting());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..100 {
            let span = tracing::info_span!("work", i);
            span.in_scope(|| tracing::info!(token = "x", "event"));
        }
    });
    // Returns (flush fails, shutdown is bounded by shutdown_timeout); tests/shutdown.rs checks
    // the report with collectors that accept and never answer.
    let _ = guard.shutdown();
}

#[test]
fn sdk_disabled_means_no_export() {
    let c = cfg(&[
        ("LOG_CLOUD_SHIPPING", "true"),
        ("OTEL_SDK_DISABLED", "true"),
    ]);
    let (_s, guard) = Logging::from_config(c)
        .writer(std::io::sink)
        .build()
        .unwrap();
    assert!(!guard.is_exporting());
}

/// A build without `otlp` refuses to ship instead of silently logging JSON only.
#[cfg(not(feature = "otlp"))]
#[test]
fn shipping_without_the_otlp_feature_is_an_error_naming_it() {
    let c = cfg(&[("LOG_CLOUD_SHIPPING", "true")]);
    let Err(error) = Logging::from_config(c).writer(std::io::sink).build() else {
        panic!("shipping without `otlp` builds");
    };
    assert!(
        matches!(
            error,
            pf_log_enrich::InitError::MissingFeature {
                feature: "otlp",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn init_errors_keep_their_source() {
    use std::error::Error as _;
    let Err(error) = Logging::from_config(cfg(&[("RUST_LOG", "app=notalevel")])).build() else {
        panic!("a bad filter builds");
    };
    let source = error.source().expect("the filter's parse error");
    assert!(!source.to_string().is_empty());
}
