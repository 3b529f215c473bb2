//! The tools the tasks-extension scenarios (SEP-2663, `tasks-*`) call by
//! name, following each scenario's "Required server fixtures" text: `greet`
//! (sync only), `slow_compute`, `failing_job` (task required),
//! `protocol_error_job`, `confirm_delete` and `multi_input` (both ask the
//! client for input through their task), `test_tool_with_task` (asks in the
//! call's input rounds, then goes on as a task).

use std::time::Duration;

use serde_json::{Value, json};
use streamable_hyper::streamable_core::ErrorObject;
use streamable_hyper::{McpServer, RequestContext, TaskSupport, Tool, ToolResult};

/// Register the tasks fixtures on `server`.
pub(crate) fn register(server: McpServer) -> McpServer {
    server
        .tool(Tool::new(
            "greet",
            "Greets someone (always answered at once, never a task).",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
            |_ctx, args| async move {
                let name = args["name"].as_str().unwrap_or("World");
                Ok(ToolResult::text(format!("Hello, {name}!")))
            },
        ))
        .tool(
            Tool::new(
                "slow_compute",
                "Sleeps `seconds` seconds, then reports what it computed. Runs as a task when it can.",
                json!({"type": "object", "properties": {
                    "seconds": {"type": "number", "minimum": 0},
                    "label": {"type": "string"},
                }}),
                |ctx, args| async move {
                    let seconds = args["seconds"].as_f64().unwrap_or(1.0).min(3600.0);
                    let label = args["label"].as_str().unwrap_or("job").to_owned();
                    if !pause(&ctx, Duration::from_secs_f64(seconds)).await {
                        return Ok(ToolResult::error(format!("{label}: cancelled")));
                    }
                    Ok(ToolResult::text(format!("Computed {label} in {seconds} s")))
                },
            )
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new(
                "failing_job",
                "Works for about a second, then reports a tool error. Only runs as a task.",
                json!({"type": "object", "properties": {}}),
                |ctx, _args| async move {
                    if !pause(&ctx, Duration::from_secs(1)).await {
                        return Ok(ToolResult::error("failing_job: cancelled"));
                    }
                    Ok(ToolResult::error(
                        "failing_job: the upstream service rejected the job",
                    ))
                },
            )
            .task_support(TaskSupport::Required),
        )
        .tool(
            Tool::new(
                "protocol_error_job",
                "Fails with a JSON-RPC internal error (not a tool error).",
                json!({"type": "object", "properties": {}}),
                |_ctx, _args| async move {
                    Err(ErrorObject::new(
                        -32603,
                        "protocol_error_job: the job's backend is unreachable",
                    ))
                },
            )
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new(
                "confirm_delete",
                "Asks the user to confirm, then deletes `filename` (pretend).",
                json!({"type": "object", "properties": {"filename": {"type": "string"}}, "required": ["filename"]}),
                |ctx, args| async move {
                    let file = args["filename"].as_str().unwrap_or("").to_owned();
                    let answer = ask(&ctx, confirm(&format!("Delete {file}?"))).await?;
                    Ok(ToolResult::text(if accepted(&answer) {
                        format!("Deleted {file}")
                    } else {
                        format!("Kept {file}")
                    }))
                },
            )
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new(
                "multi_input",
                "Asks two questions at once, then reports both answers.",
                json!({"type": "object", "properties": {}}),
                |ctx, _args| async move {
                    let (a, b) = tokio::join!(
                        ask(&ctx, named("First name?")),
                        ask(&ctx, named("Second name?"))
                    );
                    let (a, b) = (a?, b?);
                    Ok(ToolResult::text(format!(
                        "Got {} and {}",
                        a["content"]["name"].as_str().unwrap_or("(none)"),
                        b["content"]["name"].as_str().unwrap_or("(none)")
                    )))
                },
            )
            .task_support(TaskSupport::Optional),
        )
        .tool(
            Tool::new(
                "test_tool_with_task",
                "Asks for the user's name (in the call's input rounds), then finishes the greeting as a task.",
                json!({"type": "object", "properties": {}}),
                |ctx, _args| async move {
                    // A 2026-07-28 call: round 1 ends here with an
                    // InputRequiredResult; the retry finds the answer.
                    let answer = ctx.elicit(named("What is your user_name?")).await?.to_value();
                    let name = answer["content"]["name"]
                        .as_str()
                        .unwrap_or("(none)")
                        .to_owned();
                    // The retry is answered with a CreateTaskResult; the
                    // rest runs as the task.
                    ctx.go_async().await?;
                    if !pause(&ctx, Duration::from_millis(200)).await {
                        return Ok(ToolResult::error("test_tool_with_task: cancelled"));
                    }
                    Ok(ToolResult::text(format!("Hello, {name}! (finished as a task)")))
                },
            )
            .task_support(TaskSupport::Required)
            .defer_task(),
        )
}

/// Wait `d` unless the call (or its task) is cancelled first.
async fn pause(ctx: &RequestContext, d: Duration) -> bool {
    tokio::select! {
        biased;
        () = ctx.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// Elicit through the task when running as one, else through the session
/// (a 2025 client that accepts elicitation); otherwise the tool cannot ask.
async fn ask(ctx: &RequestContext, params: Value) -> Result<Value, ErrorObject> {
    if let Some(task) = ctx.task() {
        return Ok(task.elicit(params).await?);
    }
    if ctx.can_request("elicitation") {
        let r = ctx
            .elicit(params)
            .await
            .map_err(|e| ErrorObject::new(-32603, format!("elicitation failed: {e}")))?;
        return Ok(r.to_value());
    }
    Err(ErrorObject::new(
        -32603,
        "this tool needs to ask the user: call it declaring the tasks extension",
    ))
}

fn confirm(message: &str) -> Value {
    json!({"mode": "form", "message": message, "requestedSchema": {
        "type": "object",
        "properties": {"confirm": {"type": "boolean"}},
        "required": ["confirm"],
    }})
}

fn named(message: &str) -> Value {
    json!({"mode": "form", "message": message, "requestedSchema": {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }})
}

fn accepted(answer: &Value) -> bool {
    answer["action"] == "accept" && answer["content"]["confirm"] == true
}
