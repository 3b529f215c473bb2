//! Our client (streamable-hyper's `client::Client` over the core machine)
//! against our server, over real loopback sockets. Every wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::Config;
use streamable_core::client::{Era, EraPreference};
use streamable_hyper::client::{Client, EraCache, Error};
use streamable_hyper::{McpServer, McpService, Tool, ToolResult};
use streamable_tests::{T, TestServer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}

fn text_of(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or("")
}

#[tokio::test]
async fn t_post_1_initialize_list_and_call_over_the_wire() {
    let server = TestServer::start().await;
    let client = timeout(T, Client::connect(&url(server.addr)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.protocol_version().as_str(), "2025-11-25");
    assert_eq!(
        client.server_info()["serverInfo"]["name"],
        "streamable-tests"
    );
    let tools = timeout(T, client.list_tools()).await.unwrap().unwrap();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"countdown"),
        "{names:?}"
    );
    let r = timeout(T, client.call_tool("echo", json!({"text": "héllo"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "héllo");
    // A JSON-RPC error comes back as such.
    let e = timeout(T, client.request("no/such/method", json!({})))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Rpc(ref o) if o.code == -32601), "{e:?}");
    timeout(T, client.close()).await.unwrap();
    let after = timeout(T, client.list_tools()).await.unwrap();
    assert_eq!(after.unwrap_err(), Error::Closed);
}

#[tokio::test]
async fn u_prog_progress_callbacks_in_order_then_the_result() {
    let server = TestServer::start().await;
    let client = Client::connect(&url(server.addr)).await.unwrap();
    let mut seen = Vec::new();
    let r = timeout(
        T,
        client.call_tool_with_progress("countdown", json!({"n": 4, "interval_ms": 20}), |p| {
            seen.push((p.progress, p.total))
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text_of(&r), "countdown of 4 done");
    assert_eq!(
        seen,
        vec![
            (1.0, Some(4.0)),
            (2.0, Some(4.0)),
            (3.0, Some(4.0)),
            (4.0, Some(4.0))
        ]
    );
    client.close().await;
}

#[tokio::test]
async fn inv_s25_sampling_request_answered_while_the_call_waits() {
    let server = TestServer::start().await;
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let client = Client::builder(&url(server.addr))
        .on_sampling(move |params| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let q = params["messages"][0]["content"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                Ok(json!({"role": "assistant", "model": "test",
                    "content": {"type": "text", "text": format!("answer to {q}")}}))
            }
        })
        .connect()
        .await
        .unwrap();
    // Several at once: each nested request gets its own POST answer.
    let calls = (0..4).map(|i| {
        let c = client.clone();
        async move {
            c.call_tool("ask_llm", json!({"question": format!("q{i}")}))
                .await
        }
    });
    let results = timeout(T, futures_join_all(calls.collect())).await.unwrap();
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(text_of(&r.unwrap()), format!("answer to q{i}"));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 4);
    client.close().await;
}

/// Join futures without an extra dependency.
async fn futures_join_all<F: std::future::Future + Send + 'static>(futs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn t_ses_8_inv_l3_session_ended_by_the_server_then_reinitialized() {
    let app = McpServer::new("ending", "1").tool(Tool::new(
        "end_session",
        "Ends the caller's session.",
        json!({"type": "object"}),
        |ctx, _args| async move {
            let _ = ctx.session().close().await;
            Ok(ToolResult::text("ended"))
        },
    ));
    let service = McpService::builder().path("/mcp").build(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(streamable_hyper::serve(
        listener,
        service,
        std::future::pending(),
    ));
    let client = Client::connect(&url(addr)).await.unwrap();
    // The call that ends the session ran, but its answer may be a 404: the
    // client reports the loss (X-27) and starts a new session.
    let ended = timeout(T, client.call_tool("end_session", json!({})))
        .await
        .unwrap();
    match ended {
        Ok(r) => assert_eq!(text_of(&r), "ended"),
        Err(e) => assert_eq!(
            e,
            Error::Transport(streamable_core::client::Failure::SessionExpired)
        ),
    }
    let tools = timeout(T, client.list_tools()).await.unwrap().unwrap();
    assert_eq!(tools["tools"][0]["name"], "end_session");
    client.close().await;
    task.abort();
}

#[tokio::test]
async fn cancellation_dropping_the_call_cancels_it_on_the_server() {
    let server = TestServer::start().await;
    let client = Client::connect(&url(server.addr)).await.unwrap();
    let slow = client.call_tool("countdown", json!({"n": 50, "interval_ms": 100}));
    assert!(timeout(Duration::from_millis(300), slow).await.is_err());
    // The client is still usable and the server still answers.
    let r = timeout(T, client.call_tool("echo", json!({"text": "after"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "after");
    client.close().await;
}

/// A TCP proxy whose live connections can all be cut at once.
struct Proxy {
    addr: SocketAddr,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, watcher) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let mut w = watcher.clone();
                let born = *w.borrow();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = w.wait_for(|g| *g > born) => {}
                    }
                });
            }
        });
        Proxy { addr, cut, task }
    }

    fn cut_all(&self) {
        self.cut.send_modify(|g| *g += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn t_res_4_inv_s2_dropped_stream_is_resumed_and_nothing_repeats() {
    let config = Config {
        retry_ms: 100,
        ..Config::default()
    };
    let server = TestServer::start_with(config, Some(Duration::from_secs(15))).await;
    let proxy = Proxy::start(server.addr).await;
    let client = Client::builder(&url(proxy.addr))
        .reconnect(Duration::from_millis(100), 5)
        .connect()
        .await
        .unwrap();
    let mut seen = Vec::new();
    let r = timeout(
        T,
        client.call_tool_with_progress("countdown", json!({"n": 6, "interval_ms": 150}), |p| {
            seen.push(p.progress);
            if p.progress == 2.0 {
                // Every connection through the proxy dies mid-stream.
                proxy.cut_all();
            }
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text_of(&r), "countdown of 6 done");
    assert_eq!(seen, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    client.close().await;
}

/// H-BC-1, H-VER-7: an `Auto` client probes with `server/discover`, finds
/// our dual-era server modern, and speaks 2026-07-28 (no session, `_meta`
/// on every request, progress on the call's stream).
#[tokio::test]
async fn h_bc_1_auto_client_speaks_2026_07_28_to_our_server() {
    let server = TestServer::start().await;
    let client = timeout(
        T,
        Client::builder(&url(server.addr))
            .era(EraPreference::Auto)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(client.era(), Era::Modern);
    assert_eq!(client.protocol_version().as_str(), "2026-07-28");
    let tools = timeout(T, client.list_tools()).await.unwrap().unwrap();
    assert!(tools["tools"].as_array().unwrap().len() >= 2, "{tools}");
    let r = timeout(T, client.call_tool("echo", json!({"text": "héllo"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "héllo");
    let mut seen = Vec::new();
    let r = timeout(
        T,
        client.call_tool_with_progress("countdown", json!({"n": 3, "interval_ms": 20}), |p| {
            seen.push(p.progress)
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text_of(&r), "countdown of 3 done");
    assert_eq!(seen, vec![1.0, 2.0, 3.0]);
    timeout(T, client.close()).await.unwrap();
}

/// H-HDR-1..3 against INV-S24: our server checks every mirrored header
/// against the body, so a wrongly encoded `Mcp-Name` or `Mcp-Param-*`
/// would be a 400 (-32020) here.
#[tokio::test]
async fn h_hdr_3_inv_s24_mirrored_headers_accepted_by_our_server() {
    let app = McpServer::new("mirror", "1").tool(Tool::new(
        "wëather",
        "Echoes the annotated parameters.",
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "days": {"type": "integer", "x-mcp-header": "Days"},
            "opts": {"type": "object", "properties": {"metric": {"type": "boolean", "x-mcp-header": "Metric"}}}
        }}),
        |_ctx, args| async move {
            Ok(ToolResult::text(format!(
                "{} {} {}",
                args["region"].as_str().unwrap_or("-"),
                args["days"],
                args["opts"]["metric"]
            )))
        },
    ));
    let service = McpService::builder().path("/mcp").build(app);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(streamable_hyper::serve(
        listener,
        service,
        std::future::pending(),
    ));
    let client = Client::builder(&url(addr))
        .era(EraPreference::Modern)
        .connect()
        .await
        .unwrap();
    timeout(T, client.list_tools()).await.unwrap().unwrap();
    for (region, days, metric) in [
        ("eu-west", 3, true),
        (" padded, ünïcode ", -7, false),
        ("=?base64?looks-encoded?=", 0, true),
    ] {
        let r = timeout(
            T,
            client.call_tool(
                "wëather",
                json!({"region": region, "days": days, "opts": {"metric": metric}}),
            ),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(text_of(&r), format!("{region} {days} {metric}"));
    }
    client.close().await;
    task.abort();
}

fn header_of(headers: &http::HeaderMap, name: &str) -> Option<String> {
    Some(headers.get(name)?.to_str().ok()?.to_owned())
}

/// Our server behind a layer that counts `server/discover` probes and,
/// when `legacy_only`, answers every 2026-07-28 request as a legacy-only
/// server does (400, `-32000`, no recognised modern error).
async fn counting_server(
    legacy_only: bool,
) -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let probes = Arc::new(AtomicUsize::new(0));
    let counter = probes.clone();
    let layer = axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let counter = counter.clone();
            async move {
                let method = header_of(req.headers(), "mcp-method");
                let version = header_of(req.headers(), "mcp-protocol-version");
                if method.as_deref() == Some("server/discover") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                if legacy_only && version.as_deref() == Some("2026-07-28") {
                    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#;
                    return axum::response::Response::builder()
                        .status(400)
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body))
                        .unwrap();
                }
                next.run(req).await
            }
        },
    );
    let router = axum::Router::new()
        .route_service("/mcp", McpService::new(streamable_tests::app()))
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, probes, server)
}

fn auto_with(addr: SocketAddr, cache: &EraCache) -> impl Future<Output = Result<Client, Error>> {
    Client::builder(&url(addr))
        .era(EraPreference::Auto)
        .era_cache(cache.clone())
        .connect()
}

/// H-BC-2: `Auto` clients sharing an `EraCache`. The first probes with
/// `server/discover` and caches the modern era; the second speaks it at
/// once (no probe reaches the server) and works; a cached legacy era makes
/// a third client `initialize` straight away, also without a probe.
#[tokio::test]
async fn h_bc_2_second_auto_client_skips_the_probe_with_a_shared_era_cache() {
    let (addr, probes, server) = counting_server(false).await;
    let cache = EraCache::new();
    let first = timeout(T, auto_with(addr, &cache)).await.unwrap().unwrap();
    assert_eq!(first.era(), Era::Modern);
    assert_eq!(probes.load(Ordering::SeqCst), 1, "the first client probes");
    assert_eq!(cache.get(&url(addr)), Some(Era::Modern));
    timeout(T, first.close()).await.unwrap();

    let second = timeout(T, auto_with(addr, &cache)).await.unwrap().unwrap();
    assert_eq!(second.era(), Era::Modern);
    let r = timeout(T, second.call_tool("echo", json!({"text": "cached"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "cached");
    assert_eq!(probes.load(Ordering::SeqCst), 1, "no probe from the second");
    timeout(T, second.close()).await.unwrap();

    cache.insert(&url(addr), Era::Legacy);
    let third = timeout(T, auto_with(addr, &cache)).await.unwrap().unwrap();
    assert_eq!(third.era(), Era::Legacy);
    assert_eq!(third.protocol_version().as_str(), "2025-11-25");
    let r = timeout(T, third.call_tool("echo", json!({"text": "legacy"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "legacy");
    assert_eq!(probes.load(Ordering::SeqCst), 1);
    timeout(T, third.close()).await.unwrap();
    server.abort();
}

/// H-BC-2: the cache says 2026-07-28 but the server is legacy-only now.
/// The first call is refused without a modern error; the client probes
/// again, falls back to `initialize`, sends the call again in the legacy
/// era (it succeeds), reports the new era and caches it.
#[tokio::test]
async fn h_bc_2_wrong_cached_era_is_detected_again_and_the_call_still_succeeds() {
    let (addr, probes, server) = counting_server(true).await;
    let cache = EraCache::new();
    cache.insert(&url(addr), Era::Modern);
    let client = timeout(T, auto_with(addr, &cache)).await.unwrap().unwrap();
    assert_eq!(client.era(), Era::Modern, "assumed from the cache");
    assert_eq!(probes.load(Ordering::SeqCst), 0);
    let r = timeout(T, client.call_tool("echo", json!({"text": "again"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "again");
    assert_eq!(probes.load(Ordering::SeqCst), 1, "one new probe");
    assert_eq!(client.era(), Era::Legacy);
    assert_eq!(client.protocol_version().as_str(), "2025-11-25");
    assert_eq!(cache.get(&url(addr)), Some(Era::Legacy));
    timeout(T, client.close()).await.unwrap();
    server.abort();
}

/// L-TO-3 over the wire: a 1.5 s countdown reporting progress every 150 ms
/// outlives a 1 s timeout because progress restarts the timer; without
/// the reset, or with a 1.2 s hard maximum, it times out. The three run at
/// once; only the first depends on timing (a gap of over 1 s between two
/// progress notifications would fail it).
#[tokio::test]
async fn l_to_3_progress_keeps_a_long_call_alive_within_the_hard_maximum() {
    let server = TestServer::start().await;
    let call = |resets: bool, max: Option<Duration>| {
        let url = url(server.addr);
        async move {
            let client = Client::builder(&url)
                .timeout(Some(Duration::from_secs(1)))
                .progress_resets_timeout(resets)
                .max_request_time(max)
                .connect()
                .await
                .unwrap();
            let mut seen = 0;
            let r = client
                .call_tool_with_progress("countdown", json!({"n": 10, "interval_ms": 150}), |_| {
                    seen += 1
                })
                .await;
            client.close().await;
            (r, seen)
        }
    };
    let (kept, no_reset, capped) = timeout(T, async {
        tokio::join!(
            call(true, None),
            call(false, None),
            call(true, Some(Duration::from_millis(1200)))
        )
    })
    .await
    .unwrap();
    assert_eq!(text_of(&kept.0.unwrap()), "countdown of 10 done");
    assert_eq!(kept.1, 10);
    for (r, seen) in [no_reset, capped] {
        assert_eq!(
            r.unwrap_err(),
            Error::Transport(streamable_core::client::Failure::Timeout)
        );
        assert!(seen < 10, "{seen}");
    }
}

/// H-HDR-6 over the wire: a layer in front of our server refuses the first
/// `tools/call` with 400 + -32020 about `Mcp-Param-Region` (as a server
/// whose declarations changed would); the client lists the tools again and
/// re-sends the call once, with a new id, and the caller just sees the result.
#[tokio::test]
async fn h_hdr_6_param_mismatch_refreshed_and_retried_over_the_wire() {
    let lists = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (l, c) = (lists.clone(), calls.clone());
    let layer = axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (lists, calls) = (l.clone(), c.clone());
            async move {
                match header_of(req.headers(), "mcp-method").as_deref() {
                    Some("tools/list") => {
                        lists.fetch_add(1, Ordering::SeqCst);
                    }
                    Some("tools/call") if calls.fetch_add(1, Ordering::SeqCst) == 0 => {
                        let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32020,"message":"Header mismatch: the Mcp-Param-Region header is required"}}"#;
                        return axum::response::Response::builder()
                            .status(400)
                            .header("content-type", "application/json")
                            .body(axum::body::Body::from(body))
                            .unwrap();
                    }
                    _ => {}
                }
                next.run(req).await
            }
        },
    );
    let router = axum::Router::new()
        .route_service("/mcp", McpService::new(streamable_tests::app()))
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let client = timeout(
        T,
        Client::builder(&url(addr))
            .era(EraPreference::Modern)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    let r = timeout(T, client.call_tool("echo", json!({"text": "retried"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "retried");
    assert_eq!(lists.load(Ordering::SeqCst), 1, "one refresh");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry");
    client.close().await;
    server.abort();
}

/// A connector that counts its connections (stands for TLS, a Unix socket
/// or a simulated network: anything hyper-util can connect with).
#[derive(Clone)]
struct Counting {
    inner: hyper_util::client::legacy::connect::HttpConnector,
    connects: Arc<AtomicUsize>,
}

impl tower_service::Service<http::Uri> for Counting {
    type Response = <hyper_util::client::legacy::connect::HttpConnector as tower_service::Service<
        http::Uri,
    >>::Response;
    type Error = <hyper_util::client::legacy::connect::HttpConnector as tower_service::Service<
        http::Uri,
    >>::Error;
    type Future = <hyper_util::client::legacy::connect::HttpConnector as tower_service::Service<
        http::Uri,
    >>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        self.connects.fetch_add(1, Ordering::SeqCst);
        self.inner.call(uri)
    }
}

#[tokio::test]
async fn connect_with_runs_every_request_over_the_given_connector() {
    let server = TestServer::start().await;
    let connects = Arc::new(AtomicUsize::new(0));
    let connector = Counting {
        inner: hyper_util::client::legacy::connect::HttpConnector::new(),
        connects: connects.clone(),
    };
    let client = timeout(
        T,
        Client::builder(&url(server.addr)).connect_with(connector),
    )
    .await
    .unwrap()
    .unwrap();
    let r = timeout(T, client.call_tool("echo", json!({"text": "via"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "via");
    assert!(
        connects.load(Ordering::SeqCst) >= 1,
        "the connector was not used"
    );
    timeout(T, client.close()).await.unwrap();
    // Plain `connect` speaks plain TCP only: an https URL needs a TLS
    // connector through `connect_with`.
    let e = Client::connect("https://127.0.0.1:1/mcp")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidUrl(_)), "{e:?}");
}

/// A hand-written 2026-07-28 server for multi round-trip requests: `book`
/// needs an elicitation and a sampling answer (and echoes its state back
/// to check it); `roots` needs `roots/list`. It records every JSON-RPC id
/// of `tools/call` it sees.
async fn mrtr_server() -> (
    SocketAddr,
    Arc<std::sync::Mutex<Vec<Value>>>,
    tokio::task::JoinHandle<()>,
) {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = ids.clone();
    let handler = move |bytes: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let id = body["id"].clone();
            let p = &body["params"];
            let result = match (body["method"].as_str(), p["name"].as_str()) {
                (Some("tools/call"), Some(tool)) => {
                    seen.lock().unwrap().push(id.clone());
                    let answers = &p["inputResponses"];
                    match tool {
                        "book" if answers.is_null() => json!({"resultType": "input_required",
                            "inputRequests": {
                                "who": {"method": "elicitation/create", "params": {"message": "name?",
                                    "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
                                "where": {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 9}}},
                            "requestState": "st \"1\" é"}),
                        "book" => {
                            let text = format!(
                                "{} to {} ({})",
                                answers["who"]["content"]["name"].as_str().unwrap_or("?"),
                                answers["where"]["content"]["text"].as_str().unwrap_or("?"),
                                p["requestState"].as_str().unwrap_or("no state"),
                            );
                            json!({"resultType": "complete", "content": [{"type": "text", "text": text}]})
                        }
                        _ => json!({"resultType": "input_required",
                            "inputRequests": {"r": {"method": "roots/list"}}}),
                    }
                }
                _ => json!({"resultType": "complete"}),
            };
            let reply = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
            axum::response::Response::builder()
                .header("content-type", "application/json")
                .body(axum::body::Body::from(reply))
                .unwrap()
        }
    };
    let router = axum::Router::new().route("/mcp", axum::routing::post(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, ids, server)
}

/// HC-MRTR-1, HC-MRTR-2, HC-MRTR-6 over the wire: the application makes
/// one call; the client answers the server's input requests with the
/// builder's handlers, retries under a new id with the answers and the
/// exact state, and returns the final result. An input request with no
/// handler fails the call with a clear error.
#[tokio::test]
async fn hc_mrtr_1_hc_mrtr_6_input_required_answered_by_handlers_over_the_wire() {
    let (addr, ids, server) = mrtr_server().await;
    let client = timeout(
        T,
        Client::builder(&url(addr))
            .era(EraPreference::Modern)
            .on_elicitation(|_| async { Ok(json!({"action": "accept", "content": {"name": "Ada"}})) })
            .on_sampling(|_| async {
                Ok(json!({"role": "assistant", "model": "m", "content": {"type": "text", "text": "Paris"}}))
            })
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    let r = timeout(T, client.call_tool("book", json!({})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text_of(&r), "Ada to Paris (st \"1\" é)");
    let seen = ids.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the call and its retry: {seen:?}");
    assert_ne!(seen[0], seen[1], "a new id for the retry");
    let e = timeout(T, client.call_tool("roots", json!({})))
        .await
        .unwrap()
        .unwrap_err();
    match e {
        Error::Transport(streamable_core::client::Failure::InputNotProvided { method, .. }) => {
            assert_eq!(method, "roots/list")
        }
        other => panic!("{other:?}"),
    }
    client.close().await;
    server.abort();
}
