//! A server with typed tools: arguments are Rust types (schemas derived),
//! output is typed (`structuredContent` + `outputSchema`), progress through
//! the request context. Mounted in axum at `/mcp`, next to `/health`, with
//! a graceful shutdown that ends open streams (Ctrl-C).
//!
//! ```sh
//! cargo run --example typed                  # http://127.0.0.1:8002/mcp
//! cargo run --example client -- http://127.0.0.1:8002/mcp
//! ```

use std::time::Duration;

use axum::{Router, routing::get};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use streamable_hyper::{Json, McpServer, McpService, Tool, ToolError};

#[derive(Deserialize, JsonSchema)]
struct Divide {
    /// The dividend.
    a: i64,
    /// The divisor (not zero).
    b: i64,
}

#[derive(Serialize, JsonSchema)]
struct Quotient {
    quotient: i64,
    remainder: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Countdown {
    /// How many steps.
    n: u32,
}

fn app() -> McpServer {
    McpServer::new("typed-example", "1")
        .tool(Tool::typed(
            "divide",
            "Integer division",
            |_ctx, Divide { a, b }| async move {
                if b == 0 {
                    return Err(ToolError::tool("the divisor is zero"));
                }
                Ok(Json(Quotient {
                    quotient: a / b,
                    remainder: a % b,
                }))
            },
        ))
        .tool(Tool::typed(
            "countdown",
            "Count down with progress",
            |ctx, Countdown { n }| async move {
                for k in 1..=n {
                    ctx.progress(
                        f64::from(k),
                        Some(f64::from(n)),
                        Some(&format!("{} left", n - k)),
                    )
                    .await?;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok("liftoff")
            },
        ))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "streamable_hyper=info".into()),
        )
        .init();
    let mcp = McpService::new(app());
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8002").await?;
    eprintln!("MCP at http://{}/mcp", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(mcp.graceful(ctrl_c))
        .await
}
