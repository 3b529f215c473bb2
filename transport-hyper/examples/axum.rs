//! The MCP endpoint mounted in an axum app next to other routes.
//!
//! ```sh
//! cargo run --example axum                 # http://127.0.0.1:8001/mcp
//! curl http://127.0.0.1:8001/health
//! ```

mod common;

use axum::{Router, routing::get};
use streamable_hyper::McpService;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "streamable_hyper=info".into()),
        )
        .init();
    let bind = std::env::args()
        .skip_while(|a| a != "--bind")
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".into());
    // The driver starts lazily on the first MCP request; no readiness wait.
    let mcp = McpService::new(common::app());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp.clone());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!(
        "axum app on http://{}/ (MCP at /mcp)",
        listener.local_addr()?
    );
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // `graceful` also ends open SSE streams, so axum's graceful shutdown
    // can finish.
    axum::serve(listener, app)
        .with_graceful_shutdown(mcp.graceful(ctrl_c))
        .await
}
