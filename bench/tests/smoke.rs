//! The load tester against an in-process streamable-hyper server, about a
//! second per mode: it must count successful calls, stamped SSE events and
//! opened sessions, with no errors. (Figures are not checked: speed is
//! measured by `bench/run.sh`, never asserted in tests.)

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use streamable_hyper::{McpServer, McpService, Tool, ToolResult, serve};

/// A server with the benchmark's two tools on 127.0.0.1, port chosen by the OS.
fn start(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app =
            McpServer::new("smoke", "0")
                .tool(Tool::new(
                    "echo",
                    "Echo.",
                    json!({"type": "object"}),
                    |_ctx, args| async move {
                        Ok(ToolResult::text(args["text"].as_str().unwrap_or("")))
                    },
                ))
                .tool(Tool::new(
                    "countdown",
                    "Countdown.",
                    json!({"type": "object"}),
                    |ctx, args| async move {
                        let n = args["n"].as_u64().unwrap_or(1);
                        let interval =
                            Duration::from_millis(args["interval_ms"].as_u64().unwrap_or(10));
                        for i in 1..=n {
                            if i > 1 {
                                tokio::time::sleep(interval).await;
                            }
                            let us = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_micros();
                            let _ = ctx
                                .progress(
                                    i as f64,
                                    Some(n as f64),
                                    Some(&format!("{} left @{us}", n - i)),
                                )
                                .await;
                        }
                        Ok(ToolResult::text("done"))
                    },
                ));
        tokio::spawn(serve(
            listener,
            McpService::new(app),
            std::future::pending(),
        ));
        addr
    })
}

/// Runs the tester with `args`; returns its JSON record.
fn bench(addr: SocketAddr, args: &[&str]) -> Value {
    let out = std::env::temp_dir().join(format!(
        "streamable-bench-smoke-{}-{}.jsonl",
        std::process::id(),
        args.join("_").replace(['/', ' ', ','], "")
    ));
    let _ = std::fs::remove_file(&out);
    let url = format!("http://{addr}/mcp");
    let status = Command::new(env!("CARGO_BIN_EXE_streamable-bench"))
        .args([
            "--url",
            &url,
            "--pid",
            &std::process::id().to_string(),
            "--check",
            "--timeout",
            "5",
        ])
        .args(["--out", out.to_str().unwrap()])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "streamable-bench {args:?} failed");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

fn no_errors(v: &Value) {
    assert_eq!(v["errors"], json!({}), "{v}");
    if let Some(setup) = v.get("setup_errors") {
        assert_eq!(setup, &json!({}), "{v}");
    }
}

#[test]
fn json_mode_counts_calls() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = start(&rt);
    let v = bench(
        addr,
        &["--mode", "json", "-c", "4", "-d", "1", "--warmup", "0.2"],
    );
    no_errors(&v);
    assert!(v["ok"].as_u64().unwrap() > 0, "{v}");
    assert!(v["p50_us"].as_u64().unwrap() > 0, "{v}");
    assert!(v["server_cpu_util"].is_number(), "{v}");
}

#[test]
fn sse_mode_counts_stamped_events() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = start(&rt);
    let v = bench(
        addr,
        &[
            "--mode",
            "sse-stream",
            "-c",
            "8",
            "-d",
            "1",
            "--warmup",
            "0.2",
            "--events",
            "3",
            "--interval-ms",
            "20",
        ],
    );
    no_errors(&v);
    let events = v["events"].as_u64().unwrap();
    assert!(events >= 3, "{v}");
    assert_eq!(v["events_stamped"].as_u64().unwrap(), events, "{v}");
}

#[test]
fn sessions_mode_opens_and_measures() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = start(&rt);
    let v = bench(
        addr,
        &["--mode", "sessions", "-c", "4", "--sessions", "50,100"],
    );
    assert_eq!(v["ok"].as_u64(), Some(100), "{v}");
    assert_eq!(v["session_ids"], json!(true), "{v}");
    assert!(v["points"][1]["rss_bytes"].as_u64().unwrap() > 0, "{v}");
}
