//! The server process (`server --serve <mode> [--count]`) and the driver's handle on it.
//!
//! The server builds contender `<mode>` ([`crate::modes::app`]) on a multi-threaded Tokio
//! runtime of two workers, installs its subscriber globally, serves it with
//! `into_make_service_with_connect_info` (as the README does) on a free 127.0.0.1 port, and
//! answers counter reads on a second free port (one line of JSON per connection, outside the
//! contender's layers). It prints `READY <app port> <control port>` and exits when its stdin
//! closes, so it never outlives the driver, whatever happens to the driver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::counting::{COUNTING, counters_json};
use crate::modes;

/// Runs the server process until stdin closes.
pub fn serve(mode: &str, count: bool) {
    let database_url = std::env::var("PF_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url =
        std::env::var("PF_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let key = std::env::var("PF_SERVER_REDIS_KEY").expect("PF_SERVER_REDIS_KEY");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // stdin closed (the driver ended or dropped us): stop at once
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    rt.block_on(async move {
        let db = modes::connect(&database_url, &redis_url, &key).await;
        let (app, dispatch) = modes::app(mode, db, count)
            .unwrap_or_else(|| panic!("unknown mode {mode}; modes: {}", modes::MODES.join(", ")));
        tracing::dispatcher::set_global_default(dispatch).expect("first subscriber");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let control = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let ports = (
            listener.local_addr().expect("address").port(),
            control.local_addr().expect("address").port(),
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = control.accept().await {
                let line = counters_json() + "\n";
                let _ = stream.write_all(line.as_bytes()).await;
            }
        });
        COUNTING.store(count, Relaxed);
        println!("READY {} {}", ports.0, ports.1);
        std::io::stdout().flush().expect("stdout");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
}

/// A server process started by the driver: killed and reaped on drop (also when the driver
/// panics); its stdin is a pipe whose closing stops it should the driver itself be killed.
pub struct Server {
    child: Child,
    _stdin: ChildStdin,
    /// The contender's name.
    pub mode: &'static str,
    /// Where the contender serves.
    pub app: SocketAddr,
    control: SocketAddr,
}

impl Server {
    /// Starts `<this binary> --serve <mode> [--count]` and waits (30 s at most) for its
    /// `READY` line.
    pub fn start(mode: &'static str, count: bool, redis_key: &str) -> Server {
        let exe = std::env::current_exe().expect("current executable");
        let mut cmd = Command::new(exe);
        cmd.args(["--serve", mode])
            .env("PF_SERVER_REDIS_KEY", redis_key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if count {
            cmd.arg("--count");
        }
        let mut child = cmd.spawn().expect("spawn the server process");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server {
            child,
            _stdin: stdin,
            mode,
            app: SocketAddr::from(([127, 0, 0, 1], 0)),
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("server {mode} did not say READY within 30 s (its stderr is above)")
            });
        let ports: Vec<u16> = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("server {mode} failed to start (its stderr is above)"))
            .split_whitespace()
            .map(|p| p.parse().expect("port"))
            .collect();
        server.app.set_port(ports[0]);
        server.control.set_port(ports[1]);
        server
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's counters (allocations, polls, spans: see [`crate::counting`]), read over
    /// the control port within 5 s.
    pub fn counters(&self) -> serde_json::Value {
        let mut stream = TcpStream::connect_timeout(&self.control, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("server {}: control port: {e}", self.mode));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        let mut s = String::new();
        stream
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("server {}: reading counters: {e}", self.mode));
        serde_json::from_str(&s).expect("counters JSON")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
