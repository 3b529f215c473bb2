//! Three server instances on one real Redis behind a round-robin proxy
//! (no session affinity): any instance serves any session, a stream cut
//! mid-countdown resumes on another instance with every event exactly
//! once, and a Redis outage is answered 503 + `Retry-After` in bounded
//! time, then recovered from.

mod support;

use std::time::Duration;

use http_body_util::BodyExt;
use serde_json::{Value, json};
use streamable_core::Config;
use streamable_core::store::StoreConfig;
use streamable_hyper::client::Client;
use streamable_redis::{Redis, RedisConfig, RedisSharedStore};
use streamable_tests::{T, TestServer};
use support::proxy::Proxy;
use support::relay::{Mode, Relay};
use tokio::time::timeout;

/// One instance: its own Redis connection, the shared namespace.
async fn instance(url: &str, ns: &str, store: StoreConfig) -> TestServer {
    let redis = Redis::open(
        &RedisConfig::new(url)
            .namespace(ns)
            .timeout(Duration::from_millis(400)),
    )
    .unwrap();
    let config = Config {
        retry_ms: 100,
        store: Some(store),
        ..Config::default()
    };
    let service = TestServer::builder(config, Some(Duration::from_secs(15)))
        .shared_store(RedisSharedStore::new(redis))
        .build(streamable_tests::app());
    TestServer::start_service(service).await
}

async fn three(url: &str, store: StoreConfig) -> (Vec<TestServer>, Proxy) {
    let ns = support::namespace();
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(instance(url, &ns, store.clone()).await);
    }
    let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
    let proxy = Proxy::start(&addrs).await;
    (servers, proxy)
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or("")
}

/// The upstream with a response being streamed through the proxy.
fn holder(proxy: &Proxy) -> Option<usize> {
    (0..3).find(|&i| proxy.open(i) > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_14_any_instance_serves_the_session_and_a_cut_stream_resumes_elsewhere_exactly_once()
{
    let Some(url) = support::redis_url("redis_14") else {
        return;
    };
    let (_servers, proxy) = three(&url, StoreConfig::default()).await;
    let client = timeout(
        T,
        Client::builder(&proxy.url())
            .reconnect(Duration::from_millis(100), 5)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    // initialize, initialized and these calls went round the three
    // instances: each served a session it did not create.
    for i in 0..4 {
        let r = timeout(
            T,
            client.call_tool("echo", json!({"text": format!("hi {i}")})),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(text_of(&r), format!("hi {i}"));
    }
    assert!(
        proxy.served().iter().all(|&n| n >= 2),
        "{:?}",
        proxy.served()
    );
    // A countdown whose stream is cut at 2 (the instance running the tool
    // is dead to clients from then on: its tool goes on writing to Redis),
    // resumed on a second instance, which dies at 4, resumed on the third.
    let mut seen = Vec::new();
    let mut killed = Vec::new();
    let r = timeout(
        T,
        client.call_tool_with_progress("countdown", json!({"n": 8, "interval_ms": 150}), |p| {
            seen.push(p.progress);
            if p.progress == 2.0 || p.progress == 4.0 {
                let h = holder(&proxy).expect("a stream is open through the proxy");
                proxy.kill(h);
                killed.push(h);
            }
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text_of(&r), "countdown of 8 done");
    assert_eq!(
        seen,
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "every progress event exactly once, in order"
    );
    assert_eq!(killed.len(), 2);
    assert_ne!(killed[0], killed[1], "the resume ran on another instance");
    // The survivor serves the session alone now.
    let r = timeout(T, client.call_tool("echo", json!({"text": "still here"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "still here");
    timeout(T, client.close()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_15_a_redis_outage_is_503_with_retry_after_within_the_deadline_then_recovered() {
    let Some(url) = support::redis_url("redis_15") else {
        return;
    };
    let relay = Relay::start(support::host_port(&url)).await;
    let store = StoreConfig {
        deadline: Duration::from_millis(700),
        retry_after_secs: 2,
        ..StoreConfig::default()
    };
    let (_servers, proxy) = three(&relay.url(), store).await;
    let mut c = streamable_tests::Client {
        addr: proxy.addr(),
        session: None,
    };
    c.initialize("2025-11-25").await;
    let call = |c: &streamable_tests::Client, id: i64| {
        let c = c.clone();
        async move { c.call_tool(id, "echo", json!({"text": "x"}), None).await }
    };
    assert_eq!(call(&c, 1).await.status(), 200);
    for (i, mode) in [Mode::Stall, Mode::Down].into_iter().enumerate() {
        relay.set(mode);
        for k in 0..3 {
            let res = call(&c, 10 + (i * 3 + k) as i64).await;
            assert_eq!(res.status(), 503, "{mode:?}: Redis unreachable is 503");
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("2"),
                "{mode:?}"
            );
            // Never a hang: `send` bounds the response head by T.
            let _ = timeout(T, res.into_body().collect()).await;
        }
    }
    relay.set(Mode::Up);
    // Back: every instance serves the session again (the session survived
    // in Redis: no 404).
    let mut ok = 0;
    for id in 100..130 {
        let res = call(&c, id).await;
        if res.status() == 200 {
            ok += 1;
            if ok == 3 {
                break;
            }
        } else {
            assert_eq!(res.status(), 503, "only 503 while reconnecting");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(ok, 3, "recovered on the instances");
}
