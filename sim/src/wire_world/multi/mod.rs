//! The multi-instance world (issue 17, `docs/store.md`, MI-1..MI-8): three
//! instances of the real `streamable-hyper` service sharing one store,
//! behind a load balancer that sends every request to any of them, all
//! decided by one seed.
//!
//! Hosts:
//! - `i0`, `i1`, `i2`: the simulator's application ([`crate::fixture`])
//!   built with `Builder::shared_store_arc` around a client of the store
//!   host (each boot with its own seeded ids, so its own instance id);
//! - `store`: the shared store with Redis's semantics (the port's
//!   reference `MemorySharedStore`) behind a simulated TCP hop, with
//!   asynchronous replication: a restart loses the writes of the last `lag`
//!   milliseconds ([`store`]);
//! - `lb`: a hyper proxy choosing the instance of every request from the
//!   seed, streaming answers through ([`lb`]);
//! - `clients`, one host whose tasks are the clients: `c0..`, legacy
//!   (2025-11-25) clients that call `echo` and the slow `slow` tool, drop
//!   the connection mid-stream and resume with `Last-Event-ID` (through the
//!   balancer, so mostly on another instance), and DELETE their session;
//!   `m0`, a 2026-07-28 client of stateless calls ([`client`]); `o0`, our
//!   own client, whose POST streams the balancer cuts so that it resumes on
//!   another instance ([`ours`]).
//!
//! Faults (each drawn per seed): an instance crashes and restarts, an
//! instance is partitioned from the store, the store restarts losing its
//! last writes, the store is slow (a latency spike on every store link).
//!
//! Oracles (named [`Oracle`]s, on what the clients see): exactly one answer
//! per request or a defined status (`OneResponse`, `Served`), exact resume
//! across instances (`ExactReplay`, `AtMostOnce`), nothing of another
//! session or request on a stream (`Isolation`), losses only where the store
//! declared them (`DeclaredLoss`), no request past the deadline unless a
//! fault explains it (`Deadline`), no panic. Known-bad variants (o)..(r)
//! ([`Bug::in_multi`]) are caught by one each.

mod client;
mod lb;
mod ours;
mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Oracle;
use super::server::SimListener;
use crate::fixture;
use crate::harness::{self, PORT, Rng, Trace};
use crate::report::Report;
use crate::variants::Bug;

use store::{Backend, Mailbox, StoreClient};

/// Server instances in this world.
pub const INSTANCES: usize = 3;
/// The store host's name and port.
const STORE: &str = "store";
const STORE_PORT: u16 = 6379;
/// The balancer's host name (clients connect to it on [`PORT`]).
const LB: &str = "lb";
/// turmoil's step (simulated ms): every host's runtime is stepped once
/// per tick, which is most of a run's cost; link latencies are drawn in
/// ms and delivered on the next tick.
const TICK_MS: u64 = 2;

/// How long a fault's effects may outlast it: the store deadline, a tail's
/// wait, a client's retry pause and the link latency.
const GRACE_MS: u64 = 3_000;

/// The store settings of every instance: a deadline well inside the
/// clients' [`harness::DEADLINE`], and short tails (a resume whose first
/// read finds nothing waits this long for the append before 400).
fn store_config() -> streamable_core::store::StoreConfig {
    streamable_core::store::StoreConfig {
        deadline: Duration::from_millis(1_000),
        tail_wait: Duration::from_millis(1_000),
        ..Default::default()
    }
}

fn instance_name(i: usize) -> String {
    format!("i{i}")
}

/// One step of a legacy client (after its handshake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Call `echo` (a JSON answer).
    Echo,
    /// Call `slow` (`steps` progress events `gap_ms` apart), read `cut`
    /// progress events, drop the connection, wait `pause_ms`, resume with
    /// `Last-Event-ID` until the result.
    Resume {
        steps: u8,
        gap_ms: u16,
        cut: u8,
        pause_ms: u16,
    },
    /// DELETE the session (the last step): 204, then a request on it is
    /// 404 on whichever instance it lands.
    Delete,
}

/// A fault and when it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Instance `i` crashes at `at` and restarts `down_ms` later.
    InstanceCrash { i: usize, at: u64, down_ms: u64 },
    /// Instance `i` cannot reach the store from `at` for `len_ms`.
    Partition { i: usize, at: u64, len_ms: u64 },
    /// The store crashes at `at`, restarts `down_ms` later from its
    /// replica, which lacks the writes of the last `lag_ms`.
    StoreRestart { at: u64, down_ms: u64, lag_ms: u64 },
    /// Every store link takes `latency_ms` each way from `at` for `len_ms`.
    SlowStore {
        at: u64,
        len_ms: u64,
        latency_ms: u64,
    },
}

impl Fault {
    /// When its effects may be seen: from its start to its end plus
    /// [`GRACE_MS`].
    fn window(&self) -> (u64, u64) {
        match *self {
            Fault::InstanceCrash { at, down_ms, .. } => (at, at + down_ms + GRACE_MS),
            Fault::Partition { at, len_ms, .. } => (at, at + len_ms + GRACE_MS),
            Fault::StoreRestart { at, down_ms, .. } => (at, at + down_ms + GRACE_MS),
            Fault::SlowStore { at, len_ms, .. } => (at, at + len_ms + GRACE_MS),
        }
    }
}

/// What a seed decides.
#[derive(Clone, Debug)]
struct Plan {
    min_latency_ms: u64,
    max_latency_ms: u64,
    /// Each legacy client's start and steps.
    legacy: Vec<(u64, Vec<Op>)>,
    /// Stateless calls of the 2026-07-28 client (0: none).
    modern_calls: u64,
    /// Calls of our own client (0: none).
    ours_calls: u64,
    faults: Vec<Fault>,
}

impl Plan {
    fn from_seed(seed: u64) -> Plan {
        let mut r = Rng::new(seed ^ 0x3417_1A57);
        let min_latency_ms = r.range(0, 3);
        let max_latency_ms = min_latency_ms + r.range(0, 15);
        let legacy = (0..r.range(3, 4))
            .map(|_| {
                let start = r.range(0, 400);
                let ops = (0..r.range(2, 4))
                    .map(|_| {
                        if r.one_in(3) {
                            Op::Echo
                        } else {
                            let steps = r.range(3, 5) as u8;
                            Op::Resume {
                                steps,
                                gap_ms: r.range(60, 200) as u16,
                                cut: r.range(1, u64::from(steps) - 1) as u8,
                                pause_ms: r.range(0, 300) as u16,
                            }
                        }
                    })
                    .collect();
                (start, ops)
            })
            .collect();
        let mut legacy: Vec<(u64, Vec<Op>)> = legacy;
        let modern_calls = if r.one_in(2) { r.range(2, 4) } else { 0 };
        let mut faults = Vec::new();
        if r.one_in(2) {
            faults.push(Fault::InstanceCrash {
                i: r.range(0, INSTANCES as u64 - 1) as usize,
                at: r.range(300, 3_500),
                down_ms: r.range(200, 1_500),
            });
        }
        if r.one_in(2) {
            faults.push(Fault::Partition {
                i: r.range(0, INSTANCES as u64 - 1) as usize,
                at: r.range(300, 3_500),
                len_ms: r.range(200, 1_500),
            });
        }
        if r.one_in(3) {
            faults.push(Fault::StoreRestart {
                at: r.range(300, 3_500),
                down_ms: r.range(50, 600),
                lag_ms: r.range(20, 300),
            });
        }
        if r.one_in(2) {
            faults.push(Fault::SlowStore {
                at: r.range(300, 3_500),
                len_ms: r.range(200, 1_500),
                latency_ms: r.range(50, 700),
            });
        }
        // Drawn last, so the draws above are those of the world without it.
        for (_, ops) in &mut legacy {
            if r.one_in(2) {
                ops.push(Op::Delete);
            }
        }
        let ours_calls = if r.one_in(2) { r.range(1, 3) } else { 0 };
        Plan {
            min_latency_ms,
            max_latency_ms,
            legacy,
            modern_calls,
            ours_calls,
            faults,
        }
    }

    /// A fault's effects may be seen between `from` and `to`.
    fn disturbed(&self, from: u64, to: u64) -> bool {
        self.faults.iter().any(|f| {
            let (a, b) = f.window();
            from <= b && a <= to
        })
    }

    /// An instance was down (or just back) between `from` and `to`: the
    /// balancer may answer 502.
    fn instance_down(&self, from: u64, to: u64) -> bool {
        self.faults.iter().any(|f| {
            let (a, b) = f.window();
            matches!(f, Fault::InstanceCrash { .. }) && from <= b && a <= to
        })
    }

    /// The stream of a request written by `writer` since `from` may never
    /// end for a reader on another instance: its writer crashed, or its
    /// writes (the events, the end) may have failed or been lost (the
    /// writer cut off from the store, a slow store, a store restart).
    fn stream_lost(&self, writer: &str, from: u64, to: u64) -> bool {
        self.faults.iter().any(|f| {
            let (a, b) = f.window();
            let during = from <= b && a <= to;
            match *f {
                Fault::InstanceCrash { i, .. } | Fault::Partition { i, .. } => {
                    during && instance_name(i) == writer
                }
                Fault::StoreRestart { .. } | Fault::SlowStore { .. } => during,
            }
        })
    }

    /// Instance `creator` crashed between `from` and a little after `to`
    /// (a write it sent by `to` may not have reached the store).
    fn creator_crashed(&self, creator: &str, from: u64, to: u64) -> bool {
        self.faults.iter().any(|f| match *f {
            Fault::InstanceCrash { i, at, .. } => {
                instance_name(i) == creator && from <= at && at <= to + GRACE_MS
            }
            _ => false,
        })
    }

    /// A store restart may have lost a write made between `from` and `to`
    /// (it crashed after `from`, and less than its lag after `to`).
    fn lost_writes_of(&self, from: u64, to: u64) -> bool {
        self.faults.iter().any(|f| match *f {
            Fault::StoreRestart { at, lag_ms, .. } => from <= at && at < to + lag_ms,
            _ => false,
        })
    }
}

/// Counts the clients share (the sweep's proof that faults are exercised).
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl Tally {
    fn add(&self, what: &'static str, n: u64) {
        *self.0.lock().expect("tally").entry(what).or_default() += n;
    }
}

/// Run the multi-instance world of `seed`, with variant `bug` if given (one
/// of [`Bug::in_multi`]; any other is ignored).
pub fn run(seed: u64, bug: Option<Bug>) -> Report {
    let bug = bug.filter(|b| b.in_multi());
    let plan = Plan::from_seed(seed);
    let trace = Trace::default();
    trace.log(
        "sim",
        format!(
            "seed {seed}, variant {:?}, {INSTANCES} instances, {plan:?}",
            bug.map(Bug::letter)
        ),
    );
    let mut b = turmoil::Builder::new();
    b.rng_seed(seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(Duration::from_secs(90))
        .tick_duration(Duration::from_millis(TICK_MS))
        .min_message_latency(Duration::from_millis(plan.min_latency_ms))
        .max_message_latency(Duration::from_millis(plan.max_latency_ms));
    let mut sim = b.build();
    let mailbox = Arc::new(Mailbox::default());
    let backend = Arc::new(Backend::default());
    {
        let (mailbox, backend, trace) = (mailbox.clone(), backend.clone(), trace.clone());
        sim.host(STORE, move || {
            store::store_host(mailbox.clone(), backend.clone(), bug, trace.clone())
        });
    }
    for i in 0..INSTANCES {
        let (mailbox, trace) = (mailbox.clone(), trace.clone());
        let boots = Arc::new(std::sync::atomic::AtomicU64::new(0));
        sim.host(instance_name(i).as_str(), move || {
            let boot = boots.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Fresh seeded ids per instance and boot: a restarted instance
            // draws a new instance id, as a new process would.
            let ids = seed ^ ((i as u64 + 1) << 40) ^ (boot << 52);
            instance_host(i, ids, mailbox.clone(), bug, trace.clone())
        });
    }
    let tally = Tally::default();
    {
        let (trace, tally) = (trace.clone(), tally.clone());
        sim.host(LB, move || lb::lb_host(seed, trace.clone(), tally.clone()));
    }
    let plan = Arc::new(plan);
    {
        // Every client is a task of one client host (one runtime to step
        // per tick instead of one per client: the sweep's cost is mostly
        // turmoil's per-host, per-tick work).
        let (plan, trace, tally) = (plan.clone(), trace.clone(), tally.clone());
        sim.client("clients", async move {
            let mut tasks = Vec::new();
            for (k, (start, ops)) in plan.legacy.iter().enumerate() {
                let c = client::Legacy::new(
                    format!("c{k}"),
                    plan.clone(),
                    trace.clone(),
                    tally.clone(),
                );
                let (start, ops) = (*start, ops.clone());
                tasks.push(tokio::spawn(c.run(start, ops)));
            }
            if plan.modern_calls > 0 {
                tasks.push(tokio::spawn(client::modern(
                    plan.clone(),
                    trace.clone(),
                    tally.clone(),
                )));
            }
            if plan.ours_calls > 0 {
                tasks.push(tokio::spawn(ours::ours(
                    plan.clone(),
                    trace.clone(),
                    tally.clone(),
                )));
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        });
    }
    let panics = harness::catch_panics();
    let result = drive(&mut sim, &plan, &backend, &trace, &tally, &panics);
    drop(sim);
    let mut report = harness::report(seed, bug, &trace, &panics, result);
    tally.add(
        "store writes lost in restarts",
        backend.lost.load(std::sync::atomic::Ordering::SeqCst),
    );
    report.counts = std::mem::take(&mut *tally.0.lock().expect("tally"));
    report.world_flag = " --multi";
    report
}

async fn instance_host(
    i: usize,
    ids: u64,
    mailbox: Arc<Mailbox>,
    bug: Option<Bug>,
    trace: Trace,
) -> Result<(), Box<dyn std::error::Error>> {
    let name = instance_name(i);
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    trace.log(&name, "listening");
    let store = Arc::new(StoreClient::new(mailbox, bug));
    let service = fixture::store_service(ids, store, store_config());
    let result =
        streamable_hyper::serve(SimListener::new(listener), service, std::future::pending()).await;
    if let Err(e) = &result {
        trace.fail_on(&name, Oracle::Server, format!("serve failed: {e}"));
    }
    Ok(result?)
}

/// Step the simulation to its end, applying the plan's faults on cue;
/// stops at a panic.
fn drive(
    sim: &mut turmoil::Sim<'_>,
    plan: &Plan,
    backend: &Backend,
    trace: &Trace,
    tally: &Tally,
    panics: &harness::Panics,
) -> Result<(), String> {
    // Per fault: started, ended.
    let mut state = vec![(false, false); plan.faults.len()];
    let instances: Vec<String> = (0..INSTANCES).map(instance_name).collect();
    loop {
        let now = sim.elapsed().as_millis() as u64;
        for (f, (started, ended)) in plan.faults.iter().zip(state.iter_mut()) {
            if *ended {
                continue;
            }
            match *f {
                Fault::InstanceCrash { i, at, down_ms } => {
                    let name = instances[i].as_str();
                    if !*started && now >= at {
                        trace.log_at(now, "sim", format!("crash {name}"));
                        sim.crash(name);
                        tally.add("instance crashes", 1);
                        *started = true;
                    } else if *started && now >= at + down_ms {
                        trace.log_at(now, "sim", format!("restart {name}"));
                        sim.bounce(name);
                        *ended = true;
                    }
                }
                Fault::Partition { i, at, len_ms } => {
                    let name = instances[i].as_str();
                    if !*started && now >= at {
                        trace.log_at(now, "sim", format!("partition {name} | store"));
                        sim.partition(name, STORE);
                        tally.add("store partitions", 1);
                        *started = true;
                    } else if *started && now >= at + len_ms {
                        trace.log_at(now, "sim", format!("repair {name} | store"));
                        sim.repair(name, STORE);
                        *ended = true;
                    }
                }
                Fault::StoreRestart {
                    at,
                    down_ms,
                    lag_ms,
                } => {
                    if !*started && now >= at {
                        sim.crash(STORE);
                        let lost = backend.fail_over(now, lag_ms);
                        trace.log_at(
                            now,
                            "sim",
                            format!("crash store: the replica lacks the last {lost} writes"),
                        );
                        tally.add("store restarts", 1);
                        *started = true;
                    } else if *started && now >= at + down_ms {
                        trace.log_at(now, "sim", "restart store from its replica");
                        sim.bounce(STORE);
                        *ended = true;
                    }
                }
                Fault::SlowStore {
                    at,
                    len_ms,
                    latency_ms,
                } => {
                    if !*started && now >= at {
                        trace.log_at(now, "sim", format!("store links slow: {latency_ms} ms"));
                        for name in &instances {
                            sim.set_link_latency(
                                name.as_str(),
                                STORE,
                                Duration::from_millis(latency_ms),
                            );
                        }
                        tally.add("slow store windows", 1);
                        *started = true;
                    } else if *started && now >= at + len_ms {
                        trace.log_at(now, "sim", "store links fast again");
                        for name in &instances {
                            sim.set_link_latency(
                                name.as_str(),
                                STORE,
                                Duration::from_millis(plan.min_latency_ms),
                            );
                            sim.set_link_max_message_latency(
                                name.as_str(),
                                STORE,
                                Duration::from_millis(plan.max_latency_ms),
                            );
                        }
                        *ended = true;
                    }
                }
            }
        }
        match sim.step() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
        if panics.lock().expect("panics").is_some() {
            return Err("a task panicked".to_owned());
        }
    }
}
