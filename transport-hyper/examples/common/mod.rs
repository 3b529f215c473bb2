//! The example application, shared by the `server` and `axum` examples;
//! the end-to-end tests (`tests/src/lib.rs`) build theirs from its tools.

use std::time::Duration;

use serde_json::{Value, json};
use streamable_hyper::{LogLevel, McpServer, Prompt, Resource, ResourceTemplate, Tool, ToolResult};

/// The example application (shared with the axum example and the tests).
pub(crate) fn app() -> McpServer {
    McpServer::new("streamable-example", env!("CARGO_PKG_VERSION"))
        .instructions("Try `countdown` with a progressToken to watch events stream.")
        .tool(echo())
        .tool(countdown())
        .tool(ask_llm())
        .resource(Resource::text(
            "mem://readme",
            "readme",
            "text/plain",
            "This server is an example of streamable-hyper.",
        ))
        .resource_template(ResourceTemplate::new(
            "mem://greeting/{name}",
            "greeting",
            "text/plain",
            |_ctx, uri, vars| async move {
                Ok(vec![json!({"uri": uri, "mimeType": "text/plain", "text": format!("Hello, {}!", vars["name"])})])
            },
        ))
        .prompt(Prompt::new(
            "greet",
            "Greet someone.",
            json!([{"name": "name", "description": "Who", "required": true}]),
            |_ctx, args| async move {
                let name = args.get("name").and_then(Value::as_str).unwrap_or("you").to_owned();
                Ok(vec![json!({"role": "user", "content": {"type": "text", "text": format!("Say hello to {name}.")}})])
            },
        ))
}

/// `echo`: the text back.
pub(crate) fn echo() -> Tool {
    Tool::new(
        "echo",
        "Echo the text back.",
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        |_ctx, args| async move { Ok(ToolResult::text(args["text"].as_str().unwrap_or(""))) },
    )
}

/// `countdown`: `n` progress notifications (or, without a progress
/// token, log messages) `interval_ms` apart, then a result.
pub(crate) fn countdown() -> Tool {
    Tool::new(
        "countdown",
        "Send `n` progress notifications `interval_ms` apart, then answer.",
        json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 0, "maximum": 10000},
            "interval_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
            "stamp": {"type": "boolean", "description": "Append the emit time (µs since the epoch) to each message."}
        }}),
        |ctx, args| async move {
            let n = args["n"].as_u64().unwrap_or(5);
            let interval = Duration::from_millis(args["interval_ms"].as_u64().unwrap_or(1000));
            for i in 1..=n {
                if i > 1 {
                    tokio::select! {
                        biased;
                        () = ctx.cancelled() => return Ok(ToolResult::error("cancelled")),
                        () = tokio::time::sleep(interval) => {}
                    }
                }
                let mut msg = format!("{} left", n - i);
                if args["stamp"].as_bool() == Some(true) {
                    // For the benchmark's delivery delay: the emit time,
                    // wall-clock microseconds.
                    msg.push_str(&format!(" @{}", unix_micros()));
                }
                // With a progress token: progress; without: a log message.
                let sent = ctx.progress(i as f64, Some(n as f64), Some(&msg)).await;
                if let Ok(false) = sent {
                    let _ = ctx.log(LogLevel::Info, Some("countdown"), json!(msg)).await;
                }
            }
            Ok(ToolResult::text(format!("countdown of {n} done")))
        },
    )
}

/// `ask_llm`: one sampling round trip to the client's model.
pub(crate) fn ask_llm() -> Tool {
    Tool::new(
        "ask_llm",
        "Ask the client's model a question (sampling/createMessage).",
        json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}),
        |ctx, args| async move {
            if ctx.is_stateless() {
                // 2026-07-28: no server-to-client requests (MRTR would
                // return an InputRequiredResult instead).
                return Ok(ToolResult::error(
                    "sampling needs a session (2025-x protocol)",
                ));
            }
            if !ctx.can_request("sampling") {
                return Ok(ToolResult::error("the client does not support sampling"));
            }
            let q = args["question"].as_str().unwrap_or("").to_owned();
            let answer = ctx
                .create_message(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": q}}],
                    "maxTokens": 200
                }))
                .await;
            Ok(match answer {
                Ok(r) => {
                    let v: Value = r.to_value();
                    ToolResult::text(v["content"]["text"].as_str().unwrap_or("").to_owned())
                }
                Err(e) => ToolResult::error(format!("sampling failed: {e}")),
            })
        },
    )
}

/// Wall-clock microseconds since the epoch.
fn unix_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}
