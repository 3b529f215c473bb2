//! The shared store (issue 17, `docs/store.md`): write-through of sessions
//! and events, the gate every request of a store-backed session passes
//! (restore before use), and resuming streams another instance wrote.
//!
//! Nothing here runs without [`Config::store`](crate::Config::store): every
//! entry point is behind a check of it, and the hot path of a server without
//! a store pays that one check.
//!
//! **The gate.** With a store, a request naming a session is not served from
//! what this instance holds: it is parked under the session's wire id and a
//! [`StoreCommand::TouchSession`] goes out. Until its completion arrives,
//! every further request for the session joins the queue (bounded). The
//! completion decides for all of them at once: a record restores the session
//! (or refreshes the one held) and the queue is served in arrival order; no
//! record ends the session here and answers 404; a failure or the deadline
//! answers 503 with `Retry-After` and changes nothing. A session is
//! therefore never used before its record was read back (no restore race),
//! and a DELETE on any instance is seen by the next request everywhere.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use http::StatusCode;

use super::log::StreamId;
use super::session::{Session, Sessions, unknown_session};
use super::{IdSource, Server};
use crate::edge::{Refusal, VersionHeader};
use crate::jsonrpc::{Body, ErrorObject, Id, RawJson, code};
use crate::output::{
    CloseReason, Content, ExchangeId, Output, RequestKey, ResponseHead, SessionKey,
};
use crate::store::{
    EventBatch, Retention, SessionPhase, SessionRecord, StoreCommand, StoreFailure, StoreReply,
    StoreToken, StoredEvent, StreamKey,
};
use crate::time::Timestamp;

/// A request waiting for its session's gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parked {
    pub(crate) ex: ExchangeId,
    pub(crate) principal: Option<Box<str>>,
    pub(crate) what: ParkedKind,
}

/// What the parked request was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParkedKind {
    Post {
        version: VersionHeader,
        body: Body,
    },
    Get {
        version: VersionHeader,
        last_event_id: Option<String>,
    },
    Delete {
        version: VersionHeader,
    },
}

// `Body` and `VersionHeader` are not `Hash`; the exchange alone is a hash
// consistent with `Eq` (equal values have equal exchanges).
impl Hash for Parked {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ex.hash(state);
    }
}

/// The requests of one session waiting for its touch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Gate {
    token: StoreToken,
    parked: VecDeque<Parked>,
}

/// A connection reading a stream from the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RemoteRead {
    session: SessionKey,
    stream: StreamKey,
    /// The last event the client has.
    after: u64,
    /// The stream head went out.
    headed: bool,
    /// The first read found nothing at the cursor: looked again with a
    /// tail (the append may not have reached the store yet).
    retried: bool,
}

/// What a store command's completion is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Waiting {
    /// The gate of the session with this wire id.
    Gate(Box<str>),
    /// A new session's first record: its `initialize` is delivered once
    /// the record is stored, so no client ever holds an id the store lacks.
    Create {
        session: SessionKey,
        ex: ExchangeId,
        id: Id,
        params: Option<RawJson>,
    },
    /// A write-through (put, append, end of stream): an answer that the
    /// session is gone ends it here.
    Write(SessionKey),
    /// The record written when the initialize result is ready (MI-2): the
    /// result goes out once it is stored.
    InitResult {
        session: SessionKey,
        request: RequestKey,
        result: RawJson,
        abandoned: bool,
    },
    /// A delete; `Some`: the DELETE whose 204 waits for it.
    Delete(Option<ExchangeId>),
    /// A read for the connection `ex`.
    Read(ExchangeId),
}

/// The shared store's bookkeeping in the server (all empty without one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct StoreState {
    next_token: u64,
    /// Commands awaiting their completion, with their deadline.
    waiting: BTreeMap<StoreToken, (Waiting, Timestamp)>,
    deadlines: BTreeSet<(Timestamp, StoreToken)>,
    /// Gates by session wire id (at most `max_gates`).
    gates: BTreeMap<Box<str>, Gate>,
    /// Which gate each parked exchange waits in.
    parked: BTreeMap<ExchangeId, Box<str>>,
    /// Connections reading a stream from the store (at most `max_reads`).
    reads: BTreeMap<ExchangeId, RemoteRead>,
    /// Parked requests are being served: no gate for them again.
    pub(crate) replaying: bool,
}

impl StoreState {
    /// The earliest deadline of a command.
    pub(crate) fn first_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(t, _)| *t)
    }
}

/// Whether `wire` looks like an id this library mints (32 lowercase hex
/// digits): anything else names no session and never reaches the store.
fn minted(wire: &str) -> bool {
    wire.len() == 32 && wire.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl<I: IdSource> Server<I> {
    /// The completion of the store command `token` (from
    /// [`Output::Store`](crate::Output::Store)). Unknown or late tokens (the
    /// core gave up on them at their deadline) are ignored.
    pub fn handle_store(
        &mut self,
        now: Timestamp,
        token: StoreToken,
        result: Result<StoreReply, StoreFailure>,
    ) {
        self.tick(now);
        let Some((waiting, deadline)) = self.store.waiting.remove(&token) else {
            return;
        };
        self.store.deadlines.remove(&(deadline, token));
        self.completed(token, waiting, result);
    }

    /// Give up on the commands whose deadline passed, as if they failed.
    pub(super) fn expire_store_commands(&mut self) {
        while let Some(&(at, token)) = self.store.deadlines.first() {
            if at > self.now {
                break;
            }
            self.store.deadlines.remove(&(at, token));
            if let Some((waiting, _)) = self.store.waiting.remove(&token) {
                self.completed(token, waiting, Err(StoreFailure::TimedOut));
            }
        }
    }

    fn completed(
        &mut self,
        token: StoreToken,
        waiting: Waiting,
        result: Result<StoreReply, StoreFailure>,
    ) {
        match waiting {
            Waiting::Gate(wire) => self.gate_done(token, wire, result),
            Waiting::Create {
                session,
                ex,
                id,
                params,
            } => match result {
                Ok(StoreReply::Done) if self.sessions.contains_key(&session) => {
                    self.initialize_stored(ex, session, id, params);
                }
                _ => {
                    // Not stored: the session never existed for anyone.
                    self.discard(session);
                    let refusal = self.unavailable();
                    self.refuse(ex, refusal);
                }
            },
            Waiting::InitResult {
                session,
                request,
                result: init_result,
                abandoned,
            } => {
                let Some(req) = self.router.requests.get(&request).cloned() else {
                    return;
                };
                let outcome = if matches!(result, Ok(StoreReply::Done)) {
                    Ok(init_result)
                } else {
                    // Not stored: no instance could serve the session, so
                    // the initialize fails (no session id, X-21) and the
                    // client may try again.
                    if let Some(stream) = self
                        .sessions
                        .get_mut(&session)
                        .and_then(|s| s.streams.get_mut(&req.stream))
                    {
                        stream.anonymous = true;
                    }
                    Err(ErrorObject::new(
                        code::INTERNAL_ERROR,
                        "the session could not be stored: the shared store did not answer; \
                         retry initialize",
                    ))
                };
                // The exchange may be gone; a response with nowhere to go
                // is dropped as for any request.
                let _ = self.write_answer(request, &req, outcome, abandoned);
            }
            Waiting::Write(sk) => {
                if matches!(result, Ok(StoreReply::NoSuchSession)) {
                    // Deleted (or expired) elsewhere: stop holding it.
                    self.terminate(sk, CloseReason::Evicted);
                }
            }
            Waiting::Delete(ex) => {
                let Some(ex) = ex else { return };
                if matches!(result, Ok(StoreReply::Done)) {
                    self.outputs.push_back(Output::Reply {
                        exchange: ex,
                        head: ResponseHead::new(StatusCode::NO_CONTENT, Content::Empty),
                        body: Bytes::new(),
                    });
                } else {
                    // The record may still be there: the client retries.
                    let refusal = self.unavailable();
                    self.refuse(ex, refusal);
                }
            }
            Waiting::Read(ex) => self.read_done(ex, result),
        }
    }

    // ------------------------------------------------------------- commands

    /// Emit `command`, remembering what its completion is for.
    fn store_emit(&mut self, command: StoreCommand, waiting: Waiting) -> StoreToken {
        let limit = self
            .config
            .store
            .as_ref()
            .map_or(std::time::Duration::ZERO, |s| command.deadline(s.deadline));
        self.store.next_token += 1;
        let token = StoreToken(self.store.next_token);
        let deadline = self.now.saturating_add(limit);
        self.store.waiting.insert(token, (waiting, deadline));
        self.store.deadlines.insert((deadline, token));
        self.outputs.push_back(Output::Store { token, command });
        token
    }

    /// 503 with the store's `Retry-After`.
    fn unavailable(&self) -> Refusal {
        let mut refusal = Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::SERVER_ERROR,
            "Service Unavailable: the session store did not answer, retry later",
        );
        refusal.retry_after = Some(self.config.store.as_ref().map_or(1, |s| s.retry_after_secs));
        refusal
    }

    /// The session's TTL in the store: the init timeout until it is ready,
    /// then the idle timeout.
    fn ttl(&self, session: Option<&Session>) -> std::time::Duration {
        match session {
            Some(s) if s.phase() != SessionPhase::Ready => self.config.init_timeout,
            _ => self.config.idle_timeout,
        }
    }

    /// The instance id (drawn once; 503 when no entropy can be had).
    pub(super) fn ensure_instance(&mut self) -> Result<(), Refusal> {
        for _ in 0..4 {
            if self.instance != 0 {
                return Ok(());
            }
            let bits = self.ids.session_id().map_err(|_| {
                let mut r = Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVER_ERROR,
                    "Service Unavailable: no entropy for an instance id, retry later",
                );
                r.retry_after = Some(1);
                r
            })?;
            // Truncation intended: 64 of the 128 bits.
            #[allow(clippy::cast_possible_truncation)]
            let id = bits as u64;
            self.instance = id;
        }
        if self.instance == 0 {
            self.instance = 1;
        }
        Ok(())
    }

    fn record(&self, session: &Session) -> SessionRecord {
        SessionRecord {
            session: session.wire_id.clone(),
            version: session.version,
            principal: session.principal.clone(),
            phase: session.phase(),
            init_params: session.init_params.clone(),
            log_level: session.log_level.clone(),
        }
    }

    /// Write the session's record (its phase or log level changed).
    pub(super) fn store_put(&mut self, sk: SessionKey) {
        let Some(session) = self.sessions.get(&sk) else {
            return;
        };
        let record = self.record(session);
        let ttl = self.ttl(Some(session));
        self.store_emit(StoreCommand::PutSession { record, ttl }, Waiting::Write(sk));
    }

    /// The initialize result of `sk` is ready (its phase moved on): store
    /// the record, then answer `rk` with `result` (MI-2).
    pub(super) fn store_put_then_answer(
        &mut self,
        sk: SessionKey,
        rk: RequestKey,
        result: RawJson,
        abandoned: bool,
    ) {
        let session = self.sessions.live(sk);
        let record = self.record(session);
        let ttl = self.ttl(Some(session));
        self.store_emit(
            StoreCommand::PutSession { record, ttl },
            Waiting::InitResult {
                session: sk,
                request: rk,
                result,
                abandoned,
            },
        );
    }

    /// `initialize` with a store: the new session's record is stored first;
    /// the request reaches the application once it is
    /// ([`Self::initialize_stored`]).
    pub(super) fn store_create(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        id: Id,
        params: Option<RawJson>,
    ) {
        let session = self.sessions.live_mut(sk);
        session.init_params = params.clone();
        self.rearm(sk);
        let session = self.sessions.live(sk);
        let record = self.record(session);
        let ttl = self.ttl(Some(session));
        self.store_emit(
            StoreCommand::PutSession { record, ttl },
            Waiting::Create {
                session: sk,
                ex,
                id,
                params,
            },
        );
    }

    /// Remove a session nobody ever saw (its record was not stored).
    fn discard(&mut self, sk: SessionKey) {
        let Some(session) = self.sessions.remove(&sk) else {
            return;
        };
        self.by_wire_id.remove(&session.wire_id);
        if let Some(at) = session.armed {
            self.timers.remove(&(at, sk));
        }
        for (_, stream) in session.streams {
            if let Some(ex) = stream.conn {
                self.router.exchanges.remove(&ex);
            }
        }
        for rk in session.in_flight.values() {
            self.router.requests.remove(rk);
        }
    }

    /// An event was logged: append it to the store too.
    pub(super) fn store_append(
        &mut self,
        sk: SessionKey,
        sid: StreamId,
        seq: u64,
        frame: Bytes,
        response: bool,
    ) {
        let session = self.sessions.live(sk);
        let command = StoreCommand::AppendEvent {
            session: session.wire_id.clone(),
            stream: sid,
            event: StoredEvent {
                seq,
                frame,
                response,
            },
            retention: Retention {
                max_events: self.config.max_events_per_stream,
                max_bytes: self.config.max_log_bytes_per_stream,
            },
            ttl: self.ttl(Some(session)),
        };
        self.store_emit(command, Waiting::Write(sk));
    }

    /// A stream finished: say so in the store (readers elsewhere end).
    pub(super) fn store_end_stream(&mut self, sk: SessionKey, sid: StreamId) {
        let Some(session) = self.sessions.get(&sk) else {
            return;
        };
        let command = StoreCommand::EndStream {
            session: session.wire_id.clone(),
            stream: sid,
        };
        self.store_emit(command, Waiting::Write(sk));
    }

    /// A DELETE that passed its gate: end the session here and in the
    /// store; the 204 waits for the store.
    pub(super) fn store_delete(&mut self, ex: ExchangeId, sk: SessionKey) {
        let wire = self.sessions.live(sk).wire_id.clone();
        self.terminate(sk, CloseReason::Deleted);
        self.store_emit(
            StoreCommand::DeleteSession { session: wire },
            Waiting::Delete(Some(ex)),
        );
    }

    /// A session ended here (from [`Server::terminate`]): an end the client
    /// or the application chose is an end everywhere; an eviction or a
    /// local timeout is not (the store's TTL decides). Reads of it end.
    pub(super) fn store_terminated(&mut self, sk: SessionKey, wire: &str, reason: CloseReason) {
        if matches!(
            reason,
            CloseReason::Application | CloseReason::InitializeFailed
        ) {
            self.store_emit(
                StoreCommand::DeleteSession {
                    session: wire.into(),
                },
                Waiting::Delete(None),
            );
        }
        let reads: Vec<(ExchangeId, bool)> = self
            .store
            .reads
            .iter()
            .filter(|(_, r)| r.session == sk)
            .map(|(ex, r)| (*ex, r.headed))
            .collect();
        for (ex, headed) in reads {
            self.store.reads.remove(&ex);
            if headed {
                self.outputs.push_back(Output::Close { exchange: ex });
            } else {
                self.refuse(ex, unknown_session());
            }
        }
    }

    /// The client of `ex` left: forget it if it was parked or reading.
    /// Returns whether it was one of those.
    pub(super) fn store_disconnect(&mut self, ex: ExchangeId) -> bool {
        if let Some(wire) = self.store.parked.remove(&ex) {
            if let Some(gate) = self.store.gates.get_mut(&wire) {
                gate.parked.retain(|p| p.ex != ex);
            }
            return true;
        }
        if let Some(read) = self.store.reads.remove(&ex) {
            if let Some(s) = self.sessions.get_mut(&read.session) {
                s.remote_reads = s.remote_reads.saturating_sub(1);
                s.touch(self.now);
            }
            self.rearm(read.session);
            return true;
        }
        false
    }

    // ----------------------------------------------------------------- gate

    /// A request names session `wire`: wait for its touch (starting one if
    /// none is on the way).
    pub(super) fn park(
        &mut self,
        ex: ExchangeId,
        wire: String,
        principal: Option<&str>,
        what: ParkedKind,
    ) {
        if !minted(&wire) {
            return self.refuse(ex, unknown_session());
        }
        if let Err(r) = self.ensure_instance() {
            return self.refuse(ex, r);
        }
        let Some(store) = self.config.store.as_ref() else {
            return;
        };
        let (max_waiting, max_gates) = (store.max_waiting_per_session, store.max_gates);
        let recheck = store.recheck_interval;
        let parked = Parked {
            ex,
            principal: principal.map(Box::from),
            what,
        };
        if let Some(gate) = self.store.gates.get_mut(wire.as_str()) {
            if gate.parked.len() >= max_waiting {
                let refusal = self.unavailable();
                return self.refuse(ex, refusal);
            }
            gate.parked.push_back(parked);
            self.store.parked.insert(ex, wire.into());
            return;
        }
        let held = self
            .by_wire_id
            .get(wire.as_str())
            .and_then(|sk| self.sessions.get(sk));
        // STORE-11: a held session the store confirmed less than
        // `recheck_interval` ago is served at once (no gate is open for it:
        // checked above, so arrival order holds). Never a DELETE.
        if let Some(checked) = held.and_then(|s| s.store_checked)
            && !recheck.is_zero()
            && !matches!(parked.what, ParkedKind::Delete { .. })
            && u128::from(self.now.millis_since(checked)) < recheck.as_millis()
        {
            return self.serve_parked(wire, parked);
        }
        if self.store.gates.len() >= max_gates {
            let refusal = self.unavailable();
            return self.refuse(ex, refusal);
        }
        let wire: Box<str> = wire.into();
        let ttl = self.ttl(held);
        let token = self.store_emit(
            StoreCommand::TouchSession {
                session: wire.clone(),
                ttl,
            },
            Waiting::Gate(wire.clone()),
        );
        self.store.parked.insert(ex, wire.clone());
        self.store.gates.insert(
            wire,
            Gate {
                token,
                parked: VecDeque::from([parked]),
            },
        );
    }

    fn gate_done(
        &mut self,
        token: StoreToken,
        wire: Box<str>,
        result: Result<StoreReply, StoreFailure>,
    ) {
        let Some(gate) = self.store.gates.remove(&wire) else {
            return;
        };
        if gate.token != token {
            // Not this gate's command (cannot happen: one gate per touch).
            self.store.gates.insert(wire, gate);
            return;
        }
        for p in &gate.parked {
            self.store.parked.remove(&p.ex);
        }
        let held = self.by_wire_id.get(&wire).copied();
        match result {
            Ok(StoreReply::Session(Some(record)))
                if record.session == wire
                    && held.is_none()
                    && record.phase == SessionPhase::Initializing =>
            {
                // Its creator has not stored the record of the initialize
                // result yet (the write follows the result), or never will
                // (it crashed in between): the session is not complete, so
                // it is not restored here; the client retries (MI-2).
                let refusal = self.unavailable();
                for p in gate.parked {
                    self.refuse(p.ex, refusal.clone());
                }
            }
            Ok(StoreReply::Session(Some(record))) if record.session == wire => {
                if let Some(sk) = held {
                    let s = self.sessions.live_mut(sk);
                    s.catch_up(record.phase, record.version);
                    if s.log_level.is_none() {
                        s.log_level = record.log_level;
                    }
                } else if let Err(refusal) = self.restore(record) {
                    for p in gate.parked {
                        self.refuse(p.ex, refusal.clone());
                    }
                    return;
                }
                if let Some(&sk) = self.by_wire_id.get(&wire) {
                    self.sessions.live_mut(sk).store_checked = Some(self.now);
                }
                // Served in arrival order, past the gate.
                for p in gate.parked {
                    self.serve_parked(String::from(&*wire), p);
                }
            }
            Ok(StoreReply::Session(None)) => {
                // Deleted or expired in the store: gone here too.
                if let Some(sk) = held {
                    self.terminate(sk, CloseReason::Evicted);
                }
                for p in gate.parked {
                    self.refuse(p.ex, unknown_session());
                }
            }
            _ => {
                // Failed, timed out, or a reply that answers something else:
                // nothing is known, nothing changes.
                let refusal = self.unavailable();
                for p in gate.parked {
                    self.refuse(p.ex, refusal.clone());
                }
            }
        }
    }

    /// Serve a request past the gate, as if it had just arrived.
    fn serve_parked(&mut self, wire: String, p: Parked) {
        let principal = p.principal.as_deref();
        self.store.replaying = true;
        match p.what {
            ParkedKind::Post { version, body } => {
                self.post(p.ex, Some(wire), version, body, principal);
            }
            ParkedKind::Get {
                version,
                last_event_id,
            } => self.get(p.ex, Some(wire), version, last_event_id, principal),
            ParkedKind::Delete { version } => {
                self.delete(p.ex, Some(wire), version, principal);
            }
        }
        self.store.replaying = false;
    }

    /// Enter a session read from the store (this instance did not hold it).
    fn restore(&mut self, record: SessionRecord) -> Result<SessionKey, Refusal> {
        if self.sessions.len() >= self.config.max_sessions {
            let mut r = Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVER_ERROR,
                "Service Unavailable: too many sessions",
            );
            r.retry_after = Some(self.config.store.as_ref().map_or(1, |s| s.retry_after_secs));
            return Err(r);
        }
        self.next_session += 1;
        let sk = SessionKey(self.next_session);
        let mut session = Session::new(record.session.clone(), record.version, self.now);
        session.principal = record.principal;
        session.catch_up(record.phase, record.version);
        session.init_params = record.init_params;
        session.log_level = record.log_level;
        self.by_wire_id.insert(record.session, sk);
        self.sessions.insert(sk, session);
        self.rearm(sk);
        Ok(sk)
    }

    // ---------------------------------------------------------------- reads

    /// `Last-Event-ID` names a stream this instance does not hold: read what
    /// follows the cursor from the store, then follow the stream live.
    pub(super) fn read_remote(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        sid: StreamId,
        after: u64,
    ) {
        let Some(store) = self.config.store.as_ref() else {
            return;
        };
        if self.store.reads.len() >= store.max_reads {
            let refusal = self.unavailable();
            return self.refuse(ex, refusal);
        }
        let max = store.read_batch.max(1);
        let session = self.sessions.live_mut(sk);
        session.remote_reads += 1;
        let wire = session.wire_id.clone();
        self.store.reads.insert(
            ex,
            RemoteRead {
                session: sk,
                stream: sid,
                after,
                headed: false,
                retried: false,
            },
        );
        self.store_emit(
            StoreCommand::ReadEvents {
                session: wire,
                stream: sid,
                after,
                max,
            },
            Waiting::Read(ex),
        );
    }

    fn end_read(&mut self, ex: ExchangeId) -> Option<RemoteRead> {
        let read = self.store.reads.remove(&ex)?;
        if let Some(s) = self.sessions.get_mut(&read.session) {
            s.remote_reads = s.remote_reads.saturating_sub(1);
            s.touch(self.now);
        }
        self.rearm(read.session);
        Some(read)
    }

    fn read_done(&mut self, ex: ExchangeId, result: Result<StoreReply, StoreFailure>) {
        let Some(read) = self.store.reads.get(&ex).cloned() else {
            return;
        };
        let bad = || {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                code::INVALID_REQUEST,
                "Bad Request: Last-Event-ID does not name an event of this session",
            )
        };
        // Nothing at the cursor yet: the client may have seen the event live
        // on the instance that wrote it before its append reached the store.
        // Look once more, with a tail (which waits for it); then it is a
        // cursor that names no event.
        let missing = match &result {
            Ok(StoreReply::NoSuchStream) => true,
            Ok(StoreReply::Events(b)) => b.next_seq <= read.after,
            _ => false,
        };
        if missing && !read.headed && !read.retried {
            return self.tail_again(ex, read.session, read.stream, read.after, true);
        }
        let batch: EventBatch = match result {
            Ok(StoreReply::Events(batch)) => batch,
            Ok(StoreReply::NoSuchStream) if !read.headed => {
                self.end_read(ex);
                return self.refuse(ex, bad());
            }
            _ if !read.headed => {
                self.end_read(ex);
                let refusal = self.unavailable();
                return self.refuse(ex, refusal);
            }
            _ => {
                // Mid-stream: end the connection; the client resumes.
                self.end_read(ex);
                self.outputs.push_back(Output::Close { exchange: ex });
                return;
            }
        };
        // A batch that does not continue at the cursor (a backend that lost
        // an append, or evicted between reads) is a gap: never skipped over.
        let gap = batch.evicted
            || batch
                .events
                .iter()
                .find(|e| e.seq > read.after)
                .is_some_and(|e| e.seq != read.after + 1);
        if !read.headed {
            if batch.next_seq <= read.after {
                self.end_read(ex);
                return self.refuse(ex, bad());
            }
            if gap {
                self.end_read(ex);
                return self.refuse(
                    ex,
                    Refusal::new(
                        StatusCode::GONE,
                        code::INVALID_REQUEST,
                        "Gone: the events after Last-Event-ID are no longer retained",
                    ),
                );
            }
            if batch.events.is_empty() && batch.finished {
                self.end_read(ex);
                let head = self.session_head(read.session, StatusCode::NO_CONTENT, Content::Empty);
                self.outputs.push_back(Output::Reply {
                    exchange: ex,
                    head,
                    body: Bytes::new(),
                });
                return;
            }
            let head = self.session_head(read.session, StatusCode::OK, Content::EventStream);
            self.outputs
                .push_back(Output::StreamHead { exchange: ex, head });
        } else if gap {
            // Fell behind the store's retention: end; a resume gets 410.
            self.end_read(ex);
            self.outputs.push_back(Output::Close { exchange: ex });
            return;
        }
        // Exactly once: only events past the cursor, in order, contiguous.
        let mut after = read.after;
        for e in batch.events {
            if e.seq <= after {
                continue;
            }
            if e.seq != after + 1 {
                break;
            }
            after = e.seq;
            self.outputs.push_back(Output::Event {
                exchange: ex,
                frame: e.frame,
            });
        }
        let done = batch.finished && after + 1 >= batch.next_seq;
        if done {
            self.end_read(ex);
            self.outputs.push_back(Output::Close { exchange: ex });
            return;
        }
        if let Some(r) = self.store.reads.get_mut(&ex) {
            r.headed = true;
        }
        self.tail_again(ex, read.session, read.stream, after, false);
    }

    /// Ask the store for what follows `after` on the stream, waiting for it.
    fn tail_again(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        stream: StreamKey,
        after: u64,
        retry: bool,
    ) {
        let Some(store) = self.config.store.as_ref() else {
            return;
        };
        let (max, wait) = (store.read_batch.max(1), store.tail_wait);
        let Some(wire) = self.sessions.get(&sk).map(|s| s.wire_id.clone()) else {
            return;
        };
        if let Some(r) = self.store.reads.get_mut(&ex) {
            r.after = after;
            r.retried |= retry;
        }
        self.store_emit(
            StoreCommand::TailEvents {
                session: wire,
                stream,
                after,
                max,
                wait,
            },
            Waiting::Read(ex),
        );
    }

    /// A POST of session `sk` was accepted (its phase was `before`): write
    /// the record when the phase moved or the client set a log level.
    pub(super) fn store_request_seen(
        &mut self,
        sk: SessionKey,
        before: SessionPhase,
        messages: &[crate::jsonrpc::Message],
    ) {
        let mut changed = self.sessions.live(sk).phase() != before;
        for m in messages {
            if let crate::jsonrpc::Message::Request {
                method,
                params: Some(params),
                ..
            } = m
                && method == "logging/setLevel"
                && let Some(level) = params
                    .to_value()
                    .get("level")
                    .and_then(|l| l.as_str())
                    .filter(|l| l.len() <= 16)
            {
                self.sessions.live_mut(sk).log_level = Some(level.into());
                changed = true;
            }
        }
        if changed {
            self.store_put(sk);
        }
    }
}
