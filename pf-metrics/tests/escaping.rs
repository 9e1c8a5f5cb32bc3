//! Route templates with quotes, backslashes and newlines are escaped, and the
//! output still passes `promtool check metrics`.

use std::convert::Infallible;

use http::{Request, Response};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, RouteExtractor};
use tower::{Layer, ServiceExt, service_fn};

/// Takes the route template from a request header, as a hostile or careless
/// application might.
#[derive(Clone)]
struct HeaderRoute;

impl RouteExtractor for HeaderRoute {
    fn route_str<'r>(&self, _: &'r http::Uri, ext: &'r http::Extensions) -> Option<&'r str> {
        ext.get::<&'static str>().copied()
    }
}

#[tokio::test]
async fn hostile_route_templates_are_escaped_in_both_formats() {
    let registry = MetricsRegistry::builder()
        .const_label("note", "multi\nline \"quoted\" \\")
        .unwrap()
        .build()
        .unwrap();
    let service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(HeaderRoute)
        .layer(service_fn(
            |_req: Request<pf_metrics::RequestBody<String>>| async {
                Ok::<_, Infallible>(Response::new(String::from("ok")))
            },
        ));
    for template in ["/a\"b/{id}", "/back\\slash", "/new\nline", "/ünï/cödé"] {
        let mut req = Request::new(String::new());
        req.extensions_mut().insert(template);
        drop(service.clone().oneshot(req).await.unwrap());
    }
    let text = registry.encode(Format::Prometheus);
    let c = r#"note="multi\nline \"quoted\" \\""#;
    for escaped in [
        r#"/a\"b/{id}"#,
        r#"/back\\slash"#,
        r#"/new\nline"#,
        "/ünï/cödé",
    ] {
        let line =
            format!(r#"http_requests_total{{{c},method="GET",route="{escaped}",status="200"}} 1"#);
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    pf_tests::promtool::promtool_check_metrics(&text).expect("promtool accepts escaped labels");
    // Every sample stays on one line: no raw newline leaked into a label.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.starts_with("http_") || l.starts_with("pf_metrics_")),
        "{text}"
    );
    let om = registry.encode(Format::OpenMetrics);
    assert!(om.contains(r#"route="/new\nline""#));
}
