//! The fixture's tools for the 2026-07-28 server scenarios of the suite
//! (0.2.0-alpha.12): the diagnostic tools `server-stateless` calls by name,
//! the `x-mcp-header` tool of `http-custom-header-server-validation`, and
//! the full JSON Schema 2020-12 tool of `json-schema-2020-12` (SEP-2106).
//! Each is built with the library's ordinary API, as a user would.

use serde_json::json;
use streamable_hyper::{LogLevel, McpServer, Tool, ToolResult};

/// Register every tool of this file.
pub(crate) fn register(server: McpServer) -> McpServer {
    server
        .tool(json_schema_2020_12())
        .tool(missing_capability())
        .tool(streaming_elicitation())
        .tool(logging())
        .tool(custom_header())
}

/// json-schema-2020-12: the scenario's schema, published exactly as given
/// (`$schema`, `$defs` with an `$anchor`, `$ref`, `allOf`/`anyOf`,
/// `if`/`then`/`else`, `additionalProperties`) and enforced by the
/// registry's 2020-12 validator.
fn json_schema_2020_12() -> Tool {
    Tool::new(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": {
                        "street": {"type": "string"},
                        "city": {"type": "string"}
                    }
                }
            },
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"}
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {
                "properties": {"contactMethod": {"const": "phone"}},
                "required": ["contactMethod"]
            },
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": false
        }),
        |_ctx, args| async move { Ok(ToolResult::json(args)) },
    )
}

/// server-stateless: needs `sampling`; a 2026-07-28 call without it in
/// `_meta` is refused with -32021 by the registry before this runs.
fn missing_capability() -> Tool {
    Tool::new(
        "test_missing_capability",
        "Needs the client's sampling capability (answers -32021 without it).",
        json!({"type": "object", "properties": {}}),
        |_ctx, _args| async move {
            Ok(ToolResult::text(
                "The client declared sampling; nothing else to do.",
            ))
        },
    )
    .requires_client_capability("sampling")
}

/// server-stateless: a tool that elicits. At 2026-07-28 the server sends no
/// request on the response stream (H-SSE-2): the context refuses, and the
/// tool reports that as its result (multi round-trip requests, when the
/// library has them, answer with an `InputRequiredResult` instead).
fn streaming_elicitation() -> Tool {
    Tool::new(
        "test_streaming_elicitation",
        "Asks the user for a name (elicitation).",
        json!({"type": "object", "properties": {}}),
        |ctx, _args| async move {
            let asked = ctx
                .elicit(json!({
                    "message": "What is your name?",
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"]
                    }
                }))
                .await;
            Ok(match asked {
                Ok(r) => ToolResult::text(format!("Elicitation result: {}", r.as_str())),
                Err(e) => ToolResult::error(format!("Elicitation not possible here: {e}")),
            })
        },
    )
    .requires_client_capability("elicitation")
}

/// server-stateless: logs three messages; at 2026-07-28 they reach the
/// client only when the request's `_meta` asks for a log level.
fn logging() -> Tool {
    Tool::new(
        "test_logging_tool",
        "Sends log messages at info, warning and error.",
        json!({"type": "object", "properties": {}}),
        |ctx, _args| async move {
            for (level, text) in [
                (LogLevel::Info, "logging tool started"),
                (LogLevel::Warning, "logging tool half way"),
                (LogLevel::Error, "logging tool done (not a real error)"),
            ] {
                if let Err(e) = ctx.log(level, Some("conformance"), json!(text)).await {
                    return Ok(ToolResult::error(format!("log message not sent: {e}")));
                }
            }
            Ok(ToolResult::text("Logging tool executed"))
        },
    )
}

/// http-custom-header-server-validation: `region` is mirrored into the
/// `Mcp-Param-Region` header (SEP-2243), which the core checks against the
/// body before the tool runs (HDRX-1).
fn custom_header() -> Tool {
    Tool::new(
        "test_custom_header",
        "Echoes its region, which clients mirror in the Mcp-Param-Region header.",
        json!({
            "type": "object",
            "properties": {
                "region": {
                    "type": "string",
                    "description": "Where to run",
                    "x-mcp-header": "Region"
                },
                "query": {"type": "string"}
            },
            "required": ["region"]
        }),
        |_ctx, args| async move {
            let region = args["region"].as_str().unwrap_or_default();
            Ok(ToolResult::text(format!("region={region}")))
        },
    )
}
