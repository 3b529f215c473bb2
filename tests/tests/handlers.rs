//! The handler API over the wire: panics, server-to-client requests,
//! cancellation, registry methods.

use serde_json::json;
use streamable_tests::{SseReader, TestServer, json_body};

#[tokio::test]
async fn panicking_handler_is_an_internal_error_and_the_session_lives_on() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c.call_tool(1, "panic", json!({}), None).await;
    assert_eq!(res.status(), 200);
    let v = json_body(res).await;
    assert_eq!(v["id"], 1);
    assert_eq!(v["error"]["code"], -32603, "{v}");
    let v = json_body(
        c.call_tool(2, "echo", json!({"text": "still here"}), None)
            .await,
    )
    .await;
    assert_eq!(v["result"]["content"][0]["text"], "still here");
}

/// a server-to-client request travels on the originating POST stream
/// and its answer (POSTed by the client) is routed back to the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_psse_8_sampling_round_trip_on_the_request_stream() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c
        .call_tool(1, "ask_llm", json!({"question": "6x7?"}), None)
        .await;
    let mut sse = SseReader::new(res);
    let req = sse.next().await.expect("sampling request").json();
    assert_eq!(req["method"], "sampling/createMessage");
    let answer = json!({"jsonrpc": "2.0", "id": req["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "42"}, "model": "m"}});
    assert_eq!(c.post(&answer).await.status(), 202);
    let rest = sse.rest().await;
    assert_eq!(rest.len(), 1);
    let v = rest[0].json();
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["content"][0]["text"], "42");
}

/// U-CAN-1/U-CAN-5: after notifications/cancelled the handler stops, no
/// response is sent, and the stream still ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u_can_5_cancelled_request_ends_its_stream_without_a_response() {
    let server = TestServer::start().await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c
        .call_tool(
            9,
            "countdown",
            json!({"n": 100, "interval_ms": 100}),
            Some("p"),
        )
        .await;
    let mut sse = SseReader::new(res);
    let first = sse.next().await.expect("first progress").json();
    assert_eq!(first["method"], "notifications/progress");
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "reason": "enough"}});
    assert_eq!(c.post(&cancel).await.status(), 202);
    // Cancelled: the stream ends without the response and without the
    // hundred events an uncancelled countdown would still send (no clock
    // read, issue 18).
    let rest = sse.rest().await;
    assert!(
        rest.iter().all(|e| e.json().get("id").is_none()),
        "{rest:?}"
    );
    assert!(rest.len() < 5);
}

#[tokio::test]
async fn registry_lists_and_validates() {
    let server = TestServer::start().await;
    let mut c = server.client();
    let init = c.initialize("2025-06-18").await;
    assert_eq!(
        init["result"]["capabilities"]["tools"],
        json!({"listChanged": false})
    );
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .await,
    )
    .await;
    let names: Vec<&str> = v["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["ask_llm", "countdown", "echo", "flood", "lockstep", "panic"]
    );
    let v = json_body(c.call_tool(2, "echo", json!({}), None).await).await;
    assert_eq!(v["result"]["isError"], true);
    let v = json_body(c.call_tool(3, "nope", json!({}), None).await).await;
    assert_eq!(v["error"]["code"], -32602);
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/list"}))
            .await,
    )
    .await;
    assert_eq!(v["error"]["code"], -32601, "no prompts registered");
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 5, "method": "logging/setLevel", "params": {"level": "error"}}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}));
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 6, "method": "ping"}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}));
}
