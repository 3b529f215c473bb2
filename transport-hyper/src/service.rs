//! The tower / hyper service: one per server, cloned per connection.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;
use streamable_core::request_state::KeyRing;
use streamable_core::{Config, ErrorObject, ResponseHead, code};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::auth::ResourceServer;
use crate::body::McpBody;
use crate::catch::CatchUnwind;
use crate::context::{InputSettings, random_keys};
use crate::driver::{Clock, Driver, DriverSettings};
use crate::handler::{DynHandler, Handler};
use crate::mailbox::{Command, ExchangeGuard, Reply};
use crate::shards::{MAX_SHARDS, ShardLink, Shards, send_or_return, shard_of_session};
use crate::store::SharedStore;
use crate::sync::{TakeOnce, Tickets};

type DriverFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// `Mcp-Session-Id`, parsed once.
const SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

/// Settings of the adapter itself (the protocol's live in [`Config`]).
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
    keep_alive: Option<Duration>,
    mailbox: usize,
    backlog: usize,
    body_timeout: Duration,
    path: Option<String>,
    check_invariants: bool,
    id_seed: Option<u64>,
    state_keys: Option<KeyRing>,
    state_ttl: Duration,
    auth: Option<Arc<ResourceServer>>,
    store: Option<Arc<dyn SharedStore>>,
    shards: usize,
}

/// The default number of shards: the machine's available parallelism (1
/// when it cannot be read).
fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_SHARDS)
}

/// `ceil(max / n)`: a global limit split over `n` shards (so the global cap
/// is at most `max + n - 1`).
fn per_shard(max: usize, n: usize) -> usize {
    max.div_ceil(n.max(1))
}

impl Builder {
    /// Defaults: `Config::default()`, keep-alive comments every 15 s, a
    /// mailbox of 1024 commands, a backlog of 256 frames per connection,
    /// 30 s to receive a request body.
    pub fn new() -> Self {
        Builder {
            config: Config::default(),
            keep_alive: Some(Duration::from_secs(15)),
            mailbox: 1024,
            backlog: 256,
            body_timeout: Duration::from_secs(30),
            path: None,
            check_invariants: false,
            id_seed: None,
            state_keys: None,
            state_ttl: Duration::from_secs(600),
            auth: None,
            store: None,
            shards: default_shards(),
        }
    }

    /// Run `n` sharded drivers (clamped to `1..=`[`MAX_SHARDS`]; default:
    /// [`std::thread::available_parallelism`]), each owning its own core
    /// instance behind its own mailbox, so the serial work of the driver
    /// scales with the cores (issue 19, `docs/scale.md`). A session lives
    /// on one shard for its life: its id names the shard (the id's value
    /// modulo `n`), so routing needs no table and no lock. Requests without
    /// a session go to the service clone's home shard, assigned round-robin
    /// per clone: per connection under [`serve`](crate::serve).
    ///
    /// `n = 1` is exactly the single driver. With `n > 1`, the global
    /// limits of [`Config`] are split: each shard gets
    /// `ceil(max_sessions / n)` sessions, `ceil(max_stateless_in_flight / n)`
    /// stateless requests and `ceil(max_listeners / n)` listen streams, so
    /// the process-wide cap is at most `max + n - 1`, and one shard may
    /// refuse (503 / 429) while another still has room. Change
    /// notifications ([`ServerHandle::publish`](crate::ServerHandle::publish),
    /// [`McpServer::resource_updated`](crate::McpServer::resource_updated))
    /// and shutdown reach every shard. A shard whose driver dies answers 503
    /// for its own sessions only; the others keep serving.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n.clamp(1, MAX_SHARDS);
        self
    }

    /// Keep sessions and streams in `store`, shared with other instances
    /// (issue 17, `docs/store.md`): any instance sharing it serves any
    /// session and resumes any stream. The store's settings are
    /// [`Config::store`] (set by [`Builder::config`]); when that is `None`
    /// at [`Builder::build`], [`StoreConfig::default`](crate::store::StoreConfig)
    /// applies. Default: no shared store (each instance alone; the core
    /// emits no store command).
    pub fn shared_store(mut self, store: impl SharedStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// [`Builder::shared_store`] with a store already behind an `Arc`.
    pub fn shared_store_arc(mut self, store: Arc<dyn SharedStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Protect the endpoint as an OAuth 2.1 resource server (AUTH-RS-*):
    /// every request needs a bearer token the [`ResourceServer`]'s verifier
    /// accepts, checked before the body is read; the verified
    /// [`AuthInfo`](crate::AuthInfo) reaches handlers
    /// ([`RequestContext::auth`](crate::RequestContext::auth)) and binds the
    /// session; the protected resource metadata document is served at its
    /// well-known paths (answered before the [`Builder::path`] check, so
    /// route those paths to this service too when it is mounted in a
    /// router). Default: none.
    pub fn auth(mut self, resource_server: ResourceServer) -> Self {
        self.auth = Some(Arc::new(resource_server));
        self
    }

    /// The keys that sign and verify the `requestState` of 2026-07-28
    /// multi-round-trip requests (MRTR-7). Give every instance behind one
    /// endpoint the same ring, so a retry may reach any of them; rotate with
    /// [`KeyRing::rotate`]. Default: one key drawn from the OS when the
    /// service is built (then a state is valid only on this instance; if
    /// the OS cannot give one, input rounds are answered -32603).
    pub fn request_state_keys(mut self, keys: KeyRing) -> Self {
        self.state_keys = Some(keys);
        self
    }

    /// How long a `requestState` stays valid after it is issued (default
    /// 10 minutes: a user may take a while to answer an elicitation).
    pub fn request_state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// Answer only requests for this path (others get 404). Default: any
    /// path, for mounting under a router that already matched it.
    ///
    /// Under a router that strips the prefix it matched (axum's
    /// `nest_service("/mcp", ..)` hands the service `/`), leave it unset, or
    /// use `route_service("/mcp", ..)`, which keeps the path. A mismatch is
    /// not silent (KIT-6): the 404 says which path was configured, which
    /// arrived and what to do, and the first one is logged at WARN.
    pub fn path(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// The core's configuration (response mode, limits, host and origin
    /// policies, timeouts).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Interval of `: keep-alive` comments on idle SSE streams (`None`: off).
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.keep_alive = every.filter(|d| !d.is_zero());
        self
    }

    /// Capacity of the driver's mailbox (at least 1). Senders wait for room;
    /// the driver never does.
    pub fn mailbox_capacity(mut self, n: usize) -> Self {
        self.mailbox = n.max(1);
        self
    }

    /// Frames the driver may queue for one SSE connection (at least 1;
    /// default 256). The driver never waits for a reader: when a
    /// connection's queue is full, its reader is slow, and the driver ends
    /// that connection after the frames already queued. In a session the
    /// stream lives on in the core, which keeps its events, so the client
    /// resumes with `Last-Event-ID` where it stopped; a 2026-07-28 request
    /// whose connection ends is cancelled (H-CAN-1). Other streams, of the
    /// same session too, are never delayed by a slow one.
    pub fn connection_backlog(mut self, n: usize) -> Self {
        self.backlog = n.max(1);
        self
    }

    /// How long a client may take to send a request body (then 408).
    pub fn body_timeout(mut self, d: Duration) -> Self {
        self.body_timeout = d;
        self
    }

    /// Check the core's internal invariants after every step of the driver
    /// (a violation panics the driver, and [`serve`](crate::serve) then
    /// returns an error). Default off: it costs a walk over the whole state
    /// per step. The simulator (`streamable-sim`) turns it on.
    pub fn check_invariants(mut self, on: bool) -> Self {
        self.check_invariants = on;
        self
    }

    /// Mint session ids from a splitmix64 sequence seeded with `seed`
    /// instead of the operating system's generator, so a seeded simulation
    /// replays exactly. **Never in production**: the ids are predictable,
    /// and an unguessable session id is part of session security (SBP-2).
    /// Only with the `simulation` feature.
    #[cfg(feature = "simulation")]
    pub fn predictable_session_ids_for_simulation(mut self, seed: u64) -> Self {
        self.id_seed = Some(seed);
        self
    }

    /// Build the service around `handler`. The driver's mailbox exists from
    /// now on; the driver itself starts on [`McpService::start`] or on the
    /// first request, whichever comes first.
    pub fn build(mut self, handler: impl Handler) -> McpService {
        let handler: Arc<dyn DynHandler> = Arc::new(handler);
        // The core's store settings go with a store: without one the core
        // emits no store command; with one they default.
        match &self.store {
            Some(_) if self.config.store.is_none() => self.config.store = Some(Default::default()),
            Some(_) => {}
            None => self.config.store = None,
        }
        let n = self.shards;
        let input = Arc::new(InputSettings {
            keys: self.state_keys.or_else(random_keys),
            ttl: self.state_ttl,
        });
        let mut config = self.config.clone();
        config.max_sessions = per_shard(config.max_sessions, n);
        config.max_stateless_in_flight = per_shard(config.max_stateless_in_flight, n);
        config.max_listeners = per_shard(config.max_listeners, n);
        let mut links = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut drivers: Vec<DriverFuture> = Vec::with_capacity(n);
        for shard in 0..n {
            let (tx, rx) = mpsc::channel(self.mailbox);
            let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
            handles.push(crate::context::Link {
                mailbox: tx.downgrade(),
                control: ctl_tx.clone(),
            });
            let driver = Driver::new(
                config.clone(),
                Clock::new(),
                DriverSettings {
                    backlog: self.backlog,
                    check_invariants: self.check_invariants,
                    id_seed: self.id_seed,
                    input: input.clone(),
                    store: self.store.clone(),
                    shard,
                    shards: n,
                },
                rx,
                tx.downgrade(),
                ctl_rx,
                ctl_tx.clone(),
                handler.clone(),
            );
            drivers.push(crate::metrics::meter(Box::pin(driver.run())));
            links.push(ShardLink {
                mailbox: tx,
                control: ctl_tx,
                tickets: Tickets::new(),
            });
        }
        handler.attach(crate::context::ServerHandle {
            links: handles.into(),
        });
        let shards = Shards::new(links);
        let home = shards.next_home();
        McpService {
            shared: Arc::new(Shared {
                shards,
                driver: TakeOnce::new(drivers),
                max_body: self.config.max_body_bytes,
                keep_alive: self.keep_alive,
                body_timeout: self.body_timeout,
                path: self.path,
                auth: self.auth,
                path_reported: AtomicBool::new(false),
            }),
            home,
        }
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

struct Shared {
    shards: Shards,
    /// Every shard's driver, taken (and spawned) together: started means
    /// all shards started, so no request can wait for a shard nobody runs.
    driver: TakeOnce<Vec<DriverFuture>>,
    max_body: usize,
    keep_alive: Option<Duration>,
    body_timeout: Duration,
    path: Option<String>,
    auth: Option<Arc<ResourceServer>>,
    /// Whether a path mismatch has been logged (once per service).
    path_reported: AtomicBool,
}

/// The MCP endpoint as a service: `tower_service::Service` (for axum and
/// tower stacks) and `hyper::service::Service` (for hyper-util and
/// [`serve`](crate::serve)). Clone it freely; all clones share the same
/// drivers. Each clone has a *home* shard, assigned round-robin when it is
/// cloned, for its requests without a session ([`Builder::shards`]).
///
/// ```no_run
/// # async fn doc() -> std::io::Result<()> {
/// use streamable_hyper::{McpServer, McpService, serve};
/// let service = McpService::new(McpServer::new("demo", "1.0"));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// serve(listener, service, std::future::pending()).await
/// # }
/// ```
pub struct McpService {
    shared: Arc<Shared>,
    /// The shard for requests without a session (issue 19).
    home: usize,
}

impl Clone for McpService {
    /// A clone with the next home shard (round-robin; with one shard, no
    /// shared counter is touched).
    fn clone(&self) -> Self {
        McpService {
            shared: self.shared.clone(),
            home: self.shared.shards.next_home(),
        }
    }
}

impl std::fmt::Debug for McpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpService")
            .field("driver_started", &self.shared.driver.is_taken())
            .field("shards", &self.shared.shards.len())
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl McpService {
    /// A service with the default [`Builder`] settings.
    pub fn new(handler: impl Handler) -> Self {
        Builder::new().build(handler)
    }

    /// Customise the adapter and the core.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Spawn the drivers (every shard's) on the current tokio runtime if
    /// they are not running yet; returns a handle to the one caller that
    /// spawned them. Calling this is optional: the first request does it.
    ///
    /// With one shard the handle is the driver task's own. With several, it
    /// is a supervisor's: it ends when every shard's driver has ended, with
    /// the first shard panic re-raised (so [`serve`](crate::serve) still
    /// reports a panic as an error), while a shard that dies early is logged
    /// at ERROR and only its sessions are answered 503.
    ///
    /// # Panics
    /// Outside a tokio runtime (like `tokio::spawn`).
    pub fn start(&self) -> Option<JoinHandle<()>> {
        let drivers = self.shared.driver.take()?;
        // DEBUG like the per-request spans: the driver logs nothing at INFO
        // or above, and an enabled span is entered and left on every poll
        // (~575 instructions per tools/call under the fmt subscriber,
        // callgrind, docs/benchmarks.md).
        if drivers.len() == 1 {
            let fut = drivers.into_iter().next()?;
            return Some(tokio::spawn(
                fut.instrument(tracing::debug_span!("mcp.driver")),
            ));
        }
        // Several shards: each driver runs inside `CatchUnwind`, so a
        // panicking shard ends only itself (its mailbox closes: its sessions
        // are answered 503) and never trips a runtime configured to stop on
        // a task's panic; the supervisor reports it.
        let mut set = tokio::task::JoinSet::new();
        for (shard, fut) in drivers.into_iter().enumerate() {
            let fut = fut.instrument(tracing::debug_span!("mcp.driver", shard));
            set.spawn(async move { (shard, CatchUnwind::new(fut).await) });
        }
        Some(tokio::spawn(async move {
            let mut first_panic = None;
            while let Some(ended) = set.join_next().await {
                if let Ok((shard, Err(panic))) = ended {
                    tracing::error!(
                        shard,
                        "a shard's driver panicked ({panic}): its sessions are answered 503, \
                         the other shards keep serving"
                    );
                    first_panic.get_or_insert((shard, panic));
                }
            }
            // Every shard has ended: a panic among them fails the supervisor
            // too, so `serve` reports it as an error as with one driver.
            if let Some((shard, panic)) = first_panic {
                panic!("shard {shard}'s driver panicked: {panic}");
            }
        }))
    }

    /// Whether the drivers have been started (all shards at once).
    pub fn is_started(&self) -> bool {
        self.shared.driver.is_taken()
    }

    /// How many shards (driver tasks, core instances) this service runs.
    pub fn shards(&self) -> usize {
        self.shared.shards.len()
    }

    /// The shard that serves the session with this `Mcp-Session-Id` (its
    /// value modulo [`McpService::shards`]; shard 0 for an id this server
    /// never mints, which is then answered as an unknown session).
    pub fn shard_of_session(&self, session_id: &str) -> usize {
        shard_of_session(session_id.as_bytes(), self.shared.shards.len())
    }

    /// Make shard `shard`'s driver panic, as a bug would (simulation and
    /// tests: a dead shard answers 503 for its sessions only). Only with the
    /// `simulation` feature.
    #[cfg(feature = "simulation")]
    pub fn crash_shard_for_simulation(&self, shard: usize) {
        self.start();
        let _ = self
            .shared
            .shards
            .get(shard)
            .control
            .send(crate::mailbox::Control::Crash);
    }

    /// Ask every shard's driver to stop: open streams end, waiting requests
    /// get 503, and so does every later request.
    pub async fn shutdown(&self) {
        self.start();
        for link in self.shared.shards.iter() {
            let _ = link.mailbox.send(Command::Shutdown).await;
        }
    }

    /// A shutdown signal for a server that waits for its connections
    /// (axum's `with_graceful_shutdown`, hyper-util's graceful watcher):
    /// when `signal` resolves, the service stops ([`McpService::shutdown`]),
    /// so its open SSE streams end and the server's graceful shutdown can
    /// complete (KIT-7). Without it, an open stream keeps its connection,
    /// and the server, waiting forever.
    ///
    /// ```no_run
    /// # async fn doc() -> std::io::Result<()> {
    /// use streamable_hyper::{McpServer, McpService};
    /// let mcp = McpService::new(McpServer::new("demo", "1"));
    /// let router = axum::Router::new().route_service("/mcp", mcp.clone());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    /// axum::serve(listener, router)
    ///     .with_graceful_shutdown(mcp.graceful(async { let _ = tokio::signal::ctrl_c().await; }))
    ///     .await
    /// # }
    /// ```
    pub fn graceful<S>(&self, signal: S) -> impl Future<Output = ()> + Send + 'static + use<S>
    where
        S: Future<Output = ()> + Send + 'static,
    {
        let this = self.clone();
        async move {
            signal.await;
            this.shutdown().await;
        }
    }

    /// Handle one HTTP request (what both `Service` impls call).
    pub async fn handle<B>(&self, req: Request<B>) -> Response<McpBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
    {
        self.start();
        let shared = &self.shared;
        let (mut parts, body) = req.into_parts();
        if let Some(auth) = &shared.auth
            && let Some(res) = auth.metadata_response(&parts)
        {
            return res;
        }
        if let Some(path) = shared.path.as_deref()
            && path != parts.uri.path()
        {
            return path_mismatch(shared, path, parts.uri.path());
        }
        // The bearer token is checked before the body is read (AUTH-RS-2).
        if let Some(auth) = &shared.auth {
            match auth.check(&parts).await {
                Ok(info) => {
                    parts.extensions.insert(info);
                }
                Err(res) => return res,
            }
        }
        // Read at most max_body + 1 bytes: the core answers 413 past the
        // limit, and nothing more is ever buffered.
        let limit = shared.max_body.saturating_add(1);
        let bytes = match tokio::time::timeout(shared.body_timeout, read_limited(body, limit)).await
        {
            Ok(Ok(b)) => b,
            Ok(Err(())) => {
                return plain_error(StatusCode::BAD_REQUEST, "Bad Request: unreadable body");
            }
            Err(_) => {
                return plain_error(
                    StatusCode::REQUEST_TIMEOUT,
                    "Request Timeout: the body did not arrive in time",
                );
            }
        };
        let req = Request::from_parts(parts, bytes);
        let n = shared.shards.len();
        // The session's shard (its id's residue), else this clone's home.
        // One shard: nothing to look up (the single driver's path).
        let routed = if n == 1 {
            None
        } else {
            req.headers()
                .get(SESSION_ID)
                .map(|id| shard_of_session(id.as_bytes(), n))
        };
        let mut shard = routed.unwrap_or(self.home);
        let (reply, mut reply_rx) = oneshot::channel();
        let mut cmd = Command::Request {
            ticket: 0,
            req,
            reply,
        };
        let mut tries = 0;
        let mut guard = loop {
            let link = shared.shards.get(shard);
            let ticket = link.tickets.next();
            if let Command::Request { ticket: t, .. } = &mut cmd {
                *t = ticket;
            }
            // From here on, if this future is dropped (the client went
            // away), the guard tells the driver.
            let mut guard = ExchangeGuard::new(ticket, link.control.clone());
            match send_or_return(&link.mailbox, cmd).await {
                Ok(()) => break guard,
                Err(back) => {
                    guard.disarm();
                    tries += 1;
                    // A session lives on its shard only; a request without
                    // one may go to the next live shard.
                    if routed.is_some() || tries >= n {
                        return unavailable();
                    }
                    cmd = back;
                    shard = (shard + 1) % n;
                    while tries < n && shared.shards.is_dead(shard) {
                        tries += 1;
                        shard = (shard + 1) % n;
                    }
                    // A fresh reply channel: the old receiver stays ours.
                    let (r, rx) = oneshot::channel();
                    if let Command::Request { reply: old, .. } = &mut cmd {
                        *old = r;
                    }
                    reply_rx = rx;
                }
            }
        };
        match reply_rx.await {
            Ok(Reply::Full(head, body)) => {
                guard.disarm();
                with_head(&head, McpBody::full(body))
            }
            Ok(Reply::Stream(head, frames)) => {
                with_head(&head, McpBody::stream(frames, shared.keep_alive, guard))
            }
            Ok(Reply::Unavailable) | Err(_) => {
                guard.disarm();
                unavailable()
            }
        }
    }
}

async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ()>
where
    B: Body,
{
    let mut body = std::pin::pin!(body);
    // A body that arrives in one frame (the usual small JSON-RPC message) is
    // kept as that frame's bytes, not copied; more frames are gathered.
    let mut first: Option<Bytes> = None;
    let mut buf = BytesMut::new();
    let mut len = 0;
    while len < limit {
        let Some(frame) = body.frame().await else {
            break;
        };
        let Ok(frame) = frame else { return Err(()) };
        if let Ok(mut data) = frame.into_data() {
            let n = data.remaining().min(limit - len);
            if n == 0 {
                continue;
            }
            // Zero-copy for `Bytes` (hyper's frames).
            let chunk = data.copy_to_bytes(n);
            len += n;
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        buf.extend_from_slice(&earlier);
                    }
                    buf.extend_from_slice(&chunk);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

fn with_head(head: &ResponseHead, body: McpBody) -> Response<McpBody> {
    let mut res = Response::new(body);
    *res.status_mut() = head.status;
    let h = res.headers_mut();
    for (name, value) in head.headers() {
        h.append(name, value);
    }
    res
}

fn plain_error(status: StatusCode, message: &str) -> Response<McpBody> {
    let body = ErrorObject::new(code::SERVER_ERROR, message).to_id_less_body();
    let mut res = Response::new(McpBody::full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    res
}

/// KIT-6: a 404 that says why, logged the first time.
#[cold]
fn path_mismatch(shared: &Shared, path: &str, got: &str) -> Response<McpBody> {
    let got: String = got.chars().take(200).collect();
    if !shared.path_reported.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            configured = path,
            received = %got,
            "a request for another path than Builder::path was answered 404 \
             (under axum's nest_service, which strips the prefix, leave Builder::path unset); \
             reported once"
        );
    }
    plain_error(
        StatusCode::NOT_FOUND,
        &format!(
            "Not Found: this MCP endpoint answers only at {path} (Builder::path), the request was for {got}. \
             Under a router that strips the prefix it matched (axum's nest_service), \
             leave Builder::path unset or mount with route_service."
        ),
    )
}

fn unavailable() -> Response<McpBody> {
    plain_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable: the server is shutting down",
    )
}

impl McpService {
    /// A clone that keeps this one's home shard (the `Service` impls' own
    /// per-request copy: the connection's clone chose the home).
    fn same_home(&self) -> McpService {
        McpService {
            shared: self.shared.clone(),
            home: self.home,
        }
    }
}

/// The boxed future of both `Service` impls.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<McpBody>, Infallible>> + Send>>;

impl<B> tower_service::Service<Request<B>> for McpService
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        let this = self.same_home();
        let span = tracing::debug_span!("mcp.exchange", method = %req.method());
        Box::pin(async move { Ok(this.handle(req).await) }.instrument(span))
    }
}

impl<B> hyper::service::Service<Request<B>> for McpService
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    type Response = Response<McpBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<B>) -> ResponseFuture {
        let this = self.same_home();
        let span = tracing::debug_span!("mcp.exchange", method = %req.method());
        Box::pin(async move { Ok(this.handle(req).await) }.instrument(span))
    }
}
