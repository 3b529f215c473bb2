//! Model-based property test: random interleavings of client requests,
//! GETs, resumes, disconnects, DELETEs, timeouts and application actions
//! over several sessions, with `check_invariants()` after every step and a
//! reference model of what each client observes.
//!
//! The oracle checks, on the outputs alone:
//! - INV-S1/S2: every request id gets at most one response event (replays of
//!   the same event id count once), only on its own POST stream or JSON body.
//! - INV-S4: no response on a GET-origin stream.
//! - INV-S5/S6: on every connection the events of a stream arrive
//!   contiguously from the cursor, and an event id always carries the same
//!   bytes.
//! - INV-S8: nothing reaches the application for a closed session.
//! - INV-S10: minted session ids are unique.
//! - INV-S12: POSTs with no request get 202 (or 4xx), never otherwise.
//! - INV-S18: a stream's events only ever reach its own session's client.
//! - 2026-07-28 exchanges interleaved with the sessions (INV-S23): a modern
//!   stream carries notifications then exactly one response for its own id,
//!   never a server request and never an event after the client closed it;
//!   closing it delivers exactly one `Cancelled`; a listen stream starts
//!   with its acknowledgement and tags every message with its id; a
//!   mismatched header is never dispatched (INV-S24).
//! - Liveness ("what the client must eventually receive"): after the
//!   application answers everything and each client resumes its unfinished
//!   streams, every answered, uncancelled request whose stream the client
//!   could resume has its response, exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use streamable_core::sse::Decoder;
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, ResponseMode, SeededIds, Server,
    SessionKey, Target, Timestamp,
};

#[derive(Clone, Debug)]
enum Op {
    Init {
        c: u8,
        v: u8,
    },
    Request {
        c: u8,
        ping: bool,
    },
    Notify {
        c: u8,
    },
    Cancel {
        c: u8,
        pick: u8,
    },
    Get {
        c: u8,
    },
    Resume {
        c: u8,
        pick: u8,
    },
    Disconnect {
        pick: u8,
    },
    Delete {
        c: u8,
    },
    Respond {
        pick: u8,
        error: bool,
    },
    AppNotify {
        pick: u8,
        burst: bool,
    },
    AppNotifySession {
        c: u8,
    },
    AppAsk {
        pick: u8,
    },
    Answer {
        c: u8,
    },
    Abandon {
        pick: u8,
    },
    Advance {
        ms: u16,
    },
    Garbage {
        c: u8,
        kind: u8,
    },
    Modern {
        c: u8,
        with_session: bool,
        bad_header: bool,
    },
    ModernNotify {
        pick: u8,
    },
    ModernRespond {
        pick: u8,
        error: bool,
    },
    ModernAsk {
        pick: u8,
    },
    Listen {
        c: u8,
    },
    Publish {
        kind: u8,
    },
    EndSubscriptions,
    EndConnection {
        pick: u8,
        get: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0u8..3;
    prop_oneof![
        2 => (c.clone(), 0u8..3).prop_map(|(c, v)| Op::Init { c, v }),
        4 => (c.clone(), any::<bool>()).prop_map(|(c, ping)| Op::Request { c, ping: ping && c == 0 }),
        1 => c.clone().prop_map(|c| Op::Notify { c }),
        1 => (c.clone(), any::<u8>()).prop_map(|(c, pick)| Op::Cancel { c, pick }),
        2 => c.clone().prop_map(|c| Op::Get { c }),
        2 => (c.clone(), any::<u8>()).prop_map(|(c, pick)| Op::Resume { c, pick }),
        3 => any::<u8>().prop_map(|pick| Op::Disconnect { pick }),
        1 => c.clone().prop_map(|c| Op::Delete { c }),
        4 => (any::<u8>(), any::<bool>()).prop_map(|(pick, e)| Op::Respond { pick, error: e }),
        3 => (any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(pick, burst)| Op::AppNotify { pick, burst }),
        1 => c.clone().prop_map(|c| Op::AppNotifySession { c }),
        1 => any::<u8>().prop_map(|pick| Op::AppAsk { pick }),
        1 => c.clone().prop_map(|c| Op::Answer { c }),
        1 => any::<u8>().prop_map(|pick| Op::Abandon { pick }),
        1 => (0u16..40_000).prop_map(|ms| Op::Advance { ms }),
        1 => (c.clone(), 0u8..6).prop_map(|(c, kind)| Op::Garbage { c, kind }),
        3 => (c.clone(), any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(c, with_session, bad_header)| Op::Modern { c, with_session, bad_header }),
        2 => any::<u8>().prop_map(|pick| Op::ModernNotify { pick }),
        3 => (any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(pick, error)| Op::ModernRespond { pick, error }),
        1 => any::<u8>().prop_map(|pick| Op::ModernAsk { pick }),
        1 => c.prop_map(|c| Op::Listen { c }),
        1 => (0u8..4).prop_map(|kind| Op::Publish { kind }),
        1 => Just(Op::EndSubscriptions),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(pick, get)| Op::EndConnection { pick, get }),
    ]
}

#[derive(Default, Debug)]
struct Client {
    wire: Option<String>,
    session: Option<SessionKey>,
    next_id: i64,
    /// stream -> last seq seen
    cursors: BTreeMap<u64, u64>,
    /// server-to-client requests awaiting our answer
    asked: Vec<i64>,
}

#[derive(Debug)]
enum ExKind {
    Init,
    Post {
        ids: Vec<i64>,
        requests: bool,
    },
    Get,
    Resume,
    Other,
    /// A 2026-07-28 request with this id; `answered` once its response came.
    Modern {
        id: i64,
        answered: bool,
        dispatched: bool,
    },
    /// A `subscriptions/listen` stream with this id.
    Listen {
        id: i64,
        acked: bool,
    },
}

#[derive(Debug)]
struct Ex {
    c: usize,
    kind: ExKind,
    headed: bool,
    decoder: Decoder,
    /// stream -> last seq on this connection
    last: BTreeMap<u64, u64>,
    resume_from: Option<(u64, u64)>,
    /// The session this exchange belongs to (learned at delivery for
    /// initialize).
    session: Option<SessionKey>,
}

struct World {
    s: Server<SeededIds>,
    now: u64,
    clients: Vec<Client>,
    ex: BTreeMap<ExchangeId, Ex>,
    /// requests delivered to the app and not answered: (key, session, client, id)
    pending: Vec<(RequestKey, SessionKey, usize, i64)>,
    /// stream -> (client, is_get)
    stream_owner: BTreeMap<u64, (usize, bool)>,
    /// (stream, seq) -> data
    seen: BTreeMap<(u64, u64), String>,
    /// (client, session, request id) -> response event keys / JSON bodies seen
    responses: BTreeMap<(usize, SessionKey, i64), BTreeSet<(u64, u64)>>,
    /// (client, session, request id) -> stream the response must come on
    request_stream: BTreeMap<(usize, SessionKey, i64), u64>,
    /// requests the app answered with Ok while their stream could carry it
    must_arrive: BTreeSet<(usize, SessionKey, i64)>,
    cancelled: BTreeSet<(usize, SessionKey, i64)>,
    closed_sessions: BTreeSet<SessionKey>,
    wire_ids: BTreeSet<String>,
    sessions_of: BTreeMap<SessionKey, usize>,
    /// streams whose resume was refused with 410 (events evicted)
    evicted: BTreeSet<u64>,
    /// modern requests delivered to the app and not answered: (key, exchange)
    modern_pending: Vec<(RequestKey, ExchangeId)>,
    /// modern requests whose exchange the client closed: a Cancelled is owed
    owed_cancel: BTreeSet<RequestKey>,
    /// the exchange the last request was sent on
    last_sent: Option<ExchangeId>,
    next_modern_id: i64,
}

const ACCEPT: &str = "application/json, text/event-stream";

impl World {
    fn new(mode: ResponseMode) -> Self {
        let config = Config {
            response_mode: mode,
            idle_timeout: Duration::from_secs(60),
            init_timeout: Duration::from_secs(30),
            max_events_per_stream: 6,
            ..Config::default()
        };
        World {
            s: Server::new(config, SeededIds(9)),
            now: 0,
            clients: (0..3).map(|_| Client::default()).collect(),
            ex: BTreeMap::new(),
            pending: Vec::new(),
            stream_owner: BTreeMap::new(),
            seen: BTreeMap::new(),
            responses: BTreeMap::new(),
            request_stream: BTreeMap::new(),
            must_arrive: BTreeSet::new(),
            cancelled: BTreeSet::new(),
            closed_sessions: BTreeSet::new(),
            wire_ids: BTreeSet::new(),
            sessions_of: BTreeMap::new(),
            evicted: BTreeSet::new(),
            modern_pending: Vec::new(),
            owed_cancel: BTreeSet::new(),
            last_sent: None,
            next_modern_id: 0,
        }
    }

    fn t(&self) -> Timestamp {
        Timestamp(self.now)
    }

    fn send(
        &mut self,
        c: usize,
        kind: ExKind,
        req: http::Request<Bytes>,
        resume: Option<(u64, u64)>,
    ) {
        let ex = self.s.handle_request(self.t(), req);
        self.last_sent = Some(ex);
        self.ex.insert(
            ex,
            Ex {
                c,
                kind,
                headed: false,
                decoder: Decoder::new(),
                last: BTreeMap::new(),
                resume_from: resume,
                session: self.clients[c].session,
            },
        );
        self.drain();
    }

    fn post(&mut self, c: usize, body: String, kind: ExKind) {
        let mut b = http::Request::post("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", ACCEPT);
        if let Some(w) = &self.clients[c].wire {
            b = b.header("mcp-session-id", w.as_str());
        }
        self.send(c, kind, b.body(Bytes::from(body)).unwrap(), None);
    }

    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            self.observe(o);
        }
        self.s.check_invariants().expect("server invariants");
        assert!(
            self.owed_cancel.is_empty(),
            "H-CAN-1: closing a modern stream did not cancel its request"
        );
    }

    fn observe(&mut self, o: Output) {
        match o {
            Output::Store { .. } => panic!("a store command without a store configured"),
            Output::Reply {
                exchange,
                head,
                body,
            } => {
                let ex = self
                    .ex
                    .remove(&exchange)
                    .expect("reply for an unknown exchange");
                assert!(!ex.headed, "reply after a stream head");
                let status = head.status.as_u16();
                if let ExKind::Modern { id, dispatched, .. } = ex.kind {
                    assert!(
                        head.session_id.is_none(),
                        "H-BC-3: session id on a modern reply"
                    );
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if dispatched {
                        assert!(status == 200 || status == 404, "modern answer {status}");
                        assert_eq!(v["id"], id, "INV-S1: modern reply for another id");
                    } else {
                        assert_eq!(status, 400, "INV-S24: a refused modern request");
                    }
                    return;
                }
                if let ExKind::Listen { .. } = ex.kind {
                    assert!(
                        status == 400 || status == 429,
                        "listen refused with {status}"
                    );
                    return;
                }
                if let ExKind::Post { requests, ref ids } = ex.kind {
                    // INV-S12
                    if requests {
                        assert_ne!(status, 202, "INV-S12: 202 for a POST with a request");
                    } else {
                        assert!(status == 202 || status >= 400, "INV-S12: {status}");
                        assert!(status != 202 || body.is_empty());
                    }
                    if status == 200 {
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let items = match v {
                            serde_json::Value::Array(a) => a,
                            v => vec![v],
                        };
                        for item in items {
                            let id = item["id"].as_i64().expect("response id");
                            assert!(
                                ids.contains(&id),
                                "INV-S1: response to a request not in this POST"
                            );
                            let sk = ex.session.unwrap();
                            let set = self.responses.entry((ex.c, sk, id)).or_default();
                            set.insert((u64::MAX, exchange.0));
                            assert_eq!(set.len(), 1, "INV-S1/S2: second response for {id}");
                        }
                    }
                }
                if let ExKind::Init = ex.kind
                    && status == 200
                    && head.session_id.is_some()
                {
                    let w = head.session_id.unwrap().to_string();
                    assert!(
                        self.wire_ids.insert(w.clone()),
                        "INV-S10: session id reused"
                    );
                    self.clients[ex.c].wire = Some(w);
                    self.clients[ex.c].session = ex.session;
                    self.clients[ex.c].cursors.clear();
                }
                if let (ExKind::Resume, Some((sid, _))) = (&ex.kind, ex.resume_from)
                    && status == 410
                {
                    self.evicted.insert(sid);
                }
                if status == 404 {
                    // T-SES-8: the client forgets its session.
                    if let ExKind::Init = ex.kind {
                    } else if self.clients[ex.c].wire.is_some() {
                        self.clients[ex.c].wire = None;
                        self.clients[ex.c].session = None;
                    }
                }
            }
            Output::StreamHead { exchange, head } => {
                let ex = self
                    .ex
                    .get_mut(&exchange)
                    .expect("head for an unknown exchange");
                assert!(!ex.headed, "two heads");
                assert_eq!(head.status, 200);
                ex.headed = true;
                if let ExKind::Init = ex.kind
                    && let Some(w) = head.session_id
                {
                    let w = w.to_string();
                    if self.clients[ex.c].wire.as_deref() != Some(&w) {
                        assert!(self.wire_ids.insert(w.clone()), "INV-S10");
                        self.clients[ex.c].wire = Some(w);
                        self.clients[ex.c].session = ex.session;
                        self.clients[ex.c].cursors.clear();
                    }
                }
            }
            Output::Event { exchange, frame } => {
                let ex = self
                    .ex
                    .get_mut(&exchange)
                    .expect("event for an unknown exchange");
                assert!(ex.headed, "event before head");
                ex.decoder.feed(&frame).unwrap();
                let c = ex.c;
                let mut events = Vec::new();
                while let Some(e) = ex.decoder.next_event() {
                    events.push(e);
                }
                if let ExKind::Modern { .. } | ExKind::Listen { .. } = ex.kind {
                    for e in events {
                        self.observe_modern(exchange, e);
                    }
                    return;
                }
                for e in events {
                    let Some(id) = e.last_event_id.clone().filter(|_| e.has_id) else {
                        panic!("INV: message event without id on a resumable stream (X-33)");
                    };
                    let (sid, seq) = id
                        .split_once('-')
                        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
                        .unwrap();
                    let ex = self.ex.get_mut(&exchange).unwrap();
                    // INV-S5: contiguous per connection, from the cursor.
                    match ex.last.get(&sid) {
                        Some(&prev) => {
                            assert_eq!(seq, prev + 1, "INV-S5: gap or repeat on a connection")
                        }
                        None => {
                            if let Some((rs, rq)) = ex.resume_from {
                                assert_eq!(
                                    (sid, seq),
                                    (rs, rq + 1),
                                    "INV-S5: replay does not start after the cursor"
                                );
                            }
                        }
                    }
                    assert!(
                        ex.last.len() <= 1 || ex.last.contains_key(&sid),
                        "T-MULTI-2: two streams on one connection"
                    );
                    ex.last.insert(sid, seq);
                    let is_get = matches!(ex.kind, ExKind::Get);
                    let ids: &[i64] = match &ex.kind {
                        ExKind::Post { ids, .. } => ids,
                        ExKind::Init => &[0],
                        _ => &[],
                    };
                    if let Some(sk) = ex.session {
                        // The first event of a POST names the stream its
                        // requests' responses must come on.
                        for id in ids {
                            let prev = self.request_stream.insert((c, sk, *id), sid);
                            assert!(prev.is_none() || prev == Some(sid), "request moved streams");
                        }
                    }
                    let owner = *self.stream_owner.entry(sid).or_insert((c, is_get));
                    assert_eq!(owner.0, c, "INV-S18: another client's stream");
                    // INV-S6
                    if let Some(prev) = self.seen.insert((sid, seq), e.data.clone()) {
                        assert_eq!(prev, e.data, "INV-S6: event id reused for other data");
                    }
                    let cur = self.clients[c].cursors.entry(sid).or_insert(seq);
                    *cur = (*cur).max(seq);
                    if e.data.is_empty() {
                        continue;
                    }
                    let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
                    if v.get("result").is_some() || v.get("error").is_some() {
                        assert!(!owner.1, "INV-S4: response on a GET stream");
                        let id = v["id"].as_i64().unwrap();
                        let sk = self.ex[&exchange].session.unwrap();
                        let key = (c, sk, id);
                        assert_eq!(
                            self.request_stream.get(&key),
                            Some(&sid),
                            "INV-S1: response on the wrong stream"
                        );
                        let set = self.responses.entry(key).or_default();
                        set.insert((sid, seq));
                        assert_eq!(set.len(), 1, "INV-S1: two responses for {id}");
                    } else if v.get("method").is_some() && v.get("id").is_some() {
                        self.clients[c].asked.push(v["id"].as_i64().unwrap());
                    }
                }
            }
            Output::Close { exchange } => {
                let ex = self
                    .ex
                    .remove(&exchange)
                    .expect("close of an unknown exchange");
                assert!(ex.headed, "close before head");
                if let ExKind::Modern { answered, .. } = ex.kind {
                    assert!(
                        answered,
                        "H-SSE-3: modern stream closed without its response"
                    );
                }
            }
            Output::Deliver(d) => match d {
                Delivery::Request {
                    session,
                    request,
                    id,
                    method,
                    ..
                } => {
                    let Some(session) = session else {
                        let ex = self.last_sent.expect("a modern request was just sent");
                        let e = self.ex.get_mut(&ex).expect("its exchange is open");
                        let ExKind::Modern {
                            id: want,
                            dispatched,
                            ..
                        } = &mut e.kind
                        else {
                            panic!("a stateless delivery for a legacy exchange");
                        };
                        assert_eq!(id, streamable_core::Id::Int(*want));
                        assert!(!*dispatched, "dispatched twice");
                        *dispatched = true;
                        self.modern_pending.push((request, ex));
                        return;
                    };
                    assert!(!self.closed_sessions.contains(&session), "INV-S8");
                    let c = *self.sessions_of.get(&session).unwrap_or(&usize::MAX);
                    let c = if method == "initialize" {
                        // The client that posted the newest Init exchange.
                        let e = self
                            .ex
                            .values_mut()
                            .rev()
                            .find(|e| matches!(e.kind, ExKind::Init))
                            .unwrap();
                        e.session = Some(session);
                        let c = e.c;
                        self.sessions_of.insert(session, c);
                        self.clients[c].session = Some(session);
                        c
                    } else {
                        c
                    };
                    let streamable_core::Id::Int(n) = id else {
                        panic!()
                    };
                    self.pending.push((request, session, c, n));
                }
                Delivery::Cancelled {
                    session: None,
                    request,
                    ..
                } => {
                    assert!(
                        self.owed_cancel.remove(&request),
                        "X-13: a modern cancellation nobody caused"
                    );
                }
                Delivery::Notification { session, .. } | Delivery::Cancelled { session, .. } => {
                    let session = session.expect("the model sends no modern notifications");
                    assert!(!self.closed_sessions.contains(&session), "INV-S8");
                }
                Delivery::Response { outgoing, .. } => {
                    assert!(!self.closed_sessions.contains(&outgoing.session), "INV-S8");
                }
                Delivery::SessionClosed { session, .. } => {
                    assert!(self.closed_sessions.insert(session), "closed twice");
                    self.pending.retain(|p| p.1 != session);
                }
            },
        }
    }

    /// One event on a modern exchange (INV-S23).
    fn observe_modern(&mut self, exchange: ExchangeId, e: streamable_core::sse::Event) {
        assert!(!e.has_id, "H-SSE-6: modern events carry no resumable id");
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        let ex = self.ex.get_mut(&exchange).unwrap();
        assert!(
            !(v.get("method").is_some() && v.get("id").is_some()),
            "H-SSE-2: a server request on a modern stream"
        );
        match &mut ex.kind {
            ExKind::Modern { id, answered, .. } => {
                assert!(!*answered, "INV-S23: an event after the response");
                if v.get("result").is_some() || v.get("error").is_some() {
                    assert_eq!(v["id"], *id, "INV-S1: response for another id");
                    *answered = true;
                }
            }
            ExKind::Listen { id, acked } => {
                let tag = &v["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"];
                let tag = if tag.is_null() {
                    &v["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
                } else {
                    tag
                };
                assert_eq!(*tag, *id, "H-SUB-3: untagged listen message");
                let method = v["method"].as_str().unwrap_or("");
                if !*acked {
                    assert_eq!(
                        method, "notifications/subscriptions/acknowledged",
                        "H-SUB-2: the acknowledgement comes first"
                    );
                    *acked = true;
                } else {
                    assert!(
                        method != "notifications/progress" && method != "notifications/message",
                        "H-SUB-4"
                    );
                }
            }
            _ => unreachable!(),
        }
    }

    fn modern(
        &mut self,
        c: usize,
        method: &str,
        with_session: bool,
        bad_header: bool,
        kind: ExKind,
    ) {
        self.next_modern_id += 1;
        let id = self.next_modern_id;
        let mut params = serde_json::json!({"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}});
        if method == "subscriptions/listen" {
            params["notifications"] = serde_json::json!({"toolsListChanged": true,
                "resourceSubscriptions": ["file:///a"]});
        } else {
            params["name"] = serde_json::json!("echo");
        }
        let body = serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        let mut b = http::Request::post("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if method == "tools/call" {
            b = b.header("mcp-name", if bad_header { "other" } else { "echo" });
        }
        if with_session && let Some(w) = &self.clients[c].wire {
            b = b.header("mcp-session-id", w.as_str());
        }
        let kind = match kind {
            ExKind::Modern { .. } => ExKind::Modern {
                id,
                answered: false,
                dispatched: false,
            },
            _ => ExKind::Listen { id, acked: false },
        };
        self.send(
            c,
            kind,
            b.body(Bytes::from(body.to_string())).unwrap(),
            None,
        );
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Modern {
                c,
                with_session,
                bad_header,
            } => {
                let kind = ExKind::Modern {
                    id: 0,
                    answered: false,
                    dispatched: false,
                };
                self.modern(c as usize, "tools/call", with_session, bad_header, kind);
            }
            Op::Listen { c } => {
                let kind = ExKind::Listen {
                    id: 0,
                    acked: false,
                };
                self.modern(c as usize, "subscriptions/listen", false, false, kind);
            }
            Op::ModernNotify { pick } => {
                if self.modern_pending.is_empty() {
                    return;
                }
                let (rk, _) = self.modern_pending[pick as usize % self.modern_pending.len()];
                let p = RawJson::from_value(&serde_json::json!({"progressToken":1,"progress":1}));
                let _ = self.s.notify(
                    self.t(),
                    Target::Request(rk),
                    "notifications/progress",
                    Some(&p),
                );
                self.drain();
            }
            Op::ModernAsk { pick } => {
                if self.modern_pending.is_empty() {
                    return;
                }
                let (rk, _) = self.modern_pending[pick as usize % self.modern_pending.len()];
                let r = self
                    .s
                    .request_client(self.t(), Target::Request(rk), "roots/list", None);
                assert!(r.is_err(), "H-SSE-2: a server request in the modern era");
                self.drain();
            }
            Op::ModernRespond { pick, error } => {
                if self.modern_pending.is_empty() {
                    return;
                }
                let i = pick as usize % self.modern_pending.len();
                let (rk, ex) = self.modern_pending.remove(i);
                let outcome = if error {
                    Err(streamable_core::ErrorObject::new(
                        -32601,
                        "Method not found",
                    ))
                } else {
                    Ok(RawJson::from_value(&serde_json::json!({"content":[]})))
                };
                let r = self.s.respond(self.t(), rk, outcome);
                // Answering a request whose client left is `Gone`, never a send.
                assert_eq!(r.is_ok(), self.ex.contains_key(&ex), "respond after close");
                self.drain();
                assert!(
                    !self.ex.contains_key(&ex),
                    "INV-L1: a modern exchange left open"
                );
            }
            Op::Publish { kind } => {
                let (method, params) = match kind {
                    0 => ("notifications/tools/list_changed", None),
                    1 => ("notifications/prompts/list_changed", None),
                    2 => (
                        "notifications/resources/updated",
                        Some(serde_json::json!({"uri":"file:///a"})),
                    ),
                    _ => ("notifications/progress", None),
                };
                let params = params.map(|p| RawJson::from_value(&p));
                let _ = self.s.publish(self.t(), method, params.as_ref());
                self.drain();
            }
            Op::EndConnection { pick, get } => {
                // T-PSSE-2: the server ends a connection, the stream goes on.
                let target = if get {
                    let sessions: Vec<SessionKey> =
                        self.clients.iter().filter_map(|c| c.session).collect();
                    if sessions.is_empty() {
                        return;
                    }
                    Target::Session(sessions[pick as usize % sessions.len()])
                } else {
                    if self.pending.is_empty() {
                        return;
                    }
                    Target::Request(self.pending[pick as usize % self.pending.len()].0)
                };
                let _ = self.s.end_connection(self.t(), target);
                self.drain();
            }
            Op::EndSubscriptions => {
                let _ = self.s.end_subscriptions(self.t());
                self.drain();
                assert!(
                    !self
                        .ex
                        .values()
                        .any(|e| matches!(e.kind, ExKind::Listen { acked: true, .. })),
                    "H-SUB-5: a listener survived end_subscriptions"
                );
            }
            Op::Init { c, v } => {
                let c = c as usize;
                let version = ["2025-03-26", "2025-06-18", "2025-11-25"][v as usize];
                self.clients[c].wire = None;
                self.clients[c].session = None;
                self.post(c, common::init_body(version), ExKind::Init);
            }
            Op::Request { c, ping } => {
                let c = c as usize;
                if self.clients[c].wire.is_none() {
                    return;
                }
                self.clients[c].next_id += 1;
                let id = self.clients[c].next_id;
                let method = if ping { "ping" } else { "tools/call" };
                self.post(
                    c,
                    common::req_body(id, method),
                    ExKind::Post {
                        ids: vec![id],
                        requests: true,
                    },
                );
            }
            Op::Notify { c } => {
                let c = c as usize;
                self.post(
                    c,
                    common::notif_body("notifications/roots/list_changed"),
                    ExKind::Post {
                        ids: vec![],
                        requests: false,
                    },
                );
            }
            Op::Cancel { c, pick } => {
                let c = c as usize;
                let n = self.clients[c].next_id;
                if n == 0 {
                    return;
                }
                let id = i64::from(pick) % n + 1;
                if let Some(sk) = self.clients[c].session
                    && self.pending.iter().any(|p| p.1 == sk && p.3 == id)
                {
                    self.cancelled.insert((c, sk, id));
                }
                let body = format!(
                    r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":{id}}}}}"#
                );
                self.post(
                    c,
                    body,
                    ExKind::Post {
                        ids: vec![],
                        requests: false,
                    },
                );
            }
            Op::Get { c } => {
                let c = c as usize;
                let mut b = http::Request::get("/mcp")
                    .header("host", "localhost")
                    .header("accept", "text/event-stream");
                if let Some(w) = &self.clients[c].wire {
                    b = b.header("mcp-session-id", w.as_str());
                }
                self.send(c, ExKind::Get, b.body(Bytes::new()).unwrap(), None);
            }
            Op::Resume { c, pick } => {
                let c = c as usize;
                let cursors: Vec<(u64, u64)> = self.clients[c]
                    .cursors
                    .iter()
                    .map(|(a, b)| (*a, *b))
                    .collect();
                if cursors.is_empty() || self.clients[c].wire.is_none() {
                    return;
                }
                let (sid, seq) = cursors[pick as usize % cursors.len()];
                self.resume(c, sid, seq);
            }
            Op::Disconnect { pick } => {
                let keys: Vec<ExchangeId> = self.ex.keys().copied().collect();
                if keys.is_empty() {
                    return;
                }
                let ex = keys[pick as usize % keys.len()];
                self.ex.remove(&ex);
                if let Some(i) = self.modern_pending.iter().position(|p| p.1 == ex) {
                    let (rk, _) = self.modern_pending.remove(i);
                    self.owed_cancel.insert(rk);
                }
                self.s.handle_disconnect(self.t(), ex);
                self.drain();
            }
            Op::Delete { c } => {
                let c = c as usize;
                let mut b = http::Request::delete("/mcp").header("host", "localhost");
                if let Some(w) = &self.clients[c].wire {
                    b = b.header("mcp-session-id", w.as_str());
                }
                self.send(c, ExKind::Other, b.body(Bytes::new()).unwrap(), None);
            }
            Op::Respond { pick, error } => {
                if self.pending.is_empty() {
                    return;
                }
                let i = pick as usize % self.pending.len();
                let (rk, sk, c, id) = self.pending.remove(i);
                let outcome = if error {
                    Err(streamable_core::ErrorObject::new(-32000, "nope"))
                } else {
                    Ok(RawJson::from_value(
                        &serde_json::json!({"capabilities":{},"serverInfo":{"name":"m","version":"1"},"content":[]}),
                    ))
                };
                let is_init = !self.request_stream.contains_key(&(c, sk, id)) && id == 0;
                let r = self.s.respond(self.t(), rk, outcome.clone());
                if r.is_ok()
                    && outcome.is_ok()
                    && !is_init
                    && !self.cancelled.contains(&(c, sk, id))
                {
                    self.must_arrive.insert((c, sk, id));
                }
                self.drain();
            }
            Op::AppNotify { pick, burst } => {
                if self.pending.is_empty() {
                    return;
                }
                let rk = self.pending[pick as usize % self.pending.len()].0;
                let p = RawJson::from_value(&serde_json::json!({"level":"info","data":"x"}));
                // A burst overruns the retention of 6 events (410 on resume).
                for _ in 0..if burst { 8 } else { 1 } {
                    let _ = self.s.notify(
                        self.t(),
                        Target::Request(rk),
                        "notifications/message",
                        Some(&p),
                    );
                }
                self.drain();
            }
            Op::AppNotifySession { c } => {
                if let Some(sk) = self.clients[c as usize].session {
                    let _ = self.s.notify(
                        self.t(),
                        Target::Session(sk),
                        "notifications/tools/list_changed",
                        None,
                    );
                    self.drain();
                }
            }
            Op::AppAsk { pick } => {
                if self.pending.is_empty() {
                    return;
                }
                let rk = self.pending[pick as usize % self.pending.len()].0;
                let _ = self
                    .s
                    .request_client(self.t(), Target::Request(rk), "roots/list", None);
                self.drain();
            }
            Op::Answer { c } => {
                let c = c as usize;
                if let Some(id) = self.clients[c].asked.pop() {
                    let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"roots":[]}}}}"#);
                    self.post(
                        c,
                        body,
                        ExKind::Post {
                            ids: vec![],
                            requests: false,
                        },
                    );
                }
            }
            Op::Abandon { pick } => {
                if self.pending.is_empty() {
                    return;
                }
                let i = pick as usize % self.pending.len();
                let (rk, ..) = self.pending.remove(i);
                let _ = self.s.abandon(self.t(), rk);
                self.drain();
            }
            Op::Advance { ms } => {
                self.now += u64::from(ms);
                if let Some(t) = self.s.poll_timeout() {
                    assert!(
                        t.0 >= self.now.saturating_sub(u64::from(ms)),
                        "deadline in the past"
                    );
                }
                self.s.handle_timeout(self.t());
                self.drain();
            }
            Op::Garbage { c, kind } => {
                let c = c as usize;
                let body = match kind {
                    0 => "{".to_string(),
                    1 => "[]".to_string(),
                    2 => r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#.to_string(),
                    3 => r#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#.to_string(),
                    4 => "\u{0}\u{1}".to_string(),
                    _ => r#"[{"jsonrpc":"2.0","method":"notifications/a"}]"#.to_string(),
                };
                // An initialize without params is still an initialize.
                let kind = if kind == 3 {
                    ExKind::Init
                } else {
                    ExKind::Post {
                        ids: vec![],
                        requests: false,
                    }
                };
                self.post(c, body, kind);
            }
        }
    }

    fn resume(&mut self, c: usize, sid: u64, seq: u64) {
        let w = self.clients[c].wire.clone().unwrap();
        let req = http::Request::get("/mcp")
            .header("host", "localhost")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", w)
            .header("last-event-id", format!("{sid}-{seq}"))
            .body(Bytes::new())
            .unwrap();
        self.send(c, ExKind::Resume, req, Some((sid, seq)));
    }
}

fn run(mode: ResponseMode, ops: &[Op]) {
    let mut w = World::new(mode);
    for op in ops {
        w.apply(op);
    }
    // Liveness: the application answers everything; clients resume what is
    // unfinished (twice, in case a resume itself produced more).
    let pending: Vec<_> = w.pending.drain(..).collect();
    for (rk, sk, c, id) in pending {
        let ok = RawJson::from_value(&serde_json::json!({"content":[]}));
        if w.s.respond(w.t(), rk, Ok(ok)).is_ok() && id != 0 && !w.cancelled.contains(&(c, sk, id))
        {
            w.must_arrive.insert((c, sk, id));
        }
        w.drain();
    }
    // Every modern request gets its answer (INV-L1 for the stateless era).
    let modern: Vec<_> = w.modern_pending.drain(..).collect();
    for (rk, ex) in modern {
        let ok = RawJson::from_value(&serde_json::json!({"content":[]}));
        w.s.respond(w.t(), rk, Ok(ok))
            .expect("an open modern request can be answered");
        w.drain();
        assert!(
            !w.ex.contains_key(&ex),
            "INV-L1: modern exchange {ex:?} never finished"
        );
    }
    for c in 0..3 {
        if w.clients[c].wire.is_none() {
            continue;
        }
        let cursors: Vec<(u64, u64)> = w.clients[c].cursors.iter().map(|(a, b)| (*a, *b)).collect();
        for (sid, seq) in cursors {
            if w.clients[c].wire.is_some() {
                w.resume(c, sid, seq);
            }
        }
    }
    for key in &w.must_arrive {
        let (c, sk, _) = *key;
        if w.closed_sessions.contains(&sk) || w.clients[c].session != Some(sk) {
            continue;
        }
        let Some(&sid) = w.request_stream.get(key) else {
            if mode == ResponseMode::Json {
                assert_eq!(
                    w.responses.get(key).map_or(0, BTreeSet::len),
                    1,
                    "INV-L1: JSON answer lost for {key:?}"
                );
            }
            continue;
        };
        // Resumable only if the client holds a cursor for that stream.
        let resumable = w.clients[c].cursors.contains_key(&sid) && !w.evicted.contains(&sid);
        let got = w.responses.get(key).map_or(0, BTreeSet::len);
        if resumable {
            assert_eq!(got, 1, "INV-L1: response for {key:?} never arrived");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(5000),
        max_shrink_iters: 20_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn model_auto_mode(ops in prop::collection::vec(op(), 1..60)) {
        run(ResponseMode::Auto, &ops);
    }

    #[test]
    fn model_sse_mode(ops in prop::collection::vec(op(), 1..60)) {
        run(ResponseMode::Sse, &ops);
    }

    #[test]
    fn model_json_mode(ops in prop::collection::vec(op(), 1..60)) {
        run(ResponseMode::Json, &ops);
    }
}
