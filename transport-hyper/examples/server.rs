//! An MCP server on http://127.0.0.1:8000/mcp.
//!
//! ```sh
//! cargo run --release --example server            # 127.0.0.1:8000
//! cargo run --release --example server -- --bind 127.0.0.1:9000
//! cargo run --release --example server -- --response-mode json --max-sessions 200000
//! ```
//!
//! Tools: `echo` (text back), `countdown` (`n` progress notifications spaced
//! by `interval_ms`, then a result), `ask_llm` (asks the client's model via
//! `sampling/createMessage`). Set `RUST_LOG=streamable_hyper=debug` for logs.

mod common;

use common::app;
use streamable_hyper::streamable_core::{Config, ResponseMode};
use streamable_hyper::{McpService, serve};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "streamable_hyper=info".into()),
        )
        .init();
    let mut bind = String::from("127.0.0.1:8000");
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    let usage =
        "usage: server [--bind ADDR:PORT] [--response-mode auto|json|sse] [--max-sessions N]";
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--bind", Some(v)) => bind = v,
            ("--response-mode", Some(v)) => {
                config.response_mode = match v.as_str() {
                    "auto" => ResponseMode::Auto,
                    "json" => ResponseMode::Json,
                    "sse" => ResponseMode::Sse,
                    _ => {
                        eprintln!("unknown response mode {v:?}; {usage}");
                        std::process::exit(2);
                    }
                }
            }
            ("--max-sessions", Some(v)) => match v.parse() {
                Ok(n) => config.max_sessions = n,
                Err(_) => {
                    eprintln!("--max-sessions {v:?}: not a number; {usage}");
                    std::process::exit(2);
                }
            },
            (other, _) => {
                eprintln!("unknown argument {other:?} (or a missing value); {usage}");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("MCP server on http://{}/mcp", listener.local_addr()?);
    let service = McpService::builder()
        .path("/mcp")
        .config(config)
        .build(app());
    serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
