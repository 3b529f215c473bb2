//! The conformance fixture: every tool, resource, resource template, prompt
//! and completion that the server scenarios of the official MCP conformance
//! suite (`@modelcontextprotocol/conformance` 0.1.16) call by name, served by
//! this library with its default configuration (only the response mode can
//! be changed, see below).
//!
//! ```sh
//! cargo run --release --example conformance -- --bind 127.0.0.1:3002
//! cargo run --release --example conformance -- --bind 127.0.0.1:3002 --response-mode sse
//! bash scripts/conformance.sh        # installs the suite and runs it against this
//! ```
//!
//! Each fixture follows the "Server Implementation Requirements" text of its
//! scenario (the same names, texts, argument names, delays and schemas), so
//! the suite's checks see what a user of the library would build. Two
//! extras serve the interop checks of `scripts/conformance.sh`: `add` (two
//! numbers, for argument passing) and `test://template/{id}/data`
//! completions.
//!
//! `--response-mode` picks [`ResponseMode`]: `auto` (the default: a lone
//! result is JSON, anything sent before it upgrades the response to SSE) or
//! `sse` (every request answered on an SSE stream, primed at 2025-11-25).

use std::time::Duration;

use serde_json::{Map, Value, json};
use streamable_hyper::streamable_core::{Config, ErrorObject, ResponseMode};
use streamable_hyper::{
    Completion, LogLevel, McpServer, McpService, Prompt, RequestContext, Resource,
    ResourceTemplate, Tool, ToolResult, serve,
};

#[path = "fixture26/mrtr.rs"]
mod mrtr;
#[path = "fixture26/server26.rs"]
mod server26;
#[path = "fixture26/tasks.rs"]
mod tasks;

/// A 1x1 red PNG (8-bit RGB), base64.
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "streamable_hyper=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut bind = String::from("127.0.0.1:3002");
    let mut mode = ResponseMode::Auto;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().as_deref()) {
            ("--bind", Some(addr)) => bind = addr.to_owned(),
            ("--response-mode", Some("auto")) => mode = ResponseMode::Auto,
            ("--response-mode", Some("sse")) => mode = ResponseMode::Sse,
            _ => {
                eprintln!(
                    "usage: conformance [--bind ADDR:PORT] [--response-mode auto|sse] (got {a:?})"
                );
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!(
        "MCP conformance fixture on http://{}/mcp (response mode {mode:?})",
        listener.local_addr()?
    );
    let config = Config {
        response_mode: mode,
        ..Config::default()
    };
    let service = McpService::builder()
        .path("/mcp")
        .config(config)
        .build(fixture());
    serve(listener, service, shutdown_signal()).await
}

/// SIGINT (Ctrl-C) or SIGTERM (what the script's cleanup sends).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The whole fixture application.
fn fixture() -> McpServer {
    let server = McpServer::new("streamable-conformance-fixture", env!("CARGO_PKG_VERSION"))
        .instructions("Fixtures for the MCP conformance suite's server scenarios.");
    let server = tools(server);
    let server = resources(server);
    let server = prompts(server);
    let server = server26::register(server);
    let server = mrtr::register(server);
    let server = tasks::register(server);
    server.completion(Completion::new(|_ctx, params| async move {
        Ok(complete(&params))
    }))
}

fn no_args() -> Value {
    json!({"type": "object", "properties": {}})
}

fn text(t: &str) -> Value {
    json!({"type": "text", "text": t})
}

fn image() -> Value {
    json!({"type": "image", "data": PNG_1X1, "mimeType": "image/png"})
}

/// Wait `ms` unless the request is cancelled first; `false` when cancelled.
async fn pause(ctx: &RequestContext, ms: u64) -> bool {
    tokio::select! {
        biased;
        () = ctx.cancelled() => false,
        () = tokio::time::sleep(Duration::from_millis(ms)) => true,
    }
}

fn tools(server: McpServer) -> McpServer {
    server
        // tools-call-simple-text
        .tool(Tool::new(
            "test_simple_text",
            "Returns a simple text response.",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::text(
                    "This is a simple text response for testing.",
                ))
            },
        ))
        // tools-call-image
        .tool(Tool::new(
            "test_image_content",
            "Returns a 1x1 PNG image.",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::from_content(vec![image()]))
            },
        ))
        // tools-call-audio
        .tool(Tool::new(
            "test_audio_content",
            "Returns a short WAV tone.",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::from_content(vec![
                        json!({"type": "audio", "data": base64(&wav_tone()), "mimeType": "audio/wav"}),
                    ]))
            },
        ))
        // tools-call-embedded-resource
        .tool(Tool::new(
            "test_embedded_resource",
            "Returns an embedded text resource.",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::from_content(vec![json!({"type": "resource", "resource": {
                        "uri": "test://embedded-resource",
                        "mimeType": "text/plain",
                        "text": "This is an embedded resource content."
                    }})]))
            },
        ))
        // tools-call-mixed-content
        .tool(Tool::new(
            "test_multiple_content_types",
            "Returns text, an image and an embedded resource.",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::from_content(vec![
                        text("Multiple content types test:"),
                        image(),
                        json!({"type": "resource", "resource": {
                            "uri": "test://mixed-content-resource",
                            "mimeType": "application/json",
                            "text": json!({"test": "data", "value": 123}).to_string()
                        }}),
                    ]))
            },
        ))
        // tools-call-with-logging: three info messages about 50 ms apart.
        .tool(Tool::new(
            "test_tool_with_logging",
            "Sends three log messages while it runs.",
            no_args(),
            |ctx, _args| async move {
                let steps = [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ];
                for (i, step) in steps.into_iter().enumerate() {
                    if i > 0 && !pause(&ctx, 50).await {
                        return Ok(ToolResult::error("cancelled"));
                    }
                    if let Err(e) = ctx.log(LogLevel::Info, Some("conformance"), json!(step)).await {
                        return Ok(ToolResult::error(format!("log message not sent: {e}")));
                    }
                }
                Ok(ToolResult::text("Tool with logging executed successfully"))
            },
        ))
        // tools-call-error: a tool-level error the model can see.
        .tool(Tool::new(
            "test_error_handling",
            "Always fails (isError: true).",
            no_args(),
            |_ctx, _args| async move {
                Ok(ToolResult::error(
                    "This tool intentionally returns an error for testing",
                ))
            },
        ))
        // tools-call-with-progress: 0, 50, 100 of 100, about 50 ms apart.
        .tool(Tool::new(
            "test_tool_with_progress",
            "Reports progress 0/100, 50/100, 100/100 when given a progressToken.",
            no_args(),
            |ctx, _args| async move {
                for (i, p) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 && !pause(&ctx, 50).await {
                        return Ok(ToolResult::error("cancelled"));
                    }
                    if let Err(e) = ctx.progress(p, Some(100.0), None).await {
                        return Ok(ToolResult::error(format!("progress not sent: {e}")));
                    }
                }
                Ok(ToolResult::text("Tool with progress executed successfully"))
            },
        ))
        // tools-call-sampling
        .tool(Tool::new(
            "test_sampling",
            "Asks the client's model (sampling/createMessage).",
            json!({"type": "object", "properties": {
                "prompt": {"type": "string", "description": "The prompt to send to the LLM"}
            }, "required": ["prompt"]}),
            |ctx, args| async move {
                if !ctx.session().data().client_supports("sampling") {
                    return Ok(ToolResult::error("The client does not support sampling"));
                }
                let prompt = args["prompt"].as_str().unwrap_or_default();
                let answer = ctx
                    .create_message(json!({
                        "messages": [{"role": "user", "content": text(prompt)}],
                        "maxTokens": 100
                    }))
                    .await;
                Ok(match answer {
                    Ok(r) => {
                        let r = r.to_value();
                        let reply = r["content"]["text"].as_str().unwrap_or_default();
                        ToolResult::text(format!("LLM response: {reply}"))
                    }
                    Err(e) => ToolResult::error(format!("Sampling failed: {e}")),
                })
            },
        ))
        // tools-call-elicitation
        .tool(Tool::new(
            "test_elicitation",
            "Asks the user for a username and an email (elicitation/create).",
            json!({"type": "object", "properties": {
                "message": {"type": "string", "description": "The message to show the user"}
            }, "required": ["message"]}),
            |ctx, args| async move {
                let message = args["message"].as_str().unwrap_or_default().to_owned();
                elicit(
                    &ctx,
                    "User response",
                    json!({
                        "message": message,
                        "requestedSchema": {
                            "type": "object",
                            "properties": {
                                "username": {"type": "string", "description": "User's response"},
                                "email": {"type": "string", "description": "User's email address"}
                            },
                            "required": ["username", "email"]
                        }
                    }),
                )
                .await
            },
        ))
        // elicitation-sep1034-defaults: a default for every primitive type.
        .tool(Tool::new(
            "test_elicitation_sep1034_defaults",
            "Elicitation whose schema has defaults for every primitive type (SEP-1034).",
            no_args(),
            |ctx, _args| async move {
                elicit(
                    &ctx,
                    "Elicitation completed",
                    json!({
                        "message": "Please review your details (every field has a default).",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                                "age": {"type": "integer", "description": "User age", "default": 30},
                                "score": {"type": "number", "description": "User score", "default": 95.5},
                                "status": {
                                    "type": "string",
                                    "description": "User status",
                                    "enum": ["active", "inactive", "pending"],
                                    "default": "active"
                                },
                                "verified": {"type": "boolean", "description": "Verification status", "default": true}
                            },
                            "required": []
                        }
                    }),
                )
                .await
            },
        ))
        // elicitation-sep1330-enums: the five enum shapes.
        .tool(Tool::new(
            "test_elicitation_sep1330_enums",
            "Elicitation with every enum schema shape (SEP-1330).",
            no_args(),
            |ctx, _args| async move {
                elicit(
                    &ctx,
                    "Elicitation completed",
                    json!({
                        "message": "Please pick some options.",
                        "requestedSchema": {
                            "type": "object",
                            "properties": {
                                "untitledSingle": {
                                    "type": "string",
                                    "enum": ["option1", "option2", "option3"]
                                },
                                "titledSingle": {
                                    "type": "string",
                                    "oneOf": [
                                        {"const": "value1", "title": "First Option"},
                                        {"const": "value2", "title": "Second Option"},
                                        {"const": "value3", "title": "Third Option"}
                                    ]
                                },
                                "legacyEnum": {
                                    "type": "string",
                                    "enum": ["opt1", "opt2", "opt3"],
                                    "enumNames": ["Option One", "Option Two", "Option Three"]
                                },
                                "untitledMulti": {
                                    "type": "array",
                                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                                },
                                "titledMulti": {
                                    "type": "array",
                                    "items": {"anyOf": [
                                        {"const": "value1", "title": "First Choice"},
                                        {"const": "value2", "title": "Second Choice"},
                                        {"const": "value3", "title": "Third Choice"}
                                    ]}
                                }
                            },
                            "required": []
                        }
                    }),
                )
                .await
            },
        ))
        // server-sse-polling. The scenario wants the tool to end its POST
        // stream's connection before answering, so the client resumes with
        // GET + Last-Event-ID (T-PSSE-2..4). The core has no operation for a
        // handler to end its stream's connection yet (see the Conformance
        // section of docs/compliance.md), so the answer comes on the POST
        // stream after the pause, which the suite reports as INFO.
        .tool(Tool::new(
            "test_reconnection",
            "Ends its connection (SSE polling), then answers after a pause.",
            no_args(),
            |ctx, _args| async move {
                // T-PSSE-2: close the POST stream's connection; the client
                // resumes with GET + Last-Event-ID and gets the answer there.
                // Where polling is impossible (before 2025-11-25, JSON mode)
                // the answer simply stays on the POST stream.
                if let Err(e) = ctx.end_connection().await {
                    tracing::debug!("test_reconnection answers on its stream: {e}");
                }
                if !pause(&ctx, 100).await {
                    return Ok(ToolResult::error("cancelled"));
                }
                Ok(ToolResult::text("Reconnection test completed successfully"))
            },
        ))
        // Interop checks (Python SDK client, Inspector CLI): arguments in,
        // structured result out.
        .tool(
            Tool::new(
                "add",
                "Add two numbers.",
                json!({"type": "object", "properties": {
                    "a": {"type": "number"}, "b": {"type": "number"}
                }, "required": ["a", "b"]}),
                |_ctx, args| async move {
                    let sum = args["a"].as_f64().unwrap_or(0.0) + args["b"].as_f64().unwrap_or(0.0);
                    let sum = if sum.fract() == 0.0 && sum.abs() < 9.0e15 {
                        json!(sum as i64)
                    } else {
                        json!(sum)
                    };
                    Ok(ToolResult::json(json!({"sum": sum})))
                },
            )
            .output_schema(json!({"type": "object", "properties": {"sum": {"type": "number"}}, "required": ["sum"]})),
        )
}

/// Send `elicitation/create` and report the answer as text: `{label}:
/// action=…, content=…`. A client without the capability gets a tool error.
async fn elicit(
    ctx: &RequestContext,
    label: &str,
    params: Value,
) -> Result<ToolResult, ErrorObject> {
    if !ctx.session().data().client_supports("elicitation") {
        return Ok(ToolResult::error("The client does not support elicitation"));
    }
    Ok(match ctx.elicit(params).await {
        Ok(r) => {
            let r = r.to_value();
            let action = r["action"].as_str().unwrap_or("unknown");
            let content = r.get("content").cloned().unwrap_or_else(|| json!({}));
            ToolResult::text(format!("{label}: action={action}, content={content}"))
        }
        Err(e) => ToolResult::error(format!("Elicitation failed: {e}")),
    })
}

fn resources(server: McpServer) -> McpServer {
    server
        .resource(
            Resource::text(
                "test://static-text",
                "static-text",
                "text/plain",
                "This is the content of the static text resource.",
            )
            .description("A static text resource"),
        )
        .resource(
            Resource::blob("test://static-binary", "static-binary", "image/png", PNG_1X1)
                .description("A static binary resource (a 1x1 PNG)"),
        )
        .resource(
            Resource::text(
                "test://watched-resource",
                "watched-resource",
                "text/plain",
                "This resource can be subscribed to.",
            )
            .description("A resource for subscribe and unsubscribe"),
        )
        .resource_template(
            ResourceTemplate::new(
                "test://template/{id}/data",
                "template-data",
                "application/json",
                |_ctx, uri, vars| async move {
                    let id = vars.get("id").cloned().unwrap_or_default();
                    let body = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                    Ok(vec![json!({"uri": uri, "mimeType": "application/json", "text": body.to_string()})])
                },
            )
            .description("Data for any id (parameter substitution)"),
        )
}

fn prompts(server: McpServer) -> McpServer {
    server
        .prompt(Prompt::new(
            "test_simple_prompt",
            "A prompt without arguments",
            json!([]),
            |_ctx, _args| async move {
                Ok(vec![json!({"role": "user", "content": text("This is a simple prompt for testing.")})])
            },
        ))
        .prompt(Prompt::new(
            "test_prompt_with_arguments",
            "A prompt with two required arguments",
            json!([
                {"name": "arg1", "description": "First test argument", "required": true},
                {"name": "arg2", "description": "Second test argument", "required": true}
            ]),
            |_ctx, args| async move {
                let arg = |n: &str| args.get(n).and_then(Value::as_str).unwrap_or_default().to_owned();
                let t = format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    arg("arg1"),
                    arg("arg2")
                );
                Ok(vec![json!({"role": "user", "content": text(&t)})])
            },
        ))
        .prompt(Prompt::new(
            "test_prompt_with_embedded_resource",
            "A prompt embedding the resource it is given",
            json!([{"name": "resourceUri", "description": "URI of the resource to embed", "required": true}]),
            |_ctx, args: Map<String, Value>| async move {
                let uri = args.get("resourceUri").and_then(Value::as_str).unwrap_or_default();
                Ok(vec![
                    json!({"role": "user", "content": {"type": "resource", "resource": {
                        "uri": uri,
                        "mimeType": "text/plain",
                        "text": "Embedded resource content for testing."
                    }}}),
                    json!({"role": "user", "content": text("Please process the embedded resource above.")}),
                ])
            },
        ))
        .prompt(Prompt::new(
            "test_prompt_with_image",
            "A prompt with an image",
            json!([]),
            |_ctx, _args| async move {
                Ok(vec![
                    json!({"role": "user", "content": image()}),
                    json!({"role": "user", "content": text("Please analyze the image above.")}),
                ])
            },
        ))
}

/// `completion/complete`: candidates for the prompt's and the template's
/// arguments that start with what the user typed (case-insensitive).
fn complete(params: &Value) -> Vec<String> {
    let reference = &params["ref"];
    let key = match reference["type"].as_str() {
        Some("ref/prompt") => reference["name"].as_str(),
        Some("ref/resource") => reference["uri"].as_str(),
        _ => None,
    };
    let candidates: &[&str] = match (key, params["argument"]["name"].as_str()) {
        (Some("test_prompt_with_arguments"), Some("arg1")) => {
            &["paris", "park", "party", "test", "testing"]
        }
        (Some("test_prompt_with_arguments"), Some("arg2")) => &["world", "wonder", "work"],
        (Some("test://template/{id}/data"), Some("id")) => &["1", "2", "3", "123"],
        _ => &[],
    };
    let typed = params["argument"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    candidates
        .iter()
        .filter(|c| c.starts_with(&typed))
        .map(|c| (*c).to_owned())
        .collect()
}

/// A 0.1 s, 440 Hz, 8 kHz, 8-bit mono WAV.
fn wav_tone() -> Vec<u8> {
    const RATE: u32 = 8000;
    let samples: Vec<u8> = (0..RATE / 10)
        .map(|n| {
            let t = f64::from(n) / f64::from(RATE);
            (128.0 + 100.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as u8
        })
        .collect();
    let len = samples.len() as u32;
    let mut w = Vec::with_capacity(44 + samples.len());
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&RATE.to_le_bytes());
    w.extend_from_slice(&RATE.to_le_bytes()); // bytes per second
    w.extend_from_slice(&1u16.to_le_bytes()); // block align
    w.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&len.to_le_bytes());
    w.extend_from_slice(&samples);
    w
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    streamable_hyper::streamable_core::mirror::base64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn wav_header_is_consistent() {
        let w = wav_tone();
        assert_eq!(&w[..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(w[4..8].try_into().unwrap()) as usize,
            w.len() - 8
        );
        assert_eq!(
            u32::from_le_bytes(w[40..44].try_into().unwrap()) as usize,
            w.len() - 44
        );
    }

    #[test]
    fn completion_filters_by_prefix() {
        let p = json!({"ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
                       "argument": {"name": "arg1", "value": "PA"}});
        assert_eq!(complete(&p), ["paris", "park", "party"]);
        let p = json!({"ref": {"type": "ref/resource", "uri": "test://template/{id}/data"},
                       "argument": {"name": "id", "value": "12"}});
        assert_eq!(complete(&p), ["123"]);
        let p = json!({"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "x", "value": ""}});
        assert!(complete(&p).is_empty());
    }
}
