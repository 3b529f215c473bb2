//! The core client against the core server in memory, quinn-proto's `Pair`
//! style: no sockets, no tasks, simulated time, and every step a single
//! explicit operation, so a property test (or a model checker) can choose
//! the interleaving, split a body at any byte, cut any connection and move
//! the clock.
//!
//! The network is exact HTTP semantics without a wire: a request the client
//! transmits waits in [`Pair::wire_up`] until [`Op::Deliver`] hands it to the
//! server (requests on different connections may arrive in any order); each
//! exchange's response (head, body bytes, end) waits in its own FIFO until
//! [`Op::Read`] hands the client a prefix of it (bytes within one response
//! never reorder, but a chunk may be split anywhere). [`Op::Cut`] drops a
//! connection on both sides.
//!
//! The server's application is a tiny echo: `initialize` is answered at
//! once, a `tools/call` is held until [`Op::Respond`] answers it with its own
//! `text` (so a response routed to the wrong request shows), and
//! [`Op::Progress`] sends a numbered progress notification on its stream.
//! The client's application makes calls ([`Op::Call`]) with distinct texts.
//!
//! What is checked after every operation ([`Pair::check`]): both machines'
//! invariants (`Server::check_invariants`), at most one outcome per call, a
//! response carries its own call's text, progress of one call arrives in
//! order and never twice. After [`Pair::settle`] (everything delivered,
//! answered and read, time advanced until nothing is due) every call has
//! exactly one outcome, and a run with no cut and no timeout has only
//! responses.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use http::{HeaderMap, Request, header};
use streamable_core::client::{
    Client, ClientConfig, EraPreference, Event, HttpId, RequestHandle, Transmit,
};
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, ResponseMode, Target, Timestamp,
};

use crate::variants::{Bug, Core};

/// One operation of a run. Indices pick among what is pending at that
/// moment (modulo its count), so every sequence is valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The client's application calls `echo` (a fresh text).
    Call,
    /// One request the client transmitted reaches the server.
    Deliver(usize),
    /// The client reads the next item of one response; a body chunk is cut
    /// to at most this many bytes (the rest stays queued).
    Read(usize, usize),
    /// One open connection drops (both sides see it).
    Cut(usize),
    /// The server's application answers one held call.
    Respond(usize),
    /// The server's application sends progress for one held call.
    Progress(usize),
    /// Simulated time moves on by this many milliseconds.
    Advance(u64),
}

/// One item of a response on its way to the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Down {
    Head {
        status: u16,
        headers: Vec<(String, String)>,
    },
    Body(Bytes),
    End,
}

/// One HTTP exchange: the client's id, the server's once delivered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Link {
    client: HttpId,
    down: VecDeque<Down>,
}

/// A call held by the server's application.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Held {
    text: String,
}

/// Counts of what is pending in a [`Pair`] (see [`Pair::pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Requests transmitted, not yet at the server.
    pub up: usize,
    /// Exchanges with something for the client to read.
    pub readable: usize,
    /// Open exchanges.
    pub open: usize,
    /// Calls the server's application holds.
    pub held: usize,
}

/// What a run broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(pub String);

/// The client's view of one call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRecord {
    /// The text it sent.
    pub text: String,
    /// Outcomes seen (correct: at most one, exactly one after settling).
    pub outcomes: Vec<Result<String, String>>,
    /// The last progress value seen.
    pub progress: u64,
    /// The client held a `Last-Event-ID` cursor for the call's stream at
    /// some point: in the session era the call can then always be resumed.
    pub resumable: bool,
}

/// The two machines and the network between them.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The core client.
    pub client: Client,
    /// The core server (through [`Core`], which a known-bad variant may
    /// break on purpose).
    pub server: Core,
    now: u64,
    /// Requests transmitted, not yet at the server, in transmit order.
    wire_up: Vec<(HttpId, Request<Bytes>)>,
    /// Open exchanges by the server's id.
    links: BTreeMap<ExchangeId, Link>,
    /// Calls the server's application holds.
    held: BTreeMap<RequestKey, Held>,
    /// The last progress number the server's application sent per call text.
    progress_sent: BTreeMap<String, u64>,
    /// The client's era (what "exact progress" means depends on it).
    era: EraPreference,
    /// The client application's calls.
    pub calls: BTreeMap<RequestHandle, CallRecord>,
    next_text: u64,
    /// Whether any connection was cut or any client request timed out (a
    /// call may then fail).
    pub lossy: bool,
    /// The first broken property.
    pub broken: Option<Broken>,
    /// [`Pair::settle`] is running.
    settling: bool,
    /// Fault injection: the next [`Op::Respond`] answers with another held
    /// call's text (proves the response check can fail).
    cross: bool,
}

/// The endpoint the client talks to.
const ENDPOINT: &str = "http://localhost/mcp";

impl Pair {
    /// A pair in the legacy era (`EraPreference::Legacy`) or the stateless
    /// 2026-07-28 era (`EraPreference::Modern`), server answering in `mode`.
    pub fn new(era: EraPreference, mode: ResponseMode, seed: u64) -> Self {
        Self::with_bug(era, mode, seed, None)
    }

    /// [`Pair::new`] with the server broken by `bug` (a core variant).
    pub fn with_bug(era: EraPreference, mode: ResponseMode, seed: u64, bug: Option<Bug>) -> Self {
        let mut config = ClientConfig::new(ENDPOINT.parse().expect("a valid URI"));
        config.era = era;
        let server = Core::new(
            Config {
                response_mode: mode,
                ..Config::default()
            },
            seed,
            bug,
        );
        let mut pair = Pair {
            client: Client::new(config, Timestamp(0)),
            server,
            now: 0,
            wire_up: Vec::new(),
            links: BTreeMap::new(),
            held: BTreeMap::new(),
            progress_sent: BTreeMap::new(),
            era,
            calls: BTreeMap::new(),
            next_text: 0,
            lossy: false,
            broken: None,
            cross: false,
            settling: false,
        };
        pair.drain();
        pair
    }

    fn t(&self) -> Timestamp {
        Timestamp(self.now)
    }

    fn fail(&mut self, why: String) {
        if self.broken.is_none() {
            self.broken = Some(Broken(why));
        }
    }

    /// Apply one operation, drain both machines, check.
    pub fn step(&mut self, op: &Op) {
        let now = self.t();
        match *op {
            Op::Call => {
                self.next_text += 1;
                let text = format!("t{}", self.next_text);
                let params = RawJson::from_value(&serde_json::json!({
                    "name": "echo",
                    "arguments": {"text": text},
                    "_meta": {"progressToken": text},
                }));
                if let Ok(h) = self.client.request(now, "tools/call", Some(params)) {
                    self.calls.insert(
                        h,
                        CallRecord {
                            text,
                            ..CallRecord::default()
                        },
                    );
                }
            }
            Op::Deliver(i) => {
                if !self.wire_up.is_empty() {
                    let (id, req) = self.wire_up.remove(i % self.wire_up.len());
                    let ex = self.server.handle_request(now, req);
                    self.links.insert(
                        ex,
                        Link {
                            client: id,
                            down: VecDeque::new(),
                        },
                    );
                }
            }
            Op::Read(i, max) => {
                let ready: Vec<ExchangeId> = self
                    .links
                    .iter()
                    .filter(|(_, l)| !l.down.is_empty())
                    .map(|(e, _)| *e)
                    .collect();
                if !ready.is_empty() {
                    self.read_one(ready[i % ready.len()], max.max(1));
                }
            }
            Op::Cut(i) => {
                if !self.links.is_empty() {
                    let ex = *self
                        .links
                        .keys()
                        .nth(i % self.links.len())
                        .expect("in range");
                    let link = self.links.remove(&ex).expect("present");
                    self.lossy = true;
                    self.server.handle_disconnect(now, ex);
                    self.client.handle_error(now, link.client);
                }
            }
            Op::Respond(i) => {
                if !self.held.is_empty() {
                    let rk = *self.held.keys().nth(i % self.held.len()).expect("in range");
                    let h = self.held.remove(&rk).expect("present");
                    let mut text = h.text;
                    if self.cross
                        && let Some(other) = self.held.values().next()
                    {
                        self.cross = false;
                        text = other.text.clone();
                    }
                    let result = RawJson::from_value(&serde_json::json!({
                        "content": [{"type": "text", "text": text}],
                    }));
                    let _ = self.server.respond(now, rk, Ok(result));
                }
            }
            Op::Progress(i) => {
                if !self.held.is_empty() {
                    let rk = *self.held.keys().nth(i % self.held.len()).expect("in range");
                    let text = self.held[&rk].text.clone();
                    // Numbered per call text, so a 2026-07-28 re-issue of
                    // the call continues the count rather than restarting.
                    let n = self.progress_sent.entry(text.clone()).or_insert(0);
                    *n += 1;
                    let params = RawJson::from_value(&serde_json::json!({
                        "progressToken": text, "progress": *n,
                    }));
                    let _ = self.server.notify(
                        now,
                        Target::Request(rk),
                        "notifications/progress",
                        Some(&params),
                    );
                }
            }
            Op::Advance(ms) => {
                self.now = self.now.saturating_add(ms);
                let now = self.t();
                self.server.handle_timeout(now);
                self.client.handle_timeout(now);
            }
        }
        self.drain();
    }

    /// Hand the client the next item of exchange `ex`'s response.
    fn read_one(&mut self, ex: ExchangeId, max: usize) {
        let now = self.t();
        let Some(link) = self.links.get_mut(&ex) else {
            return;
        };
        let id = link.client;
        match link.down.pop_front() {
            Some(Down::Head { status, headers }) => {
                let mut map = HeaderMap::new();
                for (k, v) in headers {
                    if let (Ok(k), Ok(v)) = (
                        header::HeaderName::from_bytes(k.as_bytes()),
                        header::HeaderValue::from_str(&v),
                    ) {
                        map.append(k, v);
                    }
                }
                self.client.handle_head(now, id, status, &map);
            }
            Some(Down::Body(mut bytes)) => {
                if bytes.len() > max {
                    let rest = bytes.split_off(max);
                    link.down.push_front(Down::Body(rest));
                }
                self.client.handle_body(now, id, &bytes);
            }
            Some(Down::End) => {
                self.links.remove(&ex);
                self.client.handle_end(now, id);
            }
            None => {}
        }
    }

    /// Move every output of both machines to where it goes, until neither
    /// has any; then check.
    fn drain(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Send { id, request } => {
                        let mut req = *request;
                        // What an HTTP client adds from the URI.
                        req.headers_mut()
                            .entry(header::HOST)
                            .or_insert(header::HeaderValue::from_static("localhost"));
                        self.wire_up.push((id, req));
                    }
                    Transmit::Abort { id } => {
                        let now = self.t();
                        self.wire_up.retain(|(i, _)| *i != id);
                        let ex = self
                            .links
                            .iter()
                            .find(|(_, l)| l.client == id)
                            .map(|(e, _)| *e);
                        if let Some(ex) = ex {
                            self.links.remove(&ex);
                            self.server.handle_disconnect(now, ex);
                        }
                    }
                }
            }
            while let Some(out) = self.server.poll_output() {
                moved = true;
                self.on_output(out);
            }
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                self.on_event(ev);
            }
            if !moved {
                break;
            }
        }
        self.check();
    }

    fn on_output(&mut self, out: Output) {
        let push = |links: &mut BTreeMap<ExchangeId, Link>, ex: ExchangeId, d: Down| {
            if let Some(l) = links.get_mut(&ex) {
                l.down.push_back(d);
            }
        };
        let head = |h: &streamable_core::ResponseHead| Down::Head {
            status: h.status.as_u16(),
            headers: h
                .headers()
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                .collect(),
        };
        match out {
            Output::Reply {
                exchange,
                head: h,
                body,
            } => {
                push(&mut self.links, exchange, head(&h));
                if !body.is_empty() {
                    push(&mut self.links, exchange, Down::Body(body));
                }
                push(&mut self.links, exchange, Down::End);
            }
            Output::StreamHead { exchange, head: h } => push(&mut self.links, exchange, head(&h)),
            Output::Event { exchange, frame } => push(&mut self.links, exchange, Down::Body(frame)),
            Output::Close { exchange } => push(&mut self.links, exchange, Down::End),
            Output::Deliver(d) => self.on_delivery(d),
            // The pair's server has no shared store (`Config::store` is
            // `None`), so the core never emits a store command.
            Output::Store { .. } => self.fail("a store command with no store configured".into()),
        }
    }

    fn on_delivery(&mut self, d: Delivery) {
        let now = self.t();
        match d {
            Delivery::Request {
                request,
                method,
                params,
                ..
            } => {
                if method == "initialize" {
                    let result = RawJson::from_value(&serde_json::json!({
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "pair", "version": "1"},
                    }));
                    let _ = self.server.respond(now, request, Ok(result));
                    return;
                }
                let text = params
                    .map(|p| p.to_value())
                    .and_then(|v| v.pointer("/arguments/text")?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.held.insert(request, Held { text });
            }
            Delivery::Cancelled { request, .. } => {
                self.held.remove(&request);
            }
            Delivery::SessionClosed { .. }
            | Delivery::Notification { .. }
            | Delivery::Response { .. } => {}
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Response { request, outcome } => {
                let Some(rec) = self.calls.get_mut(&request) else {
                    return self.fail(format!("a response for unknown call {request:?}"));
                };
                let got = match &outcome {
                    Ok(r) => {
                        let text = r
                            .to_value()
                            .pointer("/content/0/text")
                            .and_then(|t| t.as_str().map(str::to_owned))
                            .unwrap_or_default();
                        Ok(text)
                    }
                    Err(e) => Err(e.message.clone()),
                };
                if let Ok(text) = &got
                    && *text != rec.text
                {
                    let why = format!(
                        "call {:?} sent {:?} and got the response to {text:?}",
                        request, rec.text
                    );
                    rec.outcomes.push(got);
                    return self.fail(why);
                }
                rec.outcomes.push(got);
                if rec.outcomes.len() > 1 {
                    let why = format!("call {request:?} got {} outcomes", rec.outcomes.len());
                    self.fail(why);
                }
            }
            Event::Failed { request, failure } => {
                use streamable_core::client::Failure;
                if matches!(failure, Failure::Timeout) {
                    if self.settling {
                        // While settling everything is delivered, answered
                        // and read before time moves: nothing may time out.
                        return self.fail(format!(
                            "call {request:?} timed out though every request was delivered and answered"
                        ));
                    }
                    self.lossy = true;
                }
                let legacy = self.era != EraPreference::Modern;
                if legacy
                    && matches!(failure, Failure::StreamLost)
                    && self.calls.get(&request).is_some_and(|r| r.resumable)
                {
                    // T-RES-*: a cut stream with a cursor is resumed, and
                    // the server keeps the request running (T-PSSE-12).
                    return self.fail(format!(
                        "call {request:?} was lost though its stream was resumable"
                    ));
                }
                if let Some(rec) = self.calls.get_mut(&request) {
                    rec.outcomes.push(Err(format!("{failure}")));
                    if rec.outcomes.len() > 1 {
                        let why = format!("call {request:?} got {} outcomes", rec.outcomes.len());
                        self.fail(why);
                    }
                }
            }
            Event::Notification {
                method,
                params,
                related,
            } if method == "notifications/progress" => {
                let v = params.map(|p| p.to_value()).unwrap_or_default();
                let (Some(token), Some(n)) = (v["progressToken"].as_str(), v["progress"].as_u64())
                else {
                    return self.fail(format!("malformed progress {v}"));
                };
                let Some((h, rec)) = self.calls.iter_mut().find(|(_, r)| r.text == token) else {
                    return self.fail(format!("progress for unknown token {token}"));
                };
                if related.is_some_and(|r| r != *h) {
                    let why = format!("progress of {token} related to another call {related:?}");
                    return self.fail(why);
                }
                // Session era: exactly the next one, none skipped on a
                // resumed stream, none twice (INV-S2, INV-S5). 2026-07-28:
                // streams are not resumable (a cut re-issues the call, and
                // what the cut stream carried is gone), so only order and
                // no repetition.
                let exact = self.era != EraPreference::Modern;
                if (exact && n != rec.progress + 1) || n <= rec.progress {
                    let why = format!("progress of {token}: got {n} after {}", rec.progress);
                    return self.fail(why);
                }
                rec.progress = n;
            }
            _ => {}
        }
    }

    /// The properties that hold after every operation.
    fn check(&mut self) {
        for (h, rec) in &mut self.calls {
            if rec.outcomes.is_empty() && self.client.cursor_of(*h).is_some() {
                rec.resumable = true;
            }
        }
        if let Err(e) = self.server.server().check_invariants() {
            self.fail(format!("server invariant: {e}"));
        }
    }

    /// Simulated time (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Calls answered with a response so far.
    pub fn answered(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.outcomes.iter().any(Result::is_ok))
            .count()
    }

    /// What is pending: requests on their way to the server, exchanges with
    /// something for the client to read, open exchanges, calls the server's
    /// application holds (what a model checker enumerates actions over).
    pub fn pending(&self) -> Pending {
        Pending {
            up: self.wire_up.len(),
            readable: self.links.values().filter(|l| !l.down.is_empty()).count(),
            open: self.links.len(),
            held: self.held.len(),
        }
    }

    /// A one-line-per-item picture of the network and the calls (for
    /// debugging a failing sequence).
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (id, req) in &self.wire_up {
            let body = String::from_utf8_lossy(req.body());
            let lei = req
                .headers()
                .get("last-event-id")
                .map(|v| v.to_str().unwrap_or("?").to_owned());
            out += &format!(
                "  up {id:?} {} lei={lei:?} {}\n",
                req.method(),
                &body[..body.len().min(90)]
            );
        }
        for (ex, l) in &self.links {
            out += &format!("  link {ex:?}<->{:?}: {:?}\n", l.client, l.down);
        }
        for (h, c) in &self.calls {
            out += &format!(
                "  call {h:?} {c:?} cursor={:?}\n",
                self.client.cursor_of(*h)
            );
        }
        out
    }

    /// Make the next [`Op::Respond`] answer with another held call's text
    /// (a known-bad server, for the test that proves the check can fail).
    pub fn cross_next_response_for_test(&mut self) {
        self.cross = true;
    }

    /// Run the world to quiescence: deliver, answer and read everything,
    /// then let time pass (reconnections, timeouts) until nothing more is
    /// due, within a bound.
    pub fn settle(&mut self) {
        self.settling = true;
        self.settle_inner();
        self.settling = false;
    }

    fn settle_inner(&mut self) {
        for _ in 0..10_000 {
            if !self.wire_up.is_empty() {
                self.step(&Op::Deliver(0));
            } else if !self.held.is_empty() {
                self.step(&Op::Respond(0));
            } else if self.links.values().any(|l| !l.down.is_empty()) {
                self.step(&Op::Read(0, usize::MAX));
            } else if let Some(next) = self.client.poll_timeout().or(self.server.poll_timeout()) {
                let wait = next.0.saturating_sub(self.now).max(1);
                if self.calls.values().all(|c| !c.outcomes.is_empty()) {
                    return;
                }
                self.step(&Op::Advance(wait));
            } else {
                return;
            }
        }
    }

    /// The properties that hold once settled: every call has exactly one
    /// outcome, and without a cut or a timeout it is its response.
    pub fn check_settled(&mut self) {
        let mut whys = Vec::new();
        for (h, rec) in &self.calls {
            match rec.outcomes.as_slice() {
                [] => whys.push(format!("call {h:?} ({}) never ended", rec.text)),
                [Ok(_)] => {}
                [Err(e)] if !self.lossy => {
                    whys.push(format!("call {h:?} failed ({e}) with no cut or timeout"))
                }
                _ => {}
            }
        }
        if let Some(why) = whys.into_iter().next() {
            self.fail(why);
        }
    }
}
