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
//!
//! With `--interop` it runs the fixed script of `scripts/client-interop.sh`
//! against the fixture servers in `scripts/interop/` (TypeScript and Python
//! SDKs): initialize, tools/list, `add`, `countdown` with progress, `ask`
//! (a sampling request answered on a new POST while the call waits) and
//! `drop_and_finish` (the server closes the call's stream; the client resumes
//! with GET + Last-Event-ID), checking every answer.
//!
//! With `--interop-v2 legacy|auto|modern` it runs the script of
//! `scripts/interop-v2.sh` against the TypeScript SDK v2 fixture server
//! (`scripts/interop-v2/ts2-server.mjs`): the era asked for, tools/list,
//! `add`, `countdown` with progress and, at 2026-07-28, `confirm` (a
//! multi-round-trip elicitation: the server answers with an
//! `InputRequiredResult`, the client's elicitation handler answers it and the
//! call is retried with the `requestState`), checking every answer.

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
            Ok(
                json!({"role": "assistant", "model": "streamable-conformance-client",
                "content": {"type": "text", "text": "ok"}}),
            )
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

fn check(step: &str, ok: bool, detail: &Value) -> Result<(), String> {
    println!("{}", json!({"step": step, "ok": ok, "detail": detail}));
    if ok {
        Ok(())
    } else {
        Err(format!("{step}: unexpected {detail}"))
    }
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or("")
}

/// The interop script (see the module documentation).
async fn interop(url: &str) -> Result<(), String> {
    let client = Client::builder(url)
        .client_info("streamable-interop", env!("CARGO_PKG_VERSION"))
        .timeout(Some(Duration::from_secs(20)))
        .on_sampling(|_params| async move {
            Ok(json!({"role": "assistant", "model": "m", "content": {"type": "text", "text": "42"}}))
        })
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let info = client.server_info().clone();
    check(
        "initialize",
        client.protocol_version().as_str() == "2025-11-25",
        &info["serverInfo"],
    )?;
    let tools = client.list_tools().await.map_err(|e| e.to_string())?;
    let mut names: Vec<&str> = tools["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    check(
        "tools/list",
        names == ["add", "ask", "countdown", "drop_and_finish"],
        &json!(names),
    )?;
    let r = client
        .call_tool("add", json!({"a": 2, "b": 40}))
        .await
        .map_err(|e| format!("add: {e}"))?;
    check("tools/call add", text(&r).starts_with("42"), &r)?;
    let mut seen = Vec::new();
    let r = client
        .call_tool_with_progress("countdown", json!({"n": 5}), |p| seen.push(p.progress))
        .await
        .map_err(|e| format!("countdown: {e}"))?;
    check(
        "tools/call countdown with progress",
        text(&r) == "countdown of 5 done" && seen == [1.0, 2.0, 3.0, 4.0, 5.0],
        &json!({"result": r, "progress": seen}),
    )?;
    let r = client
        .call_tool("ask", json!({"question": "the answer?"}))
        .await
        .map_err(|e| format!("ask: {e}"))?;
    check("server-to-client sampling", text(&r) == "sampled: 42", &r)?;
    let mut seen = Vec::new();
    let r = client
        .call_tool_with_progress("drop_and_finish", json!({"n": 4}), |p| {
            seen.push(p.progress)
        })
        .await
        .map_err(|e| format!("drop_and_finish: {e}"))?;
    check(
        "resume after a dropped stream",
        text(&r) == "resumed after drop" && seen == [1.0, 2.0, 3.0, 4.0],
        &json!({"result": r, "progress": seen}),
    )?;
    client.close().await;
    Ok(())
}

/// The TypeScript SDK v2 interop script (see the module documentation).
async fn interop_v2(url: &str, era: &str) -> Result<(), String> {
    use streamable_core::client::EraPreference;
    let preference = match era {
        "legacy" => EraPreference::Legacy,
        "modern" => EraPreference::Modern,
        "auto" => EraPreference::Auto,
        other => return Err(format!("unknown era {other:?} (legacy, auto or modern)")),
    };
    let modern = era != "legacy";
    let client = Client::builder(url)
        .client_info("streamable-interop-v2", env!("CARGO_PKG_VERSION"))
        .timeout(Some(Duration::from_secs(20)))
        .era(preference)
        .on_elicitation(|params| async move {
            let asked = params["message"].as_str().unwrap_or_default().to_owned();
            Ok(json!({"action": "accept", "content": {"confirm": asked.starts_with("Really")}}))
        })
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let version = client.protocol_version();
    check(
        "era",
        (version.as_str() == "2026-07-28") == modern,
        &json!({"version": version.as_str()}),
    )?;
    let tools = client.list_tools().await.map_err(|e| e.to_string())?;
    let mut names: Vec<&str> = tools["tools"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    names.sort_unstable();
    check(
        "tools/list",
        names == ["add", "confirm", "countdown"],
        &json!(names),
    )?;
    let r = client
        .call_tool("add", json!({"a": 2, "b": 40}))
        .await
        .map_err(|e| format!("add: {e}"))?;
    check(
        "tools/call add",
        r["structuredContent"]["sum"] == json!(42),
        &r,
    )?;
    let mut seen = Vec::new();
    let r = client
        .call_tool_with_progress("countdown", json!({"n": 3}), |p| seen.push(p.progress))
        .await
        .map_err(|e| format!("countdown: {e}"))?;
    check(
        "tools/call countdown with progress",
        text(&r) == "countdown of 3 done" && seen == [1.0, 2.0, 3.0],
        &json!({"result": r, "progress": seen}),
    )?;
    if modern {
        let r = client
            .call_tool("confirm", json!({"action": "deploy"}))
            .await
            .map_err(|e| format!("confirm: {e}"))?;
        check(
            "multi-round-trip elicitation",
            text(&r) == "deploy: confirmed",
            &r,
        )?;
    }
    client.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
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
    let args: Vec<String> = std::env::args().collect();
    let outcome = if let Some(i) = args.iter().position(|a| a == "--interop-v2") {
        match args.get(i + 1) {
            Some(era) => interop_v2(&url, era).await,
            None => Err("--interop-v2 needs an era: legacy, auto or modern".into()),
        }
    } else if args.iter().any(|a| a == "--interop") {
        interop(&url).await
    } else {
        run(&url, &scenario).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[{scenario}] failed: {e}");
            ExitCode::FAILURE
        }
    }
}
