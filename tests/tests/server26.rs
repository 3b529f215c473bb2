//! 2026-07-28 server results end to end over loopback sockets, with the
//! registry (`McpServer`): caching hints (CACHE-n), removed methods (REM-n),
//! era errors (ERR-n) and schema validation (SCHEMA-n), each beside its
//! legacy-era counterpart on the same server.

use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::{Config, code};
use streamable_hyper::{CacheHint, McpServer, Resource, Tool, ToolResult};
use streamable_tests::{TestServer, json_body, modern_request, send};

fn app() -> McpServer {
    McpServer::new("server26-e2e", "1")
        .cache_for("tools/list", CacheHint::public(60_000))
        .tool(
            Tool::new(
                "needs_sampling",
                "Needs sampling.",
                json!({"type": "object"}),
                |_ctx, _args| async move { Ok(ToolResult::text("ran")) },
            )
            .requires_client_capability("sampling"),
        )
        .tool(Tool::new(
            "contact",
            "if/then/else schema.",
            json!({
                "type": "object",
                "properties": {"how": {"enum": ["phone", "email"]}, "phone": {"type": "string"}},
                "if": {"properties": {"how": {"const": "phone"}}, "required": ["how"]},
                "then": {"required": ["phone"]}
            }),
            |_ctx, _args| async move { Ok(ToolResult::text("ok")) },
        ))
        .resource(Resource::text("mem://a", "a", "text/plain", "A"))
        .resource(Resource::text("mem://b", "b", "text/plain", "B").cache(CacheHint::public(1_000)))
}

async fn server() -> TestServer {
    TestServer::start_service(
        TestServer::builder(Config::default(), Some(Duration::from_secs(15))).build(app()),
    )
    .await
}

async fn modern(s: &TestServer, id: i64, method: &str, params: Value) -> (u16, Value) {
    let res = send(s.addr, modern_request(s.addr, id, method, params)).await;
    let status = res.status().as_u16();
    (status, json_body(res).await)
}

#[tokio::test]
async fn cache_1_cacheable_results_carry_hints_at_2026_07_28_only_cache_3() {
    let s = server().await;
    let (st, v) = modern(&s, 1, "tools/list", json!({})).await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["ttlMs"], 60_000);
    assert_eq!(v["result"]["cacheScope"], "public");
    let (_, v) = modern(&s, 2, "resources/list", json!({})).await;
    assert_eq!(v["result"]["ttlMs"], CacheHint::DEFAULT.ttl_ms);
    assert_eq!(v["result"]["cacheScope"], "private");
    let (_, v) = modern(&s, 3, "resources/read", json!({"uri": "mem://b"})).await;
    assert_eq!(v["result"]["ttlMs"], 1_000, "the resource's own hint");
    assert_eq!(v["result"]["cacheScope"], "public");
    let (_, v) = modern(&s, 4, "server/discover", json!({})).await;
    assert_eq!(v["result"]["cacheScope"], "private");
    assert!(v["result"]["ttlMs"].is_u64());
    // Not cacheable: a tool call.
    let (_, v) = modern(
        &s,
        5,
        "tools/call",
        json!({"name": "contact", "arguments": {}}),
    )
    .await;
    assert!(v["result"].get("ttlMs").is_none());

    // Legacy: no hints.
    let mut c = s.client();
    c.initialize("2025-11-25").await;
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}))
            .await,
    )
    .await;
    assert!(v["result"]["tools"].is_array());
    assert!(v["result"].get("ttlMs").is_none() && v["result"].get("cacheScope").is_none());
}

#[tokio::test]
async fn rem_1_removed_methods_are_404_over_the_wire_while_legacy_keeps_them() {
    let s = server().await;
    for (id, method) in [
        (1, "logging/setLevel"),
        (2, "resources/subscribe"),
        (3, "ping"),
    ] {
        let (st, v) = modern(&s, id, method, json!({"level": "info", "uri": "mem://a"})).await;
        assert_eq!(st, 404, "{method}");
        assert_eq!(v["error"]["code"], code::METHOD_NOT_FOUND, "{method}");
        assert_eq!(v["id"], id);
    }
    let mut c = s.client();
    c.initialize("2025-11-25").await;
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 4, "method": "resources/subscribe", "params": {"uri": "mem://a"}}))
            .await,
    )
    .await;
    assert_eq!(v["result"], json!({}), "legacy sessions still subscribe");
}

#[tokio::test]
async fn err_1_resource_not_found_is_era_correct_with_data_uri() {
    let s = server().await;
    let (st, v) = modern(&s, 1, "resources/read", json!({"uri": "mem://none"})).await;
    assert_eq!(st, 200);
    assert_eq!(v["error"]["code"], code::INVALID_PARAMS);
    assert_eq!(v["error"]["data"]["uri"], "mem://none");
    let mut c = s.client();
    c.initialize("2025-11-25").await;
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "mem://none"}}))
            .await,
    )
    .await;
    assert_eq!(v["error"]["code"], -32002);
    assert_eq!(v["error"]["data"]["uri"], "mem://none");
}

#[tokio::test]
async fn err_3_a_missing_client_capability_is_400_minus_32021_naming_it() {
    let s = server().await;
    let (st, v) = modern(
        &s,
        1,
        "tools/call",
        json!({"name": "needs_sampling", "arguments": {}}),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(v["error"]["code"], code::MISSING_CAPABILITY);
    assert_eq!(
        v["error"]["data"]["requiredCapabilities"],
        json!({"sampling": {}})
    );
    let with = json!({"name": "needs_sampling", "arguments": {},
        "_meta": {"io.modelcontextprotocol/clientCapabilities": {"sampling": {}}}});
    let (st, v) = modern(&s, 2, "tools/call", with).await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["content"][0]["text"], "ran");
    // Legacy: the session's initialize capabilities decide (this client
    // declared sampling there).
    let mut c = s.client();
    c.initialize("2025-11-25").await;
    let v = json_body(
        c.post(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "needs_sampling", "arguments": {}}}))
            .await,
    )
    .await;
    assert_eq!(v["result"]["content"][0]["text"], "ran", "{v}");
}

#[tokio::test]
async fn schema_2_conditional_keywords_are_enforced_as_tool_errors() {
    let s = server().await;
    let call = |args: Value| json!({"name": "contact", "arguments": args});
    let (_, v) = modern(&s, 1, "tools/call", call(json!({"how": "phone"}))).await;
    assert_eq!(v["result"]["isError"], true, "then: phone is required: {v}");
    let (_, v) = modern(
        &s,
        2,
        "tools/call",
        call(json!({"how": "phone", "phone": "1"})),
    )
    .await;
    assert!(v["result"].get("isError").is_none(), "{v}");
    let (_, v) = modern(&s, 3, "tools/call", call(json!({"how": "email"}))).await;
    assert!(v["result"].get("isError").is_none(), "{v}");
}
