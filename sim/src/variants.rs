//! Deliberately broken variants, to prove that each checker can fail.
//!
//! Nothing here is used by the product: `streamable-core` and
//! `streamable-hyper` never depend on this crate. Each variant reproduces a
//! bug seen in other MCP implementations (or a classic one in this design)
//! from *outside* the real code: [`Core`] wraps the real core `Server` and
//! rewrites its inputs and outputs; the adapter variants (a), (b), (h) wrap
//! the real `McpService` in the wire world (`wire_world`).
//!
//! | letter | bug | caught by |
//! | --- | --- | --- |
//! | (a) | start-up publishes "ready" after a sleep; earlier requests are stranded (the fastapi_mcp pattern) | simulator: `Oracle::Readiness` |
//! | (b) | the SSE body is buffered and sent when the handler ends | simulator: `Oracle::Latency` |
//! | (c) | responses routed by JSON-RPC id across sessions | model checker: INV-S18 |
//! | (d) | replay after `Last-Event-ID` off by one | model checker: INV-S5 / INV-S2 |
//! | (e) | a response emitted on the standalone GET stream | model checker: INV-S4 |
//! | (f) | DELETE answered, session kept dispatching | model checker: INV-S8 / INV-S22 |
//! | (g) | a legacy disconnect treated as cancellation | model checker: T-PSSE-12 |
//! | (h) | a slow reader blocks its whole session | simulator: `Oracle::Deadline` |
//! | (i) | client: the `Last-Event-ID` cursor lags one event behind | client world: INV-S7 / INV-S2 |
//! | (j) | client: `retry` ignored | client world: INV-S21 |
//! | (k) | client: a session id answered 404 stays in use | client world: INV-S9 |
//! | (l) | a closed 2026-07-28 stream is treated like a legacy disconnect | model checker: H-CAN-1 (`PROP_CAN`) |
//! | (m) | the adapter does not pass the verified principal to the core | model checker: INV-S26 |
//! | (n) | client: the `retry: 0` storm, reconnections that never run out against a server that primes and closes at once (typescript-sdk #2682) | client world: storm oracle (HC-RECON-2) |
//! | (o) | shared store: an append acknowledged but not kept | multi-instance world: `Oracle::ExactReplay` |
//! | (p) | shared store: after a failover, reads served from the stale image of the restart | multi-instance world: `Oracle::DeclaredLoss` |
//! | (q) | shared store: streams keyed without their instance (event ids unique per instance only) | multi-instance world: `Oracle::Isolation` |
//! | (r) | shared store: the restore race, a session served on an instance before its record was read back | multi-instance world: `Oracle::Served` |

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use streamable_core::{
    Config, Content, Delivery, ErrorObject, ExchangeId, Id, OutgoingKey, Output, RawJson,
    RequestKey, ResponseHead, SeededIds, SendError, Server, SessionKey, Target, Timestamp,
};

/// A known-bad variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bug {
    /// (a) readiness published after a sleep; requests before it are stranded.
    LateReady,
    /// (b) the SSE response is buffered whole and sent at its end.
    BufferedSse,
    /// (c) responses routed by the client's JSON-RPC id across sessions.
    RouteById,
    /// (d) replay after `Last-Event-ID` starts one event early.
    ReplayOffByOne,
    /// (e) a response is written on the session's GET stream.
    ResponseOnGet,
    /// (f) DELETE is answered 204 but the session lives on.
    DeleteKeepsSession,
    /// (g) a disconnect is turned into a cancellation (legacy era).
    DisconnectCancels,
    /// (h) a slow reader blocks every other exchange of its session.
    SlowReaderBlocks,
    /// (i) client: the `Last-Event-ID` cursor lags one event behind.
    StaleCursor,
    /// (j) client: `retry` ignored, reconnecting on its own back-off.
    IgnoresRetry,
    /// (k) client: the session id answered 404 stays in use.
    KeepsDeadSession,
    /// (l) a closed 2026-07-28 stream is treated like a legacy disconnect:
    /// the request runs on and nobody tells the application (H-CAN-1).
    ModernCloseIgnored,
    /// (m) the adapter forgets the verified principal: every request
    /// reaches the core as nobody's, so any principal may use any session
    /// (INV-S26).
    PrincipalDropped,
    /// (n) client: the `retry: 0` storm. Against a server that primes every
    /// connection with a new id and `retry: 0` and closes it at once, the
    /// old client honoured the 0 and counted every id as progress, so it
    /// reconnected without delay and without end. Reproduced from outside
    /// the real code with the budget that rule amounted to: a reconnection
    /// budget that never runs out (the real floor, HC-RECON-1, cannot be
    /// removed from outside; the unit tests cover it).
    RetryStorm,
    /// (o) shared store (issue 17): the store acknowledges an append it
    /// does not keep (the third event of every stream, `seq` 2).
    LostAppendAcked,
    /// (p) shared store: after the store restarts, its reads are served
    /// from the image it restarted with (a replica that stopped
    /// replicating), its writes go on to the new primary.
    StaleReadAfterFailover,
    /// (q) shared store: streams keyed by their number only, the instance
    /// part of the event id left out, so two instances' streams of one
    /// session share a key.
    InstanceLocalEventIds,
    /// (r) shared store: the restore race. An instance answers the gate of
    /// a session it has not seen yet at once, with a record of defaults
    /// (the oldest legacy version, ready), instead of waiting for the
    /// store's: the session is served before its restore completed.
    RestoreRace,
}

impl Bug {
    /// Every variant, in letter order.
    pub const ALL: [Bug; 18] = [
        Bug::LateReady,
        Bug::BufferedSse,
        Bug::RouteById,
        Bug::ReplayOffByOne,
        Bug::ResponseOnGet,
        Bug::DeleteKeepsSession,
        Bug::DisconnectCancels,
        Bug::SlowReaderBlocks,
        Bug::StaleCursor,
        Bug::IgnoresRetry,
        Bug::KeepsDeadSession,
        Bug::ModernCloseIgnored,
        Bug::PrincipalDropped,
        Bug::RetryStorm,
        Bug::LostAppendAcked,
        Bug::StaleReadAfterFailover,
        Bug::InstanceLocalEventIds,
        Bug::RestoreRace,
    ];

    /// The letter of the list.
    pub fn letter(self) -> char {
        match self {
            Bug::LateReady => 'a',
            Bug::BufferedSse => 'b',
            Bug::RouteById => 'c',
            Bug::ReplayOffByOne => 'd',
            Bug::ResponseOnGet => 'e',
            Bug::DeleteKeepsSession => 'f',
            Bug::DisconnectCancels => 'g',
            Bug::SlowReaderBlocks => 'h',
            Bug::StaleCursor => 'i',
            Bug::IgnoresRetry => 'j',
            Bug::KeepsDeadSession => 'k',
            Bug::ModernCloseIgnored => 'l',
            Bug::PrincipalDropped => 'm',
            Bug::RetryStorm => 'n',
            Bug::LostAppendAcked => 'o',
            Bug::StaleReadAfterFailover => 'p',
            Bug::InstanceLocalEventIds => 'q',
            Bug::RestoreRace => 'r',
        }
    }

    /// The variant of a letter.
    pub fn from_letter(c: char) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.letter() == c)
    }

    /// Whether the variant breaks our client (checked in the client world,
    /// [`crate::client_world`]).
    pub fn in_client(self) -> bool {
        matches!(
            self,
            Bug::StaleCursor | Bug::IgnoresRetry | Bug::KeepsDeadSession | Bug::RetryStorm
        )
    }

    /// Whether the variant breaks the shared store or its use (checked in
    /// the multi-instance world, [`crate::wire_world::multi`]).
    pub fn in_multi(self) -> bool {
        matches!(
            self,
            Bug::LostAppendAcked
                | Bug::StaleReadAfterFailover
                | Bug::InstanceLocalEventIds
                | Bug::RestoreRace
        )
    }

    /// Whether the variant breaks the core (checked by the model checker) or
    /// the adapter (checked by the simulator).
    pub fn in_core(self) -> bool {
        matches!(
            self,
            Bug::RouteById
                | Bug::ReplayOffByOne
                | Bug::ResponseOnGet
                | Bug::DeleteKeepsSession
                | Bug::DisconnectCancels
                | Bug::ModernCloseIgnored
                | Bug::PrincipalDropped
        )
    }
}

/// The real core `Server`, optionally broken by one [`Bug`] applied from
/// outside. Without a bug every call passes straight through.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Core {
    server: Server<SeededIds>,
    bug: Option<Bug>,
    /// Outputs the wrapper adds after the core's.
    extra: VecDeque<Output>,
    /// The exchange of the input being processed (outputs up to the next
    /// input belong to it).
    current: Option<ExchangeId>,
    /// (c): the latest request delivered under each JSON-RPC id, any session.
    by_id: BTreeMap<Id, RequestKey>,
    /// (c), (g): each delivered request's id, session and exchange.
    requests: BTreeMap<RequestKey, (Id, Option<SessionKey>, Option<ExchangeId>)>,
    /// (e): the session wire id each exchange named; the live GET exchange
    /// of each session.
    wire_of: BTreeMap<ExchangeId, Box<str>>,
    get_conn: BTreeMap<Box<str>, ExchangeId>,
    /// (f): exchanges whose DELETE the wrapper answers itself.
    fake_delete: BTreeSet<ExchangeId>,
}

impl Core {
    /// A core with `config`, session ids from `seed`, broken by `bug`.
    pub fn new(config: Config, seed: u64, bug: Option<Bug>) -> Self {
        Core {
            server: Server::new(config, SeededIds(seed)),
            bug: bug.filter(|b| b.in_core()),
            extra: VecDeque::new(),
            current: None,
            by_id: BTreeMap::new(),
            requests: BTreeMap::new(),
            wire_of: BTreeMap::new(),
            get_conn: BTreeMap::new(),
            fake_delete: BTreeSet::new(),
        }
    }

    /// The real core inside (for `check_invariants`, session lookups).
    pub fn server(&self) -> &Server<SeededIds> {
        &self.server
    }

    /// [`Server::handle_request`], through the variant.
    pub fn handle_request(&mut self, now: Timestamp, req: Request<Bytes>) -> ExchangeId {
        self.handle_request_as(now, req, None)
    }

    /// [`Server::handle_request_as`] (a request of `principal`), through
    /// the variant.
    pub fn handle_request_as(
        &mut self,
        now: Timestamp,
        mut req: Request<Bytes>,
        principal: Option<&str>,
    ) -> ExchangeId {
        let principal = if self.bug == Some(Bug::PrincipalDropped) {
            None
        } else {
            principal
        };
        let session: Option<Box<str>> = req
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(Into::into);
        let is_get = req.method() == Method::GET;
        let resume = req.headers().contains_key("last-event-id");
        let mut fake = false;
        match self.bug {
            Some(Bug::ReplayOffByOne) => {
                // Off by one: replay from the cursor itself, not after it.
                let shifted = req
                    .headers()
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::wire::parse_event_id)
                    .filter(|&(_, q)| q > 0)
                    .map(|(s, q)| format!("{s}-{}", q - 1));
                if let Some(id) = shifted {
                    req.headers_mut()
                        .insert("last-event-id", id.parse().expect("ascii"));
                }
            }
            Some(Bug::DeleteKeepsSession)
                if req.method() == Method::DELETE
                    && session
                        .as_deref()
                        .is_some_and(|w| self.live_wire(w).is_some()) =>
            {
                // Answer 204 but never terminate: hand the core a request it
                // refuses without touching the session, then rewrite the answer.
                *req.method_mut() = Method::GET;
                req.headers_mut()
                    .insert("last-event-id", "not-an-event".parse().expect("ascii"));
                req.headers_mut()
                    .insert("accept", "text/event-stream".parse().expect("ascii"));
                fake = true;
            }
            _ => {}
        }
        let ex = self.server.handle_request_as(now, &req, principal);
        self.current = Some(ex);
        if fake {
            self.fake_delete.insert(ex);
        }
        if let Some(w) = session {
            if is_get && !resume {
                self.get_conn.insert(w.clone(), ex);
            }
            self.wire_of.insert(ex, w);
        }
        ex
    }

    fn live_wire(&self, wire: &str) -> Option<SessionKey> {
        // Sessions are numbered from 1; the count of live ones bounds nothing,
        // so look through the few the models create.
        (1..=self.server.session_count() as u64 + 8)
            .map(SessionKey)
            .find(|&k| self.server.session_wire_id(k) == Some(wire))
    }

    /// [`Server::handle_disconnect`], through the variant.
    pub fn handle_disconnect(&mut self, now: Timestamp, ex: ExchangeId) {
        self.current = None;
        let stateless = self
            .requests
            .values()
            .any(|(_, session, from)| session.is_none() && *from == Some(ex));
        if self.bug == Some(Bug::ModernCloseIgnored) && stateless {
            // The bug: "a disconnect is not a cancellation" applied to the
            // era where it is one.
            self.forget_exchange(ex);
            return;
        }
        self.server.handle_disconnect(now, ex);
        self.forget_exchange(ex);
        if self.bug == Some(Bug::DisconnectCancels) {
            // The bug: "the client hung up, so it no longer wants the answer".
            for (rk, (_, session, from)) in &self.requests {
                if *from == Some(ex) {
                    self.extra.push_back(Output::Deliver(Delivery::Cancelled {
                        session: *session,
                        request: *rk,
                        reason: None,
                    }));
                }
            }
        }
    }

    fn forget_exchange(&mut self, ex: ExchangeId) {
        self.get_conn.retain(|_, e| *e != ex);
    }

    /// [`Server::handle_timeout`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.current = None;
        self.server.handle_timeout(now);
    }

    /// [`Server::respond`], through the variant.
    pub fn respond(
        &mut self,
        now: Timestamp,
        request: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
    ) -> Result<(), SendError> {
        self.current = None;
        let mut target = request;
        if self.bug == Some(Bug::RouteById)
            && let Some((id, _, _)) = self.requests.get(&request)
            && let Some(&latest) = self.by_id.get(id)
        {
            // The bug: one global table from JSON-RPC id to the waiting
            // stream, overwritten by whichever session used the id last.
            target = latest;
        }
        self.requests.remove(&request);
        self.server.respond(now, target, outcome)
    }

    /// [`Server::notify`].
    pub fn notify(
        &mut self,
        now: Timestamp,
        target: Target,
        method: &str,
        params: Option<&RawJson>,
    ) -> Result<(), SendError> {
        self.current = None;
        self.server.notify(now, target, method, params)
    }

    /// [`Server::request_client`].
    pub fn request_client(
        &mut self,
        now: Timestamp,
        target: Target,
        method: &str,
        params: Option<&RawJson>,
    ) -> Result<OutgoingKey, SendError> {
        self.current = None;
        self.server.request_client(now, target, method, params)
    }

    /// [`Server::poll_timeout`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.server.poll_timeout()
    }

    /// [`Server::poll_output`], through the variant.
    pub fn poll_output(&mut self) -> Option<Output> {
        let Some(out) = self.server.poll_output() else {
            return self.extra.pop_front();
        };
        Some(match out {
            Output::Deliver(Delivery::Request {
                session,
                request,
                id,
                method,
                params,
            }) => {
                self.by_id.insert(id.clone(), request);
                self.requests
                    .insert(request, (id.clone(), session, self.current));
                Output::Deliver(Delivery::Request {
                    session,
                    request,
                    id,
                    method,
                    params,
                })
            }
            Output::Reply {
                exchange,
                head,
                body,
            } if self.fake_delete.remove(&exchange) => {
                let _ = (head, body);
                Output::Reply {
                    exchange,
                    head: ResponseHead {
                        status: StatusCode::NO_CONTENT,
                        content: Content::Empty,
                        session_id: None,
                        allow: None,
                        retry_after: None,
                    },
                    body: Bytes::new(),
                }
            }
            Output::Event { exchange, frame }
                if self.bug == Some(Bug::ResponseOnGet)
                    && crate::wire::frame_is_response(&frame) =>
            {
                // The bug: "the GET stream is the session's channel", so the
                // response goes there when one is open.
                let get = self
                    .wire_of
                    .get(&exchange)
                    .and_then(|w| self.get_conn.get(w))
                    .copied();
                Output::Event {
                    exchange: get.unwrap_or(exchange),
                    frame,
                }
            }
            Output::Close { exchange } => {
                self.forget_exchange(exchange);
                Output::Close { exchange }
            }
            other => other,
        })
    }
}
