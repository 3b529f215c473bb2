//! Hostile and malformed requests over raw TCP: each gets its documented
//! status, and the server keeps serving a well-formed session throughout.

use std::time::Duration;

use serde_json::json;
use streamable_core::Config;
use streamable_tests::{T, TestServer, json_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Write `raw` on a fresh connection and return the response status.
async fn status_of(addr: std::net::SocketAddr, raw: Vec<u8>) -> u16 {
    tokio::time::timeout(T, async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&raw).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let n = s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed without a status line");
            buf.extend_from_slice(&chunk[..n]);
        }
        let line = String::from_utf8_lossy(&buf);
        line.split(' ')
            .nth(1)
            .expect("status")
            .parse()
            .expect("number")
    })
    .await
    .expect("status line within the bound")
}

fn req(method: &str, path: &str, host: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

const JSON: &str = "content-type: application/json";
const ACCEPT: &str = "accept: application/json, text/event-stream";
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_documented_statuses_and_the_server_keeps_serving() {
    let config = Config {
        max_body_bytes: 1024,
        ..Config::default()
    };
    let server = TestServer::start_with(config, None).await;
    let addr = server.addr;
    let host = format!("127.0.0.1:{}", addr.port());
    let h = host.as_str();
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let sid = c.session.clone().unwrap();
    let session = format!("mcp-session-id: {sid}");
    let s = session.as_str();
    let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    let batch =
        br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;

    let table: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "PUT is not allowed (405)",
            req("PUT", "/mcp", h, &[JSON, ACCEPT], PING),
            405,
        ),
        (
            "OPTIONS is not allowed (405)",
            req("OPTIONS", "/mcp", h, &[], b""),
            405,
        ),
        (
            "PATCH is not allowed (405)",
            req("PATCH", "/mcp", h, &[JSON, ACCEPT, s], PING),
            405,
        ),
        (
            "X-24 DNS rebinding Host (403)",
            req("POST", "/mcp", "evil.example", &[JSON, ACCEPT], init),
            403,
        ),
        (
            "T-SEC-2 foreign Origin (403)",
            req(
                "POST",
                "/mcp",
                h,
                &[JSON, ACCEPT, "origin: https://evil.example"],
                init,
            ),
            403,
        ),
        (
            "T-SEC-2 two Origins (403)",
            req(
                "POST",
                "/mcp",
                h,
                &[
                    JSON,
                    ACCEPT,
                    "origin: http://localhost",
                    "origin: http://localhost",
                ],
                init,
            ),
            403,
        ),
        (
            "X-15 Accept without SSE (406)",
            req("POST", "/mcp", h, &[JSON, "accept: application/json"], init),
            406,
        ),
        (
            "X-15 Accept text/html (406)",
            req("POST", "/mcp", h, &[JSON, "accept: text/html"], init),
            406,
        ),
        (
            "GET without SSE Accept (406)",
            req("GET", "/mcp", h, &["accept: application/json", s], b""),
            406,
        ),
        (
            "Content-Type text/plain (415)",
            req(
                "POST",
                "/mcp",
                h,
                &["content-type: text/plain", ACCEPT],
                init,
            ),
            415,
        ),
        (
            "body over max_body_bytes (413)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], big.as_bytes()),
            413,
        ),
        (
            "not JSON (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], b"{not json"),
            400,
        ),
        (
            "empty body (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], b""),
            400,
        ),
        (
            "500-deep nesting (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], deep.as_bytes()),
            400,
        ),
        (
            "jsonrpc 1.0 (400)",
            req(
                "POST",
                "/mcp",
                h,
                &[JSON, ACCEPT, s],
                br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            ),
            400,
        ),
        (
            "empty batch (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], b"[]"),
            400,
        ),
        (
            "a JSON string (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], br#""ping""#),
            400,
        ),
        (
            "B-BATCH-3 batch at 2025-06-18 (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], batch),
            400,
        ),
        (
            "T-SES-6 missing session (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT], PING),
            400,
        ),
        (
            "T-SES-7 unknown session (404)",
            req(
                "POST",
                "/mcp",
                h,
                &[JSON, ACCEPT, "mcp-session-id: 0123456789abcdef"],
                PING,
            ),
            404,
        ),
        (
            "X-20 repeated session header (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s, s], PING),
            400,
        ),
        (
            "initialize inside a session (400)",
            req("POST", "/mcp", h, &[JSON, ACCEPT, s], init),
            400,
        ),
        (
            "T-VER-4 unknown protocol version (400)",
            req(
                "POST",
                "/mcp",
                h,
                &[JSON, ACCEPT, s, "mcp-protocol-version: 1999-01-01"],
                PING,
            ),
            400,
        ),
        (
            "H-BC-3 GET without session (405)",
            req("GET", "/mcp", h, &["accept: text/event-stream"], b""),
            405,
        ),
        (
            "X-8 GET with foreign Last-Event-ID (400)",
            req(
                "GET",
                "/mcp",
                h,
                &["accept: text/event-stream", s, "last-event-id: 999-0"],
                b"",
            ),
            400,
        ),
        (
            "X-8 GET with garbage Last-Event-ID (400)",
            req(
                "GET",
                "/mcp",
                h,
                &["accept: text/event-stream", s, "last-event-id: ../../etc"],
                b"",
            ),
            400,
        ),
        (
            "DELETE unknown session (404)",
            req("DELETE", "/mcp", h, &["mcp-session-id: nope"], b""),
            404,
        ),
        (
            "H-BC-3 DELETE without session (405)",
            req("DELETE", "/mcp", h, &[], b""),
            405,
        ),
        (
            "other path (404)",
            req("POST", "/other", h, &[JSON, ACCEPT, s], PING),
            404,
        ),
        (
            "garbage request line (400, from hyper)",
            b"GARBAGE\r\n\r\n".to_vec(),
            400,
        ),
    ];
    assert!(table.len() >= 20);
    for (name, raw, expected) in table {
        let got = status_of(addr, raw).await;
        assert_eq!(got, expected, "{name}");
        // The server keeps serving the well-formed session.
        let v = json_body(
            c.post(&json!({"jsonrpc": "2.0", "id": 100, "method": "ping"}))
                .await,
        )
        .await;
        assert_eq!(v["result"], json!({}), "after {name}");
    }
}

/// A body that never completes gets 408 after the body timeout, without
/// delaying anyone else.
#[tokio::test]
async fn slow_body_gets_408_after_the_body_timeout() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n{JSON}\r\n{ACCEPT}\r\ncontent-length: 100\r\n\r\n{{\"jsonrpc\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let t0 = tokio::time::Instant::now();
    // Meanwhile another request goes through.
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}));
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(T, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"));
    assert!(t0.elapsed() >= Duration::from_millis(400));
}
