//! An MCP server on http://127.0.0.1:8000/mcp.
//!
//! ```sh
//! cargo run --release --example server            # 127.0.0.1:8000
//! cargo run --release --example server -- --bind 127.0.0.1:9000
//! ```
//!
//! Tools: `echo` (text back), `countdown` (`n` progress notifications spaced
//! by `interval_ms`, then a result), `ask_llm` (asks the client's model via
//! `sampling/createMessage`). Set `RUST_LOG=streamable_hyper=debug` for logs.

mod common;

use common::app;
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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().unwrap_or(bind),
            other => {
                eprintln!("unknown argument {other:?}; usage: server [--bind ADDR:PORT]");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("MCP server on http://{}/mcp", listener.local_addr()?);
    let service = McpService::builder().path("/mcp").build(app());
    serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
