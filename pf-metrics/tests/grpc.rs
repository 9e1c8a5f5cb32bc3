//! gRPC status codes recorded by `HttpMetricsLayer` on a real tonic server,
//! called by a real tonic client over loopback.
//!
//! The server is hand-written (no protoc): a `tower::Service` that hands each
//! method to tonic's own `server::Grpc` with a 4-byte codec, so the framing,
//! trailers and trailers-only responses are tonic's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut};
use futures_util::{Stream, StreamExt, stream};
use http::uri::PathAndQuery;
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status, Streaming};

const SERVICE: &str = "pf.test.Codes";

/// Messages are one big-endian `u32`: the code the handler should end with.
#[derive(Clone, Copy, Default)]
struct U32Codec;

impl Codec for U32Codec {
    type Encode = u32;
    type Decode = u32;
    type Encoder = U32Codec;
    type Decoder = U32Codec;
    fn encoder(&mut self) -> U32Codec {
        U32Codec
    }
    fn decoder(&mut self) -> U32Codec {
        U32Codec
    }
}

impl Encoder for U32Codec {
    type Item = u32;
    type Error = Status;
    fn encode(&mut self, item: u32, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_u32(item);
        Ok(())
    }
}

impl Decoder for U32Codec {
    type Item = u32;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<u32>, Status> {
        if src.remaining() < 4 {
            return Err(Status::invalid_argument("short message"));
        }
        Ok(Some(src.get_u32()))
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type MsgStream = Pin<Box<dyn Stream<Item = Result<u32, Status>> + Send>>;

fn status(code: u32) -> Status {
    Status::new(Code::from(code as i32), "as requested")
}

/// `Unary`: answers `code` (a message and OK for 0, else an error status).
#[derive(Clone)]
struct Unary {
    panic: bool,
    sleep: Option<Duration>,
}

impl UnaryService<u32> for Unary {
    type Response = u32;
    type Future = BoxFut<Result<Response<u32>, Status>>;
    fn call(&mut self, req: Request<u32>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if let Some(d) = this.sleep {
                tokio::time::sleep(d).await;
            }
            assert!(!this.panic, "handler panics on purpose");
            match req.into_inner() {
                0 => Ok(Response::new(0)),
                c => Err(status(c)),
            }
        })
    }
}

/// How a streaming method ends.
#[derive(Clone, Copy)]
enum StreamShape {
    /// Two messages, then the code (in the trailers).
    AfterMessages,
    /// No message: headers, then the code in the trailers.
    NoMessages,
    /// One message, then a panic while the body is polled.
    PanicMidStream,
    /// One message, then nothing until the client goes away.
    Forever,
}

#[derive(Clone)]
struct ServerStream(StreamShape);

impl ServerStreamingService<u32> for ServerStream {
    type Response = u32;
    type ResponseStream = MsgStream;
    type Future = BoxFut<Result<Response<MsgStream>, Status>>;
    fn call(&mut self, req: Request<u32>) -> Self::Future {
        let shape = self.0;
        Box::pin(async move {
            let code = req.into_inner();
            let end = (code != 0).then(|| Err(status(code)));
            let s: MsgStream = match shape {
                StreamShape::AfterMessages => {
                    Box::pin(stream::iter([Ok(1), Ok(2)].into_iter().chain(end)))
                }
                StreamShape::NoMessages => Box::pin(stream::iter(end)),
                StreamShape::PanicMidStream => Box::pin(stream::iter([Ok(1)]).chain(
                    stream::poll_fn(|_| -> Poll<Option<Result<u32, Status>>> {
                        panic!("stream panics on purpose")
                    }),
                )),
                StreamShape::Forever => Box::pin(stream::iter([Ok(1)]).chain(stream::pending())),
            };
            Ok(Response::new(s))
        })
    }
}

/// The test service: one `tower::Service` routing by path, as tonic's generated code does.
#[derive(Clone)]
struct Codes;

impl NamedService for Codes {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<Body>> for Codes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFut<Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let method = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
        Box::pin(async move {
            let mut grpc = Grpc::new(U32Codec);
            let unary = |panic, sleep| Unary { panic, sleep };
            Ok(match method.as_str() {
                "Unary" => grpc.unary(unary(false, None), req).await,
                "Panic" => grpc.unary(unary(true, None), req).await,
                "Slow" => {
                    grpc.unary(unary(false, Some(Duration::from_secs(30))), req)
                        .await
                }
                "Stream" => {
                    grpc.server_streaming(ServerStream(StreamShape::AfterMessages), req)
                        .await
                }
                "StreamNoMessages" => {
                    grpc.server_streaming(ServerStream(StreamShape::NoMessages), req)
                        .await
                }
                "StreamPanic" => {
                    grpc.server_streaming(ServerStream(StreamShape::PanicMidStream), req)
                        .await
                }
                "StreamForever" => {
                    grpc.server_streaming(ServerStream(StreamShape::Forever), req)
                        .await
                }
                "TrailersOnly" => {
                    // The whole answer is one header block carrying `grpc-status`
                    // (what tonic itself sends for an error before any message).
                    let mut buf = [0u8; 4];
                    let mut body = req.into_body();
                    let bytes = http_body_util::BodyExt::collect(&mut body)
                        .await
                        .map(|c| c.to_bytes())
                        .unwrap_or_default();
                    // One frame: compression flag, 4-byte length, 4-byte message.
                    buf.copy_from_slice(&bytes[5..9]);
                    Status::new(Code::from(u32::from_be_bytes(buf) as i32), "trailers only")
                        .into_http()
                }
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(registry: &MetricsRegistry) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .layer(HttpMetricsLayer::new(registry.clone()))
            .add_service(Codes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move { server.await.unwrap() });
        Server {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn client(&self) -> tonic::client::Grpc<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        tonic::client::Grpc::new(channel)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops")
            .unwrap();
    }
}

fn path(method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/{SERVICE}/{method}")).unwrap()
}

/// Calls a unary method; the code the client saw.
async fn call_unary(
    client: &mut tonic::client::Grpc<Channel>,
    method: &str,
    req: Request<u32>,
) -> Code {
    client.ready().await.unwrap();
    match client.unary(req, path(method), U32Codec).await {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

/// Calls a server-streaming method and reads it to the end; the code the
/// client saw and the number of messages.
async fn call_stream(
    client: &mut tonic::client::Grpc<Channel>,
    method: &str,
    code: u32,
) -> (Code, usize) {
    client.ready().await.unwrap();
    let mut stream: Streaming<u32> = match client
        .server_streaming(Request::new(code), path(method), U32Codec)
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return (s.code(), 0),
    };
    let mut messages = 0;
    loop {
        match stream.message().await {
            Ok(Some(_)) => messages += 1,
            Ok(None) => return (Code::Ok, messages),
            Err(s) => return (s.code(), messages),
        }
    }
}

/// grpc-go's names of the 17 codes, as in go-grpc-prometheus' `grpc_code`.
const NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

fn handled(text: &str, method: &str, code: &str) -> u64 {
    let series = format!(
        r#"grpc_server_handled_total{{grpc_service="{SERVICE}",grpc_method="{method}",grpc_code="{code}"}}"#
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn handled_for_method(text: &str, method: &str) -> u64 {
    NAMES.iter().map(|c| handled(text, method, c)).sum()
}

fn in_flight_total(text: &str) -> i64 {
    text.lines()
        .filter(|l| l.starts_with("http_requests_in_flight{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap())
        .sum()
}

/// Waits up to 10 s for the server side to finish recording.
async fn eventually(registry: &MetricsRegistry, mut cond: impl FnMut(&str) -> bool) -> String {
    for _ in 0..1000 {
        let text = registry.encode(Format::Prometheus);
        if cond(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    registry.encode(Format::Prometheus)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_17_codes_for_unary_streaming_and_trailers_only_calls() {
    let registry = MetricsRegistry::new();
    let server = Server::start(&registry).await;
    let mut client = server.client().await;

    // (method, how the client calls it)
    let methods = ["Unary", "Stream", "StreamNoMessages", "TrailersOnly"];
    for code in 0..17u32 {
        let expected = Code::from(code as i32);
        let seen = call_unary(&mut client, "Unary", Request::new(code)).await;
        assert_eq!(seen, expected, "unary, code {code}");
        let (seen, messages) = call_stream(&mut client, "Stream", code).await;
        assert_eq!((seen, messages), (expected, 2), "streaming, code {code}");
        let (seen, messages) = call_stream(&mut client, "StreamNoMessages", code).await;
        assert_eq!(
            (seen, messages),
            (expected, 0),
            "headers then trailers, code {code}"
        );
        let (seen, messages) = call_stream(&mut client, "TrailersOnly", code).await;
        assert_eq!(
            (seen, messages),
            (expected, 0),
            "trailers-only, code {code}"
        );
    }

    let text = eventually(&registry, |t| {
        methods.iter().all(|m| handled_for_method(t, m) == 17)
    })
    .await;
    for method in methods {
        for (code, name) in NAMES.iter().enumerate() {
            assert_eq!(
                handled(&text, method, name),
                1,
                "{method} ending with code {code} ({name}) is counted once under its own code:\n{text}"
            );
        }
        // Sixteen of the seventeen calls carried a non-OK code: none of them is OK.
        assert_eq!(handled_for_method(&text, method), 17, "{method}");
    }
    // The histogram has the same calls, and gRPC calls stay out of the HTTP families.
    assert!(text.contains(&format!(
        r#"grpc_server_handling_seconds_count{{grpc_service="{SERVICE}",grpc_method="Stream",grpc_code="NotFound"}} 1"#
    )));
    assert!(
        !text.lines().any(|l| l.starts_with("http_requests_total{")),
        "{text}"
    );
    assert!(text.contains(&format!(
        r#"http_requests_in_flight{{method="POST",route="/{SERVICE}/Unary"}} 0"#
    )));
    assert_eq!(in_flight_total(&text), 0);

    // OpenTelemetry names: the numeric code in `rpc_grpc_status_code`.
    let om = registry.encode(Format::OpenMetrics);
    assert!(om.contains("# TYPE grpc_server_handled counter"), "{om}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_deadlines_and_cancelled_streams() {
    let registry = MetricsRegistry::new();
    let server = Server::start(&registry).await;
    let mut client = server.client().await;

    // A unary handler that panics: nothing reaches the client but a reset stream.
    let seen = call_unary(&mut client, "Panic", Request::new(0)).await;
    assert_ne!(
        seen,
        Code::Ok,
        "a panicking handler never looks OK to the client"
    );
    eprintln!("client saw {seen:?} for a panicking unary handler");

    // A stream that panics after its first message.
    let mut client2 = server.client().await;
    let (seen, messages) = call_stream(&mut client2, "StreamPanic", 0).await;
    assert_ne!(seen, Code::Ok);
    assert!(messages <= 1);
    eprintln!("client saw {seen:?} after {messages} message(s) for a stream that panicked");

    // A call whose 100 ms deadline passes while the handler sleeps: tonic's
    // server drops it (and tells the client `Cancelled`, "Timeout expired").
    let mut req = Request::new(0);
    req.set_timeout(Duration::from_millis(100));
    let seen = call_unary(&mut client, "Slow", req).await;
    assert!(
        matches!(seen, Code::Cancelled | Code::DeadlineExceeded),
        "{seen:?}"
    );

    // A stream the client abandons after one message.
    client.ready().await.unwrap();
    let mut stream = client
        .server_streaming(Request::new(0), path("StreamForever"), U32Codec)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap(), Some(1));
    drop(stream);

    let text = eventually(&registry, |t| {
        ["Panic", "StreamPanic", "Slow", "StreamForever"]
            .iter()
            .all(|m| handled_for_method(t, m) == 1)
            && in_flight_total(t) == 0
    })
    .await;
    assert_eq!(handled(&text, "Panic", "Internal"), 1, "{text}");
    assert_eq!(handled(&text, "StreamPanic", "Internal"), 1, "{text}");
    assert_eq!(handled(&text, "Slow", "DeadlineExceeded"), 1, "{text}");
    assert_eq!(handled(&text, "StreamForever", "Canceled"), 1, "{text}");
    for m in ["Panic", "StreamPanic", "Slow", "StreamForever"] {
        assert_eq!(handled(&text, m, "OK"), 0, "{m} is never OK");
    }
    assert_eq!(in_flight_total(&text), 0, "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_paths_are_bounded_by_the_route_cap() {
    let registry = MetricsRegistry::builder().max_routes(4).build().unwrap();
    let server = Server::start(&registry).await;
    let mut client = server.client().await;
    for i in 0..50 {
        let seen = call_unary(&mut client, &format!("Nope{i}"), Request::new(0)).await;
        assert_eq!(seen, Code::Unimplemented);
    }
    let text = eventually(&registry, |t| {
        t.lines()
            .filter(|l| l.starts_with("grpc_server_handled_total{"))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum::<u64>()
            == 50
    })
    .await;
    let series = text
        .lines()
        .filter(|l| l.starts_with("grpc_server_handled_total{") && !l.ends_with(" 0"))
        .count();
    // Four methods get their own series, the other 46 share the overflow route.
    assert_eq!(series, 5, "{text}");
    assert!(text.contains(
        r#"grpc_server_handled_total{grpc_service="__overflow__",grpc_method="_OTHER",grpc_code="Unimplemented"} 46"#
    ), "{text}");
    assert_eq!(registry.dropped_series(), 46);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_naming_uses_rpc_semantic_conventions() {
    let registry = MetricsRegistry::builder()
        .naming(pf_metrics::Naming::OpenTelemetry)
        .build()
        .unwrap();
    let server = Server::start(&registry).await;
    let mut client = server.client().await;
    assert_eq!(
        call_unary(&mut client, "Unary", Request::new(5)).await,
        Code::NotFound
    );
    let series = format!(
        r#"rpc_server_call_duration_seconds_count{{rpc_system="grpc",rpc_service="{SERVICE}",rpc_method="Unary",rpc_grpc_status_code="5"}} 1"#
    );
    let text = eventually(&registry, |t| t.contains(&series)).await;
    assert!(text.contains(&series), "{text}");
    assert!(!text.contains("grpc_server_handled"));
    server.stop().await;
}
