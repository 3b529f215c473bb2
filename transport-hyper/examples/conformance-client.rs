//! The client under test for the MCP conformance suite's client scenarios
//! (`scripts/conformance-client.sh`), and a small command-line MCP client.
//!
//! ```sh
//! cargo build --release --example conformance-client
//! MCP_CONFORMANCE_SCENARIO=tools_call target/release/examples/conformance-client http://127.0.0.1:8000/mcp
//! ```
//!
//! The URL is the last argument (the suite appends it). Whatever the
//! scenario, the client connects (`initialize`), lists the tools, calls each
//! one with arguments made from its input schema (numbers 1 and 2, strings
//! "hello", booleans true) while the standalone GET stream is open, prints every result as one JSON line on stdout,
//! and closes the session (DELETE). Elicitation requests are accepted with
//! the defaults the requested schema declares (SEP-1034); sampling requests
//! get a fixed assistant message. Exit status: 0 on success, 1 when a step
//! fails, 2 on bad usage.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value, json};
use streamable_hyper::client::Client;

/// Arguments for a tool from its input schema: every property gets a
/// placeholder of its type (the first numeric property 1, the next 2, ...).
fn arguments_for(schema: &Value) -> Value {
    let mut out = Map::new();
    let mut n = 0;
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let value = match prop.get("type").and_then(Value::as_str) {
                Some("number") | Some("integer") => {
                    n += 1;
                    json!(n)
                }
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => json!({}),
                _ => json!("hello"),
            };
            out.insert(name.clone(), value);
        }
    }
    Value::Object(out)
}

/// SEP-1034: accept an elicitation with the defaults of its schema.
fn accept_with_defaults(params: &Value) -> Value {
    let mut content = Map::new();
    if let Some(props) = params["requestedSchema"]["properties"].as_object() {
        for (name, prop) in props {
            if let Some(default) = prop.get("default") {
                content.insert(name.clone(), default.clone());
            }
        }
    }
    json!({"action": "accept", "content": content})
}

async fn run(url: &str, scenario: &str) -> Result<(), String> {
    let client = Client::builder(url)
        .client_info("streamable-conformance-client", env!("CARGO_PKG_VERSION"))
        .timeout(Some(Duration::from_secs(20)))
        // Server requests that are not tied to a call arrive here (the TS
        // SDK's `server.request` uses it).
        .standalone_stream(true)
        .on_elicitation(|params| async move { Ok(accept_with_defaults(&params)) })
        .on_sampling(|_params| async move {
            Ok(json!({"role": "assistant", "model": "streamable-conformance-client",
                "content": {"type": "text", "text": "ok"}}))
        })
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    eprintln!(
        "[{scenario}] connected: {} ({})",
        client.protocol_version(),
        client.server_info()["serverInfo"]["name"]
    );
    let tools = client
        .list_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    let tools = tools["tools"].as_array().cloned().unwrap_or_default();
    let mut failed = None;
    for tool in &tools {
        let name = tool["name"].as_str().unwrap_or_default();
        let args = arguments_for(&tool["inputSchema"]);
        match client.call_tool(name, args).await {
            Ok(result) => println!("{}", json!({"tool": name, "result": result})),
            Err(e) => {
                eprintln!("[{scenario}] tools/call {name}: {e}");
                failed = Some(format!("tools/call {name}: {e}"));
            }
        }
    }
    client.close().await;
    failed.map_or(Ok(()), Err)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "streamable_hyper=warn".into()),
        )
        .init();
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("usage: conformance-client URL   (scenario in MCP_CONFORMANCE_SCENARIO)");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_else(|_| "manual".into());
    match run(&url, &scenario).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[{scenario}] failed: {e}");
            ExitCode::FAILURE
        }
    }
}
