//! Shared helpers: a real axum server on a loopback port and a raw HTTP/1.1 client (raw so
//! that duplicate and non-printable headers can be sent as they are).
#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `app` on 127.0.0.1:0 (with `ConnectInfo`); the task ends with the runtime.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    pub fn all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn one(&self, name: &str) -> String {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "exactly one {name}: {self:?}");
        String::from_utf8(all[0].to_vec()).unwrap()
    }
}

/// Sends `GET path` with extra raw header lines and reads the response head.
pub async fn get(addr: SocketAddr, path: &str, extra: &[&[u8]]) -> Head {
    request(addr, "GET", path, extra).await
}

/// Sends `METHOD path` (no body) with extra raw header lines and reads the response head.
#[allow(dead_code)] // not every test binary sends other methods
pub async fn request(addr: SocketAddr, method: &str, path: &str, extra: &[&[u8]]) -> Head {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n").into_bytes();
    for h in extra {
        req.extend_from_slice(h);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("response within the bound")
        .unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = &buf[..end];
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().unwrap()).into_owned();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| {
            let i = l.iter().position(|b| *b == b':')?;
            Some((
                String::from_utf8_lossy(&l[..i]).trim().to_owned(),
                l[i + 1..].trim_ascii().to_vec(),
            ))
        })
        .collect();
    Head { status, headers }
}
