//! The 2026-07-28 era end to end, beside the legacy era on one server
//! (H-BC-5), over real loopback sockets.

use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::{Config, ErrorObject, RawJson, code};
use streamable_hyper::{McpService, handler_fn};
use streamable_tests::{Client, SseReader, T, TestServer, json_body, modern_request, send};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

#[tokio::test]
async fn h_bc_5_a_modern_and_a_legacy_client_share_one_server_at_the_same_time() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let mut legacy = server.client();
    legacy.initialize("2025-11-25").await;

    // Both start a countdown with progress at the same time.
    let legacy_task = {
        let legacy: Client = legacy.clone();
        tokio::spawn(async move {
            let res = legacy
                .call_tool(
                    1,
                    "countdown",
                    json!({"n": 3, "interval_ms": 50}),
                    Some("L"),
                )
                .await;
            assert!(res.headers().get("mcp-session-id").is_some());
            SseReader::new(res).rest().await
        })
    };
    let modern_task = tokio::spawn(async move {
        let params = json!({"name": "countdown", "arguments": {"n": 3, "interval_ms": 50},
                            "_meta": {"progressToken": "M"}});
        let res = send(addr, modern_request(addr, 1, "tools/call", params)).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers().get("mcp-session-id").is_none(),
            "H-BC-3: no session id in the modern era"
        );
        assert_eq!(res.headers()["x-accel-buffering"], "no", "H-SSE-4");
        SseReader::new(res).rest().await
    });
    let (l, m) = tokio::join!(legacy_task, modern_task);
    let (l, m) = (l.unwrap(), m.unwrap());

    // Legacy: priming event, 3 progress, the result; every message event has
    // an id (resumable).
    let l: Vec<Value> = l
        .iter()
        .map(|r| r.json())
        .filter(|v| !v.is_null())
        .collect();
    assert_eq!(l.len(), 4, "{l:?}");
    assert!(l[..3].iter().all(|v| v["params"]["progressToken"] == "L"));
    assert_eq!(l[3]["id"], 1);
    assert!(l[3]["result"].get("resultType").is_none());

    // Modern: 3 progress for its own token, then the result with resultType;
    // no event ids (not resumable, H-SSE-6).
    assert!(m.iter().all(|r| !r.event.has_id));
    let m: Vec<Value> = m.iter().map(|r| r.json()).collect();
    assert_eq!(m.len(), 4, "{m:?}");
    assert!(m[..3].iter().all(|v| v["params"]["progressToken"] == "M"));
    assert_eq!(m[3]["id"], 1);
    assert_eq!(m[3]["result"]["resultType"], "complete");
    assert_eq!(m[3]["result"]["content"][0]["text"], "countdown of 3 done");
}

#[tokio::test]
async fn h_ver_7_h_ver_5_discover_and_unknown_methods_over_the_wire() {
    let server = TestServer::start().await;
    let addr = server.addr;
    let res = send(addr, modern_request(addr, 1, "server/discover", json!({}))).await;
    assert_eq!(res.status(), 200);
    let v = json_body(res).await;
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["supportedVersions"][0], "2026-07-28");
    assert!(v["result"]["capabilities"]["tools"].is_object());
    assert_eq!(
        v["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "streamable-tests"
    );

    let res = send(addr, modern_request(addr, 2, "no/such/method", json!({}))).await;
    assert_eq!(res.status(), 404);
    let v = json_body(res).await;
    assert_eq!(v["error"]["code"], code::METHOD_NOT_FOUND);

    // Header/body disagreement never reaches the application (INV-S24).
    let mut req = modern_request(
        addr,
        3,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "x"}}),
    );
    req.headers_mut()
        .insert("mcp-name", http::HeaderValue::from_static("countdown"));
    let res = send(addr, req).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_body(res).await["error"]["code"], code::HEADER_MISMATCH);

    // A legacy GET without a session is 405 on the dual-era endpoint (H-BC-3).
    let res = server.client().get(None).await;
    assert_eq!(res.status(), 405);
}

/// H-CAN-1/H-CAN-2: closing a modern response stream is the cancellation;
/// the handler observes it promptly.
#[tokio::test]
async fn h_can_1_closing_a_modern_stream_cancels_the_handler_promptly() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<&'static str>();
    let handler = handler_fn(move |ctx, method, _params| {
        let seen = seen_tx.clone();
        async move {
            if method != "tools/call" {
                return Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found"));
            }
            assert!(ctx.is_stateless());
            // One event so the response is a stream, then work "forever".
            let _ = ctx
                .notify(
                    "notifications/message",
                    Some(json!({"level": "info", "data": "started"})),
                )
                .await;
            tokio::select! {
                () = ctx.cancelled() => {
                    let _ = seen.send("cancelled");
                    Err(ErrorObject::new(code::INTERNAL_ERROR, "cancelled"))
                }
                () = tokio::time::sleep(Duration::from_secs(30)) => {
                    let _ = seen.send("finished");
                    Ok(RawJson::empty_object())
                }
            }
        }
    });
    let service = McpService::builder()
        .config(Config::default())
        .path("/mcp")
        .build(handler);
    let server = TestServer::start_service(service).await;
    let addr = server.addr;
    // The request asks for log messages (REM-3: without a logLevel in
    // `_meta` the server sends none).
    let params = json!({"name": "slow", "_meta": {"io.modelcontextprotocol/logLevel": "info"}});
    let res = send(addr, modern_request(addr, 1, "tools/call", params)).await;
    let mut sse = SseReader::new(res);
    let first = sse.next().await.expect("the first event");
    assert_eq!(first.json()["method"], "notifications/message");
    let closed_at = Instant::now();
    drop(sse); // the client closes the stream (and the connection)
    let what = timeout(T, seen_rx.recv())
        .await
        .expect("the handler observed something within the bound")
        .expect("a signal");
    let after = closed_at.elapsed();
    // Cancelled, not finished: the handler would otherwise run for 30 s.
    // How soon is the simulator's to say (exact time there); here only the
    // liveness bound `T` above, which a loaded CI cannot break.
    assert_eq!(what, "cancelled");
    eprintln!("modern cancellation reached the handler {after:?} after the close");
}

#[tokio::test]
async fn h_sub_1_h_sub_2_h_sub_3_listen_stream_receives_tagged_resource_updates() {
    let app = streamable_tests::app();
    let service = McpService::builder()
        .config(Config::default())
        .path("/mcp")
        .build(app.clone());
    let server = TestServer::start_service(service).await;
    let addr = server.addr;
    let res = send(
        addr,
        modern_request(
            addr,
            7,
            "subscriptions/listen",
            json!({"notifications": {"resourceSubscriptions": ["mem://x"], "toolsListChanged": true}}),
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    let ack = sse.next().await.expect("acknowledgement").json();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        7
    );
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["mem://x"])
    );
    assert_eq!(app.resource_updated("mem://other").await, 0);
    assert_eq!(app.resource_updated("mem://x").await, 1);
    let upd = sse.next().await.expect("the update").json();
    assert_eq!(upd["method"], "notifications/resources/updated");
    assert_eq!(upd["params"]["uri"], "mem://x");
    assert_eq!(
        upd["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        7
    );
    // Shutdown ends the subscription with its completion result (H-SUB-5).
    server.service.shutdown().await;
    let done = sse.next().await.expect("the completion result").json();
    assert_eq!(done["id"], 7);
    assert_eq!(done["result"]["resultType"], "complete");
    assert!(sse.next().await.is_none(), "then the stream closes");
}
