//! An axum app served on a free 127.0.0.1 port, and a raw HTTP/1.1 client (raw so that
//! duplicate, non-printable or malformed headers are sent exactly as written).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A real server on a loopback port, serving with `ConnectInfo<SocketAddr>` (so request spans
/// see a client address). Dropping it stops it at once; [`Server::stop`] stops it gracefully.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// Serves `app` on a free 127.0.0.1 port (call inside a Tokio runtime).
pub async fn serve(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .expect("axum::serve");
    });
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

impl Server {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting, lets open connections finish, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("server task");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response read by [`request`]: status, headers as sent (names as written, values as
/// bytes), and the body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header line, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body as it came over the connection (chunked framing not decoded).
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of header `name` (case-insensitive).
    pub fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The one value of header `name`; panics unless there is exactly one, in UTF-8.
    pub fn one(&self, name: &str) -> String {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "exactly one {name}: {self:?}");
        String::from_utf8(all[0].to_vec()).expect("a UTF-8 header value")
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET path` with extra raw header lines over a new connection and reads the response.
pub async fn get(addr: SocketAddr, path: &str, extra: &[&[u8]]) -> Response {
    request(addr, "GET", path, extra).await
}

/// Sends `METHOD path` (no body, `connection: close`) with extra raw header lines (without
/// their CRLF) over a new connection and reads the response to the end (bounded at 30 s
/// against hangs).
pub async fn request(addr: SocketAddr, method: &str, path: &str, extra: &[&[u8]]) -> Response {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n").into_bytes();
    for h in extra {
        req.extend_from_slice(h);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    s.write_all(&req).await.expect("send the request");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("response within the bound")
        .expect("read the response");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let mut lines = buf[..end]
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().expect("a status line")).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status code in {status_line:?}"));
    let headers = lines
        .filter_map(|l| {
            let i = l.iter().position(|b| *b == b':')?;
            Some((
                String::from_utf8_lossy(&l[..i]).trim().to_owned(),
                l[i + 1..].trim_ascii().to_vec(),
            ))
        })
        .collect();
    Response {
        status,
        headers,
        body: buf[end + 4..].to_vec(),
    }
}
