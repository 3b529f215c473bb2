//! Multi-round-trip requests (SEP-2322): the tools and the prompt that the
//! suite's `input-required-result-*` scenarios call. Each is an ordinary
//! handler that asks through the context (`ctx.input`, `ctx.elicit`,
//! `ctx.create_message`, `ctx.list_roots`) and ends with `?` when an input is
//! still missing: in a 2026-07-28 request the library answers with an
//! `InputRequiredResult` and finds the answers on the retry; in a 2025-x
//! session the same code sends server-to-client requests.

use serde_json::{Map, Value, json};
use streamable_hyper::streamable_core::{ErrorObject, RawJson};
use streamable_hyper::{McpServer, Prompt, RequestContext, Tool, ToolResult};

/// Register the MRTR fixtures.
pub(crate) fn register(server: McpServer) -> McpServer {
    server
        // input-required-result-basic-elicitation (and missing-input-response,
        // result-type, ignore-extra-params, validate-input).
        .tool(Tool::new(
            "test_input_required_result_elicitation",
            "Asks the user's name (elicitation, input key user_name).",
            no_args(),
            |ctx, _args| async move {
                let name = ask_name(&ctx, "user_name", "What is your name?").await?;
                Ok(ToolResult::text(format!("Hello, {name}!")))
            },
        ))
        // input-required-result-basic-sampling
        .tool(Tool::new(
            "test_input_required_result_sampling",
            "Asks the client's model a question (sampling, input key capital_question).",
            no_args(),
            |ctx, _args| async move {
                let answer = ctx
                    .input(
                        "capital_question",
                        "sampling/createMessage",
                        Some(json!({
                            "messages": [{"role": "user", "content": {"type": "text", "text": "What is the capital of France?"}}],
                            "maxTokens": 100
                        })),
                    )
                    .await?;
                Ok(ToolResult::text(format!("The model said: {}", sampled_text(&answer))))
            },
        ))
        // input-required-result-basic-list-roots
        .tool(Tool::new(
            "test_input_required_result_list_roots",
            "Lists the client's roots (roots/list, input key client_roots).",
            no_args(),
            |ctx, _args| async move {
                let roots = ctx.input("client_roots", "roots/list", Some(json!({}))).await?;
                Ok(ToolResult::text(format!("Client roots: {}", root_uris(&roots))))
            },
        ))
        // input-required-result-request-state, input-required-result-tampered-state
        .tool(Tool::new(
            "test_input_required_result_request_state",
            "Asks for a confirmation; the answer arrives with the requestState it was asked under.",
            no_args(),
            |ctx, _args| async move { confirm(&ctx).await },
        ))
        .tool(Tool::new(
            "test_input_required_result_tampered_state",
            "Asks for a confirmation under an integrity-protected requestState.",
            no_args(),
            |ctx, _args| async move { confirm(&ctx).await },
        ))
        // input-required-result-multiple-input-requests: three inputs in one round.
        .tool(Tool::new(
            "test_input_required_result_multiple_inputs",
            "Asks a name, a greeting from the model and the roots, all in one round.",
            no_args(),
            |ctx, _args| async move {
                let (name, greeting, roots) = tokio::join!(
                    ask_name(&ctx, "user_name", "What is your name?"),
                    ctx.input(
                        "greeting",
                        "sampling/createMessage",
                        Some(json!({
                            "messages": [{"role": "user", "content": {"type": "text", "text": "Generate a greeting"}}],
                            "maxTokens": 50
                        })),
                    ),
                    ctx.input("client_roots", "roots/list", Some(json!({}))),
                );
                let (name, greeting, roots) = (name?, greeting?, roots?);
                Ok(ToolResult::text(format!(
                    "{}, {name}! Roots: {}",
                    sampled_text(&greeting),
                    root_uris(&roots)
                )))
            },
        ))
        // input-required-result-multi-round: the second question is asked
        // only once the first is answered.
        .tool(Tool::new(
            "test_input_required_result_multi_round",
            "Asks a name, then a favourite colour (two rounds).",
            no_args(),
            |ctx, _args| async move {
                let name = ask_name(&ctx, "step1", "Step 1: What is your name?").await?;
                let color = ctx
                    .input(
                        "step2",
                        "elicitation/create",
                        Some(form(
                            "Step 2: What is your favorite color?",
                            "color",
                            "string",
                        )),
                    )
                    .await?;
                let color = accepted(&color, "color");
                Ok(ToolResult::text(format!("{name} likes {color}.")))
            },
        ))
        // input-required-result-capability-check: ask only what the client
        // declared it can answer (keys derived by the library).
        .tool(Tool::new(
            "test_input_required_result_capabilities",
            "Asks through every input kind the client declared (elicitation, sampling, roots).",
            no_args(),
            |ctx, _args| async move {
                let data = ctx.session().data();
                let (elicit, sample, roots) = (
                    data.client_supports("elicitation"),
                    data.client_supports("sampling"),
                    data.client_supports("roots"),
                );
                if !(elicit || sample || roots) {
                    return Ok(ToolResult::error(
                        "The client declared no capability to answer with",
                    ));
                }
                let (e, s, r) = tokio::join!(
                    async {
                        match elicit {
                            true => ctx.elicit(form("Your name?", "name", "string")).await.map(Some),
                            false => Ok(None),
                        }
                    },
                    async {
                        match sample {
                            true => ctx
                                .create_message(json!({
                                    "messages": [{"role": "user", "content": {"type": "text", "text": "Say hello"}}],
                                    "maxTokens": 20
                                }))
                                .await
                                .map(Some),
                            false => Ok(None),
                        }
                    },
                    async {
                        match roots {
                            true => ctx.list_roots().await.map(Some),
                            false => Ok(None),
                        }
                    },
                );
                let (e, s, r) = (e?, s?, r?);
                Ok(ToolResult::text(format!(
                    "answers: elicitation={}, sampling={}, roots={}",
                    e.is_some(),
                    s.is_some(),
                    r.is_some()
                )))
            },
        ))
        // input-required-result-non-tool-request
        .prompt(Prompt::new(
            "test_input_required_result_prompt",
            "A prompt that asks the user for its context first (elicitation, input key user_context).",
            json!([]),
            |ctx, _args: Map<String, Value>| async move {
                let answer = ctx
                    .input(
                        "user_context",
                        "elicitation/create",
                        Some(form(
                            "What context should the prompt use?",
                            "context",
                            "string",
                        )),
                    )
                    .await?;
                let context = accepted(&answer, "context");
                Ok(vec![json!({"role": "user", "content": {
                    "type": "text",
                    "text": format!("Answer with this context in mind: {context}")
                }})])
            },
        ))
}

fn no_args() -> Value {
    json!({"type": "object", "properties": {}})
}

/// An elicitation form asking one required field.
fn form(message: &str, field: &str, ty: &str) -> Value {
    json!({
        "message": message,
        "requestedSchema": {
            "type": "object",
            "properties": {field: {"type": ty}},
            "required": [field]
        }
    })
}

/// Ask the user's name under `key`; a decline or cancel answers "stranger".
async fn ask_name(ctx: &RequestContext, key: &str, message: &str) -> Result<String, ErrorObject> {
    let answer = ctx
        .input(
            key,
            "elicitation/create",
            Some(form(message, "name", "string")),
        )
        .await?;
    Ok(accepted(&answer, "name"))
}

/// `content.<field>` of an accepted elicitation, else what happened.
fn accepted(answer: &RawJson, field: &str) -> String {
    let v = answer.to_value();
    match v["action"].as_str() {
        Some("accept") => match &v["content"][field] {
            Value::String(s) => s.clone(),
            Value::Null => "(no answer)".to_owned(),
            other => other.to_string(),
        },
        Some(other) => format!("({other})"),
        None => "(no answer)".to_owned(),
    }
}

/// The text of a sampling result.
fn sampled_text(answer: &RawJson) -> String {
    let v = answer.to_value();
    v["content"]["text"]
        .as_str()
        .unwrap_or("(no text)")
        .to_owned()
}

/// The URIs of a `roots/list` result, comma-separated.
fn root_uris(answer: &RawJson) -> String {
    let v = answer.to_value();
    let uris: Vec<&str> = v["roots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uri"].as_str())
        .collect();
    uris.join(", ")
}

/// Ask for a confirmation (input key `confirm`); say `state-ok` when the
/// answer came with the `requestState` the library verified.
async fn confirm(ctx: &RequestContext) -> Result<ToolResult, ErrorObject> {
    let answer = ctx
        .input(
            "confirm",
            "elicitation/create",
            Some(form("Please confirm", "ok", "boolean")),
        )
        .await?;
    let ok = answer.to_value()["content"]["ok"] == json!(true);
    let state = if ctx.has_request_state() || !ctx.is_stateless() {
        "state-ok"
    } else {
        "no requestState"
    };
    Ok(ToolResult::text(format!("confirmed={ok}, {state}")))
}
