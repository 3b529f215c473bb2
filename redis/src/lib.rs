//! The Redis backend of streamable's shared store (issue 17).
//!
//! With it, several instances of a server behind one load balancer share
//! what used to live in one process: sessions and their event streams
//! ([`RedisSharedStore`], the adapter's
//! [`SharedStore`](streamable_hyper::store::SharedStore) on Redis), tasks
//! ([`RedisTaskStore`], the adapter's
//! [`TaskStore`](streamable_hyper::TaskStore) on Redis) and the
//! `requestState` key ring ([`keyring`]). The key layout, the
//! failure semantics and the sizing are in `docs/redis.md`.
//!
//! Every key starts with the configured namespace and carries a `{...}`
//! hash tag naming the object it belongs to (a task id, a session id), so
//! all keys of one object fall in one Redis Cluster slot and a script may
//! touch them together. Every call is bounded by [`RedisConfig::timeout`]:
//! a Redis that is down or slow yields an error after that long, never a
//! hang.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub mod keyring;
mod store;
mod tasks;

pub use store::{DEFAULT_MAX_STREAMS_PER_SESSION, MAX_IDLE_TAIL_CONNECTIONS, RedisSharedStore};
pub use tasks::{MAX_CAS_ATTEMPTS, MAX_RECORD_BYTES, RedisTaskStore};

/// How to reach Redis and how long to wait for it.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `redis+unix:///path`).
    pub url: String,
    /// The prefix of every key (default `"streamable"`): several
    /// deployments may share one Redis under different namespaces.
    pub namespace: String,
    /// The bound on every call, connecting included (default 1 s): past
    /// it the call fails with [`Error::Timeout`].
    pub timeout: Duration,
}

impl RedisConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            namespace: "streamable".into(),
            timeout: Duration::from_secs(1),
        }
    }

    /// Another namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> RedisConfig {
        self.namespace = namespace.into();
        self
    }

    /// Another call bound.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> RedisConfig {
        self.timeout = timeout;
        self
    }
}

/// Why a Redis call failed.
#[derive(Debug)]
pub enum Error {
    /// The URL is not one the client understands.
    Config(String),
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// No answer within [`RedisConfig::timeout`].
    Timeout,
    /// A stored value is not what this crate writes (another program's
    /// key, a newer format).
    Corrupt(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "redis configuration: {e}"),
            Error::Redis(e) => write!(f, "redis: {e}"),
            Error::Timeout => f.write_str("redis did not answer in time"),
            Error::Corrupt(e) => write!(f, "redis holds an unexpected value: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

/// A handle on one Redis: a multiplexed, self-reconnecting connection
/// (pipelined: concurrent calls share one socket) plus the client, for
/// the dedicated connections that blocking reads need. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    namespace: String,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A handle that connects on first use (so a server starts even while
    /// Redis is down, and answers 503 until it is back). Needs a tokio
    /// runtime.
    pub fn open(config: &RedisConfig) -> Result<Redis, Error> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| Error::Config(e.to_string()))?;
        let mc = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(2)
            .set_max_delay(config.timeout);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), mc)?;
        Ok(Redis {
            client,
            conn,
            namespace: config.namespace.clone(),
            timeout: config.timeout,
        })
    }

    /// The key namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The per-call bound.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// The shared multiplexed connection (a clone: same socket).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The client, to open a dedicated connection (one per blocking read).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// `PING`, within the call bound.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut c = self.conn.clone();
        self.bounded(async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }

    /// Run `fut` within the call bound.
    pub async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout),
            Ok(r) => r.map_err(Error::from),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// `<namespace>:<kind>:{<tag>}`: the key of `kind` for the object
    /// `tag`, hash-tagged on `tag`.
    pub fn key(&self, kind: &str, tag: &str) -> String {
        format!("{}:{kind}:{{{tag}}}", self.namespace)
    }
}
