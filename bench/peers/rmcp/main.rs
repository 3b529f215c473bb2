//! rmcp's Streamable HTTP server with the benchmark's two tools, default config.
use std::time::Duration;

use rmcp::{
    ErrorData, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        ProgressNotificationParam, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};

#[derive(Clone)]
struct Bench;

impl ServerHandler for Bench {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<rmcp::RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        match &*request.name {
            "echo" => {
                let text = args.get("text").and_then(|v| v.as_str()).unwrap_or("");
                Ok(CallToolResult::success(vec![ContentBlock::text(text.to_owned())]).into())
            }
            "countdown" => {
                let n = args.get("n").and_then(|v| v.as_u64()).unwrap_or(5);
                let ms = args.get("interval_ms").and_then(|v| v.as_u64()).unwrap_or(1000);
                let stamp = args.get("stamp").and_then(|v| v.as_bool()) == Some(true);
                let token = context.meta.get_progress_token();
                for i in 1..=n {
                    if i > 1 {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                    if let Some(t) = &token {
                        let _ = context
                            .peer
                            .notify_progress(
                                ProgressNotificationParam::new(t.clone(), i as f64)
                                    .with_total(n as f64)
                                    .with_message(message(n - i, stamp)),
                            )
                            .await;
                    }
                }
                Ok(CallToolResult::success(vec![ContentBlock::text(format!("countdown of {n} done"))]).into())
            }
            _ => Err(ErrorData::invalid_params("unknown tool", None)),
        }
    }
}

/// The progress message; with `stamp`, the emit time (µs since the epoch) for
/// the benchmark's delivery delay.
fn message(left: u64, stamp: bool) -> String {
    if !stamp {
        return format!("{left} left");
    }
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{left} left @{us}")
}

#[tokio::main]
async fn main() {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8001".into());
    let service: StreamableHttpService<Bench, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Bench),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(&bind).await.unwrap();
    eprintln!("rmcp server on http://{}/mcp", listener.local_addr().unwrap());
    // TCP_NODELAY as every server in the comparison (without it small SSE
    // writes wait for delayed ACKs: ~40 ms per round trip).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await.unwrap();
}
