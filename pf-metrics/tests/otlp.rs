//! OTLP push against a receiver that speaks the real protocol: semantic-convention names
//! and attributes, counts equal to the requests sent, and a collector that is down costs
//! failed attempts, never the application or a backlog.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{HistogramDataPoint, Metric, metric};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, OtlpPush, RouteExtractor};
use pf_tests::otlp::{OtlpReceiver, Received};
use tower::{Layer, Service, ServiceExt, service_fn};

#[derive(Clone)]
struct PathIsRoute;

impl RouteExtractor for PathIsRoute {
    fn route_str<'r>(&self, uri: &'r http::Uri, _: &'r http::Extensions) -> Option<&'r str> {
        (uri.path() != "/nowhere").then(|| uri.path())
    }
}

async fn send(registry: &MetricsRegistry, path: &str, n: usize) {
    let inner = service_fn(|req: Request<pf_metrics::RequestBody<String>>| async move {
        let status = if req.uri().path() == "/fail" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        let mut response = Response::new("body".to_owned());
        *response.status_mut() = status;
        Ok::<_, Infallible>(response)
    });
    let mut service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(PathIsRoute)
        .layer(inner);
    for _ in 0..n {
        let response = service
            .ready()
            .await
            .unwrap()
            .call(Request::get(path).body(String::new()).unwrap())
            .await
            .unwrap();
        // Body sizes count the bytes that pass: read the body.
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
    }
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// The newest export's metric `name`.
fn latest_metric(received: &Received, name: &str) -> Option<Metric> {
    let (_, request) = received.metrics.last()?;
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .find(|m| m.name == name)
        .cloned()
}

fn histogram_points(metric: &Metric) -> Vec<HistogramDataPoint> {
    match &metric.data {
        Some(metric::Data::Histogram(h)) => h.data_points.clone(),
        other => panic!("{} is not a histogram: {other:?}", metric.name),
    }
}

fn duration_count(received: &Received, route: &str, status: i64) -> u64 {
    latest_metric(received, "http.server.request.duration")
        .map(|m| histogram_points(&m))
        .unwrap_or_default()
        .iter()
        .filter(|p| {
            str_attr(&p.attributes, "http.route") == Some(route)
                && int_attr(&p.attributes, "http.response.status_code") == Some(status)
        })
        .map(|p| p.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_gets_semconv_histograms_with_exact_counts() {
    let receiver = OtlpReceiver::start();
    let registry = MetricsRegistry::new();
    send(&registry, "/api/users", 7).await;
    send(&registry, "/fail", 3).await;
    send(&registry, "/nowhere", 2).await;
    let push = OtlpPush::new(&registry, receiver.http_endpoint())
        .interval(Duration::from_millis(50))
        .resource_attribute("service.name", "otlp-test")
        .header("x-api-key", "push-secret")
        .spawn()
        .unwrap();
    let (received, arrived) = tokio::task::spawn_blocking(move || {
        let r = receiver.wait_until(Duration::from_secs(20), |r| {
            duration_count(r, "/api/users", 200) == 7
        });
        drop(receiver);
        r
    })
    .await
    .unwrap();
    assert!(
        arrived,
        "no export with 7 requests: {:?}",
        received.metrics.last()
    );

    let duration = latest_metric(&received, "http.server.request.duration").unwrap();
    assert_eq!(duration.unit, "s");
    let points = histogram_points(&duration);
    let ok = points
        .iter()
        .find(|p| str_attr(&p.attributes, "http.route") == Some("/api/users"))
        .unwrap();
    assert_eq!(str_attr(&ok.attributes, "http.request.method"), Some("GET"));
    assert_eq!(str_attr(&ok.attributes, "error.type"), None);
    assert_eq!(ok.bucket_counts.iter().sum::<u64>(), 7);
    assert_eq!(ok.bucket_counts.len(), ok.explicit_bounds.len() + 1);
    assert!(ok.explicit_bounds.contains(&0.5));
    assert!(ok.start_time_unix_nano > 0 && ok.start_time_unix_nano <= ok.time_unix_nano);
    assert_eq!(duration_count(&received, "/fail", 500), 3);
    let failed = points
        .iter()
        .find(|p| str_attr(&p.attributes, "http.route") == Some("/fail"))
        .unwrap();
    assert_eq!(str_attr(&failed.attributes, "error.type"), Some("500"));
    // Requests that matched no route carry no http.route.
    let unmatched: u64 = points
        .iter()
        .filter(|p| str_attr(&p.attributes, "http.route").is_none())
        .map(|p| p.count)
        .sum();
    assert_eq!(unmatched, 2);

    for name in [
        "http.server.active_requests",
        "http.server.request.body.size",
        "http.server.response.body.size",
    ] {
        assert!(latest_metric(&received, name).is_some(), "{name}");
    }
    let response_size = latest_metric(&received, "http.server.response.body.size").unwrap();
    assert_eq!(response_size.unit, "By");
    let users_bytes: f64 = histogram_points(&response_size)
        .iter()
        .filter(|p| str_attr(&p.attributes, "http.route") == Some("/api/users"))
        .filter_map(|p| p.sum)
        .sum();
    assert_eq!(users_bytes, 7.0 * 4.0, "7 bodies of 4 bytes");

    let (_, request) = received.metrics.last().unwrap();
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        str_attr(&resource.attributes, "service.name"),
        Some("otlp-test")
    );
    assert!(
        received
            .headers
            .iter()
            .any(|h| h == "x-api-key: push-secret")
    );

    assert!(push.exported() >= 1);
    let text = registry.encode(Format::Prometheus);
    assert!(
        text.contains(r#"pf_metrics_otlp_exports_total{result="ok"}"#),
        "{text}"
    );
    assert!(!text.contains("push-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_is_counted_and_costs_no_backlog() {
    // Nothing listens on this port until the receiver starts.
    let registry = MetricsRegistry::new();
    let port = pf_tests::process::free_port();
    let push = OtlpPush::new(&registry, format!("http://127.0.0.1:{port}"))
        .interval(Duration::from_millis(20))
        .timeout(Duration::from_millis(500))
        .spawn()
        .unwrap();
    send(&registry, "/api/users", 5).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while push.failed() < 3 {
        assert!(std::time::Instant::now() < deadline, "failures are counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(push.exported(), 0);
    // The application kept recording while the collector was down.
    send(&registry, "/api/users", 5).await;
    let text = registry.encode(Format::Prometheus);
    assert!(
        text.contains(r#"route="/api/users",status="200"} 10"#),
        "{text}"
    );
    let failed_line = text
        .lines()
        .find(|l| l.starts_with(r#"pf_metrics_otlp_exports_total{result="failed"}"#))
        .unwrap();
    let failed: f64 = failed_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(failed >= 3.0, "{failed_line}");
    // A final export to a collector that is down fails within its timeout, not forever.
    assert!(!push.shutdown().await);
}

#[tokio::test]
async fn endpoints_and_headers_are_checked_without_echoing_secrets() {
    let registry = MetricsRegistry::new();
    let https = OtlpPush::new(&registry, "https://collector.example:4318").spawn();
    assert!(https.unwrap_err().to_string().contains("http://"));
    let bad_header = OtlpPush::new(&registry, "http://127.0.0.1:4318")
        .header("authorization", "Bearer s3cret\nvalue")
        .spawn()
        .unwrap_err()
        .to_string();
    assert!(!bad_header.contains("s3cret"), "{bad_header}");
}
