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
    // The tool keeps running (a disconnect is not a cancellation); let it
    // finish before resuming so the replay covers the rest.
    tokio::time::sleep(Duration::from_millis(700)).await;
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
