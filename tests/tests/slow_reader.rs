//! A slow reader on one stream does not delay another stream of the same
//! session: the driver never waits for a client; a full per-connection
//! backlog closes that connection (the client may resume).

use serde_json::json;
use streamable_core::Config;
use streamable_tests::{SseReader, T, TestServer, app, json_body, open_gate};

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
    // Stream B on the same session, in lockstep: the tool produces event
    // i + 1 only after the client has read event i. Were B held behind A's
    // unread backlog, its first event would never arrive and the read would
    // fail at its bound; no clock is read (issue 18).
    open_gate("slow-reader-b");
    let res = c
        .call_tool(
            2,
            "lockstep",
            json!({"gate": "slow-reader-b", "n": 5}),
            Some("b"),
        )
        .await;
    let mut b = SseReader::new(res);
    for i in 1..=5 {
        let e = b
            .next()
            .await
            .unwrap_or_else(|| panic!("stream B's progress {i} held behind the slow stream"))
            .json();
        assert_eq!(e["params"]["progress"], json!(i), "{e}");
        open_gate("slow-reader-b");
    }
    let last = b.next().await.expect("stream B's result").json();
    assert_eq!(last["id"], 2);
    // Other requests are served while A is still unread too.
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}));
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
    eprintln!("slow stream cut after {} events", rest.len());
}
