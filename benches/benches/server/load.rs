//! The load generator (in the driver process, on its own current-thread runtime): keep-alive
//! HTTP/1.1 connections (`TCP_NODELAY`) sending `GET` requests, either as fast as the server
//! answers (closed loop, `Saturating`) or each connection at a fixed pace (`Rate`). Every
//! request has a timeout; a non-200 answer fails the run with the server's message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use tokio::time::timeout;

/// One request, handler included (generous: the machine may be loaded).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How the load is offered.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// `conns` connections, each sending its next request when the last one is answered.
    Saturating { conns: usize },
    /// `conns` connections sharing `per_sec` requests per second, evenly paced.
    Rate { conns: usize, per_sec: u64 },
}

/// When a phase ends.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// After this long (the timed rounds).
    Elapsed(Duration),
    /// After this many requests in all (the test mode and the counting phases).
    Requests(u64),
}

struct Conn {
    host: String,
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

async fn connect(addr: SocketAddr) -> Conn {
    let open = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect to the server at {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake")
    };
    let (sender, conn) = timeout(Duration::from_secs(10), open)
        .await
        .unwrap_or_else(|_| panic!("no HTTP/1.1 connection to {addr} within 10 s"));
    tokio::spawn(conn);
    Conn {
        host: addr.to_string(),
        sender,
    }
}

impl Conn {
    async fn get(&mut self, path: &str) {
        let req = Request::get(path)
            .header(header::HOST, self.host.as_str())
            .body(Empty::new())
            .expect("valid request");
        let call = async {
            self.sender
                .ready()
                .await
                .unwrap_or_else(|e| panic!("GET {path}: connection closed: {e}"));
            let res = self
                .sender
                .send_request(req)
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
            let status = res.status();
            let body = res.into_body().collect().await.expect("body").to_bytes();
            (status, body)
        };
        let (status, body) = timeout(REQUEST_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| panic!("GET {path}: no answer within {REQUEST_TIMEOUT:?}"));
        assert!(
            status == StatusCode::OK,
            "GET {path}: {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// Sends `path` to `addr` under `load` until `until`; returns the requests answered and the
/// wall time the phase took.
pub fn run(
    rt: &tokio::runtime::Runtime,
    addr: SocketAddr,
    path: &'static str,
    load: Load,
    until: Until,
) -> (u64, Duration) {
    rt.block_on(async move {
        let (conns, pace) = match load {
            Load::Saturating { conns } => (conns, None),
            Load::Rate { conns, per_sec } => (
                conns,
                Some(Duration::from_secs_f64(conns as f64 / per_sec as f64)),
            ),
        };
        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            clients.push(connect(addr).await);
        }
        let sent = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(conns);
        for (i, mut client) in clients.into_iter().enumerate() {
            let (sent, done) = (sent.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = pace.map(|p| {
                    // spread the connections' ticks over one period
                    let first = tokio::time::Instant::now() + p.mul_f64(i as f64 / conns as f64);
                    let mut t = tokio::time::interval_at(first, p);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    t
                });
                loop {
                    if let Some(t) = tick.as_mut() {
                        t.tick().await;
                    }
                    match until {
                        Until::Elapsed(d) if start.elapsed() >= d => break,
                        Until::Requests(n) if sent.fetch_add(1, Relaxed) >= n => break,
                        _ => {}
                    }
                    client.get(path).await;
                    done.fetch_add(1, Relaxed);
                }
            }));
        }
        for t in tasks {
            if let Err(e) = t.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        (done.load(Relaxed), start.elapsed())
    })
}
