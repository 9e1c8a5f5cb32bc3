//! Field names used on spans, events and OTLP attributes (OpenTelemetry HTTP semantic conventions).

/// `http.request.method`
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.route`
pub const HTTP_ROUTE: &str = "http.route";
/// `http.response.status_code` (an integer)
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `url.path`
pub const URL_PATH: &str = "url.path";
/// `url.query` (redacted)
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`
pub const URL_SCHEME: &str = "url.scheme";
/// `client.address`
pub const CLIENT_ADDRESS: &str = "client.address";
/// `user_agent.original`
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `network.protocol.version`
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `error.type`
pub const ERROR_TYPE: &str = "error.type";
/// `request_id`
pub const REQUEST_ID: &str = "request_id";
/// `user.id`
pub const USER_ID: &str = "user.id";
/// `pf.organization.id`
pub const ORG_ID: &str = "pf.organization.id";
/// `trace_id` on every log line inside a traced request (lower-case hex)
pub const TRACE_ID: &str = "trace_id";
/// `span_id` on every log line inside a traced request (lower-case hex)
pub const SPAN_ID: &str = "span_id";
/// `duration_ms` on the completion event (milliseconds, float)
pub const DURATION_MS: &str = "duration_ms";
/// Captured request headers (allow-list, redacted), as one `name: value; ...` string.
pub const HTTP_REQUEST_HEADERS: &str = "http.request.headers";
/// The target of the request span and the completion event.
pub const REQUEST_TARGET: &str = "pf_log_enrich::request";
/// The name of the request span.
pub const REQUEST_SPAN_NAME: &str = "HTTP request";
/// The message of the completion event.
pub const COMPLETED_MESSAGE: &str = "request completed";
