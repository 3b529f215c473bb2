//! Composition without traps (KIT-4, KIT-5): custom methods and
//! notifications on the registry itself, and one registry whatever was
//! cloned when.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use streamable_core::{ErrorObject, RawJson, code};
use streamable_hyper::testing::{TestClient, TestError};
use streamable_hyper::{McpServer, Resource, Tool, ToolResult};

fn echo() -> Tool {
    Tool::new(
        "echo",
        "Echo",
        json!({"type": "object"}),
        |_ctx, args| async move { Ok(ToolResult::json(args)) },
    )
}

fn resource() -> Resource {
    Resource::text("mem://a", "a", "text/plain", "A")
}

/// The trap of before: a handle cloned before the last registration was a
/// different registry (no sessions, no service handle, old tables), so
/// `resource_updated` on it reached nobody.
#[tokio::test]
async fn kit_5_a_handle_cloned_before_the_last_registration_is_the_same_registry() {
    let app = McpServer::new("compose", "1").resource(resource());
    let early = app.clone();
    let app = app.tool(echo());
    let late = app.clone();
    let c = TestClient::connect(app).await.unwrap();
    let mut stream = c.open_stream().await.unwrap();
    c.request("resources/subscribe", json!({"uri": "mem://a"}))
        .await
        .unwrap();
    assert_eq!(early.open_sessions(), 1);
    assert_eq!(late.open_sessions(), 1);
    // The subscribed session is reached from either handle.
    assert_eq!(early.resource_updated("mem://a").await, 1);
    assert_eq!(late.resource_updated("mem://a").await, 1);
    for _ in 0..2 {
        let n = stream.recv().await.unwrap();
        assert_eq!(n["method"], "notifications/resources/updated");
        assert_eq!(n["params"]["uri"], "mem://a");
    }
    // And the early handle describes what is served, the tool included.
    assert_eq!(early.capabilities(), late.capabilities());
    assert!(early.capabilities().get("tools").is_some());
    c.close().await;
    assert_eq!(
        early.open_sessions(),
        0,
        "session_closed reached the registry"
    );
}

/// The trap of before: a custom method meant a `Handler` around the
/// registry, which had to forward `attach` and `session_closed` by hand.
#[tokio::test]
async fn kit_4_custom_methods_and_notifications_need_no_wrapper() {
    let notes: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = notes.clone();
    let app = McpServer::new("compose", "1")
        .resource(resource())
        .tool(echo())
        .fallback(|_ctx, method, params| async move {
            match method.as_str() {
                "math/double" => {
                    let n = params.map_or(Value::Null, |p| p.to_value())["n"]
                        .as_i64()
                        .unwrap_or(0);
                    Ok(RawJson::from_value(&json!({"n": 2 * n})))
                }
                _ => Err(ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!("Method not found: {method}"),
                )),
            }
        })
        .on_notification(move |_session, method, _params| {
            let seen = seen.clone();
            async move { seen.lock().unwrap().push(method) }
        });
    let handle = app.clone();
    let c = TestClient::connect(app).await.unwrap();
    let r = c.request("math/double", json!({"n": 21})).await.unwrap();
    assert_eq!(r, json!({"n": 42}));
    let other = c.request("math/halve", json!({})).await;
    assert!(
        matches!(other, Err(TestError::Rpc { code: -32601, .. })),
        "{other:?}"
    );
    // The registry still answers its own methods.
    let call = c.call_tool("echo", json!({"x": 1})).await.unwrap();
    assert_eq!(call.result["structuredContent"], json!({"x": 1}));
    c.notify("notifications/roots/list_changed", Value::Null)
        .await
        .unwrap();
    // Notifications run as tasks: let them.
    for _ in 0..100 {
        if notes.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        *notes.lock().unwrap(),
        [
            "notifications/initialized",
            "notifications/roots/list_changed"
        ]
    );
    let _stream = c.open_stream().await.unwrap();
    c.request("resources/subscribe", json!({"uri": "mem://a"}))
        .await
        .unwrap();
    assert_eq!(handle.resource_updated("mem://a").await, 1);
    c.close().await;
    assert_eq!(handle.open_sessions(), 0);
}
