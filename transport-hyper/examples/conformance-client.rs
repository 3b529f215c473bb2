//! The client under test for the MCP conformance suite's client scenarios
//! (`scripts/conformance-client.sh`), and a small command-line MCP client.
//!
//! ```sh
//! cargo build --release --example conformance-client
//! MCP_CONFORMANCE_SCENARIO=tools_call target/release/examples/conformance-client http://127.0.0.1:8000/mcp
//! ```
//!
//! The URL is the last argument (the suite appends it); the suite names
//! the scenario, its protocol revision and its context in
//! `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_PROTOCOL_VERSION` and
//! `MCP_CONFORMANCE_CONTEXT`. Whatever the scenario, the client connects
//! (`initialize`; at 2026-07-28 the `server/discover` probe), lists the
//! tools, calls each one (with the arguments the context names for it, the
//! echo tool of the schema preservation scenario with the focal tool's
//! input schema verbatim, else arguments made from its input schema:
//! numbers 1 and 2, strings "hello", booleans true) while the standalone GET
//! stream is open (legacy), reads the first resource and gets the first
//! prompt when the server offers them, prints every result as one JSON line
//! on stdout, and closes the session (DELETE). Elicitation requests (legacy
//! server requests and 2026-07-28 input requests alike) are accepted with
//! the defaults the requested schema declares (SEP-1034); sampling requests
//! get a fixed assistant message; at 2026-07-28 `roots/list` gets no roots.
//! Exit status: 0 on success (a JSON-RPC error from the server is printed,
//! not fatal), 1 when the client fails a step, 2 on bad usage.
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
use streamable_hyper::client::{Client, Error};
use streamable_hyper::streamable_core::client::EraPreference;

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

/// What the suite tells the client (`MCP_CONFORMANCE_*` environment):
/// the scenario, the protocol revision it runs at, and its context (for
/// some scenarios the tool calls to make, with their arguments).
struct Suite {
    scenario: String,
    modern: bool,
    context: Value,
}

impl Suite {
    fn from_env() -> Suite {
        let var = |name: &str| std::env::var(name).ok();
        Suite {
            scenario: var("MCP_CONFORMANCE_SCENARIO").unwrap_or_else(|| "manual".into()),
            modern: var("MCP_CONFORMANCE_PROTOCOL_VERSION").as_deref() == Some("2026-07-28"),
            context: var("MCP_CONFORMANCE_CONTEXT")
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or(Value::Null),
        }
    }

    /// The arguments the scenario's context names for `tool`, if any.
    fn arguments_of(&self, tool: &str) -> Option<Value> {
        self.context["toolCalls"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == tool)
            .map(|c| c["arguments"].clone())
    }
}

/// The schema preservation scenarios: the echo tool gets, verbatim, the
/// input schema the client received for the focal tool.
fn echo_arguments(tool: &str, tools: &[Value]) -> Option<Value> {
    if tool != "json_schema_echo" {
        return None;
    }
    let focal = tools
        .iter()
        .find(|t| t["name"] == "json_schema_2020_12_tool")?;
    Some(json!({"schema": focal["inputSchema"]}))
}

async fn run(url: &str, suite: &Suite) -> Result<(), String> {
    let scenario = suite.scenario.as_str();
    let mut builder = Client::builder(url)
        .client_info("streamable-conformance-client", env!("CARGO_PKG_VERSION"))
        .timeout(Some(Duration::from_secs(20)))
        // Server requests that are not tied to a call arrive here (the TS
        // SDK's `server.request` uses it).
        .standalone_stream(true)
        // Legacy server requests and 2026-07-28 input requests alike.
        .on_elicitation(|params| async move { Ok(accept_with_defaults(&params)) })
        .on_sampling(|_params| async move {
            Ok(
                json!({"role": "assistant", "model": "streamable-conformance-client",
                "content": {"type": "text", "text": "ok"}}),
            )
        });
    if suite.modern {
        // 2026-07-28: probe with server/discover (H-BC-1) and answer
        // roots/list input requests too.
        builder = builder
            .era(EraPreference::Auto)
            .on_roots(|_params| async move { Ok(json!({"roots": []})) });
    }
    let client = builder
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    eprintln!(
        "[{scenario}] connected: {} ({})",
        client.protocol_version(),
        client.server_info()["serverInfo"]["name"]
    );
    let capabilities = client.server_info()["capabilities"].clone();
    let tools = client
        .list_tools()
        .await
        .map_err(|e| format!("tools/list: {e}"))?;
    let tools = tools["tools"].as_array().cloned().unwrap_or_default();
    let mut failed = None;
    // A JSON-RPC error is the server's answer, reported but not fatal (a
    // scenario may serve a tool it does not implement); a failure of the
    // client (transport, protocol, an input round) is.
    let mut fail = |what: String, e: &Error| {
        eprintln!("[{scenario}] {what}: {e}");
        if !matches!(e, Error::Rpc(_)) {
            failed = Some(format!("{what}: {e}"));
        }
    };
    for tool in &tools {
        let name = tool["name"].as_str().unwrap_or_default();
        let args = suite
            .arguments_of(name)
            .or_else(|| echo_arguments(name, &tools))
            .unwrap_or_else(|| arguments_for(&tool["inputSchema"]));
        match client.call_tool(name, args).await {
            Ok(result) => println!("{}", json!({"tool": name, "result": result})),
            Err(e) => fail(format!("tools/call {name}"), &e),
        }
    }
    // Resources and prompts when the server offers them: the first of each
    // is read or got (their `Mcp-Name` headers are what some scenarios check).
    if capabilities.get("resources").is_some() {
        match client.request("resources/list", json!({})).await {
            Ok(list) => {
                if let Some(uri) = list["resources"][0]["uri"].as_str() {
                    match client.request("resources/read", json!({"uri": uri})).await {
                        Ok(r) => println!("{}", json!({"resource": uri, "result": r})),
                        Err(e) => fail(format!("resources/read {uri}"), &e),
                    }
                }
            }
            Err(e) => fail("resources/list".to_owned(), &e),
        }
    }
    if capabilities.get("prompts").is_some() {
        match client.request("prompts/list", json!({})).await {
            Ok(list) => {
                if let Some(prompt) = list["prompts"].get(0) {
                    let name = prompt["name"].as_str().unwrap_or_default();
                    let mut args = Map::new();
                    for a in prompt["arguments"].as_array().into_iter().flatten() {
                        if let Some(a) = a["name"].as_str() {
                            args.insert(a.to_owned(), json!("hello"));
                        }
                    }
                    let params = json!({"name": name, "arguments": args});
                    match client.request("prompts/get", params).await {
                        Ok(r) => println!("{}", json!({"prompt": name, "result": r})),
                        Err(e) => fail(format!("prompts/get {name}"), &e),
                    }
                }
            }
            Err(e) => fail("prompts/list".to_owned(), &e),
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
    let suite = Suite::from_env();
    let scenario = suite.scenario.clone();
    let args: Vec<String> = std::env::args().collect();
    let outcome = if let Some(i) = args.iter().position(|a| a == "--interop-v2") {
        match args.get(i + 1) {
            Some(era) => interop_v2(&url, era).await,
            None => Err("--interop-v2 needs an era: legacy, auto or modern".into()),
        }
    } else if args.iter().any(|a| a == "--interop") {
        interop(&url).await
    } else {
        run(&url, &suite).await
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[{scenario}] failed: {e}");
            ExitCode::FAILURE
        }
    }
}
