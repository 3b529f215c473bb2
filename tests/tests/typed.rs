//! Typed tools and prompts (KIT-1, KIT-2) through the in-memory test client
//! (KIT-3): derived schemas, serde arguments, typed output, the two kinds
//! of error.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use streamable_core::{ErrorObject, code};
use streamable_hyper::testing::{TestClient, TestError};
use streamable_hyper::{Json, McpServer, Prompt, Tool, ToolError, ToolResult};

#[derive(Deserialize, JsonSchema)]
struct DivArgs {
    /// The dividend.
    a: i64,
    /// The divisor.
    b: i64,
}

#[derive(Serialize, JsonSchema)]
struct Quotient {
    quotient: i64,
    remainder: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Nested {
    point: Point,
    tags: Vec<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Point {
    x: f64,
    y: f64,
}

/// The schema says string; serde wants a number: only serde can refuse.
#[derive(Deserialize, JsonSchema)]
struct Stubborn {
    #[schemars(with = "String")]
    n: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Steps {
    steps: u32,
}

#[derive(Deserialize, JsonSchema)]
struct Greeting {
    /// Who to greet.
    name: String,
    /// How (optional).
    style: Option<String>,
}

fn app() -> McpServer {
    McpServer::new("typed", "1")
        .tool(Tool::typed(
            "div",
            "Integer division",
            |_ctx, DivArgs { a, b }| async move {
                if b == 0 {
                    return Err(ToolError::tool("division by zero"));
                }
                if a == i64::MIN {
                    return Err(ErrorObject::new(code::INTERNAL_ERROR, "refused").into());
                }
                Ok(Json(Quotient {
                    quotient: a / b,
                    remainder: a % b,
                }))
            },
        ))
        .tool(Tool::typed(
            "nested",
            "Nested types",
            |_ctx, n: Nested| async move {
                Ok(format!("{},{} {}", n.point.x, n.point.y, n.tags.join("+")))
            },
        ))
        .tool(Tool::typed(
            "stubborn",
            "Serde refuses what the schema lets through",
            |_ctx, s: Stubborn| async move { Ok(ToolResult::text(s.n.to_string())) },
        ))
        .tool(Tool::typed(
            "steps",
            "Progress then done",
            |ctx, Steps { steps }| async move {
                for k in 1..=steps {
                    ctx.progress(f64::from(k), Some(f64::from(steps)), None)
                        .await?;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok("done")
            },
        ))
        .prompt(Prompt::typed(
            "greet",
            "A greeting",
            |_ctx, g: Greeting| async move {
                let style = g.style.unwrap_or_else(|| "plainly".into());
                Ok(vec![json!({"role": "user", "content": {"type": "text",
                    "text": format!("Greet {} {style}", g.name)}})])
            },
        ))
}

fn tool<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn kit_1_typed_tool_schemas_are_derived_and_compile() {
    let c = TestClient::connect(app()).await.unwrap();
    let list = c.request("tools/list", json!({})).await.unwrap();
    let div = tool(&list, "div");
    let input = &div["inputSchema"];
    assert_eq!(input["type"], "object");
    assert_eq!(input["properties"]["a"]["type"], "integer");
    assert_eq!(input["properties"]["b"]["description"], "The divisor.");
    assert_eq!(input["required"], json!(["a", "b"]));
    assert_eq!(div["outputSchema"]["type"], "object");
    // Nested types go to `$defs`, which the 2020-12 validator resolves.
    let nested = &tool(&list, "nested")["inputSchema"];
    assert!(nested.get("$defs").is_some(), "{nested}");
    for t in list["tools"].as_array().unwrap() {
        jsonschema::draft202012::new(&t["inputSchema"])
            .unwrap_or_else(|e| panic!("{}: {e}", t["name"]));
    }
    let call = c
        .call_tool(
            "nested",
            json!({"point": {"x": 1.5, "y": 2}, "tags": ["a", "b"]}),
        )
        .await
        .unwrap();
    assert_eq!(call.result["content"][0]["text"], "1.5,2 a+b");
    let bad = c
        .call_tool("nested", json!({"point": {"x": "no"}, "tags": []}))
        .await
        .unwrap();
    assert_eq!(bad.result["isError"], true, "{}", bad.result);
}

#[tokio::test]
async fn kit_1_typed_output_fills_structured_content_that_fits_its_schema() {
    let c = TestClient::connect(app()).await.unwrap();
    let list = c.request("tools/list", json!({})).await.unwrap();
    let out = jsonschema::draft202012::new(&tool(&list, "div")["outputSchema"]).unwrap();
    let call = c.call_tool("div", json!({"a": 7, "b": 2})).await.unwrap();
    let r = &call.result;
    assert_eq!(
        r["structuredContent"],
        json!({"quotient": 3, "remainder": 1})
    );
    assert!(out.is_valid(&r["structuredContent"]));
    assert!(r.get("isError").is_none());
    // The same as text, for clients that do not read structured content.
    let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, r["structuredContent"]);
}

#[tokio::test]
async fn kit_1_tool_errors_are_results_and_protocol_errors_are_errors() {
    let c = TestClient::connect(app()).await.unwrap();
    let zero = c.call_tool("div", json!({"a": 1, "b": 0})).await.unwrap();
    assert_eq!(zero.result["isError"], true);
    assert_eq!(zero.result["content"][0]["text"], "division by zero");
    let refused = c.call_tool("div", json!({"a": i64::MIN, "b": 1})).await;
    assert!(
        matches!(&refused, Err(TestError::Rpc { code: -32603, message, .. }) if message == "refused"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn kit_1_bad_arguments_are_tool_errors_from_the_schema_or_from_serde() {
    let c = TestClient::connect(app()).await.unwrap();
    // The schema refuses: like an untyped tool's mismatch.
    let schema = c.call_tool("div", json!({"a": "x", "b": 1})).await.unwrap();
    assert_eq!(schema.result["isError"], true);
    let text = schema.result["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Invalid arguments"), "{text}");
    let missing = c.call_tool("div", json!({"a": 1})).await.unwrap();
    assert_eq!(missing.result["isError"], true);
    // The schema lets it through, serde refuses: the same kind of answer.
    let serde = c
        .call_tool("stubborn", json!({"n": "seven"}))
        .await
        .unwrap();
    assert_eq!(serde.result["isError"], true);
    let text = serde.result["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Invalid arguments"), "{text}");
}

#[tokio::test]
async fn kit_3_test_client_sees_progress_in_order_then_the_result() {
    let c = TestClient::connect(app()).await.unwrap();
    let call = c.call_tool("steps", json!({"steps": 4})).await.unwrap();
    let seen: Vec<f64> = call.progress.iter().map(|p| p.progress).collect();
    assert_eq!(seen, [1.0, 2.0, 3.0, 4.0]);
    assert!(call.progress.iter().all(|p| p.total == Some(4.0)));
    assert_eq!(call.result["content"][0]["text"], "done");
    c.close().await;
}

#[tokio::test]
async fn kit_2_typed_prompt_arguments_are_derived_and_checked() {
    let c = TestClient::connect(app()).await.unwrap();
    let list = c.request("prompts/list", json!({})).await.unwrap();
    let args = &list["prompts"][0]["arguments"];
    assert_eq!(
        args,
        &json!([
            {"name": "name", "description": "Who to greet.", "required": true},
            {"name": "style", "description": "How (optional).", "required": false},
        ])
    );
    let got = c
        .request(
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": "Ada"}}),
        )
        .await
        .unwrap();
    assert_eq!(got["messages"][0]["content"]["text"], "Greet Ada plainly");
    let missing = c
        .request("prompts/get", json!({"name": "greet", "arguments": {}}))
        .await;
    assert!(
        matches!(missing, Err(TestError::Rpc { code: -32602, .. })),
        "{missing:?}"
    );
    let wrong = c
        .request(
            "prompts/get",
            json!({"name": "greet", "arguments": {"name": 7}}),
        )
        .await;
    assert!(
        matches!(wrong, Err(TestError::Rpc { code: -32602, .. })),
        "{wrong:?}"
    );
}
