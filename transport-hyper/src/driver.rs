//! The driver: the one task that owns the sans-IO core.
//!
//! Loop: drain `poll_output` (acting on each output without awaiting), read
//! `poll_timeout`, then `select!` (biased: control messages, then the
//! mailbox, then the timer). Every send the driver makes is non-blocking:
//! `oneshot` replies, `try_send` into bounded per-exchange channels (a full
//! one is the core's slow-reader case: the connection is ended and the client
//! resumes with `Last-Event-ID`), and `tokio::spawn` for handlers. So no
//! client, however slow, and no handler can stall the loop.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use streamable_core::{
    CloseReason, Config, Delivery, EntropyUnavailable, ErrorObject, ExchangeId, IdSource,
    OutgoingKey, Output, ProtocolVersion, RawJson, RequestKey, SendError, Server, SessionKey,
    Timestamp, code,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use crate::auth::AuthInfo;
use crate::catch::CatchUnwind;
use crate::context::{CancelSender, InputSettings, Link, RequestContext, Session, SessionData};
use crate::handler::DynHandler;
use crate::mailbox::{Command, Control, Reply};
use crate::shards::KeySpace;
use crate::store::{SharedStore, StoreCommand, StoreFailure, StoreToken};

/// How many queued commands the driver takes in one turn of its loop.
const COMMAND_BATCH: usize = 32;

/// Session ids from the operating system's CSPRNG (SBP-2), or, with the
/// `simulation` feature and when the builder asked for it, from a seeded
/// sequence (one per shard, so each shard replays exactly). A shard mints
/// only ids in its residue class (`docs/scale.md` item 2,
/// [`draw_in_shard`](crate::shards::draw_in_shard), bias analysis there).
#[derive(Debug, Default)]
pub(crate) struct OsIds {
    #[cfg(feature = "simulation")]
    seeded: Option<streamable_core::SeededIds>,
    shard: usize,
    shards: usize,
}

/// Candidates fetched from the OS per call when `n > 1` (an id takes `n`
/// draws on average; one call for several keeps it to about `n / 8` calls).
const OS_BATCH: usize = 8;

impl OsIds {
    /// `seed` is the builder's simulation seed; without the `simulation`
    /// feature it is always `None`. `shard` of `shards` names the residue
    /// class this source mints in.
    pub(crate) fn new(seed: Option<u64>, shard: usize, shards: usize) -> Self {
        #[cfg(not(feature = "simulation"))]
        let _ = seed;
        OsIds {
            #[cfg(feature = "simulation")]
            seeded: seed.map(|s| streamable_core::SeededIds(crate::shards::shard_seed(s, shard))),
            shard,
            shards: shards.max(1),
        }
    }
}

impl IdSource for OsIds {
    fn session_id(&mut self) -> Result<u128, EntropyUnavailable> {
        #[cfg(feature = "simulation")]
        if let Some(seeded) = &mut self.seeded {
            return crate::shards::draw_in_shard(self.shard, self.shards, || seeded.session_id());
        }
        // The OS generator failed (practically never): no made-up id; the
        // core answers that initialize with 503 and Retry-After.
        if self.shards == 1 {
            let mut buf = [0u8; 16];
            getrandom::fill(&mut buf).map_err(|_| EntropyUnavailable)?;
            return Ok(u128::from_le_bytes(buf));
        }
        let mut buf = [0u8; 16 * OS_BATCH];
        let mut used = OS_BATCH;
        crate::shards::draw_in_shard(self.shard, self.shards, || {
            if used == OS_BATCH {
                getrandom::fill(&mut buf).map_err(|_| EntropyUnavailable)?;
                used = 0;
            }
            let mut one = [0u8; 16];
            one.copy_from_slice(&buf[16 * used..16 * (used + 1)]);
            used += 1;
            Ok(u128::from_le_bytes(one))
        })
    }
}

/// Time for the core: milliseconds since an origin on tokio's clock (so
/// tokio's paused clock and turmoil's simulated clock apply).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            origin: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.origin.elapsed())
    }

    fn instant(&self, t: Timestamp) -> Instant {
        self.origin + t.as_duration()
    }
}

enum Exchange {
    /// The head is not decided yet.
    Waiting {
        ticket: u64,
        reply: oneshot::Sender<Reply>,
    },
    /// An SSE body is being fed.
    Streaming {
        ticket: u64,
        frames: mpsc::Sender<Bytes>,
    },
}

struct Running {
    session: Option<SessionKey>,
    cancel: CancelSender,
}

/// Adapter settings the driver needs.
#[derive(Clone, Debug)]
pub(crate) struct DriverSettings {
    /// Frames queued per SSE connection before its reader counts as slow
    /// (at least 1, [`Builder::connection_backlog`](crate::Builder::connection_backlog)).
    pub(crate) backlog: usize,
    /// Run `Server::check_invariants` after every drain (verification builds).
    pub(crate) check_invariants: bool,
    /// Seeded (predictable) session ids instead of the OS generator.
    pub(crate) id_seed: Option<u64>,
    /// The `requestState` keys, handed to stateless requests (MRTR).
    pub(crate) input: Arc<InputSettings>,
    /// The shared store, if any (issue 17).
    pub(crate) store: Option<Arc<dyn SharedStore>>,
    /// This driver's shard and how many there are (issue 19).
    pub(crate) shard: usize,
    pub(crate) shards: usize,
}

pub(crate) struct Driver {
    core: Server<OsIds>,
    clock: Clock,
    settings: DriverSettings,
    mailbox: mpsc::Receiver<Command>,
    control: mpsc::UnboundedReceiver<Control>,
    /// Handed to handler contexts (weak, so the driver does not keep its own
    /// mailbox open: it ends when every service and context is gone).
    weak_mailbox: mpsc::WeakSender<Command>,
    control_tx: mpsc::UnboundedSender<Control>,
    handler: Arc<dyn DynHandler>,
    tickets: BTreeMap<u64, ExchangeId>,
    exchanges: BTreeMap<ExchangeId, Exchange>,
    running: BTreeMap<RequestKey, Running>,
    outgoing: BTreeMap<OutgoingKey, oneshot::Sender<Result<RawJson, ErrorObject>>>,
    sessions: BTreeMap<SessionKey, Arc<SessionData>>,
    /// Core keys <-> the keys the application sees (unique across shards;
    /// the identity with one shard).
    keys: KeySpace,
    /// The parts of the HTTP request being handled, for the requests it
    /// delivers (only while the drain right after it runs).
    parts: Option<PendingParts>,
    /// Store commands per session (wire id), run one at a time in order
    /// (the port's per-session order); a lane is present while a command of
    /// it runs, holding those that wait.
    lanes: BTreeMap<Box<str>, VecDeque<(StoreToken, StoreCommand)>>,
}

struct PendingParts {
    parts: http::request::Parts,
    /// A JSON-RPC batch may deliver several requests: each gets a copy.
    batch: bool,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Config,
        clock: Clock,
        settings: DriverSettings,
        mailbox: mpsc::Receiver<Command>,
        weak_mailbox: mpsc::WeakSender<Command>,
        control: mpsc::UnboundedReceiver<Control>,
        control_tx: mpsc::UnboundedSender<Control>,
        handler: Arc<dyn DynHandler>,
    ) -> Self {
        let mut core = Server::new(
            config,
            OsIds::new(settings.id_seed, settings.shard, settings.shards),
        );
        let keys = KeySpace::new(settings.shard, settings.shards);
        for (tool, params) in handler.tool_param_headers() {
            core.set_tool_param_headers(&tool, params);
        }
        Driver {
            core,
            clock,
            settings,
            mailbox,
            control,
            weak_mailbox,
            control_tx,
            handler,
            tickets: BTreeMap::new(),
            exchanges: BTreeMap::new(),
            running: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            sessions: BTreeMap::new(),
            keys,
            parts: None,
            lanes: BTreeMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        tracing::debug!("driver started");
        let mut last_fire: Option<Timestamp> = None;
        // One timer for the driver's life, moved only when the core's
        // deadline changes: a fresh `Sleep` per turn of the loop registered
        // and cancelled a timer entry twice per request (~1.2k instructions
        // per tools/call, callgrind, docs/benchmarks.md).
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        'run: loop {
            self.drain();
            let deadline = self.core.poll_timeout().map(|t| {
                // A deadline that already fired at this same instant must not
                // spin the loop: wait at least a millisecond.
                let at = self.clock.instant(t);
                match last_fire {
                    Some(f) if f >= t => at.max(Instant::now() + Duration::from_millis(1)),
                    _ => at,
                }
            });
            if let Some(d) = deadline
                && armed != Some(d)
            {
                timer.as_mut().reset(d);
            }
            armed = deadline;
            tokio::select! {
                biased;
                Some(c) = self.control.recv() => self.on_control(c),
                cmd = self.mailbox.recv() => match cmd {
                    Some(Command::Shutdown) | None => break,
                    Some(cmd) => {
                        self.on_command(cmd);
                        // Commands that queued meanwhile are taken without
                        // another turn through `select!` (still in order,
                        // control signals still first), a bounded number so
                        // timers get their turn.
                        for _ in 1..COMMAND_BATCH {
                            while let Ok(c) = self.control.try_recv() {
                                self.on_control(c);
                            }
                            match self.mailbox.try_recv() {
                                Ok(Command::Shutdown)
                                | Err(mpsc::error::TryRecvError::Disconnected) => break 'run,
                                Ok(cmd) => self.on_command(cmd),
                                Err(mpsc::error::TryRecvError::Empty) => break,
                            }
                        }
                    }
                },
                () = &mut timer, if deadline.is_some() => {
                    // Trust the clock, not the timer (an elapsed Sleep may
                    // still report Pending under the coop budget; a spurious
                    // or early call is harmless to the core).
                    let now = self.clock.now();
                    last_fire = Some(now);
                    // Fired: re-arm on the next turn even for the same instant.
                    armed = None;
                    self.core.handle_timeout(now);
                }
            }
        }
        self.stop();
        tracing::debug!("driver stopped");
    }

    /// End everything: waiting heads get 503, streams end (clients may
    /// resume against a new server only if it shares state, which this one
    /// does not), running handlers are cancelled.
    fn stop(&mut self) {
        // H-SUB-5: listen streams end with their completion result.
        let now = self.now();
        self.core.end_subscriptions(now);
        self.drain();
        for (_, ex) in std::mem::take(&mut self.exchanges) {
            if let Exchange::Waiting { reply, .. } = ex {
                let _ = reply.send(Reply::Unavailable);
            }
        }
        for (_, r) in std::mem::take(&mut self.running) {
            r.cancel.cancel();
        }
        self.outgoing.clear();
        self.mailbox.close();
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Dropped(ticket) => {
                if let Some(ex) = self.tickets.remove(&ticket) {
                    tracing::debug!(exchange = ex.0, "client went away");
                    self.exchanges.remove(&ex);
                    let now = self.now();
                    self.core.handle_disconnect(now, ex);
                }
            }
            Control::Abandon(rk) => {
                if let Some(rk) = self.keys.request_back(rk)
                    && self.running.remove(&rk).is_some()
                {
                    let now = self.now();
                    let _ = self.core.abandon(now, rk);
                }
            }
            Control::Forget(k) => {
                // Outgoing keys stay the core's own: they never leave this
                // shard's handles.
                self.outgoing.remove(&k);
                self.core.forget_outgoing(k);
            }
            #[cfg(feature = "simulation")]
            Control::Crash => panic!(
                "shard {} crashed on purpose (simulation)",
                self.settings.shard
            ),
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Request { ticket, req, reply } => {
                // The principal any layer in front put in the extensions
                // (AUTH-RS-1); sessions are bound to it (INV-S-PRINCIPAL).
                let principal = req.extensions().get::<AuthInfo>().map(AuthInfo::principal);
                let ex = self.core.handle_request_as(now, &req, principal);
                tracing::trace!(ticket, exchange = ex.0, "request");
                self.tickets.insert(ticket, ex);
                self.exchanges
                    .insert(ex, Exchange::Waiting { ticket, reply });
                // The requests this POST delivers (now, in this drain) get
                // its parts: moved into the first one; a batch's others get
                // copies.
                let batch = req
                    .body()
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|&b| b == b'[');
                let (parts, _) = req.into_parts();
                self.parts = Some(PendingParts { parts, batch });
                self.drain();
                self.parts = None;
                // The client may have left while the request sat in the
                // mailbox (its Dropped signal was then for an unknown ticket).
                if let Some(Exchange::Waiting { reply, .. }) = self.exchanges.get(&ex)
                    && reply.is_closed()
                {
                    self.disconnect(ex);
                }
            }
            Command::Respond { request, outcome } => {
                let Some(request) = self.keys.request_back(request) else {
                    return;
                };
                self.running.remove(&request);
                if let Err(e) = self.core.respond(now, request, outcome) {
                    tracing::debug!(request = request.0, "response not sent: {e}");
                }
            }
            Command::Notify {
                target,
                method,
                params,
                done,
            } => {
                let r = match self.keys.target_back(target) {
                    Some(target) => self.core.notify(now, target, &method, params.as_ref()),
                    None => Err(SendError::Gone),
                };
                let _ = done.send(r);
            }
            Command::RequestClient {
                target,
                method,
                params,
                sent,
                answer,
            } => {
                let r = match self.keys.target_back(target) {
                    Some(target) => self
                        .core
                        .request_client(now, target, &method, params.as_ref()),
                    None => Err(SendError::Gone),
                };
                if let Ok(k) = r {
                    self.outgoing.insert(k, answer);
                }
                let _ = sent.send(r);
            }
            Command::CloseSession { session, done } => {
                let r = match self.keys.session_back(session) {
                    Some(session) => self.core.close_session(now, session),
                    None => Err(SendError::Gone),
                };
                let _ = done.send(r);
            }
            Command::EndConnection { target, done } => {
                let r = match self.keys.target_back(target) {
                    Some(target) => self.core.end_connection(now, target),
                    None => Err(SendError::Gone),
                };
                let _ = done.send(r);
            }
            Command::Publish {
                method,
                params,
                done,
            } => {
                let _ = done.send(self.core.publish(now, &method, params.as_ref()));
            }
            Command::StoreDone {
                token,
                lane,
                result,
            } => {
                if let Some(lane) = lane {
                    self.next_in_lane(lane);
                }
                self.core.handle_store(now, token, result);
            }
            Command::Shutdown => {}
        }
    }

    /// A store command from the core: reads and tails run at once (they
    /// change nothing, and a tail waits long); the rest in their session's
    /// lane, in order.
    fn store_command(&mut self, token: StoreToken, command: StoreCommand) {
        if matches!(
            command,
            StoreCommand::ReadEvents { .. } | StoreCommand::TailEvents { .. }
        ) {
            return self.spawn_store(token, command, None);
        }
        let lane = command.session();
        if let Some(waiting) = self.lanes.get_mut(lane) {
            waiting.push_back((token, command));
            return;
        }
        let lane: Box<str> = lane.into();
        self.lanes.insert(lane.clone(), VecDeque::new());
        self.spawn_store(token, command, Some(lane));
    }

    /// The lane's command finished: start its next one, or close it.
    fn next_in_lane(&mut self, lane: Box<str>) {
        let next = match self.lanes.get_mut(&lane) {
            Some(waiting) => waiting.pop_front(),
            None => return,
        };
        match next {
            Some((token, command)) => self.spawn_store(token, command, Some(lane)),
            None => {
                self.lanes.remove(&lane);
            }
        }
    }

    /// Run one store command in its own task under its deadline; the result
    /// comes back through the mailbox ([`Command::StoreDone`]).
    fn spawn_store(&mut self, token: StoreToken, command: StoreCommand, lane: Option<Box<str>>) {
        let deadline = command.deadline(
            self.core
                .config()
                .store
                .as_ref()
                .map_or(Duration::from_secs(2), |s| s.deadline),
        );
        let store = self.settings.store.clone();
        let mailbox = self.weak_mailbox.clone();
        tokio::spawn(async move {
            let result = match store {
                Some(store) => tokio::time::timeout(deadline, store.execute(command))
                    .await
                    .unwrap_or(Err(StoreFailure::TimedOut)),
                None => Err(StoreFailure::Unavailable(
                    "no shared store configured".into(),
                )),
            };
            if let Some(tx) = mailbox.upgrade() {
                let _ = crate::mailbox::send_command(
                    &tx,
                    Command::StoreDone {
                        token,
                        lane,
                        result,
                    },
                )
                .await;
            }
        });
    }

    fn disconnect(&mut self, ex: ExchangeId) {
        if let Some(Exchange::Waiting { ticket, .. } | Exchange::Streaming { ticket, .. }) =
            self.exchanges.remove(&ex)
        {
            self.tickets.remove(&ticket);
        }
        let now = self.now();
        self.core.handle_disconnect(now, ex);
    }

    fn drain(&mut self) {
        self.drain_outputs();
        if self.settings.check_invariants
            && let Err(violation) = self.core.check_invariants()
        {
            // Opt-in (tests and the simulator), as the client driver: a
            // broken machine stops the run loudly; `serve` reports the
            // driver's panic as an error.
            panic!("server invariant violated: {violation}");
        }
    }

    fn drain_outputs(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Reply {
                    exchange,
                    head,
                    body,
                } => {
                    if let Some(Exchange::Waiting { ticket, reply }) =
                        self.exchanges.remove(&exchange)
                    {
                        self.tickets.remove(&ticket);
                        let _ = reply.send(Reply::Full(head, body));
                    }
                }
                Output::StreamHead { exchange, head } => {
                    if let Some(Exchange::Waiting { ticket, reply }) =
                        self.exchanges.remove(&exchange)
                    {
                        let (tx, rx) = mpsc::channel(self.settings.backlog);
                        if reply.send(Reply::Stream(head, rx)).is_ok() {
                            self.exchanges
                                .insert(exchange, Exchange::Streaming { ticket, frames: tx });
                        } else {
                            self.tickets.remove(&ticket);
                            let now = self.now();
                            self.core.handle_disconnect(now, exchange);
                        }
                    }
                }
                Output::Event { exchange, frame } => {
                    let ok = match self.exchanges.get(&exchange) {
                        Some(Exchange::Streaming { frames, .. }) => match frames.try_send(frame) {
                            Ok(()) => true,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                tracing::debug!(
                                    exchange = exchange.0,
                                    "slow reader: closing the connection (it may resume)"
                                );
                                false
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => false,
                        },
                        _ => true,
                    };
                    if !ok {
                        // Dropping the sender ends the body after the frames
                        // already queued; the core keeps the log for a resume.
                        self.disconnect(exchange);
                    }
                }
                Output::Close { exchange } => match self.exchanges.remove(&exchange) {
                    Some(Exchange::Streaming { ticket, .. }) => {
                        self.tickets.remove(&ticket);
                    }
                    Some(Exchange::Waiting { ticket, reply }) => {
                        self.tickets.remove(&ticket);
                        let _ = reply.send(Reply::Unavailable);
                    }
                    None => {}
                },
                Output::Deliver(d) => self.deliver(d),
                Output::Store { token, command } => self.store_command(token, command),
            }
        }
    }

    fn session(&mut self, key: Option<SessionKey>, params: Option<&RawJson>) -> Session {
        let data = match key {
            Some(key) => match self.sessions.get(&key) {
                Some(data) => data.clone(),
                None => {
                    let data = Arc::new(SessionData::default());
                    // A session restored from a shared store: what its
                    // `initialize` said and the level the client set.
                    if let Some(params) = self.core.session_init_params(key) {
                        data.set_client(params.to_value());
                    }
                    if let Some(level) = self
                        .core
                        .session_log_level(key)
                        .and_then(crate::context::LogLevel::parse)
                    {
                        data.set_log_level(level);
                    }
                    self.sessions.insert(key, data.clone());
                    data
                }
            },
            None => {
                // A stateless request: its client describes itself in `_meta`.
                let data = Arc::new(SessionData::default());
                if let Some(meta) = params
                    .map(RawJson::to_value)
                    .and_then(|p| p.get("_meta").cloned())
                {
                    data.set_client(serde_json::json!({
                        "capabilities": meta.get(streamable_core::META_CLIENT_CAPABILITIES),
                        "clientInfo": meta.get("io.modelcontextprotocol/clientInfo"),
                    }));
                }
                data
            }
        };
        Session {
            key: key.map(|k| self.keys.session_out(k)),
            data,
            link: Link {
                mailbox: self.weak_mailbox.clone(),
                control: self.control_tx.clone(),
            },
        }
    }

    fn deliver(&mut self, d: Delivery) {
        match d {
            Delivery::Request {
                session,
                request,
                id,
                method,
                params,
            } => {
                let sess = self.session(session, params.as_ref());
                let sess_key = sess.key;
                let version = match session {
                    Some(sk) => self
                        .core
                        .session_version(sk)
                        .unwrap_or(ProtocolVersion::NEWEST_LEGACY),
                    None => ProtocolVersion::V2026_07_28,
                };
                let (cancel, cancelled) = CancelSender::new();
                self.running.insert(request, Running { session, cancel });
                // From here on the application's key (unique across shards).
                let request = self.keys.request_out(request);
                let parts = match self.parts.take() {
                    Some(p) if p.batch => {
                        let copy = p.parts.clone();
                        self.parts = Some(p);
                        Some(copy)
                    }
                    p => p.map(|p| p.parts),
                };
                let mut ctx =
                    RequestContext::new(sess, version, request, id, params.clone(), cancelled)
                        .with_parts(parts);
                if session.is_none() {
                    ctx.set_input_settings(Some(self.settings.input.clone()));
                }
                // DEBUG like the other per-message spans: an enabled span
                // per request costs the driver ~10% of a tools/call's
                // instructions under the fmt subscriber (callgrind,
                // docs/benchmarks.md).
                let span = tracing::debug_span!(
                    "mcp.request",
                    session = sess_key.map_or(0, |s| s.0),
                    request = request.0,
                    method = %method
                );
                let handler = self.handler.clone();
                let link = ctx.session().link.clone();
                tokio::spawn(
                    async move {
                        let mut guard = AbandonGuard {
                            request,
                            control: Some(link.control.clone()),
                        };
                        let outcome =
                            match CatchUnwind::new(handler.request(ctx, method, params)).await {
                                Ok(outcome) => outcome,
                                Err(panic) => {
                                    tracing::error!("handler panicked: {panic}");
                                    Err(ErrorObject::new(
                                        code::INTERNAL_ERROR,
                                        "Internal error: the handler panicked",
                                    ))
                                }
                            };
                        guard.control = None;
                        let _ = link.send(Command::Respond { request, outcome }).await;
                    }
                    .instrument(span),
                );
            }
            Delivery::Notification {
                session,
                method,
                params,
            } => {
                let Some(session) = session else {
                    tracing::debug!(%method, "2026-07-28 notification acknowledged, not passed on");
                    return;
                };
                let sess = self.session(Some(session), None);
                let handler = self.handler.clone();
                let global = self.keys.session_out(session);
                let span =
                    tracing::debug_span!("mcp.notification", session = global.0, method = %method);
                tokio::spawn(
                    async move {
                        if let Err(p) =
                            CatchUnwind::new(handler.notification(sess, method, params)).await
                        {
                            tracing::error!("notification handler panicked: {p}");
                        }
                    }
                    .instrument(span),
                );
            }
            Delivery::Cancelled {
                request, reason, ..
            } => {
                tracing::debug!(request = request.0, ?reason, "cancelled by the client");
                if let Some(r) = self.running.get(&request) {
                    r.cancel.cancel();
                }
            }
            Delivery::Response { outgoing, outcome } => {
                if let Some(tx) = self.outgoing.remove(&outgoing) {
                    let _ = tx.send(outcome);
                }
            }
            Delivery::SessionClosed { session, reason } => {
                self.session_closed(session, reason);
            }
        }
    }

    fn session_closed(&mut self, session: SessionKey, reason: CloseReason) {
        tracing::debug!(session = session.0, ?reason, "session closed");
        self.running.retain(|_, r| {
            if r.session == Some(session) {
                r.cancel.cancel();
                false
            } else {
                true
            }
        });
        self.outgoing.retain(|k, _| k.session != session);
        self.sessions.remove(&session);
        let handler = self.handler.clone();
        let session = self.keys.session_out(session);
        tokio::spawn(async move {
            let _ = CatchUnwind::new(async move { handler.session_closed(session, reason) }).await;
        });
    }
}

/// Tells the driver a handler task ended without answering.
struct AbandonGuard {
    request: RequestKey,
    control: Option<mpsc::UnboundedSender<Control>>,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.send(Control::Abandon(self.request));
        }
    }
}
