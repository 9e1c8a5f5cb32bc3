//! Without axum: a hand-written hyper/tower service with its own route
//! templates through a `RouteExtractor`.
//!
//! ```sh
//! cargo run -p pf-metrics --example tower_service
//! ```

use std::convert::Infallible;

use http::{Extensions, Request, Response, Uri};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, RequestBody, RouteExtractor};
use tower::{Layer, ServiceExt, service_fn};

/// Two fixed templates; anything else is unmatched.
#[derive(Clone)]
struct Routes;

impl RouteExtractor for Routes {
    fn route_str<'r>(&self, uri: &'r Uri, _: &'r Extensions) -> Option<&'r str> {
        match uri.path() {
            p if p.starts_with("/orders/") => Some("/orders/{id}"),
            "/health" => Some("/health"),
            _ => None,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let registry = MetricsRegistry::new();
    let service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(Routes)
        .layer(service_fn(|req: Request<RequestBody<String>>| async move {
            Ok::<_, Infallible>(Response::new(format!("you asked for {}\n", req.uri())))
        }));
    for uri in ["/orders/1", "/orders/2", "/health", "/wp-login.php"] {
        let request = Request::get(uri)
            .body(String::new())
            .expect("valid request");
        let response = service.clone().oneshot(request).await.expect("infallible");
        drop(response); // the end of the body completes the request
    }
    print!("{}", registry.encode(Format::Prometheus));
}
