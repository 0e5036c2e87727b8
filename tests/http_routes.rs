//! The plain HTTP routes, spoken over a raw TCP socket: health, readiness, and /ws without an
//! upgrade.

mod common;

use common::*;
use smooth_operator::server::ServerHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` (the raw request head, without the final blank line) and reads the whole
/// response (the request asks the server to close the connection).
async fn raw(server: &ServerHandle, request: &str) -> Response {
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("tcp connects");
    let text = format!(
        "{request}\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.local_addr()
    );
    stream
        .write_all(text.as_bytes())
        .await
        .expect("request written");
    let mut bytes = Vec::new();
    tokio::time::timeout(RECV_TIMEOUT, stream.read_to_end(&mut bytes))
        .await
        .expect("response within the timeout")
        .expect("response read");
    parse(&bytes, request.starts_with("HEAD "))
}

fn parse(bytes: &[u8], head_request: bool) -> Response {
    let text = String::from_utf8(bytes.to_vec()).expect("response is UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line: {status_line}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (k, v) = line.split_once(':').expect("header line");
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut response = Response {
        status,
        headers,
        body: body.to_string(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    } else if let (false, Some(len)) = (head_request, response.header("content-length")) {
        let len: usize = len.parse().expect("content-length is a number");
        assert_eq!(
            response.body.len(),
            len,
            "body length matches content-length"
        );
    }
    response
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

async fn get(server: &ServerHandle, path: &str) -> Response {
    raw(server, &format!("GET {path} HTTP/1.1")).await
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = start_memory().await;
    let response = get(&server, "/healthz").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "ok");
}

#[tokio::test]
async fn health_alias_answers_ok() {
    let server = start_memory().await;
    let response = get(&server, "/health").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "ok");
}

#[tokio::test]
async fn readyz_answers_200_when_storage_is_up() {
    let server = start_memory().await;
    let response = get(&server, "/readyz").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(
        !response.body.is_empty(),
        "readiness says something: {response:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_file(&dir.path().join("ready.db")).await;
    let response = get(&server, "/readyz").await;
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn head_and_repeated_requests_work() {
    let server = start_memory().await;
    for _ in 0..5 {
        let response = get(&server, "/healthz").await;
        assert_eq!(response.status, 200);
    }
    let response = raw(&server, "HEAD /healthz HTTP/1.1").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, "", "HEAD has no body");
    assert_eq!(response.header("content-length"), Some("2"), "{response:?}");
}

#[tokio::test]
async fn ws_without_upgrade_is_a_client_error_and_server_lives() {
    let server = start_memory().await;
    let response = get(&server, "/ws").await;
    assert!(
        (400..500).contains(&response.status),
        "GET /ws without upgrade headers must be 4xx: {response:?}"
    );
    // Half an upgrade (no key, no version) is refused as well.
    let response = raw(
        &server,
        "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade",
    )
    .await;
    assert!(
        (400..500).contains(&response.status),
        "incomplete upgrade must be 4xx: {response:?}"
    );
    // A POST is no upgrade either.
    let response = raw(&server, "POST /ws HTTP/1.1\r\nContent-Length: 0").await;
    assert!((400..500).contains(&response.status), "{response:?}");
    // The server is unharmed: health and a real WebSocket both work.
    assert_eq!(get(&server, "/healthz").await.status, 200);
    let mut client = Client::connect(&server).await;
    client.assert_alive().await;
}

#[tokio::test]
async fn unknown_path_is_404() {
    let server = start_memory().await;
    let response = get(&server, "/nope").await;
    assert_eq!(response.status, 404, "{response:?}");
}

#[tokio::test]
async fn wrong_method_on_health_is_405() {
    let server = start_memory().await;
    let response = raw(&server, "POST /healthz HTTP/1.1\r\nContent-Length: 0").await;
    assert_eq!(response.status, 405, "{response:?}");
}

#[tokio::test]
async fn garbage_http_does_not_crash_the_server() {
    let server = start_memory().await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("tcp connects");
    stream
        .write_all(b"\x00\x01NOT HTTP AT ALL\r\n\r\n")
        .await
        .expect("written");
    let mut bytes = Vec::new();
    // The server answers 400 or just hangs up; either way the read ends.
    tokio::time::timeout(RECV_TIMEOUT, stream.read_to_end(&mut bytes))
        .await
        .expect("the server ends a garbage connection")
        .ok();
    if !bytes.is_empty() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 4"), "garbage gets a 4xx: {text}");
    }
    assert_eq!(get(&server, "/healthz").await.status, 200);
}
