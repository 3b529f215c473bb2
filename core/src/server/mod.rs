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

mod log;
mod router;
mod session;
mod stateless;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};

use crate::config::{Config, ResponseMode};
use crate::edge::{self, Classified, Refusal, VersionHeader};
use crate::jsonrpc::{self, Body, ErrorObject, Id, Message, RawJson, code};
use crate::output::{
    CloseReason, Content, Delivery, ExchangeId, OutgoingKey, Output, RequestKey, ResponseHead,
    SendError, SessionKey, Target,
};
use crate::sse;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

use self::log::{Form, Origin, ReplayError, Stream, StreamId, event_id, parse_event_id};
use self::router::{InFlight, Kind, Router};
use self::session::{Phase, Session};
use self::stateless::Stateless;
pub use self::stateless::{
    Filter, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SUBSCRIPTION_ID,
};

/// The messages of one POST body: a single message without a `Vec`
/// allocation (the common case, on every request), or a batch.
enum Messages {
    One([Message; 1]),
    Many(Vec<Message>),
}

impl Messages {
    fn as_slice(&self) -> &[Message] {
        match self {
            Messages::One(m) => m,
            Messages::Many(ms) => ms,
        }
    }
}

impl IntoIterator for Messages {
    type Item = Message;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Message>, std::vec::IntoIter<Message>>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Messages::One([m]) => Some(m).into_iter().chain(Vec::new()),
            Messages::Many(ms) => None.into_iter().chain(ms),
        }
    }
}

/// Entropy for session ids, supplied by the caller so the core stays
/// deterministic (the adapter draws from the OS CSPRNG; tests use a seed).
pub trait IdSource {
    /// 128 fresh bits for a session id (SBP-2: unguessable in production).
    fn session_id(&mut self) -> u128;
}

/// A deterministic [`IdSource`] for tests and simulation: a splitmix64
/// sequence from a seed. **Not for production**: its ids are predictable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeededIds(pub u64);

impl IdSource for SeededIds {
    fn session_id(&mut self) -> u128 {
        let mut next = || {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        (u128::from(next()) << 64) | u128::from(next())
    }
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
        self.timers.first().map(|(t, _)| *t)
    }

    // ------------------------------------------------------------------ inputs

    /// An HTTP request arrived with its whole body (the adapter reads at most
    /// `max_body_bytes + 1` bytes; a longer body is refused with 413).
    ///
    /// Returns the exchange that every output about this request names.
    pub fn handle_request(&mut self, now: Timestamp, req: Request<Bytes>) -> ExchangeId {
        self.tick(now);
        let ex = self.router.new_exchange();
        match edge::classify_with(&self.config, &req, false) {
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
                    self.post(ex, session, version, body)
                }
            }
            Ok(Classified::Get {
                session,
                version,
                last_event_id,
            }) => self.get(ex, session, version, last_event_id),
            Ok(Classified::Delete { session, version }) => self.delete(ex, session, version),
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
        session.last_activity = self.now;
        self.rearm(sk);
    }

    /// Timers: end sessions whose idle or init deadline has passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        while let Some(&(at, sk)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.remove(&(at, sk));
            let Some(session) = self.sessions.get_mut(&sk) else {
                continue;
            };
            session.armed = None;
            match session.deadline(&self.config) {
                Some(d) if d <= self.now => {
                    let reason = if session.phase == Phase::Ready {
                        CloseReason::IdleTimeout
                    } else {
                        CloseReason::InitTimeout
                    };
                    self.terminate(sk, reason);
                }
                _ => self.rearm(sk),
            }
        }
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
        if self.is_stateless(request) {
            return self.stateless_answer(request, outcome);
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
        if self.is_stateless(request) {
            return self.stateless_answer(request, Err(err));
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
        if let Target::Request(rk) = target
            && self.is_stateless(rk)
        {
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
        if let Target::Request(rk) = target
            && self.is_stateless(rk)
        {
            return Err(SendError::Stateless);
        }
        let (sk, sid) = self.target_stream(target)?;
        let limit = self.config.max_outgoing_per_session;
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        // L-INIT-6: nothing but ping before the client said it is initialized.
        if session.phase != Phase::Ready && method != "ping" {
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
        if let Target::Request(rk) = target
            && self.is_stateless(rk)
        {
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
        } else if stream.conn.is_some() {
            let ex = stream.conn.expect("checked");
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
        session.last_activity = self.now;
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

    // --------------------------------------------------------------- requests

    fn post(
        &mut self,
        ex: ExchangeId,
        session: Option<String>,
        version: VersionHeader,
        body: Body,
    ) {
        let is_initialize = matches!(&body, Body::Single(Message::Request { method, .. }) if method == "initialize");
        if is_initialize {
            if session.is_some() {
                return self.refuse(
                    ex,
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        code::INVALID_REQUEST,
                        "Bad Request: initialize must be sent without Mcp-Session-Id",
                    ),
                );
            }
            let Body::Single(Message::Request { id, params, .. }) = body else {
                return;
            };
            return self.initialize(ex, id, params);
        }
        let Some(wire) = session else {
            return self.refuse(ex, missing_session());
        };
        let Some(sk) = self.lookup(&wire) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        let negotiated = self.sessions[&sk].version;
        let messages = match body {
            Body::Single(m) => Messages::One([m]),
            Body::Batch(ms) => {
                if !negotiated.allows_batches() {
                    return self.refuse(
                        ex,
                        Refusal::new(
                            StatusCode::BAD_REQUEST,
                            code::INVALID_REQUEST,
                            format!(
                                "Bad Request: JSON-RPC batches are not allowed at {negotiated}"
                            ),
                        ),
                    );
                }
                Messages::Many(ms)
            }
        };
        // T-POST-10: the form of the body decides, not its length (a batch
        // of one is answered with an array of one).
        let batch = matches!(messages, Messages::Many(_));
        if let Err(r) = self.check_messages(sk, messages.as_slice()) {
            return self.refuse(ex, r);
        }
        let session = self.sessions.get_mut(&sk).expect("looked up above");
        session.last_activity = self.now;
        let requests = messages
            .as_slice()
            .iter()
            .filter(|m| m.is_request())
            .count();
        if requests > 0
            || messages
                .as_slice()
                .iter()
                .any(|m| m.method() == Some("notifications/initialized"))
        {
            session.phase = match session.phase {
                Phase::Initializing => Phase::Initializing,
                _ => Phase::Ready,
            };
        }
        if requests == 0 {
            // T-POST-5/6: only notifications and responses: 202, empty body.
            let head = self.session_head(sk, StatusCode::ACCEPTED, Content::Empty);
            self.outputs.push_back(Output::Reply {
                exchange: ex,
                head,
                body: Bytes::new(),
            });
            for m in messages {
                self.incoming(sk, m);
            }
            self.rearm(sk);
            return;
        }
        let sse = self.config.response_mode == ResponseMode::Sse;
        let sid = self.open_post_stream(ex, sk, batch, requests, sse);
        let mut pings = Vec::new();
        for m in messages {
            match m {
                Message::Request { id, method, params } => {
                    let rk = self.router.new_request();
                    let session = self.sessions.get_mut(&sk).expect("live");
                    session.in_flight.insert(id.clone(), rk);
                    self.router.requests.insert(
                        rk,
                        InFlight {
                            session: sk,
                            stream: sid,
                            id: id.clone(),
                            kind: Kind::Plain,
                            cancelled: false,
                        },
                    );
                    if method == "ping" {
                        // U-PING-1: the core answers ping itself.
                        pings.push(rk);
                    } else {
                        self.outputs.push_back(Output::Deliver(Delivery::Request {
                            session: Some(sk),
                            request: rk,
                            id,
                            method,
                            params,
                        }));
                    }
                }
                other => self.incoming(sk, other),
            }
        }
        for rk in pings {
            let _ = self.answer(rk, Ok(RawJson::empty_object()), false);
        }
        self.rearm(sk);
    }

    /// Refusals that depend on the session: duplicate in-flight ids (B-MSG-3),
    /// requests mixed with responses (T-POST-3), the in-flight limit.
    fn check_messages(&self, sk: SessionKey, messages: &[Message]) -> Result<(), Refusal> {
        let session = &self.sessions[&sk];
        let requests = messages.iter().filter(|m| m.is_request()).count();
        let responses = messages
            .iter()
            .filter(|m| matches!(m, Message::Response { .. }))
            .count();
        if requests > 0 && responses > 0 {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                code::INVALID_REQUEST,
                "Bad Request: requests and responses cannot share a batch",
            ));
        }
        let mut seen = BTreeSet::new();
        for m in messages {
            match m {
                Message::Request { id, method, .. } => {
                    if method == "initialize" {
                        return Err(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            code::INVALID_REQUEST,
                            "Bad Request: initialize cannot be batched or repeated in a session",
                        ));
                    }
                    // The duplicate set is only needed for batches.
                    let dup_in_batch = messages.len() > 1 && !seen.insert(id);
                    if session.in_flight.contains_key(id) || dup_in_batch {
                        return Err(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            code::INVALID_REQUEST,
                            format!("Bad Request: request id {id} is already in flight"),
                        ));
                    }
                }
                Message::Notification { method, .. } if method == "initialize" => {
                    return Err(Refusal::new(
                        StatusCode::BAD_REQUEST,
                        code::INVALID_REQUEST,
                        "Bad Request: initialize must be a request",
                    ));
                }
                _ => {}
            }
        }
        if session.in_flight.len() + requests > self.config.max_in_flight_per_session {
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::SERVER_ERROR,
                "Too Many Requests: the session's in-flight limit is reached",
            ));
        }
        Ok(())
    }

    /// A notification or a response from the client.
    fn incoming(&mut self, sk: SessionKey, m: Message) {
        match m {
            Message::Notification { method, params } if method == "notifications/cancelled" => {
                // U-CAN-9: unknown, finished or malformed cancellations are ignored.
                let Some(params) = params else { return };
                let value = params.to_value();
                let Some(id) = value
                    .get("requestId")
                    .and_then(|v| Id::from_raw(&v.to_string()))
                else {
                    return;
                };
                let reason = value
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned);
                let Some(&rk) = self.sessions[&sk].in_flight.get(&id) else {
                    return;
                };
                let Some(req) = self.router.requests.get_mut(&rk) else {
                    return;
                };
                // U-CAN-3: initialize is never cancelled.
                if req.kind == Kind::Initialize || req.cancelled {
                    return;
                }
                req.cancelled = true;
                self.outputs.push_back(Output::Deliver(Delivery::Cancelled {
                    session: Some(sk),
                    request: rk,
                    reason,
                }));
            }
            Message::Notification { method, params } => {
                self.outputs
                    .push_back(Output::Deliver(Delivery::Notification {
                        session: Some(sk),
                        method,
                        params,
                    }));
            }
            Message::Response { id, outcome } => {
                let Id::Int(wire_id) = id else { return };
                let session = self.sessions.get_mut(&sk).expect("live");
                // Answers to requests we did not send (or forgot) are ignored.
                if session.outgoing.remove(&wire_id) {
                    self.outputs.push_back(Output::Deliver(Delivery::Response {
                        outgoing: OutgoingKey {
                            session: sk,
                            wire_id,
                        },
                        outcome,
                    }));
                }
            }
            Message::Request { .. } => {}
        }
    }

    fn initialize(&mut self, ex: ExchangeId, id: Id, params: Option<RawJson>) {
        if self.sessions.len() >= self.config.max_sessions {
            return self.refuse(
                ex,
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVER_ERROR,
                    "Service Unavailable: too many sessions",
                ),
            );
        }
        // 128 bits from the caller's entropy, as 32 hex digits: visible ASCII
        // (T-SES-3). A collision with a live id is redrawn.
        let mut wire = None;
        for _ in 0..8 {
            let candidate: Box<str> = format!("{:032x}", self.ids.session_id()).into();
            if !self.by_wire_id.contains_key(&candidate) {
                wire = Some(candidate);
                break;
            }
        }
        let Some(wire) = wire else {
            return self.refuse(
                ex,
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVER_ERROR,
                    "Service Unavailable: could not mint a session id",
                ),
            );
        };
        let proposed = params
            .as_ref()
            .and_then(|p| {
                p.to_value()
                    .get("protocolVersion")
                    .and_then(|v| v.as_str())
                    .and_then(ProtocolVersion::parse)
            })
            .filter(|v| v.is_legacy())
            .unwrap_or(ProtocolVersion::NEWEST_LEGACY);
        self.next_session += 1;
        let sk = SessionKey(self.next_session);
        self.by_wire_id.insert(wire.clone(), sk);
        self.sessions
            .insert(sk, Session::new(wire, proposed, self.now));
        // The initialize exchange waits for its first message even in SSE
        // mode: the negotiated version (and so priming) is not known yet.
        let sid = self.open_post_stream(ex, sk, false, 1, false);
        let rk = self.router.new_request();
        self.sessions
            .get_mut(&sk)
            .expect("just inserted")
            .in_flight
            .insert(id.clone(), rk);
        self.router.requests.insert(
            rk,
            InFlight {
                session: sk,
                stream: sid,
                id: id.clone(),
                kind: Kind::Initialize,
                cancelled: false,
            },
        );
        self.outputs.push_back(Output::Deliver(Delivery::Request {
            session: Some(sk),
            request: rk,
            id,
            method: "initialize".into(),
            params,
        }));
        self.rearm(sk);
    }

    fn get(
        &mut self,
        ex: ExchangeId,
        session: Option<String>,
        version: VersionHeader,
        last_event_id: Option<String>,
    ) {
        let Some(wire) = session.filter(|_| !is_modern_header(&version)) else {
            return self.refuse(ex, Refusal::method_not_allowed("POST"));
        };
        let Some(sk) = self.lookup(&wire) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        if !self.config.get_stream {
            return self.refuse(ex, Refusal::method_not_allowed("POST, DELETE"));
        }
        self.sessions.get_mut(&sk).expect("live").last_activity = self.now;
        match last_event_id {
            Some(text) => self.resume(ex, sk, &text),
            None => {
                let sid = match self.sessions[&sk].get_stream {
                    Some(sid) => sid,
                    None => {
                        let sid = self.router.new_stream();
                        let session = self.sessions.get_mut(&sk).expect("live");
                        session
                            .streams
                            .insert(sid, Stream::new(Origin::Get, Form::Sse));
                        session.get_stream = Some(sid);
                        self.prime(sk, sid);
                        sid
                    }
                };
                // A fresh GET continues with everything no connection has
                // seen yet: nothing queued for the session is lost.
                let from = self.sessions[&sk].streams[&sid].written;
                self.attach(ex, sk, sid, from);
            }
        }
        self.rearm(sk);
    }

    /// GET with `Last-Event-ID` (T-RES-4): replay exactly what followed that
    /// event on its stream, then continue live (INV-S5). Refusals are clear
    /// and terminal for that stream: 400 for an id this session never
    /// issued, 410 when the events after it were evicted, 204 when the
    /// stream finished and nothing is missing.
    fn resume(&mut self, ex: ExchangeId, sk: SessionKey, text: &str) {
        let bad = || {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                code::INVALID_REQUEST,
                "Bad Request: Last-Event-ID does not name an event of this session",
            )
        };
        let Some((sid, seq)) = parse_event_id(text) else {
            return self.refuse(ex, bad());
        };
        let Some(stream) = self.sessions[&sk].streams.get(&sid) else {
            return self.refuse(ex, bad());
        };
        if matches!(stream.form, Form::Pending { .. }) {
            return self.refuse(ex, bad());
        }
        match stream
            .log
            .after(Some(seq))
            .map(|mut it| it.next().is_none())
        {
            Err(ReplayError::Future) => self.refuse(ex, bad()),
            Err(ReplayError::Evicted) => self.refuse(
                ex,
                Refusal::new(
                    StatusCode::GONE,
                    code::INVALID_REQUEST,
                    "Gone: the events after Last-Event-ID are no longer retained",
                ),
            ),
            Ok(true) if stream.finished => {
                let head = self.session_head(sk, StatusCode::NO_CONTENT, Content::Empty);
                self.outputs.push_back(Output::Reply {
                    exchange: ex,
                    head,
                    body: Bytes::new(),
                });
            }
            Ok(_) => self.attach(ex, sk, sid, seq + 1),
        }
    }

    fn delete(&mut self, ex: ExchangeId, session: Option<String>, version: VersionHeader) {
        let Some(wire) = session.filter(|_| !is_modern_header(&version)) else {
            return self.refuse(ex, Refusal::method_not_allowed("POST"));
        };
        if !self.config.allow_delete {
            return self.refuse(ex, Refusal::method_not_allowed("GET, POST"));
        }
        let Some(sk) = self.lookup(&wire) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        // 204 No Content.
        self.outputs.push_back(Output::Reply {
            exchange: ex,
            head: ResponseHead::new(StatusCode::NO_CONTENT, Content::Empty),
            body: Bytes::new(),
        });
        self.terminate(sk, CloseReason::Deleted);
    }

    // ------------------------------------------------------------- machinery

    fn lookup(&self, wire: &str) -> Option<SessionKey> {
        self.by_wire_id.get(wire).copied()
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
        self.outputs.push_back(Output::Reply {
            exchange: ex,
            head,
            body,
        });
    }

    fn open_post_stream(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        batch: bool,
        requests: usize,
        sse: bool,
    ) -> StreamId {
        let sid = self.router.new_stream();
        let mut stream = Stream::new(
            Origin::Post { batch },
            Form::Pending {
                collected: Vec::new(),
            },
        );
        stream.owed = requests;
        stream.requests = requests;
        stream.conn = Some(ex);
        self.sessions
            .get_mut(&sk)
            .expect("live")
            .streams
            .insert(sid, stream);
        self.router.exchanges.insert(ex, (sk, sid));
        if sse {
            self.upgrade(sk, sid);
        }
        sid
    }

    /// Turn a head-pending POST stream into an SSE stream: the head goes out,
    /// then the priming event (2025-11-25), then any responses collected.
    fn upgrade(&mut self, sk: SessionKey, sid: StreamId) {
        let head = self.session_head(sk, StatusCode::OK, Content::EventStream);
        let session = self.sessions.get_mut(&sk).expect("live");
        let stream = session.streams.get_mut(&sid).expect("live");
        let Form::Pending { collected } = std::mem::replace(&mut stream.form, Form::Sse) else {
            return;
        };
        if let Some(ex) = stream.conn {
            self.outputs
                .push_back(Output::StreamHead { exchange: ex, head });
        }
        self.prime(sk, sid);
        for msg in collected {
            self.log_event(sk, sid, &msg, true);
        }
    }

    /// The priming event (T-PSSE-1): an id and empty data, so the client has
    /// a cursor before anything else happens; 2025-11-25 sessions only.
    fn prime(&mut self, sk: SessionKey, sid: StreamId) {
        let session = &self.sessions[&sk];
        if !session.version.primes_streams() || !session.initialized() {
            return;
        }
        let seq = session.streams[&sid].log.next_seq();
        let mut frame = BytesMut::with_capacity(48);
        sse::encode_priming(&mut frame, &event_id(sid, seq), Some(self.config.retry_ms));
        self.append_frame(sk, sid, frame.freeze(), false);
    }

    /// Route one message to a stream: collected for a JSON body, or logged
    /// and (if a connection is attached) written.
    fn send(
        &mut self,
        sk: SessionKey,
        sid: StreamId,
        msg: Bytes,
        response: bool,
    ) -> Result<(), SendError> {
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        let stream = session.streams.get_mut(&sid).ok_or(SendError::NoStream)?;
        match &mut stream.form {
            Form::Pending { collected } if response => {
                collected.push(msg);
                Ok(())
            }
            Form::Pending { .. } => {
                if self.config.response_mode == ResponseMode::Json {
                    return Err(SendError::JsonMode);
                }
                self.upgrade(sk, sid);
                self.log_event(sk, sid, &msg, false);
                Ok(())
            }
            Form::Sse => {
                self.log_event(sk, sid, &msg, response);
                Ok(())
            }
        }
    }

    fn log_event(&mut self, sk: SessionKey, sid: StreamId, msg: &[u8], response: bool) {
        let seq = self.sessions[&sk].streams[&sid].log.next_seq();
        let mut frame = BytesMut::with_capacity(msg.len() + 48);
        sse::encode_message(&mut frame, Some(&event_id(sid, seq)), msg);
        self.append_frame(sk, sid, frame.freeze(), response);
    }

    fn append_frame(&mut self, sk: SessionKey, sid: StreamId, frame: Bytes, response: bool) {
        let (max_events, max_bytes) = (
            self.config.max_events_per_stream,
            self.config.max_log_bytes_per_stream,
        );
        let stream = self
            .sessions
            .get_mut(&sk)
            .and_then(|s| s.streams.get_mut(&sid))
            .expect("caller checked");
        if response {
            stream.responses += 1;
        }
        let seq = stream
            .log
            .append(frame.clone(), response, max_events, max_bytes);
        if let Some(ex) = stream.conn {
            // An attached connection is always caught up, so it gets exactly
            // this event next.
            stream.written = seq + 1;
            self.outputs.push_back(Output::Event {
                exchange: ex,
                frame,
            });
        }
    }

    /// Attach `ex` to a stream at cursor `from` (the first seq it lacks),
    /// replacing any live connection (INV-S20, X-9), and replay.
    fn attach(&mut self, ex: ExchangeId, sk: SessionKey, sid: StreamId, from: u64) {
        let retry = self.config.retry_ms;
        let session = self.sessions.get_mut(&sk).expect("live");
        let polls = session.version.primes_streams();
        let stream = session.streams.get_mut(&sid).expect("live");
        let mut head = ResponseHead::new(StatusCode::OK, Content::EventStream);
        head.session_id = Some(session.wire_id.clone());
        if let Some(old) = stream.conn.take() {
            self.router.exchanges.remove(&old);
            if polls && !stream.finished {
                // T-PSSE-4: say when to come back before closing a stream
                // that is not over.
                let mut f = BytesMut::new();
                sse::encode_retry(&mut f, retry);
                self.outputs.push_back(Output::Event {
                    exchange: old,
                    frame: f.freeze(),
                });
            }
            self.outputs.push_back(Output::Close { exchange: old });
        }
        self.outputs
            .push_back(Output::StreamHead { exchange: ex, head });
        if let Ok(events) = stream.log.from(from) {
            for e in events {
                self.outputs.push_back(Output::Event {
                    exchange: ex,
                    frame: e.frame.clone(),
                });
            }
        }
        stream.written = stream.written.max(stream.log.next_seq());
        if stream.finished {
            self.outputs.push_back(Output::Close { exchange: ex });
        } else {
            stream.conn = Some(ex);
            self.router.exchanges.insert(ex, (sk, sid));
        }
    }

    fn target_stream(&self, target: Target) -> Result<(SessionKey, StreamId), SendError> {
        match target {
            Target::Request(rk) => {
                let req = self.router.requests.get(&rk).ok_or(SendError::Gone)?;
                let session = self.sessions.get(&req.session).ok_or(SendError::Gone)?;
                if !session.streams.contains_key(&req.stream) {
                    return Err(SendError::NoStream);
                }
                Ok((req.session, req.stream))
            }
            Target::Session(sk) => {
                let session = self.sessions.get(&sk).ok_or(SendError::Gone)?;
                let sid = session.get_stream.ok_or(SendError::NoStream)?;
                Ok((sk, sid))
            }
        }
    }

    fn answer(
        &mut self,
        rk: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
        abandoned: bool,
    ) -> Result<(), SendError> {
        let req = self
            .router
            .requests
            .get(&rk)
            .ok_or(SendError::Gone)?
            .clone();
        let sk = req.session;
        let Some(session) = self.sessions.get_mut(&sk) else {
            return Err(SendError::Gone);
        };
        let pending = session
            .streams
            .get(&req.stream)
            .map(|s| matches!(s.form, Form::Pending { .. }));
        let mut outcome = outcome;
        if req.kind == Kind::Initialize {
            outcome = match outcome {
                Ok(result) => {
                    let (result, version) = negotiate(&result, session.version);
                    session.version = version;
                    session.phase = Phase::AwaitingInitialized;
                    Ok(result)
                }
                Err(e) => {
                    // no session id on a failed initialize.
                    if let Some(s) = session.streams.get_mut(&req.stream) {
                        s.anonymous = true;
                    }
                    Err(e)
                }
            };
        }
        let failed_init = req.kind == Kind::Initialize && outcome.is_err();
        let result = match pending {
            None => Err(SendError::NoStream),
            // An SSE stream carries no response once the client cancelled
            // (U-CAN-5), nor one for an abandoned request; a pending head
            // must still get a body.
            Some(false) if req.cancelled || abandoned => Ok(()),
            Some(_) => {
                // Room for the envelope, the id and the result: one write.
                let len = match &outcome {
                    Ok(r) => r.as_bytes().len(),
                    Err(e) => e.message.len() + e.data.as_ref().map_or(0, |d| d.as_bytes().len()),
                };
                let mut msg = BytesMut::with_capacity(64 + len);
                jsonrpc::write_outcome(&mut msg, &req.id, &outcome);
                self.send(sk, req.stream, msg.freeze(), true)
            }
        };
        self.finish_request(rk);
        if failed_init {
            self.terminate(sk, CloseReason::InitializeFailed);
        }
        result
    }

    fn finish_request(&mut self, rk: RequestKey) {
        let Some(req) = self.router.requests.remove(&rk) else {
            return;
        };
        let sk = req.session;
        let Some(session) = self.sessions.get_mut(&sk) else {
            return;
        };
        session.in_flight.remove(&req.id);
        session.last_activity = self.now;
        if let Some(stream) = session.streams.get_mut(&req.stream) {
            stream.owed = stream.owed.saturating_sub(1);
            if stream.owed == 0 {
                self.finish_stream(sk, req.stream);
            }
        }
        self.rearm(sk);
    }

    /// All responses of a POST stream are out: answer with JSON, or end the
    /// SSE stream (T-PSSE-11) and keep its log for late resumes.
    fn finish_stream(&mut self, sk: SessionKey, sid: StreamId) {
        let keep = self.config.max_finished_streams_per_session;
        let mut head = self.session_head(sk, StatusCode::OK, Content::Json);
        let session = self.sessions.get_mut(&sk).expect("live");
        let Some(stream) = session.streams.get_mut(&sid) else {
            return;
        };
        if stream.anonymous {
            head.session_id = None;
        }
        match &mut stream.form {
            Form::Pending { collected } => {
                let body = match (stream.origin, collected.len()) {
                    (Origin::Post { batch: false }, 1) => collected.pop().unwrap_or_default(),
                    _ => {
                        // T-POST-10: a batch's JSON answer is an array.
                        let mut out = BytesMut::with_capacity(
                            collected.iter().map(|c| c.len() + 1).sum::<usize>() + 2,
                        );
                        out.extend_from_slice(b"[");
                        for (i, c) in collected.iter().enumerate() {
                            if i > 0 {
                                out.extend_from_slice(b",");
                            }
                            out.extend_from_slice(c);
                        }
                        out.extend_from_slice(b"]");
                        out.freeze()
                    }
                };
                let conn = stream.conn;
                session.streams.remove(&sid);
                if let Some(ex) = conn {
                    self.router.exchanges.remove(&ex);
                    self.outputs.push_back(Output::Reply {
                        exchange: ex,
                        head,
                        body,
                    });
                }
            }
            Form::Sse => {
                stream.finished = true;
                if let Some(ex) = stream.conn.take() {
                    self.router.exchanges.remove(&ex);
                    self.outputs.push_back(Output::Close { exchange: ex });
                }
                session.finished.push_back(sid);
                while session.finished.len() > keep {
                    if let Some(old) = session.finished.pop_front() {
                        session.streams.remove(&old);
                    }
                }
            }
        }
    }

    /// End a session: close its connections, answer its waiting heads with
    /// 404, forget its requests, tell the application (INV-S8).
    fn terminate(&mut self, sk: SessionKey, reason: CloseReason) {
        let Some(session) = self.sessions.remove(&sk) else {
            return;
        };
        self.by_wire_id.remove(&session.wire_id);
        if let Some(at) = session.armed {
            self.timers.remove(&(at, sk));
        }
        for (_, stream) in session.streams {
            let Some(ex) = stream.conn else { continue };
            self.router.exchanges.remove(&ex);
            match stream.form {
                Form::Sse => self.outputs.push_back(Output::Close { exchange: ex }),
                Form::Pending { .. } => {
                    // A failed initialize has already been answered.
                    let refusal = unknown_session();
                    self.refuse(ex, refusal);
                }
            }
        }
        for rk in session.in_flight.values() {
            self.router.requests.remove(rk);
        }
        self.outputs
            .push_back(Output::Deliver(Delivery::SessionClosed {
                session: sk,
                reason,
            }));
    }

    /// Keep the timer set in step with the session's deadline. Entries are
    /// only moved earlier here; a late-firing check re-arms (cheap per input).
    fn rearm(&mut self, sk: SessionKey) {
        let Some(session) = self.sessions.get_mut(&sk) else {
            return;
        };
        let Some(deadline) = session.deadline(&self.config) else {
            return;
        };
        match session.armed {
            Some(at) if at <= deadline => {}
            Some(at) => {
                self.timers.remove(&(at, sk));
                self.timers.insert((deadline, sk));
                session.armed = Some(deadline);
            }
            None => {
                self.timers.insert((deadline, sk));
                session.armed = Some(deadline);
            }
        }
    }

    // -------------------------------------------------------------- invariants

    /// Assert the structural invariants of `requirements.md` §4 that hold of
    /// the server's state (INV-S1, S3, S4, S5/S6 structure, S8, S10, S18,
    /// S20, S22, and every configured bound). Called after every step by the
    /// property tests, the model checker and the simulator. Panics with a
    /// description on violation.
    pub fn check_invariants(&self) {
        let c = &self.config;
        assert!(
            self.sessions.len() <= c.max_sessions,
            "session limit exceeded"
        );
        // INV-S10: wire ids and sessions are in bijection.
        assert_eq!(
            self.by_wire_id.len(),
            self.sessions.len(),
            "INV-S10: wire id table"
        );
        for (wire, sk) in &self.by_wire_id {
            let s = self
                .sessions
                .get(sk)
                .expect("INV-S10: wire id names a live session");
            assert_eq!(&s.wire_id, wire, "INV-S10: session id changed");
            assert!(
                wire.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "T-SES-3: session id not visible ASCII"
            );
        }
        // INV-S20/S18: exchange <-> connection attachment is one-to-one and
        // within one session.
        for (ex, (sk, sid)) in &self.router.exchanges {
            let s = self
                .sessions
                .get(sk)
                .expect("INV-S8: exchange of a dead session");
            let st = s.streams.get(sid).expect("exchange of a missing stream");
            assert_eq!(
                st.conn,
                Some(*ex),
                "INV-S20: exchange not the stream's connection"
            );
        }
        let mut attached = 0;
        for (sk, s) in &self.sessions {
            assert!(
                s.in_flight.len() <= c.max_in_flight_per_session,
                "in-flight limit"
            );
            assert!(
                s.outgoing.len() <= c.max_outgoing_per_session,
                "outgoing limit"
            );
            assert!(
                s.finished.len() <= c.max_finished_streams_per_session,
                "finished limit"
            );
            if let Some(at) = s.armed {
                assert!(self.timers.contains(&(at, *sk)), "armed timer missing");
            } else {
                assert!(s.deadline(c).is_none() || s.busy(), "unarmed idle session");
            }
            if let Some(g) = s.get_stream {
                assert_eq!(s.streams[&g].origin, Origin::Get, "GET stream origin");
            }
            for (id, rk) in &s.in_flight {
                let r = self
                    .router
                    .requests
                    .get(rk)
                    .expect("in-flight without request");
                assert_eq!((&r.id, r.session), (id, *sk), "request table mismatch");
            }
            for (sid, st) in &s.streams {
                if let Some(ex) = st.conn {
                    attached += 1;
                    assert_eq!(
                        self.router.exchanges.get(&ex),
                        Some(&(*sk, *sid)),
                        "INV-S20"
                    );
                }
                // INV-S1: never more responses than requests.
                assert!(
                    st.responses <= st.requests,
                    "INV-S1: extra response on a stream"
                );
                // INV-S4: a GET stream carries no response.
                if st.origin == Origin::Get {
                    assert!(
                        st.log.iter().all(|e| !e.response),
                        "INV-S4: response on GET stream"
                    );
                    assert!(!st.finished, "GET streams never finish");
                } else {
                    let owed = self
                        .router
                        .requests
                        .values()
                        .filter(|r| r.session == *sk && r.stream == *sid)
                        .count();
                    assert_eq!(owed, st.owed, "owed count out of step");
                }
                if st.finished {
                    assert!(
                        st.conn.is_none() && st.owed == 0,
                        "INV-L2: finished stream live"
                    );
                    assert!(
                        s.finished.contains(sid),
                        "finished stream not retained in order"
                    );
                }
                match &st.form {
                    Form::Pending { .. } => {
                        assert!(st.conn.is_some(), "pending stream without its exchange");
                        assert_eq!(st.log.len(), 0, "pending stream with events");
                    }
                    Form::Sse => {}
                }
                // INV-S5/S6: the log is contiguous, bounded, and ids are
                // (stream, seq) of this stream.
                let mut expect = None;
                let mut bytes = 0;
                for e in st.log.iter() {
                    if let Some(x) = expect {
                        assert_eq!(e.seq, x, "INV-S5: gap in the event log");
                    }
                    expect = Some(e.seq + 1);
                    bytes += e.frame.len();
                }
                assert_eq!(bytes, st.log.bytes(), "log byte count");
                assert!(
                    st.log.len() <= c.max_events_per_stream.max(1),
                    "log event limit"
                );
                assert!(
                    st.log.len() <= 1 || st.log.bytes() <= c.max_log_bytes_per_stream,
                    "log byte limit"
                );
                assert!(st.written <= st.log.next_seq(), "written beyond the log");
                if st.conn.is_some() {
                    assert_eq!(st.written, st.log.next_seq(), "attached connection behind");
                }
            }
        }
        assert_eq!(
            attached,
            self.router.exchanges.len(),
            "INV-S20: dangling exchanges"
        );
        self.check_stateless();
        for r in self.router.requests.values() {
            let s = self
                .sessions
                .get(&r.session)
                .expect("INV-S8: request of dead session");
            assert!(s.in_flight.contains_key(&r.id), "request not in flight");
        }
        for (at, sk) in &self.timers {
            let s = self.sessions.get(sk).expect("timer of a dead session");
            assert_eq!(s.armed, Some(*at), "stale timer entry");
        }
    }
}

/// Whether the header names a modern (stateless) revision.
fn is_modern_header(version: &VersionHeader) -> bool {
    matches!(version, VersionHeader::Known(v) if !v.is_legacy())
}

/// 400 for a missing session header (T-SES-6).
fn missing_session() -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        code::SERVER_ERROR,
        "Bad Request: Mcp-Session-Id header is required",
    )
}

/// 404 for an unknown or terminated session (T-SES-7, X-16).
fn unknown_session() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        code::SERVER_ERROR,
        "Not Found: session does not exist or has ended",
    )
}

/// After initialization the header, when present, must name a supported
/// legacy revision (T-VER-4); absent, the session's version applies (T-VER-3).
fn check_version(version: &VersionHeader) -> Result<(), Refusal> {
    match version {
        VersionHeader::Absent => Ok(()),
        VersionHeader::Known(v) if v.is_legacy() => Ok(()),
        VersionHeader::Known(v) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::SERVER_ERROR,
            format!("Bad Request: MCP-Protocol-Version {v} cannot be used within a session"),
        )),
        VersionHeader::Unknown(v) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::SERVER_ERROR,
            format!("Bad Request: unsupported MCP-Protocol-Version {v:?}"),
        )),
    }
}

/// L-VER-2: keep the application's `protocolVersion` if it is one we
/// support, otherwise put in ours (the client's proposal if supported, else
/// the newest). Returns the result to send and the negotiated version.
fn negotiate(result: &RawJson, proposed: ProtocolVersion) -> (RawJson, ProtocolVersion) {
    let mut value = result.to_value();
    let chosen = value
        .get("protocolVersion")
        .and_then(|v| v.as_str())
        .and_then(ProtocolVersion::parse)
        .filter(|v| v.is_legacy());
    match chosen {
        Some(v) => (result.clone(), v),
        None => {
            if let Some(obj) = value.as_object_mut() {
                obj.insert("protocolVersion".into(), proposed.as_str().into());
                (RawJson::from_value(&value), proposed)
            } else {
                (result.clone(), proposed)
            }
        }
    }
}
