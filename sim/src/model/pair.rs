//! The second machine in the model: the real core **client** against the
//! real core server, exhaustively, through the in-memory [`Pair`].
//!
//! The server model ([`super::McpModel`]) drives the core server with
//! abstract clients; here the client is the real `streamable_core::client::
//! Client`, so its reconnection, resumption, cursor, re-issue and timeout
//! logic is explored in every interleaving the bounds allow: which request
//! reaches the server first, where a body is split, which connection is cut
//! when, when the application answers, when time jumps. Both eras are
//! checked (the session era and the stateless 2026-07-28 era).
//!
//! Properties: the pair's own checks hold in every state (at most one
//! outcome per call, each response its own call's, progress exact in the
//! session era and ordered in 2026-07-28, the server's invariants); and from
//! every state, settling the world (deliver, answer, read everything, let
//! time run) ends every call exactly once, with its response unless a
//! connection was cut or a request timed out.

use std::hash::{Hash, Hasher};

use stateright::{Checker, Expectation, HasDiscoveries, Model, Property};
use streamable_core::ResponseMode;
use streamable_core::client::EraPreference;

use crate::pair::{Op, Pair};
use crate::variants::Bug;

/// How far the pair model explores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairBounds {
    /// Calls the client's application makes.
    pub calls: u8,
    /// Connections cut.
    pub cuts: u8,
    /// Progress notifications the server's application sends.
    pub progress: u8,
    /// Jumps of the clock to the next deadline.
    pub advances: u8,
}

impl Default for PairBounds {
    fn default() -> Self {
        PairBounds {
            calls: 2,
            cuts: 1,
            progress: 1,
            advances: 1,
        }
    }
}

/// The model: a pair in one era, its server answering in one mode.
#[derive(Clone, Debug)]
pub struct PairModel {
    /// The client's era.
    pub era: EraPreference,
    /// The server's response mode.
    pub mode: ResponseMode,
    /// A known-bad server variant, if any.
    pub bug: Option<Bug>,
    /// The bounds.
    pub bounds: PairBounds,
}

/// A model state: the pair and what the bounds have used.
#[derive(Clone, Debug)]
pub struct PairState {
    /// The pair.
    pub pair: Pair,
    calls: u8,
    cuts: u8,
    progress: u8,
    advances: u8,
    /// Reachability: a call was answered after a connection was cut.
    answered_after_cut: bool,
}

impl PairState {
    /// The state's identity: the client's state has no `Hash` of its own
    /// (its maps hold `serde_json` values and `http` requests), and its
    /// `Debug` is deterministic (ordered maps), so the rendering is the
    /// fingerprint.
    fn key(&self) -> String {
        format!(
            "{:?}|{}{}{}{}",
            self.pair, self.calls, self.cuts, self.progress, self.advances
        )
    }
}

impl Hash for PairState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for PairState {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for PairState {}

/// Property names.
pub const PROP_PAIR_SAFE: &str = "pair: one outcome per call, its own, exact progress";
/// See [`PROP_PAIR_SAFE`].
pub const PROP_PAIR_SETTLES: &str = "pair: from every state, settling ends every call once";
/// Reachability: a call answered after a cut (the resumption or re-issue path).
pub const REACH_PAIR_RESUMED: &str = "pair: a call answered after a cut";

impl Model for PairModel {
    type State = PairState;
    type Action = Op;

    fn init_states(&self) -> Vec<PairState> {
        let mut pair = Pair::with_bug(self.era, self.mode, 7, self.bug);
        // The handshake is not what this model explores: settle it.
        pair.settle();
        vec![PairState {
            pair,
            calls: 0,
            cuts: 0,
            progress: 0,
            advances: 0,
            answered_after_cut: false,
        }]
    }

    fn actions(&self, s: &PairState, out: &mut Vec<Op>) {
        if s.pair.broken.is_some() {
            return;
        }
        let p = s.pair.pending();
        if s.calls < self.bounds.calls {
            out.push(Op::Call);
        }
        for i in 0..p.up {
            out.push(Op::Deliver(i));
        }
        for i in 0..p.readable {
            // One byte (splits every frame), or all of the next item.
            out.push(Op::Read(i, 1));
            out.push(Op::Read(i, usize::MAX));
        }
        if s.cuts < self.bounds.cuts {
            for i in 0..p.open {
                out.push(Op::Cut(i));
            }
        }
        for i in 0..p.held {
            out.push(Op::Respond(i));
            if s.progress < self.bounds.progress {
                out.push(Op::Progress(i));
            }
        }
        if s.advances < self.bounds.advances
            && let Some(t) = s.pair.client.poll_timeout()
        {
            let now = s.pair.now();
            out.push(Op::Advance(t.0.saturating_sub(now).max(1)));
        }
    }

    fn next_state(&self, s: &PairState, op: Op) -> Option<PairState> {
        let mut s = s.clone();
        match op {
            Op::Call => s.calls += 1,
            Op::Cut(_) => s.cuts += 1,
            Op::Progress(_) => s.progress += 1,
            Op::Advance(_) => s.advances += 1,
            _ => {}
        }
        let answered = s.pair.answered();
        s.pair.step(&op);
        if s.cuts > 0 && s.pair.answered() > answered {
            s.answered_after_cut = true;
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(PROP_PAIR_SAFE, |_, s: &PairState| s.pair.broken.is_none()),
            Property::always(PROP_PAIR_SETTLES, |_, s: &PairState| {
                let mut settled = s.pair.clone();
                settled.settle();
                settled.check_settled();
                settled.broken.is_none()
            }),
            Property::sometimes(REACH_PAIR_RESUMED, |_, s: &PairState| s.answered_after_cut),
        ]
    }
}

/// The result of a bounded check of the pair model.
#[derive(Debug)]
pub struct PairOutcome {
    /// Distinct states.
    pub unique: usize,
    /// Wall time.
    pub elapsed: std::time::Duration,
    /// Broken `always` properties: name and the shortest counterexample.
    pub failures: Vec<(&'static str, String)>,
    /// `sometimes` properties never reached.
    pub unreached: Vec<&'static str>,
}

/// Breadth-first search of every behaviour of at most `depth` actions.
pub fn check_pair(model: PairModel, depth: usize, threads: usize) -> PairOutcome {
    let props = model.properties();
    let start = std::time::Instant::now();
    let c = model
        .checker()
        .threads(threads)
        .target_max_depth(depth)
        .finish_when(HasDiscoveries::AnyFailures)
        .spawn_bfs()
        .join();
    let mut failures = Vec::new();
    let mut unreached = Vec::new();
    for p in &props {
        match (p.expectation.clone(), c.discovery(p.name)) {
            (Expectation::Always, Some(path)) => {
                let why = path
                    .last_state()
                    .pair
                    .broken
                    .as_ref()
                    .map(|b| b.0.clone())
                    .unwrap_or_else(|| "settling breaks a property".into());
                let steps: Vec<String> = path
                    .into_actions()
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect();
                failures.push((p.name, format!("{why} after {}", steps.join(" -> "))));
            }
            (Expectation::Sometimes, None) => unreached.push(p.name),
            _ => {}
        }
    }
    PairOutcome {
        unique: c.unique_state_count(),
        elapsed: start.elapsed(),
        failures,
        unreached,
    }
}
