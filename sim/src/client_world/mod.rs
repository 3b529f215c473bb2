//! The client world: our own client ([`streamable_hyper::client::Client`],
//! its real driver and the core client machine, on hyper-util's pooled
//! client over a turmoil connector) against our own server, on simulated
//! hosts, all decided by one seed.
//!
//! The server runs the same application as the wire world ([`crate::wire_world`])
//! behind two thin layers on its accept loop:
//!
//! - the **recorder** sees every request head and body and every SSE frame
//!   the server writes, stamped with simulated time, into a `World` (the recorder's) that
//!   outlives server crashes; it also **cuts** some SSE responses after a
//!   few frames (a dropped connection, as a proxy or a flaky network does),
//!   so the client must resume with `Last-Event-ID`;
//! - the **front** stands for the client's own bugs in the known-bad
//!   variants (i), (j), (k): it rewrites what the client sent, or what it
//!   receives, from outside the real code. Without a variant it is a no-op.
//!
//! The clients run scripts ([`Op`]): plain calls, calls with progress,
//! SSE polling (the server ends the connection after each step), a
//! sampling request answered while the call's stream is open, cancellation
//! by dropping the call, concurrent calls (one cursor per stream), and
//! notifications on the standalone GET stream. Faults: a late server, link
//! latency, cuts, a server crash and restart (every session is lost: 404),
//! a partition.
//!
//! Oracles, checked on what crossed the simulated wire and on what the
//! application got:
//! - INV-L1 / deadline: every undisturbed call succeeds, with its own tag
//!   (nothing misrouted), within [`DEADLINE`](crate::harness::DEADLINE);
//! - INV-S2: progress reaches the application at most once per value, in
//!   order, and (undisturbed) completely, although cuts make the server
//!   replay; standalone-stream notifications likewise;
//! - INV-S7: a `Last-Event-ID` names an event the server emitted on that
//!   stream of that client's session, never goes backwards, and after a
//!   server-side close is exactly the last id written on that connection;
//! - INV-S9: `initialize` carries no session id; every other request
//!   carries an id minted for this client; an id answered 404 is not sent
//!   again once the client could know;
//! - INV-S14: `notifications/cancelled` names only a request of that client
//!   in that session, never `initialize`; a cancelled call's cancel reaches
//!   the server (undisturbed);
//! - INV-S21: no reconnection to a stream earlier than the last `retry`
//!   written on it before the server closed it;
//! - INV-L2: no reconnection to a stream after its call returned or was
//!   cancelled;
//! - storm (HC-RECON-1, HC-RECON-2): against the `retry: 0` storm (a
//!   server that primes every standalone GET with a new id and `retry: 0`
//!   and closes it at once), per client and session at most
//!   1 + [`MAX_RECONNECTS`] standalone GETs, each at least
//!   [`MIN_RETRY_MS`](streamable_core::client::MIN_RETRY_MS) after the one
//!   before;
//! - INV-L3: after a crash, later calls succeed in a new session;
//! - INV-L4: after a server-side close of an unfinished stream, the client
//!   comes back to it (undisturbed);
//! - the client machine's own `check_invariants()` after every driver step
//!   (`ClientBuilder::check_invariants`), the server's likewise: a
//!   violation panics, and a panic fails the run.

pub(crate) mod app;
pub(crate) mod oracles;
pub(crate) mod recorder;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fixture;
use crate::harness::{self, Boots, Rng, SERVER, Trace, draw_start};
use crate::report::Report;
use crate::variants::Bug;

use app::App;
use oracles::check;
use recorder::{Shared, lock, server_host};

/// The client's per-request timeout (below [`DEADLINE`](crate::harness::DEADLINE)).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// The client's reconnection back-off start when no `retry` was received:
/// far below every `retry` the server sends, so a client that ignored
/// `retry` would reconnect visibly too early (variant (j)).
pub(crate) const BACKOFF: Duration = Duration::from_millis(20);
/// The client's reconnection budget without progress (HC-RECON-2).
pub(super) const MAX_RECONNECTS: u32 = 5;
/// Bytes of padding in a flood notification.
pub(super) const PAD: u64 = 64;
/// At most this many cuts per stream (the client gives up on a stream after
/// several reconnections without an event; cuts always leave one).
pub(super) const MAX_CUTS_PER_STREAM: u32 = 2;

/// One step of a client script (after `connect`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `tools/call echo`: a JSON answer.
    Echo,
    /// `tools/call slow` with progress.
    Slow {
        /// Progress events.
        steps: u8,
        /// Milliseconds between them.
        gap_ms: u16,
    },
    /// `tools/call poll`: the server ends the connection after every
    /// progress event; the client polls with `Last-Event-ID`.
    Poll {
        /// Progress events (and connection ends).
        steps: u8,
        /// Milliseconds between them.
        gap_ms: u16,
    },
    /// `tools/call ask`: the tool samples the client on the open stream.
    Ask,
    /// `tools/call flood`: `n` notifications on the standalone GET stream.
    Flood {
        /// Notifications.
        n: u8,
    },
    /// `tools/call slow`, dropped by the application after `after_ms`.
    Cancel {
        /// Progress events.
        steps: u8,
        /// Milliseconds between them.
        gap_ms: u16,
        /// When the application gives up.
        after_ms: u16,
    },
    /// `k` calls of `slow` at once (one cursor per stream, X-23).
    Concurrent {
        /// Calls.
        k: u8,
        /// Progress events of each.
        steps: u8,
    },
    /// Nothing for a while.
    Sleep(u16),
}

/// What one client does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// When it starts (ms of simulated time).
    pub start_ms: u16,
    /// Whether it opens the standalone GET stream (legacy era only).
    pub standalone: bool,
    /// Whether it speaks 2026-07-28 (`EraPreference::Auto`: it probes with
    /// `server/discover` and our server answers): no session, mirrored
    /// headers, closing a stream cancels. It asks no sampling (a stateless
    /// server sends no requests).
    pub modern: bool,
    /// Its steps.
    pub ops: Vec<Op>,
}

/// What only the client world decides: how the server side behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSide {
    /// The `retry` the server sends (ms).
    pub retry_ms: u16,
    /// An SSE response is cut with probability `1/cut_one_in` (0: never).
    pub cut_one_in: u8,
    /// The `retry: 0` storm (HC-RECON-1, HC-RECON-2, variant (n)): every
    /// standalone GET is answered, in front of the real service, by a
    /// priming event with a new id and `retry: 0`, and closed at once.
    pub storm: bool,
}

/// Everything a seed decides in the client world.
pub type Scenario = harness::Scenario<Script, ServerSide>;

impl Scenario {
    /// The client-world scenario of a seed.
    pub fn from_seed(seed: u64) -> Scenario {
        // A different stream of numbers than the wire world's scenario of
        // the same seed.
        let mut r = Rng::new(seed ^ 0xC11E_C11E_C11E_C11E);
        let server_side = |r: &mut Rng| {
            let retry_ms = r.range(60, 400) as u16;
            let cut_one_in = if r.one_in(3) { 0 } else { r.range(2, 4) as u8 };
            ServerSide {
                retry_ms,
                cut_one_in,
                // Drawn from a stream of its own, so that adding it left
                // every other decision of a seed as it was.
                storm: Rng::new(seed ^ 0x5707_5707).one_in(3),
            }
        };
        Scenario::draw(&mut r, 30, 6, server_side, |r| {
            let start_ms = draw_start(r);
            let modern = r.one_in(4);
            let standalone = !modern && r.one_in(2);
            let ops = (0..r.range(1, 5))
                .map(|_| match Self::op(r) {
                    Op::Ask if modern => Op::Echo,
                    op => op,
                })
                .collect();
            Script {
                start_ms,
                standalone,
                modern,
                ops,
            }
        })
    }

    fn op(r: &mut Rng) -> Op {
        match r.range(0, 9) {
            0 => Op::Echo,
            1 | 2 => Op::Slow {
                steps: r.range(2, 4) as u8,
                gap_ms: r.range(30, 200) as u16,
            },
            3 => Op::Poll {
                steps: r.range(1, 3) as u8,
                gap_ms: r.range(10, 100) as u16,
            },
            4 => Op::Ask,
            5 => Op::Flood {
                n: r.range(2, 12) as u8,
            },
            6 => Op::Cancel {
                steps: r.range(3, 5) as u8,
                gap_ms: r.range(100, 200) as u16,
                after_ms: r.range(30, 400) as u16,
            },
            7 => Op::Concurrent {
                k: r.range(2, 3) as u8,
                steps: r.range(2, 3) as u8,
            },
            _ => Op::Sleep(r.range(10, 400) as u16),
        }
    }

    /// How long a message may take from one host to the other, with slack
    /// for a tick and the hosts' own scheduling (ms).
    pub(crate) fn hop(&self) -> u64 {
        u64::from(self.max_latency_ms) + 5
    }
}

/// Run the client-world scenario of `seed` (with a client variant, if given).
pub fn run(seed: u64, bug: Option<Bug>) -> Report {
    run_scenario(seed, &Scenario::from_seed(seed), bug)
}

/// Run `scen` with turmoil seeded by `seed`.
pub fn run_scenario(seed: u64, scen: &Scenario, bug: Option<Bug>) -> Report {
    let trace = Trace::default();
    trace.log(
        "sim",
        format!(
            "client world, seed {seed}, variant {:?}",
            bug.map(Bug::letter)
        ),
    );
    trace.log("sim", format!("{scen:?}"));
    let scen = Arc::new(scen.clone());
    let world: Shared = Arc::default();
    let cuts = Arc::new(Mutex::new((Rng::new(seed ^ 0xC07), BTreeMap::new())));
    let cuts_made = cuts.clone();
    let mut sim = scen.turmoil(seed).build();
    {
        let (trace, world, scen) = (trace.clone(), world.clone(), scen.clone());
        let boots = Boots::new(scen.server_delay_ms);
        sim.host(SERVER, move || {
            let (boot, delay) = boots.next();
            server_host(
                Arc::new(|retry, ids| fixture::service_with(retry, Some(ids))),
                delay,
                // Session ids replay with the seed, and differ per boot (a
                // restarted server must not mint a dead session's id again).
                seed ^ (u64::from(boot) << 48),
                scen.clone(),
                bug,
                world.clone(),
                cuts.clone(),
                trace.clone(),
            )
        });
    }
    let names = scen.client_names();
    for (i, script) in scen.clients.iter().enumerate() {
        let app = App {
            idx: i,
            name: names[i].clone(),
            scen: scen.clone(),
            world: world.clone(),
            trace: trace.clone(),
            calls: 0,
            reconnects: if bug == Some(Bug::RetryStorm) {
                u32::MAX
            } else {
                MAX_RECONNECTS
            },
        };
        let (ops, start) = (
            script.ops.clone(),
            Duration::from_millis(u64::from(script.start_ms)),
        );
        sim.client(names[i].as_str(), async move {
            tokio::time::sleep(start).await;
            app.run(ops)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
        });
    }
    let (panics, mut result) = harness::play(sim, &scen, &names, &trace);
    let mut counts = BTreeMap::new();
    if result.is_ok() {
        let w = lock(&world);
        if let Err(e) = check(&scen, &names, &w, &mut counts) {
            trace.log("oracle", format!("FAILED: {e}"));
            result = Err(e);
        }
        let cuts = cuts_made.lock().expect("cuts").1.values().sum::<u32>();
        counts.insert("connections cut", u64::from(cuts));
    }
    let mut report = harness::report(seed, bug, &trace, &panics, result);
    report.counts = counts;
    report
}
