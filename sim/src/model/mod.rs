//! Exhaustive model checking of the real core with stateright.
//!
//! The state ([`World`]) holds the real `streamable_core::Server` (through
//! [`Core`], which may break it on purpose), three small abstract clients, the
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
//! as client 0 (so routing by id would cross sessions); client 2 speaks
//! 2026-07-28: one stateless `tools/call`, again with id 1, no session, and
//! closing its stream is how it cancels (H-CAN-1). The application may
//! answer, send progress, ask the client (sampling: refused for the
//! stateless request, H-SSE-2), push a notification on the GET stream, and
//! answer a cancelled stateless request late. Bounds: each client step at
//! most once, one resume, and [`Bounds::drops`] connection drops.
//!
//! The oracle lives in the clients: what reaches them is checked against
//! INV-S1, S2, S4, S5, S18, and what reaches the application against INV-S8
//! (no dispatch after an acknowledged DELETE), T-PSSE-12 (a disconnect is
//! not a cancellation in a session), H-CAN-1/H-CAN-2 (closing a 2026-07-28
//! stream cancels its request, once, and nothing answers it afterwards) and
//! H-SSE-2 (no server-to-client request on a 2026-07-28 stream);
//! `check_invariants()` runs after every action.

pub mod pair;
mod world;

use std::collections::{BTreeMap, BTreeSet};

use stateright::{Model, Property};
use streamable_core::{Config, RawJson, ResponseMode, Target};

use crate::variants::{Bug, Core};

pub use world::{Action, Client, Req, World};
use world::{MODERN_CLIENT, NOW, Step};

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
    /// INV-S26: a request of another principal dispatched in a session.
    S26(String),
    /// T-PSSE-12: a disconnect turned into a cancellation.
    Psse12(String),
    /// H-CAN-1 / H-CAN-2: a closed 2026-07-28 stream did not cancel its
    /// request exactly once, or the request was answered after it.
    Can(String),
    /// H-SSE-2: a server-to-client request on a 2026-07-28 stream.
    Sse2(String),
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
            Violation::S26(_) => PROP_S26,
            Violation::Psse12(_) => PROP_PSSE12,
            Violation::Can(_) => PROP_CAN,
            Violation::Sse2(_) => PROP_SSE2,
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
pub const PROP_S26: &str = "INV-S26 a session serves only its principal";
/// See [`PROP_S1`].
pub const PROP_PSSE12: &str = "T-PSSE-12 disconnect is not cancellation";
/// See [`PROP_S1`].
pub const PROP_CAN: &str = "H-CAN-1/2 closing a 2026-07-28 stream cancels once, nothing after";
/// See [`PROP_S1`].
pub const PROP_SSE2: &str = "H-SSE-2 no server request on a 2026-07-28 stream";
/// See [`PROP_S1`].
pub const PROP_STRUCT: &str = "check_invariants holds";
/// Reachability: a stream was resumed with `Last-Event-ID`.
pub const REACH_RESUME: &str = "a resume happened";
/// Reachability: a session was terminated.
pub const REACH_TERMINATED: &str = "a session was terminated";
/// Reachability: a server-to-client request was answered.
pub const REACH_ANSWERED: &str = "a server-to-client request was answered";
/// Reachability: a 2026-07-28 request was cancelled by closing its stream.
pub const REACH_MODERN_CANCELLED: &str = "a 2026-07-28 request was cancelled";
/// Reachability: a 2026-07-28 request was answered.
pub const REACH_MODERN_ANSWERED: &str = "a 2026-07-28 request was answered";

impl Model for McpModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        vec![World {
            core: Core::new(Self::config(), 7, self.bug),
            clients: [Client::default(), Client::default(), Client::default()],
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
            modern_exchange: None,
            closed: BTreeSet::new(),
            cancelled: BTreeSet::new(),
            modern_cancelled: false,
            modern_answered: false,
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
            if i == MODERN_CLIENT {
                if !c.done.contains(&Step::Modern) {
                    out.push(Action::Send(i, Req::Modern));
                }
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
            } else if i == 1 && !c.done.contains(&Step::Hijack) && w.clients[0].session.is_some() {
                out.push(Action::Send(i, Req::Hijack));
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
            if let Some(session) = r.session
                && !w.pushed.contains(&session)
                && w.conns.values().any(|c| c.req == Req::Get)
            {
                out.push(Action::Push(session));
            }
        }
        for rk in &w.cancelled {
            out.push(Action::LateRespond(*rk));
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
                    Req::Modern => c.done.insert(Step::Modern),
                    Req::Hijack => c.done.insert(Step::Hijack),
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
                    if conn.req == Req::Modern {
                        w.closed.insert(ex);
                    }
                    w.lose(conn.client, &conn);
                }
                w.core.handle_disconnect(NOW, ex);
                w.drain();
                w.check_closed_cancels();
            }
            Action::LateRespond(rk) => {
                w.cancelled.remove(&rk);
                let result = RawJson::from_value(&serde_json::json!({
                    "content": [{"type": "text", "text": "late"}]
                }));
                if w.core.respond(NOW, rk, Ok(result)).is_ok() {
                    w.fail(Violation::Can(format!(
                        "the core accepted an answer to request {} after its cancellation",
                        rk.0
                    )));
                }
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
            Property::always(PROP_S26, |_, w: &World| ok(w, PROP_S26)),
            Property::always(PROP_PSSE12, |_, w: &World| ok(w, PROP_PSSE12)),
            Property::always(PROP_CAN, |_, w: &World| ok(w, PROP_CAN)),
            Property::always(PROP_SSE2, |_, w: &World| ok(w, PROP_SSE2)),
            Property::always(PROP_STRUCT, |_, w: &World| ok(w, PROP_STRUCT)),
            Property::sometimes(REACH_RESUME, |_, w: &World| w.resumed),
            Property::sometimes(REACH_TERMINATED, |_, w: &World| w.terminated),
            Property::sometimes(REACH_ANSWERED, |_, w: &World| w.answered_outgoing),
            Property::sometimes(REACH_MODERN_CANCELLED, |_, w: &World| w.modern_cancelled),
            Property::sometimes(REACH_MODERN_ANSWERED, |_, w: &World| w.modern_answered),
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
