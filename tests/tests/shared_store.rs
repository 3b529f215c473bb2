//! STORE-n (issue 17, `docs/store.md`): several `McpService`s on loopback
//! sharing one `MemorySharedStore` serve any session and resume any stream.

use std::time::Duration;

use serde_json::json;
use streamable_core::{Config, ResponseMode};
use streamable_hyper::store::MemorySharedStore;
use streamable_tests::{Client, SseReader, TestServer, app, json_body, open_gate};

async fn cluster(n: usize, config: Config) -> (Vec<TestServer>, MemorySharedStore) {
    let store = MemorySharedStore::new();
    let mut servers = Vec::new();
    for _ in 0..n {
        let service = TestServer::builder(config.clone(), Some(Duration::from_secs(15)))
            .check_invariants(true)
            .shared_store(store.clone())
            .build(app());
        servers.push(TestServer::start_service(service).await);
    }
    (servers, store)
}

fn on(c: &Client, server: &TestServer) -> Client {
    let mut c = c.clone();
    c.addr = server.addr;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_8_initialize_on_one_call_on_another_delete_on_a_third() {
    let (s, store) = cluster(3, Config::default()).await;
    let mut c = s[0].client();
    c.initialize("2025-06-18").await;
    assert_eq!(store.session_count(), 1);
    // tools/call on B: restored from the store, answered as A would.
    let b = on(&c, &s[1]);
    let res = b.call_tool(1, "echo", json!({"text": "hi"}), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["mcp-session-id"].to_str().unwrap(),
        c.session.as_deref().unwrap()
    );
    let v = json_body(res).await;
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["content"][0]["text"], "hi", "{v}");
    // And on A, which created it.
    let res = c.call_tool(2, "echo", json!({"text": "again"}), None).await;
    assert_eq!(
        json_body(res).await["result"]["content"][0]["text"],
        "again"
    );
    // DELETE on C.
    let cc = on(&c, &s[2]);
    let res = streamable_tests::send(cc.addr, {
        http::Request::delete(format!("http://{}/mcp", cc.addr))
            .header("host", format!("127.0.0.1:{}", cc.addr.port()))
            .header("mcp-session-id", cc.session.as_deref().unwrap())
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    })
    .await;
    assert_eq!(res.status(), 204);
    assert_eq!(store.session_count(), 0);
    // 404 everywhere, including the two instances that held it.
    for server in &s {
        let res = on(&c, server)
            .call_tool(3, "echo", json!({"text": "gone"}), None)
            .await;
        assert_eq!(res.status(), 404, "served after DELETE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_5_unknown_session_is_404_on_every_instance() {
    let (s, _store) = cluster(2, Config::default()).await;
    for server in &s {
        let mut c = server.client();
        c.session = Some("0123456789abcdef0123456789abcdef".into());
        let res = c.call_tool(1, "echo", json!({"text": "x"}), None).await;
        assert_eq!(res.status(), 404);
    }
}

/// A stream started on A, resumed on B while A's handler still runs: B
/// replays what the client missed from the store, then tails it live until
/// the response; every event exactly once.
async fn resume_on_another_instance(version: &str) {
    let config = Config {
        response_mode: ResponseMode::Sse,
        ..Config::default()
    };
    let (s, _store) = cluster(2, config).await;
    let mut c = s[0].client();
    c.initialize(version).await;
    let gate = format!("store-e2e-{version}");
    let res = c
        .call_tool(1, "lockstep", json!({"gate": gate, "n": 5}), Some("p"))
        .await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    let mut seen = Vec::new();
    let mut last_id = None;
    open_gate(&gate);
    while seen.len() < 2 {
        let e = sse.next().await.expect("event");
        last_id = e.event.last_event_id.clone();
        if let Some(p) = e.json()["params"]["progress"].as_u64() {
            seen.push(p);
            if seen.len() < 2 {
                open_gate(&gate);
            }
        }
    }
    assert_eq!(seen, vec![1, 2]);
    drop(sse);
    let last_id = last_id.expect("events carry ids");
    // Resume on B, which never held the session nor the stream.
    let b = on(&c, &s[1]);
    let res = b.get(Some(&last_id)).await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    // A's handler goes on only now: what follows reaches B through the store.
    let mut progress = Vec::new();
    let mut responses = Vec::new();
    open_gate(&gate);
    while let Some(e) = sse.next().await {
        let v = e.json();
        if let Some(p) = v["params"]["progress"].as_u64() {
            progress.push(p);
            if p < 5 {
                open_gate(&gate);
            }
        } else if v.get("id").is_some() {
            responses.push(v);
        }
    }
    assert_eq!(progress, vec![3, 4, 5], "exactly the rest, once");
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0]["id"], 1);
    assert_eq!(
        responses[0]["result"]["content"][0]["text"],
        "lockstep of 5 done"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_7_resume_on_another_instance_2025_06_18() {
    resume_on_another_instance("2025-06-18").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_7_resume_on_another_instance_2025_11_25() {
    resume_on_another_instance("2025-11-25").await;
}

/// A countdown finished on A while the client was away: B replays the rest
/// and the response from the store and ends the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_7_countdown_resumed_on_another_instance() {
    let config = Config {
        response_mode: ResponseMode::Sse,
        ..Config::default()
    };
    let (s, _store) = cluster(3, config).await;
    let mut c = s[0].client();
    c.initialize("2025-11-25").await;
    let res = c
        .call_tool(
            1,
            "countdown",
            json!({"n": 6, "interval_ms": 50}),
            Some("p"),
        )
        .await;
    let mut sse = SseReader::new(res);
    let mut last_id = None;
    let mut seen = 0;
    while seen < 2 {
        let e = sse.next().await.expect("event");
        last_id = e.event.last_event_id.clone();
        if e.json()["params"]["progress"].is_u64() {
            seen += 1;
        }
    }
    drop(sse);
    let res = on(&c, &s[2]).get(last_id.as_deref()).await;
    assert_eq!(res.status(), 200);
    let rest = SseReader::new(res).rest().await;
    let progress: Vec<u64> = rest
        .iter()
        .filter_map(|e| e.json()["params"]["progress"].as_u64())
        .collect();
    assert_eq!(progress, vec![3, 4, 5, 6]);
    let responses: Vec<_> = rest
        .iter()
        .map(|e| e.json())
        .filter(|v| v.get("id").is_some())
        .collect();
    assert_eq!(responses.len(), 1);
    assert_eq!(
        responses[0]["result"]["content"][0]["text"],
        "countdown of 6 done"
    );
}
