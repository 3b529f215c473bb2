//! Events leave when they are emitted, not when the handler finishes (the
//! second fastapi_mcp bug made impossible). U-PROG-*, T-PSSE-8, H-SSE-4/5.

use std::time::Duration;

use serde_json::json;
use streamable_core::Config;
use streamable_tests::{SseReader, TestServer, json_body, open_gate};

/// Each progress event reaches the client while the handler is still
/// running: the tool produces event `i + 1` only after the client has read
/// event `i` (the `lockstep` tool). A transport that buffers the stream, or
/// holds events until the handler returns, never delivers the first event,
/// so the handler never goes on and the read fails at its bound. No clock
/// is read: the order of events is the proof (issue 18: no wall-clock
/// assertions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u_prog_each_event_arrives_before_the_next_is_produced() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    open_gate("u-prog-stream");
    let res = c
        .call_tool(
            1,
            "lockstep",
            json!({"gate": "u-prog-stream", "n": 5}),
            Some("tok"),
        )
        .await;
    assert_eq!(res.status(), 200);
    // H-SSE-4 / T-PSSE headers.
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    let mut sse = SseReader::new(res);
    for i in 1..=5 {
        let e = sse
            .next()
            .await
            .unwrap_or_else(|| panic!("progress {i} never arrived while the tool waited for it"))
            .json();
        assert_eq!(e["method"], "notifications/progress", "{e}");
        assert_eq!(e["params"]["progress"], json!(i));
        assert_eq!(e["params"]["progressToken"], "tok");
        open_gate("u-prog-stream");
    }
    let last = sse.next().await.expect("the result").json();
    assert_eq!(last["id"], 1);
    assert_eq!(last["result"]["content"][0]["text"], "lockstep of 5 done");
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
    // Auto mode: the response head leaves with the first event, so the
    // first step is open before the call.
    open_gate("h2-stream");
    let res = tx
        .send_request(post(
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "lockstep", "arguments": {"gate": "h2-stream", "n": 3}, "_meta": {"progressToken": 1}}}),
        ))
        .await
        .unwrap();
    // Each event is read before the tool may produce the next.
    let mut sse = SseReader::new(res);
    for i in 1..=3 {
        let e = sse
            .next()
            .await
            .expect("progress while the tool waits")
            .json();
        assert_eq!(e["params"]["progress"], json!(i));
        open_gate("h2-stream");
    }
    let last = sse.next().await.expect("the result").json();
    assert_eq!(last["result"]["content"][0]["text"], "lockstep of 3 done");
}
