//! The fixture: the server application both worlds run (tools that echo,
//! stream progress, poll, sample the client and flood the GET stream, each
//! answer tagged with its caller's tag) and the service built around it.

use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::{Config, ErrorObject, HostPolicy};
use streamable_hyper::{Builder, McpServer, McpService, Resource, Tool, ToolResult};

use crate::harness::{SERVER, now_ms};

/// Bytes of padding in each flood notification (enough, with the count, to
/// fill hyper's write buffer and the simulated TCP window of a reader that
/// does not read).
const FLOOD_PAD: usize = 16 * 1024;

fn tag_of(args: &Value) -> String {
    args["tag"].as_str().unwrap_or("").to_owned()
}

fn tagged(tag: &str, extra: Value) -> ToolResult {
    let mut structured = json!({"tag": tag});
    if let (Some(o), Some(e)) = (structured.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    ToolResult {
        content: vec![json!({"type": "text", "text": tag})],
        structured: Some(structured),
        is_error: false,
    }
}

/// The `steps` (default 1) a stepping tool was asked for, and the gap
/// between them (`gap_ms`, default 100 ms).
fn steps_of(args: &Value) -> (u64, Duration) {
    let gap = args["gap_ms"].as_u64().unwrap_or(100);
    (
        args["steps"].as_u64().unwrap_or(1),
        Duration::from_millis(gap),
    )
}

/// The application every simulated server runs.
pub(crate) fn app() -> McpServer {
    let any = json!({"type": "object"});
    McpServer::new("sim", "1")
        .tool(Tool::new(
            "echo",
            "echo the tag",
            any.clone(),
            |_ctx, args| async move { Ok(tagged(&tag_of(&args), json!({}))) },
        ))
        .tool(Tool::new(
            "slow",
            "progress, then the tag",
            any.clone(),
            |ctx, args| async move {
                let (steps, gap) = steps_of(&args);
                for k in 1..=steps {
                    // The emission time travels in the message, so the client can
                    // tell how long the event took to reach it.
                    let msg = format!("t={}", now_ms());
                    let _ = ctx.progress(k as f64, Some(steps as f64), Some(&msg)).await;
                    tokio::time::sleep(gap).await;
                }
                Ok(tagged(&tag_of(&args), json!({})))
            },
        ))
        .tool(Tool::new(
            "poll",
            "progress, each followed by the server ending the connection (SSE polling)",
            any.clone(),
            |ctx, args| async move {
                let (steps, gap) = steps_of(&args);
                for k in 1..=steps {
                    let _ = ctx.progress(k as f64, Some(steps as f64), None).await;
                    // The client must come back after `retry` with its cursor
                    // and get the rest replayed (T-PSSE-2..4, INV-L4).
                    let _ = ctx.end_connection().await;
                    tokio::time::sleep(gap).await;
                }
                Ok(tagged(&tag_of(&args), json!({})))
            },
        ))
        .tool(Tool::new(
            "ask",
            "sample the client",
            any.clone(),
            |ctx, args| async move {
                let answer = ctx
                    .create_message(json!({"messages": [], "maxTokens": 1}))
                    .await
                    .map_err(|e| ErrorObject::new(-32603, format!("sampling failed: {e}")))?;
                let text = answer
                    .to_value()
                    .pointer("/content/text")
                    .and_then(|t| t.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(tagged(&tag_of(&args), json!({"answer": text})))
            },
        ))
        .tool(Tool::new(
            "flood",
            "fill the GET stream",
            any,
            |ctx, args| async move {
                let n = args["n"].as_u64().unwrap_or(1);
                let tag = tag_of(&args);
                let pad_len = args["pad"].as_u64().map_or(FLOOD_PAD, |p| p as usize);
                let pad = "x".repeat(pad_len.min(FLOOD_PAD));
                for i in 0..n {
                    let params = json!({"level": "info", "data": {"tag": tag, "i": i, "pad": pad}});
                    let _ = ctx
                        .session()
                        .notify("notifications/message", Some(params))
                        .await;
                }
                Ok(tagged(&tag, json!({})))
            },
        ))
}

/// The wire world's service: the default `retry`, random session ids, one
/// shard (the single driver the model checks).
pub(crate) fn service() -> McpService {
    service_with(Config::default().retry_ms, None)
}

/// The wire world's service with `shards` sharded drivers (issue 19), with
/// session ids from `ids` (a seed, deterministic per shard) when given.
pub(crate) fn sharded_service(shards: usize, ids: Option<u64>) -> McpService {
    let builder = builder(Config::default().retry_ms).shards(shards);
    match ids {
        Some(seed) => builder.predictable_session_ids_for_simulation(seed),
        None => builder,
    }
    .build(app())
}

/// The fan-out world's service (`shards` drivers, seeded ids) around
/// [`app`] plus the resource `mem://x` and the tool `touch`, which calls
/// `resource_updated("mem://x")` and answers how many subscribers it reached.
pub(crate) fn fan_out_service(shards: usize, ids: u64) -> McpService {
    let app = app().resource(Resource::text("mem://x", "x", "text/plain", "X"));
    let handle = app.clone();
    let app = app.tool(Tool::new(
        "touch",
        "resources/updated for mem://x; answers how many it reached",
        json!({"type": "object"}),
        move |_ctx, args| {
            let handle = handle.clone();
            async move {
                let reached = handle.resource_updated("mem://x").await;
                Ok(tagged(&tag_of(&args), json!({"reached": reached})))
            }
        },
    ));
    builder(Config::default().retry_ms)
        .shards(shards)
        .predictable_session_ids_for_simulation(ids)
        .build(app)
}

/// The simulated server's service, sending `retry_ms` in its priming
/// events, with session ids from `ids` (a seed) when given; one shard.
pub(crate) fn service_with(retry_ms: u64, ids: Option<u64>) -> McpService {
    let builder = builder(retry_ms).shards(1);
    match ids {
        Some(seed) => builder.predictable_session_ids_for_simulation(seed),
        None => builder,
    }
    .build(app())
}

/// The multi-instance world's service (issue 17, `wire_world::multi`): one
/// instance of [`app`] backed by the shared `store` with `store_config`,
/// session ids (and so its instance id) from the seed `ids`.
pub(crate) fn store_service(
    ids: u64,
    store: std::sync::Arc<dyn streamable_hyper::store::SharedStore>,
    store_config: streamable_core::store::StoreConfig,
) -> McpService {
    let mut b = builder(Config::default().retry_ms).shards(1);
    b = b.config(Config {
        store: Some(store_config),
        // The hand-written clients send `localhost`, ours the balancer's name.
        hosts: HostPolicy::List(vec!["localhost".into(), "lb".into()]),
        ..base_config(Config::default().retry_ms)
    });
    b.predictable_session_ids_for_simulation(ids)
        .shared_store_arc(store)
        .build(app())
}

fn base_config(retry_ms: u64) -> Config {
    Config {
        retry_ms,
        // The wire world's clients send `localhost`; ours the host's name.
        hosts: HostPolicy::List(vec!["localhost".into(), SERVER.into()]),
        ..Config::default()
    }
}

fn builder(retry_ms: u64) -> Builder {
    McpService::builder()
        .config(base_config(retry_ms))
        .connection_backlog(16)
        .keep_alive(None)
        .check_invariants(true)
}
