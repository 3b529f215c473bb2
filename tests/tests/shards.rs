//! Sharded drivers (issue 19, `docs/scale.md`): a service with three shards
//! on 127.0.0.1, checked over the wire. Which shard holds a session is read
//! from the id itself (its value modulo the shard count), exactly as the
//! service routes it.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::Config;
use streamable_hyper::{McpServer, McpService, Resource};
use streamable_tests::{
    Client, SseReader, T, TestServer, json_body, modern_request, post_request, send,
};

const N: usize = 3;

fn app() -> McpServer {
    streamable_tests::app().resource(Resource::text("mem://x", "x", "text/plain", "X"))
}

fn sharded(app: McpServer, config: Config) -> McpService {
    McpService::builder()
        .config(config)
        .path("/mcp")
        .body_timeout(Duration::from_millis(500))
        .shards(N)
        .build(app)
}

/// The shard an id names, computed independently of the service.
fn residue(id: &str) -> usize {
    assert_eq!(id.len(), 32, "32 hex digits: {id}");
    (u128::from_str_radix(id, 16).expect("hex") % N as u128) as usize
}

async fn echo(c: &Client, id: i64, text: &str) -> Value {
    let res = c.call_tool(id, "echo", json!({"text": text}), None).await;
    assert_eq!(res.status(), 200);
    json_body(res).await
}

/// Sessions until every shard holds at least one (fresh connections take
/// the next home shard in turn, so a handful is enough).
async fn sessions_on_every_shard(server: &TestServer) -> Vec<Client> {
    let mut clients = Vec::new();
    let mut seen = BTreeSet::new();
    for _ in 0..4 * N {
        let mut c = server.client();
        c.initialize("2025-06-18").await;
        seen.insert(residue(c.session.as_deref().unwrap()));
        clients.push(c);
    }
    assert_eq!(seen.len(), N, "sessions landed on shards {seen:?}");
    clients
}

/// SHARD-1, SHARD-2, SHARD-4: sessions created through a three-shard
/// service land on all three shards (the id's residue), the service routes
/// each later request by that residue, and every session is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_2_sessions_land_on_every_shard_and_are_served() {
    let server = TestServer::start_service(sharded(app(), Config::default())).await;
    assert_eq!(server.service.shards(), N);
    let clients = sessions_on_every_shard(&server).await;
    for (i, c) in clients.iter().enumerate() {
        let sid = c.session.as_deref().unwrap();
        assert_eq!(server.service.shard_of_session(sid), residue(sid));
        let text = format!("hello {i}");
        let v = echo(c, i as i64 + 1, &text).await;
        assert_eq!(v["id"], i as i64 + 1);
        assert_eq!(v["result"]["content"][0]["text"], text, "{v}");
    }
}

/// SHARD-4: stateless 2026-07-28 requests (no session) are served whichever
/// shard their connection was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_4_stateless_requests_are_served_on_every_shard() {
    let server = TestServer::start_service(sharded(app(), Config::default())).await;
    let addr = server.addr;
    for i in 0..2 * N as i64 {
        let text = format!("modern {i}");
        let res = send(
            addr,
            modern_request(
                addr,
                i,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": text}}),
            ),
        )
        .await;
        assert_eq!(res.status(), 200);
        let v = json_body(res).await;
        assert_eq!(v["id"], i);
        assert_eq!(v["result"]["content"][0]["text"], text, "{v}");
    }
}

/// SHARD-6: one `resource_updated` reaches the subscribed legacy sessions
/// and the 2026-07-28 listen streams on every shard. SHARD-5: the registry
/// keeps subscribed sessions by `SessionKey`, and every shard's core numbers
/// its sessions from 1, so without keys unique across shards the sessions
/// would overwrite each other there and the count would fall short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_6_resource_updated_fans_out_to_every_shard() {
    let app = app();
    let server = TestServer::start_service(sharded(app.clone(), Config::default())).await;
    let addr = server.addr;
    // One subscribed legacy session per shard, each with its GET stream.
    let mut legacy = Vec::new();
    let mut shards = BTreeSet::new();
    for c in sessions_on_every_shard(&server).await {
        let s = residue(c.session.as_deref().unwrap());
        if !shards.insert(s) {
            continue;
        }
        let res = c
            .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "resources/subscribe", "params": {"uri": "mem://x"}}))
            .await;
        assert_eq!(res.status(), 200);
        let v = json_body(res).await;
        assert!(v.get("result").is_some(), "{v}");
        legacy.push(SseReader::new(c.get(None).await));
    }
    // Listen streams on consecutive connections: consecutive home shards.
    let mut listeners = Vec::new();
    for k in 0..N as i64 {
        let res = send(
            addr,
            modern_request(
                addr,
                100 + k,
                "subscriptions/listen",
                json!({"notifications": {"resourceSubscriptions": ["mem://x"]}}),
            ),
        )
        .await;
        assert_eq!(res.status(), 200);
        let mut sse = SseReader::new(res);
        let ack = sse.next().await.expect("acknowledgement").json();
        assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
        listeners.push(sse);
    }
    assert_eq!(app.resource_updated("mem://other").await, 0);
    assert_eq!(app.resource_updated("mem://x").await, 2 * N);
    for sse in legacy.iter_mut().chain(listeners.iter_mut()) {
        let upd = sse.next().await.expect("the update").json();
        assert_eq!(upd["method"], "notifications/resources/updated");
        assert_eq!(upd["params"]["uri"], "mem://x");
    }
    // SHARD-7: shutdown reaches every shard: every listen stream ends with
    // its completion result, every GET stream ends.
    server.service.shutdown().await;
    for sse in &mut listeners {
        let done = sse.next().await.expect("the completion result").json();
        assert_eq!(done["result"]["resultType"], "complete", "{done}");
    }
    for sse in &mut legacy {
        sse.rest().await;
    }
}

/// SHARD-8: `max_sessions` is split `ceil(max / n)` per shard: with a
/// global 4 over 3 shards each shard holds 2, so the process holds 6
/// (`max + n - 1` at most), and a shard that is full refuses with 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_8_max_sessions_is_split_per_shard() {
    let config = Config {
        max_sessions: 4,
        ..Config::default()
    };
    let server = TestServer::start_service(sharded(app(), config)).await;
    let mut per_shard = [0usize; N];
    let mut refused = 0;
    for _ in 0..6 * N {
        let c = server.client();
        let res = c
            .post(&streamable_tests::initialize_body("2025-06-18"))
            .await;
        match res.status().as_u16() {
            200 => {
                let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
                per_shard[residue(&sid)] += 1;
            }
            503 => refused += 1,
            s => panic!("initialize answered {s}"),
        }
    }
    assert_eq!(per_shard, [2; N], "each shard holds ceil(4 / 3) = 2");
    assert_eq!(refused, 6 * N - 2 * N);
}

/// SHARD-3: an unknown or malformed session id gets the same 404 as with a
/// single driver, whatever shard its residue names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_3_unknown_and_garbage_session_ids_are_404() {
    let sharded_server = TestServer::start_service(sharded(app(), Config::default())).await;
    let single =
        TestServer::start_service(McpService::builder().path("/mcp").shards(1).build(app())).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let ids = [
        "00000000000000000000000000000000".to_owned(),
        "00000000000000000000000000000001".to_owned(),
        "00000000000000000000000000000002".to_owned(),
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF".to_owned(),
        "not-a-session".to_owned(),
        "0".repeat(200),
    ];
    for id in &ids {
        let mut answers = Vec::new();
        for addr in [sharded_server.addr, single.addr] {
            let res = send(addr, post_request(addr, Some(id), &ping)).await;
            let status = res.status();
            let body = json_body(res).await;
            answers.push((status, body));
        }
        assert_eq!(answers[0].0, 404, "{id}: {:?}", answers[0]);
        assert_eq!(answers[0], answers[1], "{id}: as a single driver answers");
    }
}

/// SHARD-10: a shard whose driver dies answers 503 for its own sessions
/// only; the other shards' sessions and new sessions keep being served, and
/// `serve` keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_10_a_dead_shard_answers_503_for_its_sessions_only() {
    let server = TestServer::start_service(sharded(app(), Config::default())).await;
    let clients = sessions_on_every_shard(&server).await;
    let dead = 1;
    server.service.crash_shard_for_simulation(dead);
    // The crash is a message: wait (bounded) until the shard's sessions see it.
    let victim = clients
        .iter()
        .find(|c| residue(c.session.as_deref().unwrap()) == dead)
        .unwrap();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let res = victim
            .call_tool(1, "echo", json!({"text": "x"}), None)
            .await;
        if res.status() == 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shard never died"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (i, c) in clients.iter().enumerate() {
        let sid = c.session.as_deref().unwrap();
        let res = c
            .call_tool(i as i64, "echo", json!({"text": "y"}), None)
            .await;
        if residue(sid) == dead {
            assert_eq!(res.status(), 503, "a dead shard's session");
        } else {
            assert_eq!(res.status(), 200, "a live shard's session");
            assert_eq!(json_body(res).await["result"]["content"][0]["text"], "y");
        }
    }
    // New sessions and stateless requests skip the dead shard.
    for i in 0..2 * N {
        let mut c = server.client();
        c.initialize("2025-06-18").await;
        assert_ne!(residue(c.session.as_deref().unwrap()), dead);
        let addr = server.addr;
        let res = send(
            addr,
            modern_request(
                addr,
                i as i64,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "z"}}),
            ),
        )
        .await;
        assert_eq!(res.status(), 200);
    }
}

/// SHARD-9: all shards start together: the first request, to whichever
/// shard, starts every driver, so a request for any other shard sent
/// without anything else starting the service is answered too (the
/// first-POST-hangs trap stays impossible with several mailboxes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_9_all_shards_start_with_the_first_request() {
    let service = sharded(app(), Config::default());
    assert!(!service.is_started());
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut shards = BTreeSet::new();
    for _ in 0..2 * N {
        // Each clone has the next home shard.
        let clone = service.clone();
        let req = post_request(addr, None, &streamable_tests::initialize_body("2025-06-18"));
        let res = tokio::time::timeout(T, clone.handle(req))
            .await
            .expect("answered within the bound");
        assert_eq!(res.status(), 200);
        shards.insert(residue(res.headers()["mcp-session-id"].to_str().unwrap()));
    }
    assert!(service.is_started());
    assert_eq!(shards.len(), N, "homes cover every shard: {shards:?}");
}
