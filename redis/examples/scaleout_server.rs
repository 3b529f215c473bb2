//! The test application served by N instances, for the Redis benchmark
//! (`redis/bench.sh`) and for trying scale-out by hand.
//!
//! ```sh
//! # one instance, sessions in this process (today's default):
//! cargo run --example scaleout_server -p streamable-redis -- --bind 127.0.0.1:8000
//! # three instances sharing Redis behind a round-robin proxy on :8000:
//! cargo run --example scaleout_server -p streamable-redis -- --bind 127.0.0.1:8000 \
//!     --store redis --redis redis://127.0.0.1:6379/ --instances 3
//! ```
//!
//! `--store none` (default: no shared store, one instance only), `memory`
//! (the port's in-process `MemorySharedStore`) or `redis` (one
//! `RedisSharedStore` connection per instance). With `--instances N > 1`
//! the instances listen on ephemeral ports and a round-robin proxy (the
//! tests' `support/proxy.rs`) listens on `--bind`.

#[path = "../tests/support/proxy.rs"]
#[allow(dead_code, unreachable_pub)]
mod proxy;

use std::time::Duration;

use streamable_core::store::StoreConfig;
use streamable_core::{Config, ResponseMode};
use streamable_hyper::McpService;
use streamable_hyper::store::MemorySharedStore;
use streamable_redis::{Redis, RedisConfig, RedisSharedStore};

const USAGE: &str = "usage: scaleout_server [--bind ADDR:PORT] [--store none|memory|redis] \
     [--redis URL] [--instances N] [--response-mode auto|json|sse] [--max-sessions N] \
     [--recheck-ms MS]";

fn fail(msg: &str) -> ! {
    eprintln!("{msg}; {USAGE}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut bind = String::from("127.0.0.1:8000");
    let mut store = String::from("none");
    let mut url = String::from("redis://127.0.0.1:6379/");
    let mut instances = 1usize;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args
            .next()
            .unwrap_or_else(|| fail(&format!("{a}: a value is missing")));
        match a.as_str() {
            "--bind" => bind = v,
            "--store" => store = v,
            "--redis" => url = v,
            "--instances" => instances = v.parse().unwrap_or_else(|_| fail("--instances")),
            // `StoreConfig::recheck_interval` (STORE-11); default 0.
            "--recheck-ms" => {
                let ms = v.parse().unwrap_or_else(|_| fail("--recheck-ms"));
                config.store = Some(StoreConfig {
                    recheck_interval: Duration::from_millis(ms),
                    ..StoreConfig::default()
                });
            }
            "--max-sessions" => {
                config.max_sessions = v.parse().unwrap_or_else(|_| fail("--max-sessions"))
            }
            "--response-mode" => {
                config.response_mode = match v.as_str() {
                    "auto" => ResponseMode::Auto,
                    "json" => ResponseMode::Json,
                    "sse" => ResponseMode::Sse,
                    _ => fail("--response-mode"),
                }
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    if instances == 0 || (instances > 1 && store == "none") {
        fail("several instances need a shared store (--store memory|redis)");
    }
    let memory = MemorySharedStore::new();
    let mut services = Vec::new();
    for _ in 0..instances {
        let b = McpService::builder()
            .config(config.clone())
            .keep_alive(Some(Duration::from_secs(15)))
            .path("/mcp");
        let b = match store.as_str() {
            "none" => b,
            "memory" => b.shared_store(memory.clone()),
            "redis" => {
                let redis = Redis::open(&RedisConfig::new(url.as_str()))
                    .unwrap_or_else(|e| fail(&e.to_string()));
                b.shared_store(RedisSharedStore::new(redis))
            }
            other => fail(&format!("unknown store {other:?}")),
        };
        services.push(b.build(streamable_tests::app()));
    }
    let never = std::future::pending::<()>;
    if instances == 1 {
        let listener = tokio::net::TcpListener::bind(&bind).await?;
        eprintln!(
            "MCP server ({store} store) on http://{}/mcp",
            listener.local_addr()?
        );
        return streamable_hyper::serve(listener, services.remove(0), never()).await;
    }
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for s in services {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        addrs.push(listener.local_addr()?);
        tasks.push(tokio::spawn(streamable_hyper::serve(listener, s, never())));
    }
    let p = proxy::Proxy::start_on(&bind, &addrs).await?;
    eprintln!(
        "{instances} instances ({store} store) behind a round-robin proxy on {}",
        p.url()
    );
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}
