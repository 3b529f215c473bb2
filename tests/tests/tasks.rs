//! The tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) end to
//! end over loopback: task creation, polling, input requests, cancellation,
//! gating, TTL and the store's bound (TASK-*).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::Config;
use streamable_core::task::EXTENSION;
use streamable_hyper::streamable_core::ErrorObject;
use streamable_hyper::{McpServer, MemoryStore, TaskSettings, TaskSupport, Tool, ToolResult};
use streamable_tests::{SseReader, T, TestServer, json_body, modern_request, send};
use tokio::sync::mpsc;

/// A server with task tools; `cancelled` hears from `wait_forever` when its
/// task context reads as cancelled.
fn app(cancelled: mpsc::UnboundedSender<()>) -> McpServer {
    let obj = || json!({"type": "object"});
    McpServer::new("tasks-e2e", "1")
        .tool(Tool::new("plain", "no task", obj(), |_ctx, _a| async {
            Ok(ToolResult::text("plain"))
        }))
        .tool(
            Tool::new("double", "doubles n", obj(), |_ctx, a| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = a["n"].as_i64().unwrap_or(0);
                Ok(ToolResult::text(format!("{}", 2 * n)))
            })
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new("must_task", "only as a task", obj(), |_ctx, _a| async {
                Ok(ToolResult::error("tool-level failure"))
            })
            .task_support(TaskSupport::Required),
        )
        .tool(
            Tool::new("rpc_error", "fails", obj(), |_ctx, _a| async {
                Err(ErrorObject::new(-32603, "backend down"))
            })
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new("panics", "panics", obj(), |_ctx, _a| async {
                if std::hint::black_box(true) {
                    panic!("tool bug");
                }
                Ok(ToolResult::text("unreachable"))
            })
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new("two_questions", "asks twice", obj(), |ctx, _a| async move {
                let task = ctx.task().expect("runs as a task").clone();
                let ask = |q: &str| {
                    json!({"mode": "form", "message": q,
                    "requestedSchema": {"type": "object", "properties": {"v": {"type": "string"}}}})
                };
                let (a, b) = tokio::join!(task.elicit(ask("a?")), task.elicit(ask("b?")));
                let (a, b) = (a?, b?);
                Ok(ToolResult::text(format!(
                    "{}+{}",
                    a["content"]["v"].as_str().unwrap_or("?"),
                    b["content"]["v"].as_str().unwrap_or("?")
                )))
            })
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new("wait_forever", "waits", obj(), move |ctx, _a| {
                let cancelled = cancelled.clone();
                async move {
                    ctx.cancelled().await;
                    let _ = cancelled.send(());
                    Ok(ToolResult::text("stopped"))
                }
            })
            .task_support(TaskSupport::Optional),
        )
}

async fn start_app(app: McpServer) -> TestServer {
    TestServer::start_service(
        TestServer::builder(Config::default(), Some(Duration::from_secs(15))).build(app),
    )
    .await
}

async fn start() -> (TestServer, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (start_app(app(tx)).await, rx)
}

/// `params` with the tasks extension declared in its `_meta` (or not).
fn with_ext(mut params: Value, declare: bool) -> Value {
    if declare {
        params["_meta"] = json!({"io.modelcontextprotocol/clientCapabilities":
            {"extensions": {EXTENSION: {}}}});
    }
    params
}

/// A 2026-07-28 request; the HTTP status and the JSON-RPC answer.
async fn rpc(server: &TestServer, method: &str, params: Value, declare: bool) -> (u16, Value) {
    let addr = server.addr;
    let res = send(
        addr,
        modern_request(addr, 7, method, with_ext(params, declare)),
    )
    .await;
    let status = res.status().as_u16();
    (status, json_body(res).await)
}

async fn result(server: &TestServer, method: &str, params: Value) -> Value {
    let (status, v) = rpc(server, method, params, true).await;
    assert_eq!(status, 200, "{method}: {v}");
    v["result"].clone()
}

/// Poll `tasks/get` until `done` holds (bounded by the suite's wait `T`).
async fn poll(server: &TestServer, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let t = result(server, "tasks/get", json!({"taskId": id})).await;
        if done(&t) {
            return t;
        }
        assert!(tokio::time::Instant::now() < deadline, "never reached: {t}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn terminal(t: &Value) -> bool {
    matches!(
        t["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

async fn create(server: &TestServer, tool: &str, args: Value) -> String {
    let r = result(
        server,
        "tools/call",
        json!({"name": tool, "arguments": args}),
    )
    .await;
    assert_eq!(r["resultType"], "task", "{r}");
    r["taskId"].as_str().expect("taskId").to_owned()
}

#[tokio::test]
async fn task_12_task_1_the_extension_is_advertised_and_tasks_methods_are_gated() {
    let (server, _rx) = start().await;
    let d = result(&server, "server/discover", json!({})).await;
    assert_eq!(d["capabilities"]["extensions"][EXTENSION], json!({}));
    assert!(d["capabilities"].get("tasks").is_none());

    for (method, params) in [
        ("tasks/get", json!({"taskId": "x"})),
        ("tasks/update", json!({"taskId": "x", "inputResponses": {}})),
        ("tasks/cancel", json!({"taskId": "x"})),
    ] {
        let (_, v) = rpc(&server, method, params, false).await;
        assert_eq!(v["error"]["code"], -32021, "{method}: {v}");
        assert_eq!(
            v["error"]["data"]["requiredCapabilities"]["extensions"][EXTENSION],
            json!({}),
            "{method}"
        );
    }

    // The session era does not have the extension: its tasks methods do not
    // exist, and a task tool runs as a plain call.
    let mut legacy = server.client();
    legacy.initialize("2025-11-25").await;
    let v = json_body(
        legacy
            .post(&json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get",
                           "params": {"taskId": "x"}}))
            .await,
    )
    .await;
    assert_eq!(v["error"]["code"], -32601, "{v}");
    let v = json_body(
        legacy
            .post(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                           "params": {"name": "double", "arguments": {"n": 4}}}))
            .await,
    )
    .await;
    assert_eq!(v["result"]["content"][0]["text"], "8", "{v}");
}

#[tokio::test]
async fn task_2_without_the_extension_optional_tools_answer_plainly_and_required_ones_refuse() {
    let (server, _rx) = start().await;
    let (_, v) = rpc(
        &server,
        "tools/call",
        json!({"name": "double", "arguments": {"n": 21}}),
        false,
    )
    .await;
    assert_eq!(v["result"]["content"][0]["text"], "42", "{v}");
    assert_eq!(v["result"]["resultType"], "complete");
    assert!(v["result"].get("taskId").is_none());

    let (_, v) = rpc(
        &server,
        "tools/call",
        json!({"name": "must_task", "arguments": {}}),
        false,
    )
    .await;
    assert_eq!(v["error"]["code"], -32021, "{v}");
    assert!(v["error"]["data"]["requiredCapabilities"]["extensions"][EXTENSION].is_object());

    // A tool without task support is never a task, even for a declaring
    // client sending the old `task` hint.
    let r = result(
        &server,
        "tools/call",
        json!({"name": "plain", "arguments": {}, "task": {"ttl": 1000}}),
    )
    .await;
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["content"][0]["text"], "plain");
}

#[tokio::test]
async fn task_4_task_5_task_3_a_task_is_created_flat_found_at_once_and_completes() {
    let (server, _rx) = start().await;
    let r = result(
        &server,
        "tools/call",
        json!({"name": "double", "arguments": {"n": 5}}),
    )
    .await;
    assert_eq!(r["resultType"], "task");
    assert_eq!(r["status"], "working");
    for key in ["createdAt", "lastUpdatedAt"] {
        let s = r[key].as_str().expect(key);
        assert!(s.len() >= 20 && &s[4..5] == "-" && &s[10..11] == "T", "{s}");
    }
    assert!(r["ttlMs"].as_u64().is_some_and(|t| t > 0));
    assert!(r["pollIntervalMs"].as_u64().is_some_and(|t| t > 0));
    for absent in [
        "task",
        "result",
        "error",
        "inputRequests",
        "requestState",
        "ttl",
    ] {
        assert!(r.get(absent).is_none(), "{absent}: {r}");
    }
    let id = r["taskId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "128 random bits, hex");

    // TASK-5: found at once, no waiting.
    let t = result(&server, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(t["taskId"], id.as_str());
    assert_eq!(t["resultType"], "complete");

    let t = poll(&server, &id, terminal).await;
    assert_eq!(t["status"], "completed");
    assert_eq!(t["result"]["content"][0]["text"], "10");
    assert!(t.get("error").is_none());

    // TASK-3: cancelling a finished task is the same empty ack, and changes
    // nothing.
    let ack = result(&server, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack, json!({"resultType": "complete"}));
    let t = result(&server, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(t["status"], "completed");
}

#[tokio::test]
async fn task_13_tool_errors_complete_and_protocol_errors_fail() {
    let (server, _rx) = start().await;
    let id = create(&server, "must_task", json!({})).await;
    let t = poll(&server, &id, terminal).await;
    assert_eq!(t["status"], "completed", "isError is a result: {t}");
    assert_eq!(t["result"]["isError"], true);

    for tool in ["rpc_error", "panics"] {
        let id = create(&server, tool, json!({})).await;
        let t = poll(&server, &id, terminal).await;
        assert_eq!(t["status"], "failed", "{tool}: {t}");
        assert_eq!(t["error"]["code"], -32603, "{tool}");
        assert!(t["error"]["message"].is_string());
        assert!(t.get("result").is_none(), "{tool}");
    }
}

#[tokio::test]
async fn task_7_input_requests_are_answered_one_at_a_time() {
    let (server, _rx) = start().await;
    let id = create(&server, "two_questions", json!({})).await;
    let t = poll(&server, &id, |t| {
        t["inputRequests"].as_object().is_some_and(|m| m.len() == 2)
    })
    .await;
    assert_eq!(t["status"], "input_required");
    let keys: Vec<String> = t["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for k in &keys {
        assert_eq!(t["inputRequests"][k]["method"], "elicitation/create");
    }
    let (first, second) = (&keys[0], &keys[1]);
    let q0 = t["inputRequests"][first]["params"]["message"]
        .as_str()
        .unwrap()
        .to_owned();

    // One answer (and one for a key that does not exist): acked, the other
    // question still waits, the answered one is gone.
    let ack = result(
        &server,
        "tasks/update",
        json!({"taskId": id, "inputResponses": {
            first: {"action": "accept", "content": {"v": "one"}},
            "no-such-key": {"action": "accept", "content": {}},
        }}),
    )
    .await;
    assert_eq!(ack, json!({"resultType": "complete"}));
    let t = result(&server, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(t["status"], "input_required");
    let left: Vec<&String> = t["inputRequests"].as_object().unwrap().keys().collect();
    assert_eq!(left, vec![second]);

    // Answering the same key again is ignored, not an error.
    let ack = result(
        &server,
        "tasks/update",
        json!({"taskId": id, "inputResponses": {first: {"action": "decline"}}}),
    )
    .await;
    assert_eq!(ack["resultType"], "complete");

    result(
        &server,
        "tasks/update",
        json!({"taskId": id, "inputResponses": {second: {"action": "accept", "content": {"v": "two"}}}}),
    )
    .await;
    let t = poll(&server, &id, terminal).await;
    assert_eq!(t["status"], "completed", "{t}");
    // Each answer reached the question it was keyed to.
    let expect = if q0 == "a?" { "one+two" } else { "two+one" };
    assert_eq!(t["result"]["content"][0]["text"], expect);

    // tasks/update without an object of responses is invalid params.
    let (_, v) = rpc(&server, "tasks/update", json!({"taskId": id}), true).await;
    assert_eq!(v["error"]["code"], -32602);
}

#[tokio::test]
async fn task_11_cancel_acks_marks_cancelled_and_stops_the_work() {
    let (server, mut rx) = start().await;
    let id = create(&server, "wait_forever", json!({})).await;
    let ack = result(&server, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack, json!({"resultType": "complete"}));
    let t = result(&server, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(t["status"], "cancelled");
    assert!(t.get("result").is_none());
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("the work heard the cancellation");
}

#[tokio::test]
async fn task_8_task_9_task_10_routing_header_unknown_ids_and_removed_methods() {
    let (server, _rx) = start().await;
    let id = create(&server, "wait_forever", json!({})).await;
    let addr = server.addr;
    let mut req = modern_request(addr, 1, "tasks/get", with_ext(json!({"taskId": id}), true));
    req.headers_mut()
        .insert("mcp-name", http::HeaderValue::from_static("another-task"));
    let res = send(addr, req).await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_body(res).await["error"]["code"], -32020);

    for (method, params) in [
        ("tasks/get", json!({"taskId": "nope"})),
        (
            "tasks/update",
            json!({"taskId": "nope", "inputResponses": {}}),
        ),
        ("tasks/cancel", json!({"taskId": "nope"})),
    ] {
        let (_, v) = rpc(&server, method, params, true).await;
        assert_eq!(v["error"]["code"], -32602, "{method}: {v}");
    }
    for method in ["tasks/result", "tasks/list"] {
        let (status, v) = rpc(&server, method, json!({"taskId": id}), true).await;
        assert_eq!(v["error"]["code"], -32601, "{method}: {v}");
        assert_eq!(status, 404);
    }
    result(&server, "tasks/cancel", json!({"taskId": id})).await;
}

#[tokio::test]
async fn task_6_tasks_are_kept_for_their_ttl_then_discarded_and_the_store_is_bounded() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let settings = TaskSettings {
        // Long enough that the steps before the refusal below never
        // outlast it on a loaded machine (no upper bound is assumed tight).
        ttl: Duration::from_millis(2_000),
        poll_interval: Duration::from_millis(100),
    };
    let server = start_app(app(tx).task_store(Arc::new(MemoryStore::new(1)), settings)).await;
    let r = result(
        &server,
        "tools/call",
        json!({"name": "double", "arguments": {"n": 1}}),
    )
    .await;
    assert_eq!(r["ttlMs"], 2_000);
    assert_eq!(r["pollIntervalMs"], 100);
    let id = r["taskId"].as_str().unwrap().to_owned();
    poll(&server, &id, terminal).await;

    // The store holds one task: a second is refused while the first lives.
    let (_, v) = rpc(
        &server,
        "tools/call",
        json!({"name": "double", "arguments": {"n": 2}}),
        true,
    )
    .await;
    assert_eq!(v["error"]["code"], -32603, "{v}");

    // After the TTL the task is gone, and its place is free again.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (_, v) = rpc(&server, "tasks/get", json!({"taskId": id}), true).await;
    assert_eq!(v["error"]["code"], -32602, "{v}");
    create(&server, "double", json!({"n": 3})).await;
}

#[tokio::test]
async fn task_14_listen_streams_get_status_notifications_of_their_tasks() {
    let (server, _rx) = start().await;
    let id = create(&server, "wait_forever", json!({})).await;
    let other = create(&server, "wait_forever", json!({})).await;
    let addr = server.addr;
    let res = send(
        addr,
        modern_request(
            addr,
            9,
            "subscriptions/listen",
            with_ext(json!({"notifications": {"taskIds": [id]}}), true),
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    let mut sse = SseReader::new(res);
    let ack = sse.next().await.expect("acknowledgement").json();
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([id]));

    // The other task's change is not for this stream; this task's is.
    result(&server, "tasks/cancel", json!({"taskId": other})).await;
    result(&server, "tasks/cancel", json!({"taskId": id})).await;
    let n = sse.next().await.expect("a task notification").json();
    assert_eq!(n["method"], "notifications/tasks");
    assert_eq!(n["params"]["taskId"], id.as_str());
    assert_eq!(n["params"]["status"], "cancelled");
    assert!(n["params"].get("resultType").is_none());
    assert_eq!(
        n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );

    // Without the extension, asking for task ids is refused.
    let (status, v) = rpc(
        &server,
        "subscriptions/listen",
        json!({"notifications": {"taskIds": [id]}}),
        false,
    )
    .await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(-32021)));
}

/// A server with deferred tools (`Tool::defer_task`): `greet_later` asks
/// the user's name in the call's input rounds, goes async, asks the mood
/// through the task (the same `ctx.elicit`), then greets; `park` goes
/// async at once and waits for its cancellation (told through `cancelled`).
fn deferred_app(cancelled: mpsc::UnboundedSender<()>) -> McpServer {
    let form = |q: &str, field: &str| {
        json!({"mode": "form", "message": q,
        "requestedSchema": {"type": "object", "properties": {field: {"type": "string"}}}})
    };
    McpServer::new("tasks-deferred", "1")
        .tool(
            Tool::new(
                "greet_later",
                "MRTR, then a task",
                json!({"type": "object"}),
                move |ctx, _a| async move {
                    let name = ctx.elicit(form("name?", "name")).await?.to_value();
                    assert!(ctx.task().is_none(), "still a plain call");
                    ctx.go_async().await?;
                    let task = ctx.task().expect("a task now").id().to_owned();
                    let mood = ctx.elicit(form("mood?", "mood")).await?.to_value();
                    Ok(ToolResult::text(format!(
                        "Hello {}, you are {} (task {task})",
                        name["content"]["name"].as_str().unwrap_or("?"),
                        mood["content"]["mood"].as_str().unwrap_or("?")
                    )))
                },
            )
            .task_support(TaskSupport::Required)
            .defer_task(),
        )
        .tool(
            Tool::new(
                "park",
                "async at once",
                json!({"type": "object"}),
                move |ctx, _a| {
                    let cancelled = cancelled.clone();
                    async move {
                        ctx.go_async().await?;
                        ctx.cancelled().await;
                        let _ = cancelled.send(());
                        Ok(ToolResult::text("stopped"))
                    }
                },
            )
            .defer_task(),
        )
}

/// A 2026-07-28 `tools/call` declaring the extension and elicitation.
async fn call_deferred(server: &TestServer, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({"io.modelcontextprotocol/clientCapabilities":
        {"elicitation": {}, "extensions": {EXTENSION: {}}}});
    let addr = server.addr;
    let res = send(addr, modern_request(addr, 9, "tools/call", params)).await;
    assert_eq!(res.status().as_u16(), 200);
    json_body(res).await["result"].clone()
}

#[tokio::test]
async fn task_15_a_deferred_tool_asks_in_rounds_then_goes_on_as_a_task() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let server = start_app(deferred_app(tx)).await;
    let call = json!({"name": "greet_later", "arguments": {}});

    // Round 1: an input round, no task yet.
    let r1 = call_deferred(&server, call.clone()).await;
    assert_eq!(r1["resultType"], "input_required", "{r1}");
    assert!(r1.get("taskId").is_none(), "{r1}");
    let key = r1["inputRequests"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .expect("an input request");

    // Round 2: the answer; the tool goes async: a flat CreateTaskResult,
    // nothing of the round on it.
    let mut retry = call.clone();
    retry["inputResponses"] = json!({key: {"action": "accept", "content": {"name": "Alice"}}});
    retry["requestState"] = r1["requestState"].clone();
    let r2 = call_deferred(&server, retry).await;
    assert_eq!(r2["resultType"], "task", "{r2}");
    assert!(r2.get("requestState").is_none(), "{r2}");
    assert!(r2.get("inputRequests").is_none(), "{r2}");
    let id = r2["taskId"].as_str().expect("taskId").to_owned();

    // The same handler's next elicit is an input request of the task.
    let t = poll(&server, &id, |t| t["status"] == "input_required").await;
    let (k, req) = t["inputRequests"]
        .as_object()
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("the task asks");
    assert_eq!(req["method"], "elicitation/create");
    assert_eq!(req["params"]["message"], "mood?");
    result(
        &server,
        "tasks/update",
        json!({"taskId": id, "inputResponses": {k: {"action": "accept", "content": {"mood": "glad"}}}}),
    )
    .await;
    let t = poll(&server, &id, terminal).await;
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        t["result"]["content"][0]["text"],
        format!("Hello Alice, you are glad (task {id})")
    );

    // Without the extension, a required deferred tool is refused (TASK-2).
    let (status, v) = rpc(&server, "tools/call", call, false).await;
    assert_eq!(v["error"]["code"], -32021, "{status} {v}");
}

#[tokio::test]
async fn task_15_task_11_a_deferred_task_follows_tasks_cancel_not_its_answered_request() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = start_app(deferred_app(tx)).await;
    let r = call_deferred(&server, json!({"name": "park", "arguments": {}})).await;
    assert_eq!(r["resultType"], "task", "{r}");
    let id = r["taskId"].as_str().expect("taskId").to_owned();
    // The request was answered; the work goes on as the task.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err(), "cancelled by the answered request");
    let t = result(&server, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(t["status"], "working", "{t}");
    result(&server, "tasks/cancel", json!({"taskId": id})).await;
    tokio::time::timeout(T, rx.recv())
        .await
        .expect("the work heard the cancellation");
}
