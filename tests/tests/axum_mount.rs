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

/// KIT-6: `Builder::path` under `nest_service` (which strips the prefix)
/// cannot match; the 404 says so and what to do, instead of a bare
/// "Not Found" on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_6_a_path_that_nest_service_stripped_is_reported_clearly() {
    let mcp = McpService::builder().path("/mcp").build(app());
    let router = Router::new().nest_service("/mcp", mcp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let c = Client {
        addr,
        session: None,
    };
    let res = c
        .post(&streamable_tests::initialize_body("2025-06-18"))
        .await;
    assert_eq!(res.status(), 404);
    let body = streamable_tests::json_body(res).await;
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("/mcp") && msg.contains("nest_service"),
        "{body}"
    );

    // Unset, the same mount serves.
    let router = Router::new().nest_service("/mcp", McpService::new(app()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let nested = tokio::spawn(async move { axum::serve(listener, router).await });
    let mut c = Client {
        addr,
        session: None,
    };
    let init = c.initialize("2025-06-18").await;
    assert_eq!(init["result"]["serverInfo"]["name"], "streamable-tests");
    server.abort();
    nested.abort();
}

/// KIT-7: axum's graceful shutdown waits for open connections; an open SSE
/// stream used to keep it waiting forever. With `McpService::graceful` the
/// signal also stops the service, which ends the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_7_axum_graceful_shutdown_ends_open_streams_by_itself() {
    let mcp = McpService::new(app());
    let router = Router::new().route_service("/mcp", mcp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        let _ = stopped.await;
    };
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(mcp.graceful(signal))
            .await
    });
    let mut c = Client {
        addr,
        session: None,
    };
    c.initialize("2025-06-18").await;
    let stream = c.get(None).await;
    assert_eq!(stream.status(), 200);
    let mut events = SseReader::new(stream);
    stop.send(()).unwrap();
    // A hang, not a slowness, is what this bound catches.
    let ended = tokio::time::timeout(Duration::from_secs(30), server).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "axum's graceful shutdown did not complete: {ended:?}"
    );
    // And the client saw its stream end.
    assert!(events.next_within(Duration::from_secs(30)).await.is_none());
}
