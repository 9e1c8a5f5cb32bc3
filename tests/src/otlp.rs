//! An OTLP receiver speaking the real protocol — gRPC (`opentelemetry-proto`'s tonic services)
//! and HTTP/protobuf (`POST /v1/traces`, `POST /v1/logs`, `POST /v1/metrics`) — on 127.0.0.1
//! free ports.
//!
//! It runs on its own Tokio runtime thread, so it works from sync and async tests alike, and
//! stops when dropped.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// Which transport a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
}

/// Everything the receiver got.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Trace export requests, with their transport.
    pub traces: Vec<(Transport, ExportTraceServiceRequest)>,
    /// Log export requests, with their transport.
    pub logs: Vec<(Transport, ExportLogsServiceRequest)>,
    /// Metric export requests, with their transport.
    pub metrics: Vec<(Transport, ExportMetricsServiceRequest)>,
    /// Request headers / gRPC metadata of every export (`name: value`).
    pub headers: Vec<String>,
}

/// A span with its resource attributes.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// Resource attributes of the batch.
    pub resource: Vec<KeyValue>,
    /// The span.
    pub span: Span,
}

/// A log record with its resource attributes.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    /// Resource attributes of the batch.
    pub resource: Vec<KeyValue>,
    /// The record.
    pub record: LogRecord,
}

impl Received {
    /// All spans, flattened.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let mut out = Vec::new();
        for (_, req) in &self.traces {
            for rs in &req.resource_spans {
                let resource = rs
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        out.push(ReceivedSpan {
                            resource: resource.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// All log records, flattened.
    pub fn log_records(&self) -> Vec<ReceivedLog> {
        let mut out = Vec::new();
        for (_, req) in &self.logs {
            for rl in &req.resource_logs {
                let resource = rl
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for sl in &rl.scope_logs {
                    for record in &sl.log_records {
                        out.push(ReceivedLog {
                            resource: resource.clone(),
                            record: record.clone(),
                        });
                    }
                }
            }
        }
        out
    }
}

/// The value of attribute `key`.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

/// The string value of attribute `key`.
pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The integer value of attribute `key` (`None` if absent or not an integer).
pub fn attr_int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Lower-case hex of an ID.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Shared = Arc<Mutex<Received>>;

fn header_lines(headers: &HeaderMap) -> Vec<String> {
    headers
        .iter()
        .map(|(k, v)| format!("{}: {}", k, String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

struct Grpc(Shared);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = header_lines(&request.metadata().clone().into_headers());
        let mut data = self.0.lock().expect("receiver lock");
        data.headers.extend(headers);
        data.traces.push((Transport::Grpc, request.into_inner()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let headers = header_lines(&request.metadata().clone().into_headers());
        let mut data = self.0.lock().expect("receiver lock");
        data.headers.extend(headers);
        data.logs.push((Transport::Grpc, request.into_inner()));
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = header_lines(&request.metadata().clone().into_headers());
        let mut data = self.0.lock().expect("receiver lock");
        data.headers.extend(headers);
        data.metrics.push((Transport::Grpc, request.into_inner()));
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn http_metrics(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match ExportMetricsServiceRequest::decode(body) {
        Ok(req) => {
            let mut d = data.lock().expect("receiver lock");
            d.headers.extend(header_lines(&headers));
            d.metrics.push((Transport::HttpProtobuf, req));
            protobuf(ExportMetricsServiceResponse::default())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn protobuf(msg: impl Message) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        msg.encode_to_vec(),
    )
        .into_response()
}

async fn http_traces(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match ExportTraceServiceRequest::decode(body) {
        Ok(req) => {
            let mut d = data.lock().expect("receiver lock");
            d.headers.extend(header_lines(&headers));
            d.traces.push((Transport::HttpProtobuf, req));
            protobuf(ExportTraceServiceResponse::default())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn http_logs(State(data): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match ExportLogsServiceRequest::decode(body) {
        Ok(req) => {
            let mut d = data.lock().expect("receiver lock");
            d.headers.extend(header_lines(&headers));
            d.logs.push((Transport::HttpProtobuf, req));
            protobuf(ExportLogsServiceResponse::default())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// The receiver. Dropping it stops both servers and joins the runtime thread.
pub struct OtlpReceiver {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    data: Shared,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts gRPC and HTTP listeners on free 127.0.0.1 ports.
    pub fn start() -> Self {
        let data: Shared = Arc::default();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let shared = data.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("receiver runtime");
                rt.block_on(async move {
                    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind grpc");
                    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind http");
                    addr_tx
                        .send((
                            grpc.local_addr().expect("addr"),
                            http.local_addr().expect("addr"),
                        ))
                        .expect("report addresses");
                    let mut stop1 = stop_rx.clone();
                    let stop_rx3 = stop_rx.clone();
                    let mut stop2 = stop_rx;
                    let grpc_server = tonic::transport::Server::builder()
                        .add_service(TraceServiceServer::new(Grpc(shared.clone())))
                        .add_service(LogsServiceServer::new(Grpc(shared.clone())))
                        .add_service(MetricsServiceServer::new(Grpc(shared.clone())))
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(grpc),
                            async move {
                                let _ = stop1.wait_for(|s| *s).await;
                            },
                        );
                    let app = axum::Router::new()
                        .route("/v1/traces", post(http_traces))
                        .route("/v1/logs", post(http_logs))
                        .route("/v1/metrics", post(http_metrics))
                        .with_state(shared);
                    let http_server = axum::serve(http, app).with_graceful_shutdown(async move {
                        let _ = stop2.wait_for(|s| *s).await;
                    });
                    let mut stop3 = stop_rx3;
                    let servers = async {
                        let _ = tokio::join!(grpc_server, http_server.into_future());
                    };
                    // Graceful, but bounded: lingering connections never hold the test.
                    let bound = async {
                        let _ = stop3.wait_for(|s| *s).await;
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    };
                    tokio::select! {
                        () = servers => {}
                        () = bound => {}
                    }
                });
            })
            .expect("spawn receiver thread");
        let (grpc_addr, http_addr) = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver started");
        Self {
            grpc_addr,
            http_addr,
            data,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` of the gRPC listener.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the HTTP listener (exporters append `/v1/traces`, `/v1/logs`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// A copy of what arrived so far.
    pub fn snapshot(&self) -> Received {
        self.data.lock().expect("receiver lock").clone()
    }

    /// Waits (polling, at most `timeout`) until `done` holds; returns the last snapshot and
    /// whether it held.
    pub fn wait_until(
        &self,
        timeout: Duration,
        done: impl Fn(&Received) -> bool,
    ) -> (Received, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let snap = self.snapshot();
            if done(&snap) {
                return (snap, true);
            }
            if Instant::now() >= deadline {
                return (snap, false);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
