//! The model's state: the real core (through [`Core`]), three abstract
//! clients with their oracle state (two in sessions, one speaking the
//! stateless 2026-07-28 era), the application, and the network; and how one
//! input's outputs drain into them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use streamable_core::sse::Decoder;
use streamable_core::{Delivery, ExchangeId, Output, RawJson, RequestKey, SessionKey, Timestamp};

use super::Violation;
use crate::variants::Core;
use crate::wire::{self, Incoming};

/// A request on its way to the server.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Req {
    /// `initialize`.
    Init,
    /// `tools/call` with id 1.
    Call,
    /// GET (standalone stream).
    Get,
    /// GET with `Last-Event-ID: s-q`.
    Resume(u64, u64),
    /// DELETE.
    Delete,
    /// The answer to a server-to-client request (its id as JSON text).
    Answer(String),
    /// A 2026-07-28 `tools/call` with id 1: no session, no `initialize`.
    Modern,
    /// Client 1 calls a tool (id 2) naming client 0's session, as its own
    /// principal (INV-S26: must be 404, never dispatched).
    Hijack,
}

/// A client step, each taken at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Step {
    Init,
    Call,
    Get,
    Delete,
    Modern,
    Hijack,
}

/// One frame on an exchange, as the client will read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum Frame {
    Full {
        status: u16,
        session: Option<Box<str>>,
        body: Bytes,
    },
    Head,
    Event(Bytes),
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Conn {
    pub(super) client: usize,
    pub(super) req: Req,
    pub(super) queue: VecDeque<Frame>,
    /// The last event id read on this connection.
    pub(super) cursor: Option<(u64, u64)>,
}

/// An abstract MCP client and its oracle state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Client {
    pub(super) session: Option<Box<str>>,
    pub(super) done: BTreeSet<Step>,
    /// Last seq seen per stream.
    pub(super) seen: BTreeMap<u64, u64>,
    /// Which stream the tool call's events came on.
    pub(super) call_stream: Option<u64>,
    pub(super) responses: u8,
    /// The cursor of a stream whose connection was lost.
    pub(super) lost: Option<(u64, u64)>,
    pub(super) resumes: u8,
    pub(super) to_answer: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct AppReq {
    /// `None` for a stateless 2026-07-28 request.
    pub(super) session: Option<SessionKey>,
    /// The exchange a stateless request arrived on (closing it cancels the
    /// request, H-CAN-1).
    pub(super) exchange: Option<ExchangeId>,
    pub(super) tag: String,
    pub(super) progressed: bool,
}

/// The model's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    pub(super) core: Core,
    pub(super) clients: [Client; 3],
    pub(super) in_flight: BTreeSet<(usize, Req)>,
    pub(super) conns: BTreeMap<ExchangeId, Conn>,
    pub(super) app: BTreeMap<RequestKey, AppReq>,
    /// Sessions (or, as `None`, the stateless request) the application
    /// already tried to ask something (sampling).
    pub(super) asked: BTreeSet<Option<SessionKey>>,
    pub(super) pushed: BTreeSet<SessionKey>,
    pub(super) drops: u8,
    /// Wire ids whose DELETE was answered 204.
    pub(super) deleted: BTreeSet<Box<str>>,
    pub(super) resumed: bool,
    pub(super) terminated: bool,
    pub(super) answered_outgoing: bool,
    /// The exchange the stateless request arrived on, once it did.
    pub(super) modern_exchange: Option<ExchangeId>,
    /// Exchanges of stateless requests whose connection the client closed.
    pub(super) closed: BTreeSet<ExchangeId>,
    /// Stateless requests delivered as cancelled whose application has not
    /// yet tried to answer late ([`Action::LateRespond`]).
    pub(super) cancelled: BTreeSet<RequestKey>,
    /// Reachability: a stateless request was cancelled by its client.
    pub(super) modern_cancelled: bool,
    /// Reachability: a stateless request's client got its response.
    pub(super) modern_answered: bool,
    /// The first broken invariant (the state is then terminal).
    pub violation: Option<Violation>,
}

/// One action of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// A client sends a request (it joins the in-flight set).
    Send(usize, Req),
    /// An in-flight request reaches the server.
    Arrive(usize, Req),
    /// The client reads everything queued on an exchange.
    Read(ExchangeId),
    /// The client's connection of an exchange drops.
    Drop(ExchangeId),
    /// The application answers a request.
    Respond(RequestKey),
    /// The application sends progress for a request.
    Progress(RequestKey),
    /// The application asks the client (sampling) on a request's stream.
    Ask(RequestKey),
    /// The application notifies on the session's GET stream.
    Push(SessionKey),
    /// The application of a cancelled stateless request answers anyway
    /// (it had not yet noticed): the core must refuse it (H-CAN-2).
    LateRespond(RequestKey),
}

pub(super) const NOW: Timestamp = Timestamp(0);

pub(super) fn tag(client: usize) -> String {
    format!("c{client}")
}

/// The principal a client's requests carry (the adapter's verified
/// identity): the session clients have one each, the stateless one none.
pub(super) fn principal(client: usize) -> Option<&'static str> {
    ["p0", "p1"].get(client).copied()
}

/// The client that speaks 2026-07-28 (stateless requests only).
pub(super) const MODERN_CLIENT: usize = 2;

impl World {
    pub(super) fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            self.violation = Some(v);
        }
    }

    /// Drain the core into the network and the application, answering
    /// `initialize` at once (its content is not what this model explores).
    pub(super) fn drain(&mut self) {
        loop {
            let mut inits = Vec::new();
            while let Some(out) = self.core.poll_output() {
                match out {
                    Output::Reply {
                        exchange,
                        head,
                        body,
                    } => {
                        if let Some(c) = self.conns.get_mut(&exchange) {
                            if c.req == Req::Delete
                                && head.status.as_u16() == 204
                                && let Some(w) = &self.clients[c.client].session
                            {
                                self.deleted.insert(w.clone());
                            }
                            c.queue.push_back(Frame::Full {
                                status: head.status.as_u16(),
                                session: head.session_id,
                                body,
                            });
                        }
                    }
                    Output::StreamHead { exchange, .. } => {
                        if let Some(c) = self.conns.get_mut(&exchange) {
                            c.queue.push_back(Frame::Head);
                        }
                    }
                    Output::Event { exchange, frame } => {
                        if let Some(c) = self.conns.get_mut(&exchange) {
                            c.queue.push_back(Frame::Event(frame));
                        }
                    }
                    Output::Close { exchange } => {
                        if let Some(c) = self.conns.get_mut(&exchange) {
                            c.queue.push_back(Frame::Close);
                        }
                    }
                    Output::Deliver(d) => match d {
                        Delivery::Request {
                            session,
                            request,
                            method,
                            params,
                            ..
                        } => {
                            let tag = params
                                .and_then(|p| {
                                    p.to_value()
                                        .pointer("/arguments/tag")
                                        .and_then(|t| t.as_str().map(str::to_owned))
                                })
                                .unwrap_or_default();
                            // Only the 2026-07-28 client's call is sessionless.
                            let Some(session) = session else {
                                if tag != self::tag(MODERN_CLIENT) || self.modern_exchange.is_none()
                                {
                                    self.fail(Violation::S18(format!(
                                        "{method} of {tag:?} delivered without a session"
                                    )));
                                    continue;
                                }
                                self.app.insert(
                                    request,
                                    AppReq {
                                        session: None,
                                        exchange: self.modern_exchange,
                                        tag,
                                        progressed: false,
                                    },
                                );
                                continue;
                            };
                            if tag == self::tag(MODERN_CLIENT) {
                                self.fail(Violation::S18(format!(
                                    "the stateless call was delivered in session {}",
                                    session.0
                                )));
                            }
                            // INV-S26: only the session's creator reaches it.
                            let hijack = self
                                .core
                                .server()
                                .session_wire_id(session)
                                .and_then(|w| {
                                    let owner = self
                                        .clients
                                        .iter()
                                        .position(|c| c.session.as_deref() == Some(w))?;
                                    (tag != self::tag(owner) && method != "initialize").then(|| {
                                        format!(
                                            "{method} of {tag:?} dispatched in client {owner}'s session {w}"
                                        )
                                    })
                                });
                            if let Some(m) = hijack {
                                self.fail(Violation::S26(m));
                            }
                            let wire = self.core.server().session_wire_id(session);
                            if let Some(w) = wire
                                && self.deleted.contains(w)
                            {
                                self.fail(Violation::S8(format!(
                                    "{method} dispatched in session {w} after its DELETE was answered 204"
                                )));
                            }
                            if method == "initialize" {
                                inits.push(request);
                            } else {
                                self.app.insert(
                                    request,
                                    AppReq {
                                        session: Some(session),
                                        exchange: None,
                                        tag,
                                        progressed: false,
                                    },
                                );
                            }
                        }
                        Delivery::Cancelled {
                            session: None,
                            request,
                            ..
                        } => self.on_stateless_cancel(request),
                        Delivery::Cancelled { request, .. } => {
                            // No client of this model ever sends
                            // notifications/cancelled.
                            self.fail(Violation::Psse12(format!(
                                "request {} cancelled though its client never cancelled it",
                                request.0
                            )));
                        }
                        Delivery::Response { .. } => self.answered_outgoing = true,
                        Delivery::SessionClosed { session, .. } => {
                            self.terminated = true;
                            self.app.retain(|_, r| r.session != Some(session));
                        }
                        Delivery::Notification { .. } => {}
                    },
                    // The model runs without a shared store: none is emitted.
                    Output::Store { .. } => {}
                }
            }
            if inits.is_empty() {
                break;
            }
            let result = RawJson::from_value(&serde_json::json!({
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "model", "version": "1"}
            }));
            for rk in inits {
                let _ = self.core.respond(NOW, rk, Ok(result.clone()));
            }
        }
        let core = self.core.server();
        if let Err(msg) = core.check_invariants() {
            self.fail(Violation::Structural(msg));
        }
    }

    /// A stateless request was delivered as cancelled: right only once, and
    /// only after its client closed the request's stream (H-CAN-1).
    fn on_stateless_cancel(&mut self, request: RequestKey) {
        let Some(r) = self.app.remove(&request) else {
            return self.fail(Violation::Can(format!(
                "request {} cancelled twice, or after it was answered",
                request.0
            )));
        };
        if r.exchange.is_none_or(|ex| !self.closed.contains(&ex)) {
            return self.fail(Violation::Can(format!(
                "stateless request {} cancelled though its stream is open",
                request.0
            )));
        }
        self.cancelled.insert(request);
        self.modern_cancelled = true;
    }

    /// After a stateless request's stream was closed and the core drained,
    /// the application must have been told (H-CAN-1).
    pub(super) fn check_closed_cancels(&mut self) {
        let unnoticed: Vec<u64> = self
            .app
            .iter()
            .filter(|(_, r)| r.exchange.is_some_and(|ex| self.closed.contains(&ex)))
            .map(|(rk, _)| rk.0)
            .collect();
        if let Some(rk) = unnoticed.first() {
            self.fail(Violation::Can(format!(
                "the client closed stateless request {rk}'s stream, but the application was not told"
            )));
        }
    }

    pub(super) fn arrive(&mut self, client: usize, req: Req) {
        let session = self.clients[client].session.clone();
        let s = session.as_deref();
        let http = match &req {
            Req::Init => wire::post(None, wire::initialize_body(&tag(client))),
            Req::Call => wire::post(s, wire::call_body(1, "echo", &tag(client))),
            Req::Get => wire::get(s.unwrap_or(""), None),
            Req::Resume(st, q) => wire::get(s.unwrap_or(""), Some(&format!("{st}-{q}"))),
            Req::Delete => wire::delete(s.unwrap_or("")),
            Req::Modern => wire::modern_call(1, "echo", &tag(client)),
            Req::Hijack => wire::post(
                self.clients[0].session.as_deref(),
                wire::call_body(2, "echo", &tag(client)),
            ),
            Req::Answer(id) => wire::post(
                s,
                wire::answer_body(
                    &serde_json::from_str(id).unwrap_or(serde_json::Value::Null),
                    &tag(client),
                ),
            ),
        };
        let ex = self.core.handle_request_as(NOW, http, principal(client));
        if req == Req::Modern {
            self.modern_exchange = Some(ex);
        }
        self.conns.insert(
            ex,
            Conn {
                client,
                req,
                queue: VecDeque::new(),
                cursor: None,
            },
        );
        self.drain();
    }

    /// The client reads one frame of `ex`.
    pub(super) fn read(&mut self, ex: ExchangeId) {
        let Some(conn) = self.conns.get_mut(&ex) else {
            return;
        };
        let Some(frame) = conn.queue.pop_front() else {
            return;
        };
        let client = conn.client;
        let req = conn.req.clone();
        match frame {
            Frame::Head => {}
            Frame::Close => {
                let conn = self.conns.remove(&ex).expect("present");
                self.lose(client, &conn);
            }
            Frame::Full {
                status,
                session,
                body,
            } => {
                self.conns.remove(&ex);
                match req {
                    Req::Init if status == 200 => self.clients[client].session = session,
                    Req::Call | Req::Modern if status == 200 => {
                        let msg = wire::classify(&body);
                        self.on_message(client, ex, &req, msg);
                    }
                    Req::Resume(..) if status == 204 => self.resumed = true,
                    _ => {}
                }
            }
            Frame::Event(bytes) => {
                let mut dec = Decoder::new();
                let _ = dec.feed(&bytes);
                while let Some(ev) = dec.next_event() {
                    // What the event says first (a misplaced response is an
                    // INV-S4/S1 matter before it is a cursor matter).
                    if !ev.data.is_empty() {
                        if matches!(req, Req::Resume(..)) {
                            self.resumed = true;
                        }
                        let msg = wire::classify(ev.data.as_bytes());
                        self.on_message(client, ex, &req, msg);
                    }
                    if ev.has_id
                        && let Some((s, q)) =
                            ev.last_event_id.as_deref().and_then(wire::parse_event_id)
                    {
                        self.on_event_id(client, ex, &req, s, q);
                    }
                }
            }
        }
    }

    pub(super) fn on_event_id(&mut self, client: usize, ex: ExchangeId, req: &Req, s: u64, q: u64) {
        let cursor = self.conns.get(&ex).and_then(|c| c.cursor);
        let expected = match (cursor, req) {
            (Some((cs, cq)), _) => Some((cs, cq + 1)),
            (None, Req::Resume(rs, rq)) => Some((*rs, rq + 1)),
            (None, _) => None,
        };
        if let Some(e) = expected
            && e != (s, q)
        {
            self.fail(Violation::S5(format!(
                "client {client} expected event {}-{} on {req:?}, got {s}-{q}",
                e.0, e.1
            )));
        }
        let c = &mut self.clients[client];
        if let Some(&last) = c.seen.get(&s)
            && q <= last
        {
            self.fail(Violation::S2(format!(
                "client {client} received event {s}-{q} again (had up to {s}-{last})"
            )));
        }
        let c = &mut self.clients[client];
        c.seen.insert(s, q);
        if *req == Req::Call {
            c.call_stream = Some(s);
        }
        if let Some(conn) = self.conns.get_mut(&ex) {
            conn.cursor = Some((s, q));
        }
    }

    pub(super) fn on_message(&mut self, client: usize, ex: ExchangeId, req: &Req, msg: Incoming) {
        let own = tag(client);
        match msg {
            Incoming::Response { id, tag, .. } => {
                let on_own_stream = match req {
                    Req::Call | Req::Modern => true,
                    Req::Resume(s, _) => self.clients[client].call_stream == Some(*s),
                    Req::Get => {
                        return self.fail(Violation::S4(format!(
                            "client {client} got the response to {id} on its GET stream (exchange {})",
                            ex.0
                        )));
                    }
                    _ => false,
                };
                if !on_own_stream || id != 1 {
                    return self.fail(Violation::S1(format!(
                        "client {client} got a response to {id} on {req:?}"
                    )));
                }
                if tag != own {
                    return self.fail(Violation::S18(format!(
                        "client {client} got the response meant for {tag:?}"
                    )));
                }
                if *req == Req::Modern {
                    self.modern_answered = true;
                }
                let c = &mut self.clients[client];
                c.responses += 1;
                if c.responses > 1 {
                    self.fail(Violation::S1(format!(
                        "client {client} got a second response to its call"
                    )));
                }
            }
            Incoming::Request { id, method, .. } if client == MODERN_CLIENT => {
                self.fail(Violation::Sse2(format!(
                    "{method} (id {id}) sent on the stream of a 2026-07-28 request"
                )));
            }
            Incoming::Request { id, .. } => {
                self.clients[client].to_answer.insert(id);
            }
            Incoming::Notification { .. } | Incoming::Other(_) => {}
        }
    }

    /// A connection ended before its stream did: remember where to resume.
    pub(super) fn lose(&mut self, client: usize, conn: &Conn) {
        if let Some(cursor) = conn.cursor {
            self.clients[client].lost = Some(cursor);
        }
    }
}
