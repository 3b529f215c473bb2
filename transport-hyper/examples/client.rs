//! The client: connect, list the tools, call one with progress.
//!
//! ```sh
//! cargo run --example typed &                # or: cargo run --release --example server
//! cargo run --example client -- http://127.0.0.1:8002/mcp countdown '{"n": 3}'
//! ```

use serde_json::{Value, json};
use streamable_hyper::client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8002/mcp".into());
    let tool = args.next().unwrap_or_else(|| "countdown".into());
    let arguments: Value = match args.next() {
        Some(a) => serde_json::from_str(&a)?,
        None => json!({"n": 3}),
    };
    // Speaks 2026-07-28 if the server does, else opens a legacy session.
    let client = Client::connect(&url).await?;
    println!("connected ({:?}) to {}", client.era(), client.server_info());
    let tools = client.list_tools().await?;
    for t in tools["tools"].as_array().into_iter().flatten() {
        println!("tool {}: {}", t["name"], t["description"]);
    }
    let result = client
        .call_tool_with_progress(&tool, arguments, |p| {
            println!(
                "progress {}/{:?} {}",
                p.progress,
                p.total,
                p.message.unwrap_or_default()
            );
        })
        .await?;
    println!("result {result}");
    client.close().await;
    Ok(())
}
