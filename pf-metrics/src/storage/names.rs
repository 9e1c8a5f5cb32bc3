//! Metric and label names of the registry's own families, by [`Naming`].

use crate::config::Naming;

/// Metric names, prefix applied.
pub(crate) struct Names {
    /// `grpc_server_handled_total` (Prometheus naming only).
    pub(crate) grpc_handled: Option<String>,
    pub(crate) grpc_duration: String,
    pub(crate) requests: Option<String>,
    pub(crate) duration: String,
    pub(crate) in_flight: String,
    pub(crate) request_size: String,
    pub(crate) response_size: String,
}

impl Names {
    pub(crate) fn new(naming: Naming, prefix: Option<&str>) -> Self {
        let p = |n: &str| match prefix {
            Some(p) if !p.is_empty() => format!("{p}_{n}"),
            _ => n.to_owned(),
        };
        match naming {
            Naming::Prometheus => Self {
                grpc_handled: Some(p("grpc_server_handled")),
                grpc_duration: p("grpc_server_handling_seconds"),
                requests: Some(p("http_requests")),
                duration: p("http_request_duration_seconds"),
                in_flight: p("http_requests_in_flight"),
                request_size: p("http_request_size_bytes"),
                response_size: p("http_response_size_bytes"),
            },
            Naming::OpenTelemetry => Self {
                grpc_handled: None,
                grpc_duration: p("rpc_server_call_duration_seconds"),
                requests: None,
                duration: p("http_server_request_duration_seconds"),
                in_flight: p("http_server_active_requests"),
                request_size: p("http_server_request_body_size_bytes"),
                response_size: p("http_server_response_body_size_bytes"),
            },
        }
    }
}

/// Label names of the HTTP series.
pub(crate) struct LabelNames {
    pub(crate) method: &'static str,
    pub(crate) route: &'static str,
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<&'static str>,
}

impl LabelNames {
    pub(crate) fn new(naming: Naming) -> Self {
        match naming {
            Naming::Prometheus => Self {
                method: "method",
                route: "route",
                status: "status",
                error_type: None,
            },
            Naming::OpenTelemetry => Self {
                method: "http_request_method",
                route: "http_route",
                status: "http_response_status_code",
                error_type: Some("error_type"),
            },
        }
    }
}
