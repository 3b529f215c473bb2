//! Multi-round-trip requests (SEP-2322) end to end over loopback: the same
//! handler code asks for input through `InputRequiredResult` rounds in the
//! 2026-07-28 era and through server-to-client requests in a 2025-11-25
//! session (MRTR-1..MRTR-12).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use streamable_core::request_state::{KeyRing, StateKey};
use streamable_core::{Config, ErrorObject, RawJson, code};
use streamable_hyper::{
    McpServer, McpService, Prompt, RequestContext, Resource, Tool, ToolResult, handler_fn,
    with_input_rounds,
};
use streamable_tests::{SseReader, TestServer, json_body, modern_request, send};

/// An elicitation form asking one string field.
fn form(message: &str, field: &str) -> Value {
    json!({"message": message, "requestedSchema": {
        "type": "object", "properties": {field: {"type": "string"}}, "required": [field]
    }})
}

fn accept(field: &str, value: &str) -> Value {
    json!({"action": "accept", "content": {field: value}})
}

fn field(answer: &RawJson, field: &str) -> String {
    answer.to_value()["content"][field]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

/// The application: counts how often `greet` runs (to prove a refused
/// state never reaches it).
fn app(runs: Arc<AtomicUsize>) -> McpServer {
    McpServer::new("mrtr-tests", "1")
        .tool(Tool::new(
            "greet",
            "One input under a named key.",
            json!({"type": "object"}),
            move |ctx, _args| {
                let runs = runs.clone();
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let a = ctx
                        .input("name", "elicitation/create", Some(form("Name?", "name")))
                        .await?;
                    Ok(ToolResult::text(format!("Hello, {}!", field(&a, "name"))))
                }
            },
        ))
        .tool(Tool::new(
            "pair",
            "Two inputs asked together (derived keys).",
            json!({"type": "object"}),
            |ctx, _args| async move {
                let (a, b) = tokio::join!(
                    ctx.elicit(form("First?", "v")),
                    ctx.elicit(form("Second?", "v"))
                );
                let (a, b) = (a?, b?);
                Ok(ToolResult::text(format!(
                    "{}+{}",
                    field(&a, "v"),
                    field(&b, "v")
                )))
            },
        ))
        .tool(Tool::new(
            "steps",
            "Two inputs, the second asked after the first is answered.",
            json!({"type": "object", "properties": {"topic": {"type": "string"}}}),
            |ctx, _args| async move {
                let a = ctx
                    .input("a", "elicitation/create", Some(form("A?", "v")))
                    .await?;
                let b = ctx
                    .input("b", "elicitation/create", Some(form("B?", "v")))
                    .await?;
                Ok(ToolResult::text(format!(
                    "{} then {}",
                    field(&a, "v"),
                    field(&b, "v")
                )))
            },
        ))
        .tool(Tool::new(
            "sample",
            "Asks the client's model.",
            json!({"type": "object"}),
            |ctx, _args| async move {
                let r = ctx
                    .create_message(json!({"messages": [], "maxTokens": 5}))
                    .await?;
                Ok(ToolResult::text(
                    r.to_value()["content"]["text"].as_str().unwrap_or("?"),
                ))
            },
        ))
        .prompt(Prompt::new(
            "topic",
            "Asks the topic first.",
            json!([]),
            |ctx, _args: Map<String, Value>| async move {
                let a = ctx
                    .input("topic", "elicitation/create", Some(form("Topic?", "t")))
                    .await?;
                Ok(vec![json!({"role": "user", "content": {
                    "type": "text", "text": format!("About {}", field(&a, "t"))
                }})])
            },
        ))
        .resource(Resource::new(
            "test://rooted",
            "rooted",
            "text/plain",
            |ctx, uri| async move {
                let roots = ctx.list_roots().await?;
                let n = roots.to_value()["roots"].as_array().map_or(0, Vec::len);
                Ok(vec![
                    json!({"uri": uri, "mimeType": "text/plain", "text": format!("{n} roots")}),
                ])
            },
        ))
}

async fn start(runs: Arc<AtomicUsize>) -> TestServer {
    TestServer::start_service(
        TestServer::builder(Config::default(), Some(Duration::from_secs(15))).build(app(runs)),
    )
    .await
}

/// A 2026-07-28 client declaring every input capability.
fn all_caps() -> Value {
    json!({"elicitation": {}, "sampling": {}, "roots": {}})
}

/// POST one stateless request; the JSON-RPC response.
async fn call(server: &TestServer, id: i64, method: &str, mut params: Value, caps: Value) -> Value {
    params["_meta"] = json!({"io.modelcontextprotocol/clientCapabilities": caps});
    json_body(send(server.addr, modern_request(server.addr, id, method, params)).await).await
}

fn irr(v: &Value) -> (&Map<String, Value>, String) {
    let r = &v["result"];
    assert_eq!(r["resultType"], "input_required", "{v}");
    let state = r["requestState"].as_str().expect("requestState").to_owned();
    (
        r["inputRequests"].as_object().expect("inputRequests"),
        state,
    )
}

#[tokio::test]
async fn mrtr_1_one_round_then_the_result() {
    let server = start(Arc::default()).await;
    let args = json!({"name": "greet", "arguments": {}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (asks, state) = irr(&v);
    assert_eq!(asks.len(), 1);
    assert_eq!(asks["name"]["method"], "elicitation/create");
    assert_eq!(asks["name"]["params"]["message"], "Name?");

    let mut retry = args;
    retry["inputResponses"] = json!({"name": accept("name", "Ada")});
    retry["requestState"] = json!(state);
    let v = call(&server, 2, "tools/call", retry, all_caps()).await;
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "Hello, Ada!");
}

#[tokio::test]
async fn mrtr_2_mrtr_12_two_inputs_are_asked_in_one_round() {
    let server = start(Arc::default()).await;
    let args = json!({"name": "pair", "arguments": {}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (asks, state) = irr(&v);
    assert_eq!(asks.len(), 2, "both asked in one round: {v}");
    let mut keys: Vec<(&String, &Value)> = asks.iter().collect();
    keys.sort_by_key(|(_, r)| r["params"]["message"].as_str().unwrap_or("").to_owned());
    let (first, second) = (keys[0].0.clone(), keys[1].0.clone());
    assert_ne!(first, second);
    assert_eq!(keys[0].1["params"]["message"], "First?");

    // The same request asks under the same keys (MRTR-12).
    let again = call(&server, 2, "tools/call", args.clone(), all_caps()).await;
    let (asks_again, _) = irr(&again);
    assert_eq!(
        asks.keys().collect::<Vec<_>>(),
        asks_again.keys().collect::<Vec<_>>()
    );

    let mut retry = args;
    retry["inputResponses"] = json!({first: accept("v", "x"), second: accept("v", "y")});
    retry["requestState"] = json!(state);
    let v = call(&server, 3, "tools/call", retry, all_caps()).await;
    assert_eq!(v["result"]["content"][0]["text"], "x+y", "{v}");
}

#[tokio::test]
async fn mrtr_3_two_rounds_carry_the_earlier_answers() {
    let server = start(Arc::default()).await;
    let args = json!({"name": "steps", "arguments": {"topic": "t"}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (asks, s1) = irr(&v);
    assert_eq!(asks.keys().collect::<Vec<_>>(), ["a"]);

    let mut r2 = args.clone();
    r2["inputResponses"] = json!({"a": accept("v", "one")});
    r2["requestState"] = json!(s1);
    let v = call(&server, 2, "tools/call", r2, all_caps()).await;
    let (asks, s2) = irr(&v);
    assert_eq!(asks.keys().collect::<Vec<_>>(), ["b"]);
    assert_ne!(s1, s2);

    // Only the new answer: the first comes from the state.
    let mut r3 = args;
    r3["inputResponses"] = json!({"b": accept("v", "two"), "extra": {"ignored": true}});
    r3["requestState"] = json!(s2);
    let v = call(&server, 3, "tools/call", r3, all_caps()).await;
    assert_eq!(v["result"]["content"][0]["text"], "one then two", "{v}");
}

#[tokio::test]
async fn mrtr_3_a_missing_answer_is_asked_again() {
    let server = start(Arc::default()).await;
    let args = json!({"name": "greet", "arguments": {}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (_, state) = irr(&v);
    let mut retry = args;
    retry["inputResponses"] = json!({"wrong_key": accept("name", "x")});
    retry["requestState"] = json!(state);
    let v = call(&server, 2, "tools/call", retry, all_caps()).await;
    let (asks, _) = irr(&v);
    assert!(asks.contains_key("name"), "asked again, not an error: {v}");
}

#[tokio::test]
async fn mrtr_5_mrtr_6_tampered_or_foreign_state_is_refused_before_the_handler() {
    let runs = Arc::new(AtomicUsize::new(0));
    let server = start(runs.clone()).await;
    let args = json!({"name": "greet", "arguments": {}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (_, state) = irr(&v);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    let mid = state.len() / 2;
    let flipped = if &state[mid..=mid] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &state[..mid], &state[mid + 1..]);
    for (i, (params, why)) in [
        (
            {
                let mut p = args.clone();
                p["requestState"] = json!(tampered);
                p
            },
            "tampered",
        ),
        (
            {
                let mut p = args.clone();
                p["requestState"] = json!(format!("{state}-TAMPERED"));
                p
            },
            "appended",
        ),
        (
            {
                let mut p = json!({"name": "greet", "arguments": {"other": 1}});
                p["requestState"] = json!(state);
                p
            },
            "other arguments",
        ),
        (
            {
                let mut p = json!({"name": "steps", "arguments": {}});
                p["requestState"] = json!(state);
                p
            },
            "other tool",
        ),
        (
            {
                let mut p = args.clone();
                p["requestState"] = json!(7);
                p
            },
            "not a string",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut params = params;
        params["inputResponses"] = json!({"name": accept("name", "Eve")});
        let v = call(&server, 10 + i as i64, "tools/call", params, all_caps()).await;
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS, "{why}: {v}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler never ran");
}

#[tokio::test]
async fn mrtr_7_a_shared_key_ring_works_across_instances() {
    let ring = KeyRing::new(StateKey::new(1, &[42; 32]).unwrap());
    let build = |keys: Option<KeyRing>| {
        let b = TestServer::builder(Config::default(), None);
        let b = match keys {
            Some(k) => b.request_state_keys(k),
            None => b,
        };
        b.build(app(Arc::default()))
    };
    let a = TestServer::start_service(build(Some(ring.clone()))).await;
    let b = TestServer::start_service(build(Some(
        ring.clone().rotate(StateKey::new(2, &[7; 32]).unwrap()),
    )))
    .await;
    let c = TestServer::start_service(build(None)).await;
    let args = json!({"name": "greet", "arguments": {}});
    let v = call(&a, 1, "tools/call", args.clone(), all_caps()).await;
    let (_, state) = irr(&v);
    let mut retry = args;
    retry["inputResponses"] = json!({"name": accept("name", "Bo")});
    retry["requestState"] = json!(state);
    let v = call(&b, 2, "tools/call", retry.clone(), all_caps()).await;
    assert_eq!(v["result"]["content"][0]["text"], "Hello, Bo!", "{v}");
    let v = call(&c, 3, "tools/call", retry, all_caps()).await;
    assert_eq!(v["error"]["code"], code::INVALID_PARAMS, "{v}");
}

#[tokio::test]
async fn mrtr_8_an_undeclared_capability_is_never_asked() {
    let server = start(Arc::default()).await;
    // Elicitation only: sampling is missing.
    let v = call(
        &server,
        1,
        "tools/call",
        json!({"name": "sample", "arguments": {}}),
        json!({"elicitation": {}}),
    )
    .await;
    assert_eq!(v["error"]["code"], code::MISSING_CAPABILITY, "{v}");
    assert!(v["error"]["data"]["requiredCapabilities"]["sampling"].is_object());
    let v = call(
        &server,
        2,
        "tools/call",
        json!({"name": "greet", "arguments": {}}),
        json!({}),
    )
    .await;
    assert_eq!(v["error"]["code"], code::MISSING_CAPABILITY, "{v}");
}

#[tokio::test]
async fn mrtr_9_invalid_input_responses_are_refused() {
    let server = start(Arc::default()).await;
    for bad in [json!(null), json!([1]), json!({"name": 12345})] {
        let v = call(
            &server,
            1,
            "tools/call",
            json!({"name": "greet", "arguments": {}, "inputResponses": bad}),
            all_caps(),
        )
        .await;
        assert_eq!(v["error"]["code"], code::INVALID_PARAMS, "{bad}: {v}");
    }
    // An object, but not an elicitation result.
    let v = call(
        &server,
        2,
        "tools/call",
        json!({"name": "greet", "arguments": {}, "inputResponses": {"name": {"role": "user"}}}),
        all_caps(),
    )
    .await;
    assert_eq!(v["error"]["code"], code::INVALID_PARAMS, "{v}");
}

#[tokio::test]
async fn mrtr_10_prompts_get_and_resources_read_run_rounds_too() {
    let server = start(Arc::default()).await;
    let v = call(
        &server,
        1,
        "prompts/get",
        json!({"name": "topic"}),
        all_caps(),
    )
    .await;
    let (_, state) = irr(&v);
    let v = call(
        &server,
        2,
        "prompts/get",
        json!({"name": "topic", "inputResponses": {"topic": accept("t", "owls")}, "requestState": state}),
        all_caps(),
    )
    .await;
    assert_eq!(
        v["result"]["messages"][0]["content"]["text"], "About owls",
        "{v}"
    );

    let v = call(
        &server,
        3,
        "resources/read",
        json!({"uri": "test://rooted"}),
        all_caps(),
    )
    .await;
    let (asks, state) = irr(&v);
    let key = asks.keys().next().unwrap().clone();
    assert_eq!(asks[&key]["method"], "roots/list");
    let v = call(
        &server,
        4,
        "resources/read",
        json!({"uri": "test://rooted", "requestState": state,
               "inputResponses": {key: {"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]}}}),
        all_caps(),
    )
    .await;
    assert_eq!(v["result"]["contents"][0]["text"], "2 roots", "{v}");

    // Never on other methods.
    let v = call(&server, 5, "tools/list", json!({}), all_caps()).await;
    assert_eq!(v["result"]["resultType"], "complete");
}

#[tokio::test]
async fn mrtr_10_a_legacy_session_gets_server_to_client_requests_from_the_same_handler() {
    let server = start(Arc::default()).await;
    let mut client = server.client();
    let res = client
        .post(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"elicitation": {}},
                "clientInfo": {"name": "legacy", "version": "1"}
            }}),
        )
        .await;
    client.session = Some(res.headers()["mcp-session-id"].to_str().unwrap().to_owned());
    let _ = json_body(res).await;
    let res = client
        .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    assert_eq!(res.status(), 202);

    let res = client.call_tool(1, "greet", json!({}), None).await;
    let mut sse = SseReader::new(res);
    let ask = loop {
        let m = sse.next().await.expect("a server request").json();
        if m.get("method").is_some() {
            break m;
        }
    };
    assert_eq!(ask["method"], "elicitation/create");
    assert_eq!(ask["params"]["message"], "Name?");
    let res = client
        .post(&json!({"jsonrpc": "2.0", "id": ask["id"], "result": accept("name", "Lin")}))
        .await;
    assert_eq!(res.status(), 202);
    let done = sse.next().await.expect("the result").json();
    assert_eq!(done["id"], 1);
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Lin!");
    assert!(done["result"].get("resultType").is_none());
}

/// A plain `Handler` (no `McpServer`) runs rounds through
/// `with_input_rounds`.
#[tokio::test]
async fn mrtr_1_a_plain_handler_uses_rounds_through_with_input_rounds() {
    async fn route(
        ctx: RequestContext,
        method: String,
        _p: Option<RawJson>,
    ) -> Result<RawJson, ErrorObject> {
        match method.as_str() {
            "tools/call" => {
                let a = ctx.elicit(form("Name?", "name")).await?;
                Ok(RawJson::from_value(
                    &json!({"content": [{"type": "text", "text": field(&a, "name")}]}),
                ))
            }
            _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
        }
    }
    let service = McpService::builder()
        .path("/mcp")
        .build(handler_fn(|ctx, method, params| {
            with_input_rounds(ctx, method, params, route)
        }));
    let server = TestServer::start_service(service).await;
    let args = json!({"name": "anything", "arguments": {}});
    let v = call(&server, 1, "tools/call", args.clone(), all_caps()).await;
    let (asks, state) = irr(&v);
    let key = asks.keys().next().unwrap().clone();
    assert!(key.starts_with("elicitation-"), "{key}");
    let mut retry = args;
    retry["inputResponses"] = json!({key: accept("name", "Kim")});
    retry["requestState"] = json!(state);
    let v = call(&server, 2, "tools/call", retry, all_caps()).await;
    assert_eq!(v["result"]["content"][0]["text"], "Kim", "{v}");
}
