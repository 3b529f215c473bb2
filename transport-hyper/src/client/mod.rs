//! An async MCP client over the core's sans-IO [`Client`](streamable_core::Client)
//! machine: one driver task owns the machine and runs every HTTP request on
//! hyper-util's pooled client, each in its own task, so a POST answering a
//! server request never waits behind an open stream (INV-S25).
//!
//! ```no_run
//! # async fn demo() -> Result<(), streamable_hyper::client::Error> {
//! use serde_json::json;
//! use streamable_hyper::client::Client;
//!
//! let client = Client::connect("http://127.0.0.1:8000/mcp").await?;
//! let tools = client.list_tools().await?;
//! let result = client
//!     .call_tool_with_progress("countdown", json!({"n": 3}), |p| println!("{}", p.progress))
//!     .await?;
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! Timeouts (L-TO-1, L-TO-3): every request has one (30 s by default);
//! progress for a request restarts its timer, up to a hard maximum (5 min
//! by default; [`ClientBuilder::max_request_time`]).
//!
//! Era detection (H-BC-1, H-BC-2): with [`EraPreference::Auto`] the client
//! probes with `server/discover`; give every builder the same [`EraCache`]
//! and a client to an endpoint whose era an earlier client detected skips
//! the probe, probing again only if the server refuses the cached era.
//!
//! Server requests, both eras (HC-MRTR-1): the handlers given to
//! [`ClientBuilder::on_elicitation`], [`ClientBuilder::on_sampling`],
//! [`ClientBuilder::on_roots`] and [`ClientBuilder::on_request`] answer the
//! requests a legacy server sends and, in 2026-07-28, the `inputRequests` of
//! an `InputRequiredResult`: the call is then retried by the machine with
//! their answers, and its future resolves once, with the final result (or
//! [`Failure::InputNotProvided`] / [`Failure::TooManyRounds`]).

pub mod auth;
mod builder;
mod driver;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use streamable_core::client::{Era, Failure};
use streamable_core::{ErrorObject, ProtocolVersion, RawJson};
use tokio::sync::{mpsc, oneshot};

pub use builder::ClientBuilder;
use driver::Command;

/// Why a client call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a JSON-RPC error.
    Rpc(ErrorObject),
    /// The transport failed (timeout, lost stream, HTTP refusal, ...).
    Transport(Failure),
    /// The client is closed (or its driver stopped).
    Closed,
    /// The endpoint URL is not a valid `http://` URL.
    InvalidUrl(String),
    /// Too many requests are pending.
    TooManyPending,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rpc(e) => write!(f, "JSON-RPC error {}: {}", e.code, e.message),
            Error::Transport(failure) => write!(f, "transport: {failure}"),
            Error::Closed => f.write_str("client closed"),
            Error::InvalidUrl(u) => write!(f, "invalid URL {u:?}"),
            Error::TooManyPending => f.write_str("too many pending requests"),
        }
    }
}

impl std::error::Error for Error {}

/// One `notifications/progress` for a request (U-PROG-*).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The progress so far.
    pub progress: f64,
    /// The total, when known.
    pub total: Option<f64>,
    /// A human-readable message.
    pub message: Option<String>,
}

/// A server notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// The method.
    pub method: String,
    /// The params (`Value::Null` when absent).
    pub params: Value,
}

/// The boxed future of a server-request handler.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorObject>> + Send>>;
type DynHandler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

/// Capacity of the notification channel; notifications beyond it are
/// dropped with a warning (the application is not reading them).
pub const NOTIFICATION_CAPACITY: usize = 1024;

/// Endpoints an [`EraCache`] remembers; eras detected for further
/// endpoints are not cached (those clients probe as usual).
pub const ERA_CACHE_CAPACITY: usize = 4096;

/// The era detected for each endpoint (H-BC-2), shared by every client
/// given it (cheap to clone: clones share the map).
///
/// An [`EraPreference::Auto`] client whose endpoint is in the cache speaks
/// the cached era at once ([`EraPreference::Cached`]): no `server/discover`
/// probe. If the server refuses it the client probes again and the cache
/// takes the new era. Entries are keyed by the endpoint URL (scheme, host,
/// port and path: two endpoints of one origin may speak different eras).
/// To persist the cache across runs, save [`EraCache::entries`] and
/// [`EraCache::insert`] them back.
#[derive(Clone, Debug, Default)]
pub struct EraCache(Arc<std::sync::Mutex<BTreeMap<String, Era>>>);

impl EraCache {
    /// An empty cache.
    pub fn new() -> Self {
        EraCache::default()
    }

    /// The era cached for `endpoint` (a URL as given to [`Client::builder`]).
    pub fn get(&self, endpoint: &str) -> Option<Era> {
        let key = cache_key(endpoint)?;
        self.0.lock().ok()?.get(&key).copied()
    }

    /// Remember `era` for `endpoint` (ignored beyond
    /// [`ERA_CACHE_CAPACITY`] endpoints, or for an invalid URL).
    pub fn insert(&self, endpoint: &str, era: Era) {
        let (Some(key), Ok(mut map)) = (cache_key(endpoint), self.0.lock()) else {
            return;
        };
        if map.len() < ERA_CACHE_CAPACITY || map.contains_key(&key) {
            map.insert(key, era);
        }
    }

    /// Forget `endpoint`.
    pub fn remove(&self, endpoint: &str) {
        if let (Some(key), Ok(mut map)) = (cache_key(endpoint), self.0.lock()) {
            map.remove(&key);
        }
    }

    /// Every entry, ordered by endpoint (to persist them).
    pub fn entries(&self) -> Vec<(String, Era)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// The cache key of an endpoint: lower-case scheme and host, explicit
/// port, path (no query: it does not select the server).
fn cache_key(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(format!("{scheme}://{host}:{port}{}", uri.path()))
}

/// What the driver reports each [`Event::Ready`](streamable_core::client::Event::Ready)
/// to: the first completes `connect`; every one updates the era the
/// handles report and, for an `Auto` client, the era cache (H-BC-2).
pub(crate) struct ReadySink {
    first: Option<oneshot::Sender<Result<ReadyInfo, Error>>>,
    current: Arc<std::sync::Mutex<Option<(Era, ProtocolVersion)>>>,
    cache: Option<(EraCache, String)>,
}

impl ReadySink {
    /// The connection is (again) ready.
    pub(crate) fn ready(&mut self, info: ReadyInfo) {
        if let Ok(mut current) = self.current.lock() {
            *current = Some((info.era, info.version));
        }
        if let Some((cache, endpoint)) = &self.cache {
            cache.insert(endpoint, info.era);
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(info));
        }
    }

    /// The machine closed; `connect` fails with `error` if it still waits.
    pub(crate) fn failed(&mut self, error: Error) {
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(error));
        }
    }
}

/// What the server told us when the connection became ready.
#[derive(Clone, Debug)]
pub(crate) struct ReadyInfo {
    era: Era,
    version: ProtocolVersion,
    result: Value,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    tickets: AtomicU64,
    tokens: AtomicU64,
    notifications: std::sync::Mutex<Option<mpsc::Receiver<Notification>>>,
    /// What `connect` saw.
    info: ReadyInfo,
    /// The era and version now (they change when a cached era proved
    /// wrong and was detected again, H-BC-2).
    current: Arc<std::sync::Mutex<Option<(Era, ProtocolVersion)>>>,
}

/// An MCP client (cheap to clone; the driver stops when the last clone is
/// dropped, ending the session with DELETE).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("era", &self.inner.info.era)
            .field("version", &self.inner.info.version)
            .finish_non_exhaustive()
    }
}

/// Sends `Cancel` when a request future is dropped before its answer.
struct CancelGuard {
    tx: mpsc::Sender<Command>,
    ticket: u64,
    armed: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.tx.try_send(Command::Cancel {
                ticket: self.ticket,
            });
        }
    }
}

impl Client {
    /// Connect with defaults (legacy era, 30 s timeout).
    pub async fn connect(url: &str) -> Result<Client, Error> {
        Client::builder(url).connect().await
    }

    /// A builder for `url`.
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The era in use (it changes if a cached era proved wrong, H-BC-2).
    pub fn era(&self) -> Era {
        self.current().0
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.current().1
    }

    fn current(&self) -> (Era, ProtocolVersion) {
        let at_connect = (self.inner.info.era, self.inner.info.version);
        self.inner
            .current
            .lock()
            .ok()
            .and_then(|c| *c)
            .unwrap_or(at_connect)
    }

    /// The server's `initialize` (or `server/discover`) result when
    /// `connect` returned (`{}` for a 2026-07-28 connection that did not
    /// probe: [`EraPreference::Modern`], or the era came from an [`EraCache`]).
    pub fn server_info(&self) -> &Value {
        &self.inner.info.result
    }

    /// The notification stream (server notifications other than progress
    /// for our own requests). Returns `None` after the first call.
    pub fn notifications(&self) -> Option<mpsc::Receiver<Notification>> {
        self.inner
            .notifications
            .lock()
            .ok()
            .and_then(|mut n| n.take())
    }

    /// Send any request and wait for its result. Dropping the future
    /// cancels the request.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, Error> {
        self.request_inner(method, params, None::<fn(Progress)>)
            .await
    }

    /// Send a request with a progress token; `on_progress` runs in the
    /// caller's task for every progress notification.
    pub async fn request_with_progress(
        &self,
        method: &str,
        params: Value,
        on_progress: impl FnMut(Progress),
    ) -> Result<Value, Error> {
        self.request_inner(method, params, Some(on_progress)).await
    }

    async fn request_inner(
        &self,
        method: &str,
        mut params: Value,
        mut on_progress: Option<impl FnMut(Progress)>,
    ) -> Result<Value, Error> {
        let ticket = self.inner.tickets.fetch_add(1, Ordering::Relaxed);
        let (done_tx, done_rx) = oneshot::channel();
        let mut progress = None;
        if on_progress.is_some() {
            let token = format!("p-{}", self.inner.tokens.fetch_add(1, Ordering::Relaxed));
            if !params.is_object() {
                params = json!({});
            }
            if let Some(map) = params.as_object_mut() {
                let meta = map.entry("_meta").or_insert_with(|| json!({}));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("progressToken".into(), Value::from(token.clone()));
                }
            }
            let (ptx, prx) = mpsc::unbounded_channel();
            progress = Some((token, ptx, prx));
        }
        let params = (!params.is_null()).then(|| RawJson::from_value(&params));
        let (progress_cmd, mut progress_rx) = match progress {
            Some((token, ptx, prx)) => (Some((token, ptx)), Some(prx)),
            None => (None, None),
        };
        // Armed before the send: a future dropped mid-send still cancels
        // (a cancel for a ticket never sent is ignored).
        let mut guard = CancelGuard {
            tx: self.inner.tx.clone(),
            ticket,
            armed: true,
        };
        self.inner
            .tx
            .send(Command::Request {
                ticket,
                method: method.to_owned(),
                params,
                progress: progress_cmd,
                done: done_tx,
            })
            .await
            .map_err(|_| Error::Closed)?;
        let mut done_rx = done_rx;
        let outcome = loop {
            match progress_rx.as_mut() {
                Some(prx) => {
                    tokio::select! {
                        biased;
                        p = prx.recv() => match p {
                            Some(p) => {
                                if let Some(cb) = on_progress.as_mut() {
                                    cb(p);
                                }
                            }
                            None => progress_rx = None,
                        },
                        r = &mut done_rx => break r,
                    }
                }
                None => break (&mut done_rx).await,
            }
        };
        // Progress that raced the result is still reported, in order.
        if let (Some(prx), Some(cb)) = (progress_rx.as_mut(), on_progress.as_mut()) {
            while let Ok(p) = prx.try_recv() {
                cb(p);
            }
        }
        guard.armed = false;
        outcome.map_err(|_| Error::Closed)?
    }

    /// Send a notification.
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), Error> {
        let (done_tx, done_rx) = oneshot::channel();
        let params = (!params.is_null()).then(|| RawJson::from_value(&params));
        self.inner
            .tx
            .send(Command::Notify {
                method: method.to_owned(),
                params,
                done: done_tx,
            })
            .await
            .map_err(|_| Error::Closed)?;
        done_rx.await.map_err(|_| Error::Closed)?
    }

    /// `tools/list` (the result object, with `tools`).
    pub async fn list_tools(&self) -> Result<Value, Error> {
        self.request("tools/list", json!({})).await
    }

    /// `tools/call`.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, Error> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// `tools/call` with progress reporting.
    pub async fn call_tool_with_progress(
        &self,
        name: &str,
        arguments: Value,
        on_progress: impl FnMut(Progress),
    ) -> Result<Value, Error> {
        self.request_with_progress(
            "tools/call",
            json!({"name": name, "arguments": arguments}),
            on_progress,
        )
        .await
    }

    /// End the session (DELETE in the legacy era) and stop the driver.
    pub async fn close(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self
            .inner
            .tx
            .send(Command::Close { done: done_tx })
            .await
            .is_ok()
        {
            let _ = done_rx.await;
        }
    }
}
