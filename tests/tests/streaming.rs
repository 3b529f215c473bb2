//! Events leave when they are emitted, not when the handler finishes (the
//! second fastapi_mcp bug made impossible). U-PROG-*, T-PSSE-8, H-SSE-4/5.

use std::time::Duration;

use serde_json::json;
use streamable_core::Config;
use streamable_tests::{SseReader, TestServer, json_body};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u_prog_countdown_events_arrive_as_emitted_not_all_at_once() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let sent = Instant::now();
    let res = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 5, "interval_ms": 200}),
            Some("tok"),
        )
        .await;
    let head_at = Instant::now();
    assert_eq!(res.status(), 200);
    // H-SSE-4 / T-PSSE headers.
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let mut sse = SseReader::new(res);
    let events = sse.rest().await;
    let progress: Vec<_> = events
        .iter()
        .filter(|e| e.json()["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 5, "{events:?}");
    for (i, e) in progress.iter().enumerate() {
        assert_eq!(e.json()["params"]["progress"], json!(i + 1));
        assert_eq!(e.json()["params"]["progressToken"], "tok");
    }
    let last = events.last().expect("events");
    assert_eq!(last.json()["id"], 1);
    assert_eq!(
        last.json()["result"]["content"][0]["text"],
        "countdown of 5 done"
    );
    let first = progress[0].at;
    let spread = progress[4].at - first;
    assert!(
        spread >= Duration::from_millis(600),
        "all at once: spread {spread:?}"
    );
    let gaps: Vec<u128> = progress
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    for g in &gaps {
        assert!(*g >= 100, "events bunched: gaps {gaps:?} ms");
    }
    eprintln!(
        "countdown: head after {:?}, first event {:?} after the request was sent, gaps {:?} ms, last-first {:?}",
        head_at - sent,
        first - sent,
        gaps,
        spread
    );
    assert!(
        first - sent < Duration::from_millis(150),
        "first event late: {:?}",
        first - sent
    );
}

/// H-SSE-5: an idle stream carries comment keep-alives; clients ignore them.
#[tokio::test]
async fn h_sse_5_idle_get_stream_gets_keep_alive_comments() {
    let server = TestServer::start_with(Config::default(), Some(Duration::from_millis(100))).await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c.get(None).await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    // No event comes; the reader times out after 450 ms having seen comments.
    let fut = sse.next_within(Duration::from_secs(5));
    let r = tokio::time::timeout(Duration::from_millis(450), fut).await;
    assert!(r.is_err(), "no event expected on an idle stream");
    assert!(sse.comments >= 3, "keep-alives seen: {}", sse.comments);
}

/// The default Auto mode answers a lone result as JSON (no stream needed).
#[tokio::test]
async fn t_post_8_auto_mode_answers_a_lone_result_as_json() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c.call_tool(7, "echo", json!({"text": "hi"}), None).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let v = json_body(res).await;
    assert_eq!(v["result"]["content"][0]["text"], "hi");
}

/// HTTP/2 (prior knowledge) is served too, and streams there as well.
#[tokio::test]
async fn http2_prior_knowledge_streams_events() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let server = TestServer::start().await;
    let io = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut tx, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    let uri = format!("http://127.0.0.1:{}/mcp", server.addr.port());
    let post = |session: Option<&str>, body: serde_json::Value| {
        let mut b = http::Request::post(uri.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
    };
    let res = tx
        .send_request(post(None, streamable_tests::initialize_body("2025-06-18")))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let res = tx
        .send_request(post(
            Some(&sid),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let res = tx
        .send_request(post(
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "countdown", "arguments": {"n": 3, "interval_ms": 150}, "_meta": {"progressToken": 1}}}),
        ))
        .await
        .unwrap();
    let mut sse = SseReader::new(res);
    let events = sse.rest().await;
    assert_eq!(events.len(), 4);
    assert!(events[2].at - events[0].at >= Duration::from_millis(250));
}
