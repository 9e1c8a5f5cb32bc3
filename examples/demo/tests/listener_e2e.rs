//! The demo's hardened listener: slow and idle clients are closed after the header-read
//! timeout, a connection limit holds the excess in the backlog, and an oversized body is
//! answered 413. Bounded: at most 20 slow clients, each sending at most 40 bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use pf_tests::process::Demo;

const BINARY: &str = env!("CARGO_BIN_EXE_pf-demo");

/// Whether the server closed `conn` (EOF or reset), without waiting.
fn closed(conn: &mut TcpStream) -> bool {
    conn.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    let gone = loop {
        match conn.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue, // a 408 or the like before the close
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    conn.set_nonblocking(false).unwrap();
    gone
}

/// Reads until the server closes the connection (at most 30 s); the status of the response
/// in it, if any.
fn read_until_closed(conn: &mut TcpStream) -> (bool, Option<u16>) {
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let eof = loop {
        match conn.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false;
            }
            Err(_) => break true,
        }
    };
    let status = String::from_utf8_lossy(&raw)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3)?.parse().ok());
    (eof, status)
}

#[test]
fn slow_header_clients_are_closed_after_the_header_timeout() {
    let demo = Demo::start(Path::new(BINARY), &[("PF_DEMO_HEADER_TIMEOUT_MS", "1000")]);
    let addr = demo.addr;
    // 20 clients sending one header byte every 300 ms: 40 bytes (12 s) would never end the
    // head; each stops as soon as the server closes its connection.
    let clients: Vec<_> = (0..20)
        .map(|i| {
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                let head =
                    format!("GET /api/v1/slow?client={i:02}&pad=xxxxxxxxxxxxxxxxxx HTTP/1.1\r\n");
                for (sent, b) in head.bytes().take(40).enumerate() {
                    if conn.write_all(&[b]).is_err() || closed(&mut conn) {
                        return Some(sent);
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                if closed(&mut conn) { Some(40) } else { None }
            })
        })
        .collect();
    let outcomes: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        outcomes.iter().all(|o| o.is_some_and(|sent| sent < 40)),
        "every slow client is closed before it could send its 40 bytes: {outcomes:?}"
    );
    // The server still answers others.
    let ok = pf_tests::http::get(&demo.url("/livez")).unwrap();
    assert_eq!(ok.status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed_and_the_connection_limit_holds_the_excess() {
    let demo = Demo::start(
        Path::new(BINARY),
        &[
            ("PF_DEMO_HEADER_TIMEOUT_MS", "1000"),
            ("PF_DEMO_MAX_CONNECTIONS", "4"),
        ],
    );
    // One served request, then idle on a keep-alive connection: closed by the server.
    let mut idle = TcpStream::connect(demo.addr).unwrap();
    idle.write_all(b"GET /livez HTTP/1.1\r\nhost: demo\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let (eof, _) = read_until_closed(&mut idle);
    assert!(eof, "an idle keep-alive connection is closed");

    // Four silent connections take every slot; a fifth client's request is only served
    // once they are gone (closed by the header timeout), never beside them.
    let mut silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(demo.addr).unwrap())
        .collect();
    let mut fifth = TcpStream::connect(demo.addr).unwrap();
    fifth
        .write_all(b"GET /livez HTTP/1.1\r\nhost: demo\r\nconnection: close\r\n\r\n")
        .unwrap();
    let (_, status) = read_until_closed(&mut fifth);
    assert_eq!(
        status,
        Some(200),
        "the fifth connection is served in the end"
    );
    // One freed slot is enough for the fifth, and the four were accepted a few
    // milliseconds apart, so only one of them is certain to be closed by now.
    let closed_when_served = silent.iter_mut().map(closed).filter(|&c| c).count();
    assert!(
        closed_when_served >= 1,
        "the fifth was served only after a connection holding a slot was closed"
    );
    for conn in &mut silent {
        let (eof, status) = read_until_closed(conn);
        assert!(
            eof,
            "every silent connection is closed by the header timeout"
        );
        assert_ne!(status, Some(200), "a silent connection got no response");
    }
}

#[test]
fn an_oversized_body_is_answered_413() {
    let demo = Demo::start(Path::new(BINARY), &[]);
    // Declared 100 MB: answered from the headers, the body is never read.
    let mut conn = TcpStream::connect(demo.addr).unwrap();
    conn.write_all(
        b"POST /api/v1/projects HTTP/1.1\r\nhost: demo\r\nauthorization: Bearer demo-token-1-7\r\n\
          content-type: application/json\r\ncontent-length: 104857600\r\n\r\n{\"name\": \"",
    )
    .unwrap();
    let (_, status) = read_until_closed(&mut conn);
    assert_eq!(status, Some(413), "a 100 MB body gets 413, not 422");

    // Chunked, no length given: cut off at the limit (64 KiB), at most 1 MiB sent.
    let mut conn = TcpStream::connect(demo.addr).unwrap();
    conn.write_all(
        b"POST /api/v1/projects HTTP/1.1\r\nhost: demo\r\nauthorization: Bearer demo-token-1-7\r\n\
          content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..64 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if conn.write_all(&frame).is_err() {
            break; // the server answered and closed
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n");
    let (_, status) = read_until_closed(&mut conn);
    assert_eq!(status, Some(413), "a chunked body over the limit gets 413");

    // A body within the limit is still served.
    let ok = reqwest::blocking::Client::new()
        .post(demo.url("/api/v1/projects"))
        .bearer_auth("demo-token-1-7")
        .json(&serde_json::json!({ "name": "small" }))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 201);
}
