//! The service mounted in axum next to other routes (lazy driver start),
//! streaming through axum unchanged.

use std::time::Duration;

use axum::{Router, routing::get};
use serde_json::json;
use streamable_hyper::McpService;
use streamable_tests::{Client, SseReader, app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_route_service_serves_mcp_and_streams() {
    let mcp = McpService::new(app());
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let mut c = Client {
        addr,
        session: None,
    };
    let init = c.initialize("2025-06-18").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "streamable-tests");
    assert!(mcp.is_started(), "started lazily by the first request");
    let res = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 3, "interval_ms": 150}),
            Some("t"),
        )
        .await;
    let events = SseReader::new(res).rest().await;
    assert_eq!(events.len(), 4);
    assert!(events[2].at - events[0].at >= Duration::from_millis(250));
    server.abort();
}
