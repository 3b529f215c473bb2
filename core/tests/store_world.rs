//! A first multi-instance world (issue 17): three servers share one store
//! whose completions arrive late, out of order across sessions (in order
//! within one instance's session lane), or fail; clients send each request
//! to any instance and resume streams on any instance. Oracles after every
//! step: no answer crosses sessions (STORE-4/5), a 503 always carries
//! `Retry-After` (STORE-6), an event id names one event everywhere
//! (STORE-9), a resume continues exactly after its cursor (STORE-7), and the
//! servers' invariants hold; once the store heals every request is answered.

mod common;
mod store_support;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{ACCEPT_BOTH, frame_id, init_body};
use proptest::prelude::*;
use store_support::{Store, tail_is_quiet};
use streamable_core::store::{StoreCommand, StoreConfig, StoreFailure, StoreToken};
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, ResponseMode, SeededIds, Server,
    SessionKey, Target, Timestamp,
};

const NODES: usize = 3;
const CLIENTS: usize = 2;

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Init,
    Call(i64),
    /// A resume after this cursor (stream prefix, seq).
    Get(String, u64),
}

#[derive(Debug)]
struct Ex {
    client: usize,
    kind: Kind,
    /// The session the request named (`None` for initialize).
    wire: Option<String>,
    done: bool,
    abandoned: bool,
    /// Last seq written on a resumed stream.
    cursor: Option<u64>,
}

#[derive(Default, Debug)]
struct Client {
    wire: Option<String>,
    next_id: i64,
    /// The last event id seen and the exchange it came on.
    last: Option<(usize, ExchangeId, String)>,
}

struct World {
    nodes: Vec<Server<SeededIds>>,
    store: Store,
    pending: Vec<(usize, StoreToken, StoreCommand)>,
    clients: Vec<Client>,
    ex: BTreeMap<(usize, ExchangeId), Ex>,
    app: Vec<(usize, RequestKey, SessionKey)>,
    /// Every event id seen, with its frame: one id, one event.
    ids: BTreeMap<String, Bytes>,
    now: u64,
    /// A store failure was injected (a resume may then find its cursor's
    /// event lost: 400 or 410).
    failed: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Init(u8, u8),
    Call(u8, u8),
    Answer(u8),
    Progress(u8),
    Deliver(u8),
    Fail(u8),
    Resume(u8, u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (any::<u8>(), any::<u8>()).prop_map(|(c, n)| Op::Init(c, n)),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(c, n)| Op::Call(c, n)),
        2 => any::<u8>().prop_map(Op::Answer),
        2 => any::<u8>().prop_map(Op::Progress),
        8 => any::<u8>().prop_map(Op::Deliver),
        1 => any::<u8>().prop_map(Op::Fail),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(c, n)| Op::Resume(c, n)),
        1 => any::<u16>().prop_map(Op::Advance),
    ]
}

fn is_read(c: &StoreCommand) -> bool {
    matches!(
        c,
        StoreCommand::ReadEvents { .. } | StoreCommand::TailEvents { .. }
    )
}

impl World {
    fn new() -> Self {
        let config = Config {
            response_mode: ResponseMode::Sse,
            max_events_per_stream: 8,
            store: Some(StoreConfig::default()),
            ..Config::default()
        };
        World {
            nodes: (0..NODES)
                .map(|i| Server::new(config.clone(), SeededIds(i as u64 + 1)))
                .collect(),
            store: Store::new(false),
            pending: Vec::new(),
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            ex: BTreeMap::new(),
            app: Vec::new(),
            ids: BTreeMap::new(),
            now: 0,
            failed: false,
        }
    }

    fn request(&mut self, n: usize, client: usize, kind: Kind, req: http::Request<Bytes>) {
        let wire = self.clients[client].wire.clone();
        let ex = self.nodes[n].handle_request(Timestamp(self.now), req);
        self.ex.insert(
            (n, ex),
            Ex {
                client,
                wire: if kind == Kind::Init { None } else { wire },
                kind,
                done: false,
                abandoned: false,
                cursor: None,
            },
        );
        self.drain(n);
    }

    fn post(session: Option<&str>, body: String) -> http::Request<Bytes> {
        let mut b = http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("host", "localhost");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        b.body(Bytes::from(body)).unwrap()
    }

    fn drain(&mut self, n: usize) {
        while let Some(o) = self.nodes[n].poll_output() {
            self.observe(n, o);
        }
        if let Err(v) = self.nodes[n].check_invariants() {
            panic!("node {n}: {v}");
        }
    }

    fn observe(&mut self, n: usize, o: Output) {
        match o {
            Output::Store { token, command } => self.pending.push((n, token, command)),
            Output::Deliver(Delivery::Request {
                session: Some(sk),
                request,
                method,
                ..
            }) => {
                if method != "initialize" {
                    self.app.push((n, request, sk));
                } else {
                    let result = serde_json::json!({"capabilities":{},"serverInfo":{"name":"w","version":"1"}});
                    let _ = self.nodes[n].respond(
                        Timestamp(self.now),
                        request,
                        Ok(RawJson::from_value(&result)),
                    );
                }
            }
            Output::Deliver(_) => {}
            Output::Reply {
                exchange,
                head,
                body,
            } => {
                let Some(e) = self.ex.get_mut(&(n, exchange)) else {
                    return;
                };
                assert!(!e.done, "two answers for one exchange");
                e.done = true;
                let status = head.status.as_u16();
                if status == 503 {
                    assert!(
                        head.retry_after.is_some(),
                        "STORE-6: 503 without Retry-After"
                    );
                }
                let lost = self.failed && matches!(e.kind, Kind::Get(..));
                assert!(
                    matches!(status, 200 | 202 | 204 | 404 | 410 | 503) || (lost && status == 400),
                    "status {status} for {:?}",
                    e.kind
                );
                let client = e.client;
                match (&e.kind, &e.wire) {
                    (Kind::Init, _) if status == 200 => match head.session_id.as_deref() {
                        Some(wire) => self.clients[client].wire = Some(wire.to_owned()),
                        // MI-2: the record of the result could not be
                        // stored: an error, and no session (X-21).
                        None => assert!(
                            String::from_utf8_lossy(&body).contains("-32603"),
                            "an initialize answered 200 without a session id or an error"
                        ),
                    },
                    (_, Some(w)) => {
                        if let Some(s) = head.session_id.as_deref() {
                            assert_eq!(s, w, "STORE-4: another session's answer");
                        }
                    }
                    _ => {}
                }
                if let (Kind::Call(id), 200) = (&e.kind, status) {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(v["id"], *id);
                    if let Some(w) = &e.wire {
                        assert_eq!(v["result"]["session"], w.as_str(), "cross-session answer");
                    }
                }
            }
            Output::StreamHead { exchange, head } => {
                if let Some(e) = self.ex.get(&(n, exchange))
                    && let (Some(w), Some(s)) = (&e.wire, head.session_id.as_deref())
                {
                    assert_eq!(s, w, "STORE-4: another session's stream");
                }
            }
            Output::Event { exchange, frame } => {
                let text = String::from_utf8(frame.to_vec()).unwrap();
                let id = frame_id(&text);
                if let Some(id) = &id {
                    if let Some(old) = self.ids.get(id) {
                        assert_eq!(old, &frame, "STORE-9: one id, two events: {id}");
                    } else {
                        self.ids.insert(id.clone(), frame.clone());
                    }
                }
                let Some(e) = self.ex.get_mut(&(n, exchange)) else {
                    return;
                };
                if let (Kind::Get(prefix, after), Some(id)) = (&e.kind, &id) {
                    let (p, seq) = id.rsplit_once('-').unwrap();
                    assert_eq!(p, prefix, "STORE-7: an event of another stream");
                    let seq: u64 = seq.parse().unwrap();
                    let expect = e.cursor.unwrap_or(*after) + 1;
                    assert_eq!(seq, expect, "STORE-7: resume not exact");
                    e.cursor = Some(seq);
                }
                if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: "))
                    && !data.is_empty()
                {
                    let v: serde_json::Value = serde_json::from_str(data).unwrap();
                    if v.get("result").is_some()
                        && let Some(w) = &e.wire
                    {
                        assert_eq!(v["result"]["session"], w.as_str(), "cross-session event");
                    }
                }
                let client = e.client;
                if let Some(id) = id {
                    self.clients[client].last = Some((n, exchange, id));
                }
            }
            Output::Close { exchange } => {
                if let Some(e) = self.ex.get_mut(&(n, exchange)) {
                    e.done = true;
                }
            }
        }
    }

    /// Pending commands that may complete now: reads at any time, the rest
    /// first in their instance's session lane.
    fn deliverable(&self) -> Vec<usize> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for (i, (n, _, c)) in self.pending.iter().enumerate() {
            if is_read(c) || seen.insert((*n, c.session().to_owned())) {
                out.push(i);
            }
        }
        out
    }

    fn complete(&mut self, i: usize, fail: bool) -> bool {
        let (n, token, command) = self.pending[i].clone();
        let result = if fail {
            self.failed = true;
            Err(StoreFailure::Unavailable("injected".into()))
        } else {
            let reply = self.store.exec(&command);
            if matches!(&command, StoreCommand::TailEvents { .. })
                && tail_is_quiet(&command, &reply)
            {
                return false;
            }
            Ok(reply)
        };
        self.pending.remove(i);
        self.nodes[n].handle_store(Timestamp(self.now), token, result);
        self.drain(n);
        true
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Init(c, n) => {
                let (c, n) = (usize::from(c) % CLIENTS, usize::from(n) % NODES);
                self.request(n, c, Kind::Init, Self::post(None, init_body("2025-11-25")));
            }
            Op::Call(c, n) => {
                let (c, n) = (usize::from(c) % CLIENTS, usize::from(n) % NODES);
                let Some(wire) = self.clients[c].wire.clone() else {
                    return;
                };
                self.clients[c].next_id += 1;
                let id = self.clients[c].next_id;
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"t"}}}}"#
                );
                self.request(n, c, Kind::Call(id), Self::post(Some(&wire), body));
            }
            Op::Answer(i) => {
                if self.app.is_empty() {
                    return;
                }
                let (n, rk, sk) = self.app.remove(usize::from(i) % self.app.len());
                let wire = self.nodes[n].session_wire_id(sk).map(str::to_owned);
                let result = serde_json::json!({"session": wire});
                let _ = self.nodes[n].respond(
                    Timestamp(self.now),
                    rk,
                    Ok(RawJson::from_value(&result)),
                );
                self.drain(n);
            }
            Op::Progress(i) => {
                if self.app.is_empty() {
                    return;
                }
                let (n, rk, _) = self.app[usize::from(i) % self.app.len()];
                let _ = self.nodes[n].notify(
                    Timestamp(self.now),
                    Target::Request(rk),
                    "notifications/progress",
                    None,
                );
                self.drain(n);
            }
            Op::Deliver(i) | Op::Fail(i) => {
                let d = self.deliverable();
                if d.is_empty() {
                    return;
                }
                let fail = matches!(op, Op::Fail(_));
                self.complete(d[usize::from(i) % d.len()], fail);
            }
            Op::Resume(c, n) => {
                let (c, n) = (usize::from(c) % CLIENTS, usize::from(n) % NODES);
                let (Some(wire), Some((on, ex, id))) =
                    (self.clients[c].wire.clone(), self.clients[c].last.clone())
                else {
                    return;
                };
                // The client leaves the connection it had and resumes.
                if let Some(e) = self.ex.get_mut(&(on, ex))
                    && !e.done
                {
                    e.abandoned = true;
                    e.done = true;
                    self.nodes[on].handle_disconnect(Timestamp(self.now), ex);
                    self.drain(on);
                }
                let (prefix, seq) = id.rsplit_once('-').unwrap();
                let kind = Kind::Get(prefix.to_owned(), seq.parse().unwrap());
                let req = http::Request::get("/mcp")
                    .header("accept", "text/event-stream")
                    .header("host", "localhost")
                    .header("mcp-session-id", wire)
                    .header("last-event-id", id.clone())
                    .body(Bytes::new())
                    .unwrap();
                self.request(n, c, kind, req);
            }
            Op::Advance(ms) => {
                self.now += u64::from(ms % 4000);
                for n in 0..NODES {
                    self.nodes[n].handle_timeout(Timestamp(self.now));
                    self.drain(n);
                }
            }
        }
    }

    /// The store heals: every command completes, the application answers
    /// everything, time passes; then every request has its answer.
    fn heal(&mut self) {
        for _ in 0..64 {
            let mut progress = false;
            loop {
                let d = self.deliverable();
                let mut any = false;
                for i in d.into_iter().rev() {
                    if self.complete(i, false) {
                        any = true;
                        break;
                    }
                }
                if !any {
                    break;
                }
                progress = true;
            }
            while !self.app.is_empty() {
                self.step(Op::Answer(0));
                progress = true;
            }
            if !progress {
                break;
            }
        }
        for e in self.ex.values() {
            if matches!(e.kind, Kind::Init | Kind::Call(_)) {
                assert!(e.done, "a request was never answered: {e:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn store_7_three_instances_one_store_with_late_and_failed_completions(
        ops in proptest::collection::vec(op(), 1..120)
    ) {
        let mut w = World::new();
        for op in ops {
            w.step(op);
        }
        w.heal();
    }
}
