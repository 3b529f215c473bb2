//! An MCP server on http://127.0.0.1:8000/mcp.
//!
//! ```sh
//! cargo run --release --example server            # 127.0.0.1:8000
//! cargo run --release --example server -- --bind 127.0.0.1:9000
//! cargo run --release --example server -- --response-mode json --max-sessions 200000
//! cargo run --release --example server -- --shards 1      # one driver (default: one per core)
//! cargo run --release --features driver-metrics --example server -- --metrics-file /tmp/d
//! ```
//!
//! With the `driver-metrics` feature, `--metrics-file PATH` rewrites PATH
//! every 10 ms with `<driver busy ns> <driver polls>` (all shards summed):
//! `streamable-bench --driver-metrics PATH` reads it at both ends of its
//! window to get the driver's serial time per call (issue 19).
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
    let mut shards: Option<usize> = None;
    let mut metrics_file: Option<String> = None;
    let usage = "usage: server [--bind ADDR:PORT] [--response-mode auto|json|sse] [--max-sessions N] \
                 [--shards N] [--metrics-file PATH (feature driver-metrics)]";
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
            ("--shards", Some(v)) => match v.parse() {
                Ok(n) => shards = Some(n),
                Err(_) => {
                    eprintln!("--shards {v:?}: not a number; {usage}");
                    std::process::exit(2);
                }
            },
            ("--metrics-file", Some(v)) => metrics_file = Some(v),
            (other, _) => {
                eprintln!("unknown argument {other:?} (or a missing value); {usage}");
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("MCP server on http://{}/mcp", listener.local_addr()?);
    let mut builder = McpService::builder().path("/mcp").config(config);
    if let Some(n) = shards {
        builder = builder.shards(n);
    }
    let service = builder.build(app());
    eprintln!("{} shard(s)", service.shards());
    if let Some(path) = metrics_file {
        write_metrics(path);
    }
    serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}

/// Rewrite `path` every 10 ms with the drivers' busy time and polls (a
/// write to a temporary file, then a rename, so a reader never sees half).
#[cfg(feature = "driver-metrics")]
fn write_metrics(path: String) {
    tokio::spawn(async move {
        let tmp = format!("{path}.tmp");
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
        loop {
            tick.tick().await;
            let m = streamable_hyper::driver_metrics();
            let line = format!("{} {}\n", m.busy.as_nanos(), m.polls);
            if std::fs::write(&tmp, line).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    });
}

#[cfg(not(feature = "driver-metrics"))]
fn write_metrics(_path: String) {
    eprintln!("--metrics-file needs the driver-metrics feature; ignored");
}
