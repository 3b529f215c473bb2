//! T-RES-4, T-PSSE-12: a disconnect is not a cancellation; GET with
//! `Last-Event-ID` replays exactly what was missed, then the response.

use std::time::Duration;

use serde_json::json;
use streamable_core::{Config, ResponseMode};
use streamable_tests::{SseReader, TestServer};

async fn disconnect_then_resume(version: &str) {
    let config = Config {
        response_mode: ResponseMode::Sse,
        ..Config::default()
    };
    let server = TestServer::start_with(config, None).await;
    let mut c = server.client();
    c.initialize(version).await;
    let res = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 6, "interval_ms": 100}),
            Some("p"),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    let mut seen = Vec::new();
    let mut last_id = None;
    while seen.len() < 2 {
        let e = sse.next().await.expect("event");
        last_id = e.event.last_event_id.clone();
        let v = e.json();
        if !v.is_null() {
            seen.push(v["params"]["progress"].as_u64().expect("progress"));
        }
    }
    assert_eq!(seen, vec![1, 2]);
    // The client goes away mid-stream.
    drop(sse);
    // The tool keeps running (a disconnect is not a cancellation). No sleep
    // to wait for its end: whether the resume finds it finished (pure
    // replay) or running (replay, then live events), the stream must carry
    // exactly the missing events and the response, then end. The running
    // case alone is `t_res_4_resume_while_running_continues_live`.
    let last_id = last_id.expect("events carry ids");
    let res = c.get(Some(&last_id)).await;
    assert_eq!(res.status(), 200);
    let rest = SseReader::new(res).rest().await;
    let mut progress = Vec::new();
    let mut responses = Vec::new();
    for e in &rest {
        let v = e.json();
        if v["method"] == "notifications/progress" {
            progress.push(v["params"]["progress"].as_u64().unwrap());
        } else if v.get("id").is_some() {
            responses.push(v);
        }
    }
    assert_eq!(
        progress,
        vec![3, 4, 5, 6],
        "exactly the missing events: {rest:?}"
    );
    assert_eq!(responses.len(), 1, "{rest:?}");
    assert_eq!(responses[0]["id"], 1);
    assert_eq!(
        responses[0]["result"]["content"][0]["text"],
        "countdown of 6 done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_res_4_disconnect_mid_stream_then_resume_gets_exactly_the_rest_2025_06_18() {
    disconnect_then_resume("2025-06-18").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_res_4_disconnect_mid_stream_then_resume_gets_exactly_the_rest_2025_11_25() {
    disconnect_then_resume("2025-11-25").await;
}

/// Resuming while the tool still runs: replay, then live events, then the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t_res_4_resume_while_running_continues_live() {
    let config = Config {
        response_mode: ResponseMode::Sse,
        ..Config::default()
    };
    let server = TestServer::start_with(config, None).await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    let res = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 6, "interval_ms": 150}),
            Some("p"),
        )
        .await;
    let mut sse = SseReader::new(res);
    let e = sse.next().await.expect("first event");
    let id = e.event.last_event_id.clone().expect("id");
    drop(sse);
    let res = c.get(Some(&id)).await;
    let rest = SseReader::new(res).rest().await;
    let progress: Vec<u64> = rest
        .iter()
        .filter_map(|e| e.json()["params"]["progress"].as_u64())
        .collect();
    assert_eq!(progress, vec![2, 3, 4, 5, 6]);
    assert_eq!(rest.last().unwrap().json()["id"], 1);
}

/// T-PSSE-2..4 over the wire: the handler ends its connection (polling);
/// the client sees the priming event with `retry`, the body ends, and a GET
/// with `Last-Event-ID` brings the response that was produced meanwhile.
#[tokio::test]
async fn t_psse_2_handler_ends_its_connection_and_the_client_polls_for_the_response() {
    use streamable_core::{ErrorObject, RawJson, code};
    use streamable_hyper::{McpService, handler_fn};
    let handler = handler_fn(|ctx, method, _params| async move {
        match method.as_str() {
            "initialize" => Ok(RawJson::from_value(&json!({
                "capabilities": {"tools": {}}, "serverInfo": {"name": "poll", "version": "1"}
            }))),
            "tools/call" => {
                ctx.end_connection()
                    .await
                    .expect("a 2025-11-25 stream can poll");
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(RawJson::from_value(
                    &json!({"content": [{"type": "text", "text": "late"}]}),
                ))
            }
            _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
        }
    });
    let service = McpService::builder().path("/mcp").build(handler);
    let server = TestServer::start_service(service).await;
    let mut c = server.client();
    c.initialize("2025-11-25").await;
    let res = c.call_tool(9, "anything", json!({}), None).await;
    let mut sse = SseReader::new(res);
    let events = sse.rest().await;
    assert_eq!(events.len(), 1, "only the priming event: {events:?}");
    assert!(events[0].event.data.is_empty());
    assert_eq!(sse.retry(), Some(1000), "T-PSSE-4");
    let cursor = events[0].event.last_event_id.clone().expect("an id");
    // Not synchronisation: a client honours `retry` before polling again
    // (T-PSSE-4). The GET would wait for the late response either way.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let res = c.get(Some(&cursor)).await;
    assert_eq!(res.status(), 200);
    let rest = SseReader::new(res).rest().await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    let v = rest[0].json();
    assert_eq!(v["id"], 9);
    assert_eq!(v["result"]["content"][0]["text"], "late");
}
