//! What the Redis tests share: the Redis to use, a TCP relay that can cut
//! or stall it, and a round-robin HTTP proxy.

#![allow(dead_code, unreachable_pub)]

pub mod proxy;
pub mod relay;

use std::sync::atomic::{AtomicU64, Ordering};

use streamable_redis::{Redis, RedisConfig};

/// The Redis that `scripts/redis.sh` started (`STREAMABLE_REDIS_URL`).
/// Without it: a loud notice and `None` (the test then returns), or a
/// failure under `CI=true`, so CI never passes a Redis test it did not run.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("STREAMABLE_REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            let msg = format!(
                "\n\n*** {test}: NOT RUN — STREAMABLE_REDIS_URL is unset. Run the tests \
                 under a real Redis: `bash scripts/redis.sh cargo test -p streamable-redis` ***\n"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}(CI=true: a Redis test that cannot run fails)");
            }
            eprintln!("{msg}");
            None
        }
    }
}

/// A namespace no other test (or run) uses, so tests share one Redis.
pub fn namespace() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "t{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_007
    )
}

/// A handle on `url` under `ns`.
pub fn open(url: &str, ns: &str) -> Redis {
    Redis::open(&RedisConfig::new(url).namespace(ns)).expect("redis url")
}

/// `host:port` of a `redis://host:port/...` URL.
pub fn host_port(url: &str) -> String {
    url.trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}
