//! A slow reader on one stream does not delay another stream of the same
//! session: the driver never waits for a client; a full per-connection
//! backlog closes that connection (the client may resume).

use std::time::Duration;

use serde_json::json;
use streamable_core::Config;
use streamable_tests::{SseReader, T, TestServer, app, json_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_on_one_stream_does_not_delay_another_stream_of_the_same_session() {
    let service = TestServer::builder(Config::default(), None)
        .connection_backlog(8)
        .build(app());
    let server = TestServer::start_service(service).await;
    let mut c = server.client();
    c.initialize("2025-06-18").await;
    // Stream A: 48 MB of log messages, never read by the client.
    let slow = c
        .call_tool(1, "flood", json!({"count": 3000, "size": 16384}), None)
        .await;
    assert_eq!(slow.status(), 200);
    // Stream B on the same session: a countdown that must keep its pace.
    let t0 = tokio::time::Instant::now();
    let res = c
        .call_tool(
            2,
            "countdown",
            json!({"n": 5, "interval_ms": 100}),
            Some("b"),
        )
        .await;
    let events = SseReader::new(res).rest().await;
    let elapsed = t0.elapsed();
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[5].json()["id"], 2);
    let gaps: Vec<u128> = events
        .windows(2)
        .take(4)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    assert!(
        elapsed < Duration::from_millis(1500),
        "stream B delayed: {elapsed:?}, gaps {gaps:?}"
    );
    for g in &gaps {
        assert!(*g < 300, "stream B stalled: gaps {gaps:?}");
    }
    // Other requests are served at once too.
    let t1 = tokio::time::Instant::now();
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}));
    assert!(t1.elapsed() < Duration::from_millis(500));
    // Stream A was cut as a slow reader: reading it now yields what was
    // buffered, then the end, without the final response.
    let rest = tokio::time::timeout(T, SseReader::new(slow).rest())
        .await
        .expect("bounded");
    assert!(!rest.is_empty());
    assert!(
        rest.len() < 3000,
        "the slow stream was not cut ({} events)",
        rest.len()
    );
    assert!(rest.iter().all(|e| e.json().get("id").is_none()));
    eprintln!(
        "slow stream cut after {} events; stream B gaps {gaps:?} ms",
        rest.len()
    );
}
