//! Graceful shutdown of `serve` and session end (DELETE) over the wire.

use serde_json::json;
use streamable_hyper::{McpService, serve};
use streamable_tests::{Client, SseReader, T, app};

/// L-SHUT-1: on shutdown `serve` stops accepting, ends open SSE streams and
/// returns within its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_open_streams_and_returns() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, McpService::new(app()), async {
        let _ = stopped.await;
    }));
    let mut c = Client {
        addr,
        session: None,
    };
    c.initialize("2025-06-18").await;
    let mut get = SseReader::new(c.get(None).await);
    let running = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 100, "interval_ms": 100}),
            Some("x"),
        )
        .await;
    let mut running = SseReader::new(running);
    running.next().await.expect("first progress");
    stop.send(()).unwrap();
    let t0 = tokio::time::Instant::now();
    assert!(get.rest().await.is_empty(), "the GET stream ends");
    running.rest().await;
    let r = tokio::time::timeout(T, server)
        .await
        .expect("serve returns");
    r.unwrap().unwrap();
    // Liveness only (`T` above): no upper bound a loaded CI could break.
    eprintln!(
        "serve returned {:?} after the shutdown signal",
        t0.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

/// T-SES-9 / X-17: DELETE ends the session (204); later requests get 404.
#[tokio::test]
async fn t_ses_9_delete_ends_the_session() {
    let server = streamable_tests::TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let sid = c.session.clone().unwrap();
    let req = http::Request::delete(format!("http://{}/mcp", server.addr))
        .header("host", "127.0.0.1")
        .header("mcp-session-id", &sid)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(streamable_tests::send(server.addr, req).await.status(), 204);
    let res = c
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(res.status(), 404);
}
