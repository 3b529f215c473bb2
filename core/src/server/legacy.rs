//! The session era (2025-03-26 .. 2025-11-25) on the wire: POST (initialize,
//! requests, notifications and responses of a session), GET (the standalone
//! stream and resumption with `Last-Event-ID`) and DELETE. What happens to a
//! session's phase lives in [`session`](super::session); what happens to its
//! streams in [`streams`](super::streams).

use std::collections::BTreeSet;

use bytes::Bytes;
use http::StatusCode;

use super::log::{Form, Origin, ReplayError, Stream, StreamId, parse_event_id};
use super::restore::ParkedKind;
use super::router::{InFlight, Kind};
use super::session::{Sessions, unknown_session};
use super::{IdSource, Server};
use crate::config::ResponseMode;
use crate::edge::{Refusal, VersionHeader};
use crate::jsonrpc::{Body, Id, Message, RawJson, code};
use crate::output::{
    CloseReason, Content, Delivery, ExchangeId, OutgoingKey, Output, RequestKey, ResponseHead,
    SessionKey,
};
use crate::version::ProtocolVersion;

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

impl<I: IdSource> Server<I> {
    pub(super) fn post(
        &mut self,
        ex: ExchangeId,
        session: Option<String>,
        version: VersionHeader,
        body: Body,
        principal: Option<&str>,
    ) {
        let is_initialize = matches!(&body, Body::Single(Message::Request { method, .. }) if method == "initialize");
        if is_initialize {
            if let Some(wire) = &session {
                // T-SES-7, X-16: an id that names no session gets 404, so a
                // client whose session ended learns it and starts afresh
                // without the id; one naming a live session is refused.
                if self.lookup(wire, principal).is_none() {
                    return self.refuse(ex, unknown_session());
                }
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
            return self.initialize(ex, id, params, principal);
        }
        let Some(wire) = session else {
            return self.refuse(ex, missing_session());
        };
        if self.config.store.is_some() && !self.store.replaying {
            // Restore (or re-check) the session before anything else.
            return self.park(ex, wire, principal, ParkedKind::Post { version, body });
        }
        let Some(sk) = self.lookup(&wire, principal) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        let negotiated = self.sessions.live(sk).version;
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
        let session = self.sessions.live_mut(sk);
        session.touch(self.now);
        let phase = session.phase();
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
            session.client_ready();
        }
        if self.config.store.is_some() {
            self.store_request_seen(sk, phase, messages.as_slice());
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
                    let rk = self.track_request(sk, sid, &id, Kind::Plain);
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
        let session = self.sessions.live(sk);
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
                let Some(&rk) = self.sessions.live(sk).in_flight.get(&id) else {
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
                let session = self.sessions.live_mut(sk);
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

    fn initialize(
        &mut self,
        ex: ExchangeId,
        id: Id,
        params: Option<RawJson>,
        principal: Option<&str>,
    ) {
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
        let sk = match self.create_session(proposed, principal) {
            Ok(sk) => sk,
            Err(refusal) => return self.refuse(ex, refusal),
        };
        if self.config.store.is_some() {
            // Delivered once the session's record is stored.
            return self.store_create(ex, sk, id, params);
        }
        self.initialize_stored(ex, sk, id, params);
    }

    /// The rest of `initialize`, once the session exists (and, with a
    /// shared store, its record is stored).
    pub(super) fn initialize_stored(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        id: Id,
        params: Option<RawJson>,
    ) {
        // The initialize exchange waits for its first message even in SSE
        // mode: the negotiated version (and so priming) is not known yet.
        let sid = self.open_post_stream(ex, sk, false, 1, false);
        let rk = self.track_request(sk, sid, &id, Kind::Initialize);
        self.outputs.push_back(Output::Deliver(Delivery::Request {
            session: Some(sk),
            request: rk,
            id,
            method: "initialize".into(),
            params,
        }));
        self.rearm(sk);
    }

    /// Enter a client request in the session's in-flight set and the
    /// router, answered on stream `sid`.
    fn track_request(&mut self, sk: SessionKey, sid: StreamId, id: &Id, kind: Kind) -> RequestKey {
        let rk = self.router.new_request();
        let session = self.sessions.live_mut(sk);
        session.in_flight.insert(id.clone(), rk);
        self.router.requests.insert(
            rk,
            InFlight {
                session: sk,
                stream: sid,
                id: id.clone(),
                kind,
                cancelled: false,
            },
        );
        rk
    }

    pub(super) fn get(
        &mut self,
        ex: ExchangeId,
        session: Option<String>,
        version: VersionHeader,
        last_event_id: Option<String>,
        principal: Option<&str>,
    ) {
        let Some(wire) = session.filter(|_| !is_modern_header(&version)) else {
            return self.refuse(ex, Refusal::method_not_allowed("POST"));
        };
        if self.config.store.is_some() && !self.store.replaying {
            let what = ParkedKind::Get {
                version,
                last_event_id,
            };
            return self.park(ex, wire, principal, what);
        }
        let Some(sk) = self.lookup(&wire, principal) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        if !self.config.get_stream {
            return self.refuse(ex, Refusal::method_not_allowed("POST, DELETE"));
        }
        self.sessions.live_mut(sk).touch(self.now);
        match last_event_id {
            Some(text) => self.resume(ex, sk, &text),
            None => {
                let sid = match self.sessions.live(sk).get_stream {
                    Some(sid) => sid,
                    None => {
                        let sid = self.router.new_stream(self.instance);
                        let session = self.sessions.live_mut(sk);
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
                let from = self.sessions.live(sk).stream(sid).written;
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
        let Some(stream) = self.sessions.live(sk).streams.get(&sid) else {
            if self.config.store.is_some() {
                // Another instance's stream (or one this one let go): from
                // the store.
                return self.read_remote(ex, sk, sid, seq);
            }
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

    pub(super) fn delete(
        &mut self,
        ex: ExchangeId,
        session: Option<String>,
        version: VersionHeader,
        principal: Option<&str>,
    ) {
        let Some(wire) = session.filter(|_| !is_modern_header(&version)) else {
            return self.refuse(ex, Refusal::method_not_allowed("POST"));
        };
        if !self.config.allow_delete {
            return self.refuse(ex, Refusal::method_not_allowed("GET, POST"));
        }
        if self.config.store.is_some() && !self.store.replaying {
            return self.park(ex, wire, principal, ParkedKind::Delete { version });
        }
        let Some(sk) = self.lookup(&wire, principal) else {
            return self.refuse(ex, unknown_session());
        };
        if let Err(r) = check_version(&version) {
            return self.refuse(ex, r);
        }
        if self.config.store.is_some() {
            // The 204 waits until the store forgot the session too.
            return self.store_delete(ex, sk);
        }
        // 204 No Content.
        self.outputs.push_back(Output::Reply {
            exchange: ex,
            head: ResponseHead::new(StatusCode::NO_CONTENT, Content::Empty),
            body: Bytes::new(),
        });
        self.terminate(sk, CloseReason::Deleted);
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
