//! Exhaustive model checking of the real core with stateright.
//!
//! The state ([`World`]) holds the real `streamable_core::Server` (through
//! [`Core`], which may break it on purpose), two small abstract clients, the
//! application, and the network: an unordered set of requests in flight to
//! the server, and one FIFO per open HTTP exchange (a JSON reply, or an SSE
//! stream's head, events and end). Every action is one input to the core
//! followed by a full drain of its outputs into the network and the oracle
//! (str0m's single-mutation rule). Connection drops are actions too.
//!
//! The clients are asymmetric to keep the space small: client 0 may
//! initialize, call a tool, open the GET stream, resume a lost stream with
//! `Last-Event-ID`, delete its session and answer a server-to-client
//! request; client 1 initializes and calls a tool with the same JSON-RPC id
//! as client 0 (so routing by id would cross sessions). The application may
//! answer, send progress, ask the client (sampling), and push a notification
//! on the GET stream. Bounds: each client step at most once, one resume, and
//! [`Bounds::drops`] connection drops.
//!
//! The oracle lives in the clients: what reaches them is checked against
//! INV-S1, S2, S4, S5, S18, and what reaches the application against INV-S8
//! (no dispatch after an acknowledged DELETE) and T-PSSE-12 (a disconnect is
//! not a cancellation); `check_invariants()` runs after every action.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use stateright::{Model, Property};
use streamable_core::sse::Decoder;
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, ResponseMode, SessionKey, Target,
    Timestamp,
};

use crate::variants::{Bug, Core};
use crate::wire::{self, Incoming};

/// How far the model explores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Connection drops (client side) in one run.
    pub drops: u8,
    /// Resumes with `Last-Event-ID` in one run.
    pub resumes: u8,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            drops: 1,
            resumes: 1,
        }
    }
}

/// The model: the real core (optionally broken) in a tiny world.
#[derive(Clone, Debug)]
pub struct McpModel {
    /// The known-bad variant to run, if any.
    pub bug: Option<Bug>,
    /// The exploration bounds.
    pub bounds: Bounds,
}

impl McpModel {
    /// The correct core with the default bounds.
    pub fn new() -> Self {
        McpModel {
            bug: None,
            bounds: Bounds::default(),
        }
    }

    /// The core configuration every model state starts from: SSE answers,
    /// so every request stream is resumable.
    pub fn config() -> Config {
        Config {
            response_mode: ResponseMode::Sse,
            ..Config::default()
        }
    }
}

impl Default for McpModel {
    fn default() -> Self {
        Self::new()
    }
}

/// Which invariant an observation broke.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Violation {
    /// INV-S1: a response not on its request's stream, or twice.
    S1(String),
    /// INV-S2: an event delivered twice to a client.
    S2(String),
    /// INV-S4: a response on a GET stream.
    S4(String),
    /// INV-S5: a replay or a live stream that is not exact.
    S5(String),
    /// INV-S8 / INV-S22: a request dispatched after the session's DELETE was answered.
    S8(String),
    /// INV-S18: something of one session reached another.
    S18(String),
    /// T-PSSE-12: a disconnect turned into a cancellation.
    Psse12(String),
    /// `Server::check_invariants` failed.
    Structural(String),
}

impl Violation {
    /// The name of the property it breaks.
    pub fn property(&self) -> &'static str {
        match self {
            Violation::S1(_) => PROP_S1,
            Violation::S2(_) => PROP_S2,
            Violation::S4(_) => PROP_S4,
            Violation::S5(_) => PROP_S5,
            Violation::S8(_) => PROP_S8,
            Violation::S18(_) => PROP_S18,
            Violation::Psse12(_) => PROP_PSSE12,
            Violation::Structural(_) => PROP_STRUCT,
        }
    }
}

/// Property names (stable: tests look them up).
pub const PROP_S1: &str = "INV-S1 one response, on its own stream";
/// See [`PROP_S1`].
pub const PROP_S2: &str = "INV-S2 no duplicate delivery";
/// See [`PROP_S1`].
pub const PROP_S4: &str = "INV-S4 no response on a GET stream";
/// See [`PROP_S1`].
pub const PROP_S5: &str = "INV-S5 exact replay";
/// See [`PROP_S1`].
pub const PROP_S8: &str = "INV-S8 no dispatch after DELETE";
/// See [`PROP_S1`].
pub const PROP_S18: &str = "INV-S18 no cross-session leakage";
/// See [`PROP_S1`].
pub const PROP_PSSE12: &str = "T-PSSE-12 disconnect is not cancellation";
/// See [`PROP_S1`].
pub const PROP_STRUCT: &str = "check_invariants holds";
/// Reachability: a stream was resumed with `Last-Event-ID`.
pub const REACH_RESUME: &str = "a resume happened";
/// Reachability: a session was terminated.
pub const REACH_TERMINATED: &str = "a session was terminated";
/// Reachability: a server-to-client request was answered.
pub const REACH_ANSWERED: &str = "a server-to-client request was answered";

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
}

/// A client step, each taken at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Step {
    Init,
    Call,
    Get,
    Delete,
}

/// One frame on an exchange, as the client will read it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Frame {
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
struct Conn {
    client: usize,
    req: Req,
    queue: VecDeque<Frame>,
    /// The last event id read on this connection.
    cursor: Option<(u64, u64)>,
}

/// An abstract MCP client and its oracle state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Client {
    session: Option<Box<str>>,
    done: BTreeSet<Step>,
    /// Last seq seen per stream.
    seen: BTreeMap<u64, u64>,
    /// Which stream the tool call's events came on.
    call_stream: Option<u64>,
    responses: u8,
    /// The cursor of a stream whose connection was lost.
    lost: Option<(u64, u64)>,
    resumes: u8,
    to_answer: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AppReq {
    session: SessionKey,
    tag: String,
    progressed: bool,
}

/// The model's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    core: Core,
    clients: [Client; 2],
    in_flight: BTreeSet<(usize, Req)>,
    conns: BTreeMap<ExchangeId, Conn>,
    app: BTreeMap<RequestKey, AppReq>,
    asked: BTreeSet<SessionKey>,
    pushed: BTreeSet<SessionKey>,
    drops: u8,
    /// Wire ids whose DELETE was answered 204.
    deleted: BTreeSet<Box<str>>,
    resumed: bool,
    terminated: bool,
    answered_outgoing: bool,
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
}

const NOW: Timestamp = Timestamp(0);

fn tag(client: usize) -> String {
    format!("c{client}")
}

impl World {
    fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            self.violation = Some(v);
        }
    }

    /// Drain the core into the network and the application, answering
    /// `initialize` at once (its content is not what this model explores).
    fn drain(&mut self) {
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
                            // Every request of this model is in a session.
                            let Some(session) = session else {
                                self.fail(Violation::S18(format!(
                                    "{method} delivered without a session"
                                )));
                                continue;
                            };
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
                                let tag = params
                                    .and_then(|p| {
                                        p.to_value()
                                            .pointer("/arguments/tag")
                                            .and_then(|t| t.as_str().map(str::to_owned))
                                    })
                                    .unwrap_or_default();
                                self.app.insert(
                                    request,
                                    AppReq {
                                        session,
                                        tag,
                                        progressed: false,
                                    },
                                );
                            }
                        }
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
                            self.app.retain(|_, r| r.session != session);
                        }
                        Delivery::Notification { .. } => {}
                    },
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
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| core.check_invariants())) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            self.fail(Violation::Structural(msg));
        }
    }

    fn arrive(&mut self, client: usize, req: Req) {
        let session = self.clients[client].session.clone();
        let s = session.as_deref();
        let http = match &req {
            Req::Init => wire::post(None, wire::initialize_body(&tag(client))),
            Req::Call => wire::post(s, wire::call_body(1, "echo", &tag(client))),
            Req::Get => wire::get(s.unwrap_or(""), None),
            Req::Resume(st, q) => wire::get(s.unwrap_or(""), Some(&format!("{st}-{q}"))),
            Req::Delete => wire::delete(s.unwrap_or("")),
            Req::Answer(id) => wire::post(
                s,
                wire::answer_body(
                    &serde_json::from_str(id).unwrap_or(serde_json::Value::Null),
                    &tag(client),
                ),
            ),
        };
        let ex = self.core.handle_request(NOW, http);
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
    fn read(&mut self, ex: ExchangeId) {
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
                    Req::Call if status == 200 => {
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

    fn on_event_id(&mut self, client: usize, ex: ExchangeId, req: &Req, s: u64, q: u64) {
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

    fn on_message(&mut self, client: usize, ex: ExchangeId, req: &Req, msg: Incoming) {
        let own = tag(client);
        match msg {
            Incoming::Response { id, tag, .. } => {
                let on_own_stream = match req {
                    Req::Call => true,
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
                let c = &mut self.clients[client];
                c.responses += 1;
                if c.responses > 1 {
                    self.fail(Violation::S1(format!(
                        "client {client} got a second response to its call"
                    )));
                }
            }
            Incoming::Request { id, .. } => {
                self.clients[client].to_answer.insert(id);
            }
            Incoming::Notification { .. } | Incoming::Other(_) => {}
        }
    }

    /// A connection ended before its stream did: remember where to resume.
    fn lose(&mut self, client: usize, conn: &Conn) {
        if let Some(cursor) = conn.cursor {
            self.clients[client].lost = Some(cursor);
        }
    }
}

impl Model for McpModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        vec![World {
            core: Core::new(Self::config(), 7, self.bug),
            clients: [Client::default(), Client::default()],
            in_flight: BTreeSet::new(),
            conns: BTreeMap::new(),
            app: BTreeMap::new(),
            asked: BTreeSet::new(),
            pushed: BTreeSet::new(),
            drops: 0,
            deleted: BTreeSet::new(),
            resumed: false,
            terminated: false,
            answered_outgoing: false,
            violation: None,
        }]
    }

    fn actions(&self, w: &World, out: &mut Vec<Action>) {
        if w.violation.is_some() {
            return;
        }
        for (i, c) in w.clients.iter().enumerate() {
            // One request in flight per client: the two clients' requests
            // still race each other (the unordered part that matters), and
            // the space stays small.
            if w.in_flight.iter().any(|(j, _)| *j == i) {
                continue;
            }
            let full = i == 0;
            if !c.done.contains(&Step::Init) {
                out.push(Action::Send(i, Req::Init));
            }
            if c.session.is_none() {
                continue;
            }
            if !c.done.contains(&Step::Call) {
                out.push(Action::Send(i, Req::Call));
            }
            if full {
                if !c.done.contains(&Step::Get) {
                    out.push(Action::Send(i, Req::Get));
                }
                if !c.done.contains(&Step::Delete) {
                    out.push(Action::Send(i, Req::Delete));
                }
                if let Some((s, q)) = c.lost
                    && c.resumes < self.bounds.resumes
                {
                    out.push(Action::Send(i, Req::Resume(s, q)));
                }
            }
            for id in &c.to_answer {
                out.push(Action::Send(i, Req::Answer(id.clone())));
            }
        }
        for (i, r) in &w.in_flight {
            out.push(Action::Arrive(*i, r.clone()));
        }
        for (ex, c) in &w.conns {
            if !c.queue.is_empty() {
                out.push(Action::Read(*ex));
            }
            if w.drops < self.bounds.drops {
                out.push(Action::Drop(*ex));
            }
        }
        for (rk, r) in &w.app {
            out.push(Action::Respond(*rk));
            if !r.progressed {
                out.push(Action::Progress(*rk));
            }
            if !w.asked.contains(&r.session) {
                out.push(Action::Ask(*rk));
            }
            if !w.pushed.contains(&r.session) && w.conns.values().any(|c| c.req == Req::Get) {
                out.push(Action::Push(r.session));
            }
        }
    }

    fn next_state(&self, w: &World, action: Action) -> Option<World> {
        let mut w = w.clone();
        match action {
            Action::Send(i, req) => {
                let c = &mut w.clients[i];
                match &req {
                    Req::Init => c.done.insert(Step::Init),
                    Req::Call => c.done.insert(Step::Call),
                    Req::Get => c.done.insert(Step::Get),
                    Req::Delete => c.done.insert(Step::Delete),
                    Req::Resume(..) => {
                        c.resumes += 1;
                        c.lost = None;
                        true
                    }
                    Req::Answer(id) => c.to_answer.remove(id),
                };
                w.in_flight.insert((i, req));
            }
            Action::Arrive(i, req) => {
                w.in_flight.remove(&(i, req.clone()));
                w.arrive(i, req);
            }
            Action::Read(ex) => {
                // Reading never touches the core, so reading everything
                // queued at once loses no interleaving the core could tell
                // apart (a drop before some events were written is still
                // explored: the drop is an action of its own).
                while w.conns.get(&ex).is_some_and(|c| !c.queue.is_empty()) {
                    w.read(ex);
                }
            }
            Action::Drop(ex) => {
                w.drops += 1;
                if let Some(conn) = w.conns.remove(&ex) {
                    w.lose(conn.client, &conn);
                }
                w.core.handle_disconnect(NOW, ex);
                w.drain();
            }
            Action::Respond(rk) => {
                let r = w.app.remove(&rk)?;
                let result = RawJson::from_value(&serde_json::json!({
                    "content": [{"type": "text", "text": r.tag}],
                    "structuredContent": {"tag": r.tag}
                }));
                let _ = w.core.respond(NOW, rk, Ok(result));
                w.drain();
            }
            Action::Progress(rk) => {
                let r = w.app.get_mut(&rk)?;
                r.progressed = true;
                let params = RawJson::from_value(
                    &serde_json::json!({"progressToken": r.tag, "progress": 1}),
                );
                let _ = w.core.notify(
                    NOW,
                    Target::Request(rk),
                    "notifications/progress",
                    Some(&params),
                );
                w.drain();
            }
            Action::Ask(rk) => {
                let session = w.app.get(&rk)?.session;
                w.asked.insert(session);
                let params = RawJson::from_value(&serde_json::json!({"messages": []}));
                let _ = w.core.request_client(
                    NOW,
                    Target::Request(rk),
                    "sampling/createMessage",
                    Some(&params),
                );
                w.drain();
            }
            Action::Push(sk) => {
                w.pushed.insert(sk);
                let params =
                    RawJson::from_value(&serde_json::json!({"level": "info", "data": "push"}));
                let _ = w.core.notify(
                    NOW,
                    Target::Session(sk),
                    "notifications/message",
                    Some(&params),
                );
                w.drain();
            }
        }
        Some(w)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        fn ok(w: &World, name: &str) -> bool {
            w.violation.as_ref().is_none_or(|v| v.property() != name)
        }
        vec![
            Property::always(PROP_S1, |_, w: &World| ok(w, PROP_S1)),
            Property::always(PROP_S2, |_, w: &World| ok(w, PROP_S2)),
            Property::always(PROP_S4, |_, w: &World| ok(w, PROP_S4)),
            Property::always(PROP_S5, |_, w: &World| ok(w, PROP_S5)),
            Property::always(PROP_S8, |_, w: &World| ok(w, PROP_S8)),
            Property::always(PROP_S18, |_, w: &World| ok(w, PROP_S18)),
            Property::always(PROP_PSSE12, |_, w: &World| ok(w, PROP_PSSE12)),
            Property::always(PROP_STRUCT, |_, w: &World| ok(w, PROP_STRUCT)),
            Property::sometimes(REACH_RESUME, |_, w: &World| w.resumed),
            Property::sometimes(REACH_TERMINATED, |_, w: &World| w.terminated),
            Property::sometimes(REACH_ANSWERED, |_, w: &World| w.answered_outgoing),
        ]
    }
}

/// The result of a bounded model check.
#[derive(Debug)]
pub struct Outcome {
    /// States generated.
    pub states: usize,
    /// Distinct states.
    pub unique: usize,
    /// Wall time.
    pub elapsed: std::time::Duration,
    /// Broken `always` properties: name and the shortest counterexample.
    pub failures: Vec<(&'static str, String)>,
    /// `sometimes` properties never reached (a vacuous model).
    pub unreached: Vec<&'static str>,
}

/// The default exploration depth (actions from the initial state) of the
/// bounded check in `cargo test`: every behaviour of at most this many
/// actions is explored.
pub const DEFAULT_DEPTH: usize = 15;

/// Breadth-first search of every behaviour of at most `depth` actions;
/// with `stop_at_failure`, stop at the first counterexample.
pub fn check(bug: Option<Bug>, depth: usize, threads: usize, stop_at_failure: bool) -> Outcome {
    use stateright::{Checker, Expectation, HasDiscoveries};
    let model = McpModel {
        bug,
        bounds: Bounds::default(),
    };
    let props = model.properties();
    let start = std::time::Instant::now();
    let mut b = model.checker().threads(threads).target_max_depth(depth);
    if stop_at_failure {
        b = b.finish_when(HasDiscoveries::AnyFailures);
    }
    let c = b.spawn_bfs().join();
    let mut failures = Vec::new();
    let mut unreached = Vec::new();
    for p in &props {
        let found = c.discovery(p.name);
        match (p.expectation.clone(), found) {
            (Expectation::Always, Some(path)) => {
                let last = path.last_state().violation.clone();
                let steps: Vec<String> = path
                    .into_actions()
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect();
                failures.push((p.name, format!("{last:?} after {}", steps.join(" -> "))));
            }
            (Expectation::Sometimes, None) => unreached.push(p.name),
            _ => {}
        }
    }
    Outcome {
        states: c.state_count(),
        unique: c.unique_state_count(),
        elapsed: start.elapsed(),
        failures,
        unreached,
    }
}
