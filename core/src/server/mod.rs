//! The server state machine: sessions, streams, exchanges and routing for
//! the legacy (session) era, and the stateless 2026-07-28 era beside it
//! ([`stateless`]). The era is decided once per request, at the edge of
//! [`Server::handle_request`]: `initialize` or a session selects the legacy
//! machine, a modern `MCP-Protocol-Version` (or modern `_meta` without a
//! session) selects the stateless one (H-BC-5).
//!
//! Run loop contract (str0m/quinn style): call one `handle_*` input or one
//! application command, then drain [`Server::poll_output`] until `None`,
//! then sleep until [`Server::poll_timeout`] and call
//! [`Server::handle_timeout`]. Inputs carry non-decreasing time; an early or
//! spurious `handle_timeout` is harmless.
//!
//! This file holds the [`Server`] and its public inputs, commands and
//! outputs. Behind them:
//!
//! | file | what |
//! |---|---|
//! | `ids.rs` | [`IdSource`]: where session ids come from |
//! | `session.rs` | the session state machine (phases, transitions, the session table, timers) |
//! | `legacy.rs` | POST, GET and DELETE of the session era |
//! | `streams.rs` | opening, attaching, replaying, answering on and closing streams |
//! | `log.rs` | a stream's event log and event ids |
//! | `router.rs` | which exchange and stream a request belongs to |
//! | `stateless/` | the 2026-07-28 era |
//! | `invariants.rs` | [`Server::check_invariants`] |

mod ids;
#[macro_use]
mod invariants;
mod legacy;
mod log;
mod restore;
mod router;
mod session;
mod stateless;
mod streams;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};

use crate::config::{Config, ResponseMode};
use crate::edge::{self, Classified, Refusal};
use crate::jsonrpc::{self, ErrorObject, Id, RawJson, code};
use crate::output::{
    CloseReason, Content, ExchangeId, OutgoingKey, Output, RequestKey, ResponseHead, SendError,
    SessionKey, Target,
};
use crate::sse;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

#[cfg(feature = "test-util")]
pub use self::ids::SeededIds;
pub use self::ids::{EntropyUnavailable, IdSource};
use self::log::Form;
use self::router::Router;
use self::session::Session;
use self::stateless::Stateless;
pub use self::stateless::{Filter, META_CLIENT_CAPABILITIES, META_LOG_LEVEL, REMOVED_METHODS};

/// The longest principal id [`Server::handle_request_as`] accepts (bytes):
/// each session keeps one, so the session table stays bounded.
pub const MAX_PRINCIPAL_BYTES: usize = 1024;
/// `Last-Event-ID` parsing, for the fuzz targets (`crate::fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_event_id_for_fuzz(text: &str) -> Option<(u64, u64, u64)> {
    log::parse_event_id(text).map(|(s, q)| (s.instance, s.number, q))
}

/// `Last-Event-ID` formatting, for the fuzz targets (`crate::fuzz`).
#[cfg(feature = "fuzzing")]
pub(crate) fn event_id_for_fuzz(instance: u64, stream: u64, seq: u64) -> String {
    log::event_id(
        log::StreamId {
            instance,
            number: stream,
        },
        seq,
    )
}

/// The sans-IO MCP Streamable HTTP server.
///
/// The whole state is `Clone + Eq + Hash + Debug` so a model checker can
/// hold it; every table in it is bounded by a [`Config`] limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server<I> {
    config: Config,
    ids: I,
    sessions: BTreeMap<SessionKey, Session>,
    by_wire_id: BTreeMap<Box<str>, SessionKey>,
    router: Router,
    /// The stateless (2026-07-28) exchanges.
    stateless: Stateless,
    /// Session deadlines; entries may be early (re-armed when they fire).
    timers: BTreeSet<(Timestamp, SessionKey)>,
    outputs: VecDeque<Output>,
    next_session: u64,
    now: Timestamp,
    /// With a shared store: this server's instance id, drawn from `ids` at
    /// the first need (never `0` then); `0` without a store.
    instance: u64,
    /// The shared store's bookkeeping (empty without a store).
    store: restore::StoreState,
}

impl<I: IdSource> Server<I> {
    /// A server with no sessions.
    pub fn new(config: Config, ids: I) -> Self {
        Server {
            config,
            ids,
            sessions: BTreeMap::new(),
            by_wire_id: BTreeMap::new(),
            router: Router::default(),
            stateless: Stateless::default(),
            timers: BTreeSet::new(),
            outputs: VecDeque::new(),
            next_session: 0,
            now: Timestamp::ZERO,
            instance: 0,
            store: restore::StoreState::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The wire id (`Mcp-Session-Id`) of a live session.
    pub fn session_wire_id(&self, session: SessionKey) -> Option<&str> {
        self.sessions.get(&session).map(|s| &*s.wire_id)
    }

    /// With a shared store: the client's `initialize` params of a live
    /// session (also of one restored from the store), so an adapter can
    /// rebuild what it keeps per session. `None` without a store.
    pub fn session_init_params(&self, session: SessionKey) -> Option<&RawJson> {
        self.sessions.get(&session)?.init_params.as_ref()
    }

    /// With a shared store: the level the client set with
    /// `logging/setLevel` (as the store recorded it). `None` without a store.
    pub fn session_log_level(&self, session: SessionKey) -> Option<&str> {
        self.sessions.get(&session)?.log_level.as_deref()
    }

    /// The negotiated version of a live session (the proposed one until the
    /// initialize result was sent).
    pub fn session_version(&self, session: SessionKey) -> Option<ProtocolVersion> {
        self.sessions.get(&session).map(|s| s.version)
    }

    fn tick(&mut self, now: Timestamp) {
        // Time never goes backwards inside the core.
        if now > self.now {
            self.now = now;
        }
    }

    // ----------------------------------------------------------------- outputs

    /// The next instruction for the driver.
    ///
    /// Changed by every `handle_*` input and every application command.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Server::handle_timeout`] must next be called: the last `now`
    /// while outputs are queued (so a driver that sleeps until the deadline
    /// never strands them), else the earliest session deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if !self.outputs.is_empty() {
            return Some(self.now);
        }
        let sessions = self.timers.first().map(|(t, _)| *t);
        match self.store.first_deadline() {
            Some(s) => Some(sessions.map_or(s, |t| t.min(s))),
            None => sessions,
        }
    }

    // ------------------------------------------------------------------ inputs

    /// An HTTP request arrived with its whole body (the adapter reads at most
    /// `max_body_bytes + 1` bytes; a longer body is refused with 413).
    ///
    /// Returns the exchange that every output about this request names.
    pub fn handle_request(&mut self, now: Timestamp, req: Request<Bytes>) -> ExchangeId {
        self.handle_request_as(now, &req, None)
    }

    /// [`Server::handle_request`] for a request whose sender an adapter
    /// authenticated: `principal` is the verified principal's opaque id
    /// (`None`: no authorization in front of this server). The request is
    /// borrowed, so the adapter keeps its parts (headers, extensions) for
    /// the application.
    ///
    /// A session is bound to the principal of the `initialize` that created
    /// it (INV-S-PRINCIPAL): a request naming that session from another
    /// principal, or from none when it had one, is answered 404 exactly as
    /// for an unknown session, so the answer tells nothing of the session's
    /// existence. An empty principal id, or one longer than
    /// [`MAX_PRINCIPAL_BYTES`], is refused with 400 (the adapter's
    /// resource server never passes one on).
    pub fn handle_request_as(
        &mut self,
        now: Timestamp,
        req: &Request<Bytes>,
        principal: Option<&str>,
    ) -> ExchangeId {
        self.tick(now);
        let ex = self.router.new_exchange();
        if principal.is_some_and(|p| p.is_empty() || p.len() > MAX_PRINCIPAL_BYTES) {
            self.refuse(
                ex,
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    code::SERVER_ERROR,
                    "Bad Request: principal id empty or too long",
                ),
            );
            return ex;
        }
        match edge::classify_with(&self.config, req, false) {
            Err(refusal) => self.refuse(ex, refusal),
            Ok(Classified::Post {
                session,
                version,
                body,
                mirrored: _,
            }) => {
                if stateless::is_modern(session.as_deref(), &version, &body) {
                    let mirrored = edge::Mirrored::read(req.headers());
                    self.modern_post(ex, version, mirrored, body)
                } else {
                    self.post(ex, session, version, body, principal)
                }
            }
            Ok(Classified::Get {
                session,
                version,
                last_event_id,
            }) => self.get(ex, session, version, last_event_id, principal),
            Ok(Classified::Delete { session, version }) => {
                self.delete(ex, session, version, principal)
            }
        }
        ex
    }

    /// The client of `exchange` went away, or its connection was closed for
    /// being too slow. In this era a disconnect is not a cancellation
    /// (T-PSSE-12): requests go on and their events stay in the log for a
    /// resume. Unknown or finished exchanges are ignored.
    ///
    /// A stateless (2026-07-28) exchange is different: closing it is the
    /// cancellation (H-CAN-1, X-13). The application gets
    /// [`Delivery::Cancelled`] and the request is forgotten, so nothing more
    /// is emitted for it.
    pub fn handle_disconnect(&mut self, now: Timestamp, exchange: ExchangeId) {
        self.tick(now);
        if self.stateless_disconnect(exchange) {
            return;
        }
        if self.config.store.is_some() && self.store_disconnect(exchange) {
            return;
        }
        let Some((sk, sid)) = self.router.exchanges.remove(&exchange) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&sk) else {
            return;
        };
        if let Some(stream) = session.streams.get_mut(&sid) {
            if stream.conn == Some(exchange) {
                stream.conn = None;
            }
            if matches!(stream.form, Form::Pending { .. }) {
                // No event id ever reached the client, so it cannot resume:
                // the stream goes; its requests go on, and the application
                // learns `NoStream` when it answers.
                session.streams.remove(&sid);
            }
        }
        session.touch(self.now);
        self.rearm(sk);
    }

    /// Timers: end sessions whose idle or init deadline has passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        self.expire_sessions();
        self.expire_store_commands();
    }

    // ---------------------------------------------------- application commands

    /// Answer a request delivered as [`Delivery::Request`].
    ///
    /// The response goes on the request's own stream or JSON body, nowhere
    /// else (INV-S1). After the client cancelled the request, a response that
    /// would go on an SSE stream is not sent (U-CAN-5) but the stream still
    /// ends. For `initialize`, the core checks the result's
    /// `protocolVersion`, replaces one it does not support (L-VER-2) and
    /// records the negotiated version.
    pub fn respond(
        &mut self,
        now: Timestamp,
        request: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
    ) -> Result<(), SendError> {
        self.tick(now);
        if let Some(rk) = self.stateless_request(Target::Request(request)) {
            return self.stateless_answer(rk, outcome);
        }
        self.answer(request, outcome, false)
    }

    /// Give up a request without a response (the handler was dropped, or it
    /// honoured a cancellation). Its stream still ends, so nothing waits
    /// forever; an exchange still waiting for its head gets a JSON-RPC
    /// internal error instead, since a POST with a request must be answered.
    pub fn abandon(&mut self, now: Timestamp, request: RequestKey) -> Result<(), SendError> {
        self.tick(now);
        let err = ErrorObject::new(code::INTERNAL_ERROR, "request abandoned by the server");
        if let Some(rk) = self.stateless_request(Target::Request(request)) {
            return self.stateless_answer(rk, Err(err));
        }
        self.answer(request, Err(err), true)
    }

    /// Send a notification: on a request's stream (progress, log messages:
    /// T-PSSE-8) or on the session's GET stream (T-GET-4).
    pub fn notify(
        &mut self,
        now: Timestamp,
        target: Target,
        method: &str,
        params: Option<&RawJson>,
    ) -> Result<(), SendError> {
        self.tick(now);
        if let Some(rk) = self.stateless_request(target) {
            return self.stateless_notify(rk, method, params);
        }
        let (sk, sid) = self.target_stream(target)?;
        let mut msg = BytesMut::with_capacity(64 + params.map_or(0, |p| p.as_bytes().len()));
        jsonrpc::write_notification(&mut msg, method, params);
        self.send(sk, sid, msg.freeze(), false)
    }

    /// Send a request to the client (sampling, elicitation, roots) on the
    /// originating request's stream or the GET stream. The core
    /// assigns the wire id (unique per session, never reused); the answer
    /// arrives as [`Delivery::Response`] with the returned key.
    pub fn request_client(
        &mut self,
        now: Timestamp,
        target: Target,
        method: &str,
        params: Option<&RawJson>,
    ) -> Result<OutgoingKey, SendError> {
        self.tick(now);
        if self.stateless_request(target).is_some() {
            return Err(SendError::Stateless);
        }
        let (sk, sid) = self.target_stream(target)?;
        let limit = self.config.max_outgoing_per_session;
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        // L-INIT-6: nothing but ping before the client said it is initialized.
        if !session.may_request(method) {
            return Err(SendError::NotAllowed);
        }
        if session.outgoing.len() >= limit {
            return Err(SendError::Limit);
        }
        let wire_id = session.next_outgoing;
        let mut msg = BytesMut::with_capacity(64 + params.map_or(0, |p| p.as_bytes().len()));
        jsonrpc::write_request(&mut msg, &Id::Int(wire_id), method, params);
        self.send(sk, sid, msg.freeze(), false)?;
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        session.next_outgoing += 1;
        session.outgoing.insert(wire_id);
        Ok(OutgoingKey {
            session: sk,
            wire_id,
        })
    }

    /// End the *connection* of a stream without ending the stream (SSE
    /// polling, T-PSSE-2): the client reconnects with `Last-Event-ID` after
    /// the `retry` it was sent (T-PSSE-4) and gets everything that followed,
    /// including responses produced meanwhile. `Target::Request` names the
    /// request's POST stream (a head still pending is first turned into SSE
    /// with its priming event, so the client holds an id to resume from);
    /// `Target::Session` names the GET stream.
    ///
    /// Only 2025-11-25 sessions poll (their streams are primed; X-6):
    /// otherwise [`SendError::NotAllowed`]. A JSON-mode exchange cannot
    /// ([`SendError::JsonMode`]); a 2026-07-28 request cannot either, since
    /// there a closed stream is a cancellation ([`SendError::Stateless`]).
    /// A stream with no connection attached is left as it is (`Ok`).
    pub fn end_connection(&mut self, now: Timestamp, target: Target) -> Result<(), SendError> {
        self.tick(now);
        if self.stateless_request(target).is_some() {
            return Err(SendError::Stateless);
        }
        let (sk, sid) = self.target_stream(target)?;
        let retry = self.config.retry_ms;
        let json = self.config.response_mode == ResponseMode::Json;
        let session = self.sessions.get(&sk).ok_or(SendError::Gone)?;
        if !session.version.primes_streams() || !session.initialized() {
            return Err(SendError::NotAllowed);
        }
        let stream = session.streams.get(&sid).ok_or(SendError::NoStream)?;
        if matches!(stream.form, Form::Pending { .. }) {
            if json {
                return Err(SendError::JsonMode);
            }
            // The priming event carries `retry` and gives the client an id.
            self.upgrade(sk, sid);
        } else if let Some(ex) = stream.conn {
            let mut f = BytesMut::new();
            sse::encode_retry(&mut f, retry);
            self.outputs.push_back(Output::Event {
                exchange: ex,
                frame: f.freeze(),
            });
        }
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        let stream = session.streams.get_mut(&sid).ok_or(SendError::NoStream)?;
        if let Some(ex) = stream.conn.take() {
            self.router.exchanges.remove(&ex);
            self.outputs.push_back(Output::Close { exchange: ex });
        }
        session.touch(self.now);
        self.rearm(sk);
        Ok(())
    }

    /// Stop waiting for the answer to a server-to-client request (a later
    /// answer is then ignored).
    pub fn forget_outgoing(&mut self, outgoing: OutgoingKey) {
        if let Some(session) = self.sessions.get_mut(&outgoing.session) {
            session.outgoing.remove(&outgoing.wire_id);
        }
    }

    /// End a session from the application side (T-SES-7): its streams close
    /// and every later request naming it gets 404.
    pub fn close_session(&mut self, now: Timestamp, session: SessionKey) -> Result<(), SendError> {
        self.tick(now);
        if !self.sessions.contains_key(&session) {
            return Err(SendError::Gone);
        }
        self.terminate(session, CloseReason::Application);
        Ok(())
    }

    /// Publish a change notification (`notifications/tools/list_changed`,
    /// `.../prompts/list_changed`, `.../resources/list_changed`,
    /// `.../resources/updated` with `params.uri`) to every 2026-07-28
    /// `subscriptions/listen` stream whose filter asks for it, tagged with
    /// its subscription id (H-SUB-1, H-SUB-3). Returns how many streams it
    /// reached. Legacy sessions get theirs through [`Server::notify`] with
    /// [`Target::Session`].
    pub fn publish(&mut self, now: Timestamp, method: &str, params: Option<&RawJson>) -> usize {
        self.tick(now);
        self.stateless_publish(method, params)
    }

    /// End every `subscriptions/listen` stream gracefully (for example on
    /// shutdown): each gets its completion result, then closes (H-SUB-5).
    /// Returns how many ended.
    pub fn end_subscriptions(&mut self, now: Timestamp) -> usize {
        self.tick(now);
        self.stateless_end_subscriptions()
    }

    /// Declare the `x-mcp-header` parameters of a tool (found with
    /// [`mirror::param_headers`](crate::mirror::param_headers)), so that
    /// 2026-07-28 `tools/call` requests are checked against them (H-HDR-5):
    /// a mirrored argument needs its `Mcp-Param-{Name}` header with the same
    /// value. An empty list removes the tool's entry.
    pub fn set_tool_param_headers(&mut self, tool: &str, params: Vec<crate::mirror::ParamHeader>) {
        if params.is_empty() {
            self.stateless.tool_params.remove(tool);
        } else {
            self.stateless.tool_params.insert(tool.to_owned(), params);
        }
    }

    /// Stateless (2026-07-28) requests being handled.
    pub fn stateless_in_flight(&self) -> usize {
        self.stateless.requests.len()
    }

    /// Open `subscriptions/listen` streams.
    pub fn listener_count(&self) -> usize {
        self.stateless.listeners
    }

    // ------------------------------------------------------------- machinery

    /// The one guard of every command that takes a [`Target`]: the
    /// 2026-07-28 request it names, if it names one. Such a request has its
    /// own stream and no session, so `respond`, `abandon` and `notify` route
    /// to the stateless machine and the session-only commands refuse it
    /// ([`SendError::Stateless`]).
    fn stateless_request(&self, target: Target) -> Option<RequestKey> {
        match target {
            Target::Request(rk) if self.is_stateless(rk) => Some(rk),
            _ => None,
        }
    }

    /// The session `wire` names, if it is live and was created by
    /// `principal` (INV-S26): another principal's session is as unknown
    /// as one that never existed (AUTH-RS-11).
    fn lookup(&self, wire: &str, principal: Option<&str>) -> Option<SessionKey> {
        let sk = self.by_wire_id.get(wire).copied()?;
        (self.sessions.get(&sk)?.principal.as_deref() == principal).then_some(sk)
    }

    fn session_head(&self, sk: SessionKey, status: StatusCode, content: Content) -> ResponseHead {
        let mut head = ResponseHead::new(status, content);
        head.session_id = self.sessions.get(&sk).map(|s| s.wire_id.clone());
        head
    }

    fn refuse(&mut self, ex: ExchangeId, refusal: Refusal) {
        let (content, body) = match &refusal.error {
            Some(e) => (Content::Json, jsonrpc::error_body(e)),
            None => (Content::Empty, Bytes::new()),
        };
        let mut head = ResponseHead::new(refusal.status, content);
        head.allow = refusal.allow;
        head.retry_after = refusal.retry_after;
        self.outputs.push_back(Output::Reply {
            exchange: ex,
            head,
            body,
        });
    }
}

#[cfg(all(test, feature = "fuzzing"))]
mod fuzz_hook_tests {
    #[test]
    fn the_fuzz_hooks_round_trip_event_ids() {
        for (instance, stream, seq) in [(0, 1, 0), (0, 7, 42), (0xabc, 3, 9), (u64::MAX, 2, 5)] {
            let text = super::event_id_for_fuzz(instance, stream, seq);
            assert_eq!(
                super::parse_event_id_for_fuzz(&text),
                Some((instance, stream, seq)),
                "{text}"
            );
        }
        assert_eq!(super::parse_event_id_for_fuzz("x"), None);
    }
}
