//! The simulation kit: seeded simulation tests of **your own** server.
//!
//! Give [`Simulation`] a function that builds your application (your
//! [`McpServer`](streamable_hyper::McpServer) registry, or any
//! [`Handler`]) and a function that draws the tool calls your clients
//! make; it runs them under turmoil, one run per seed, on the same
//! machinery that checks streamable itself (the client world: the real
//! adapter behind a recorder that cuts connections, our real client):
//!
//! - **one to three clients**, each of the legacy session era or of
//!   2026-07-28 (stateless), some with a standalone GET stream;
//! - **faults**: a late server start, link latency, SSE connections cut
//!   mid-stream (the client must resume with `Last-Event-ID`), a server
//!   crash and restart (your factory builds the application again: state
//!   you keep outside it survives, as it would in a real restart), a
//!   partition of one client, slow readers (a small per-connection backlog);
//! - **simulated time**: your handler's `tokio::time::sleep` takes no real
//!   time and is the same on every replay.
//!
//! After each run it checks the protocol oracles:
//!
//! - every call is answered exactly once (no stream carries two responses)
//!   or fails cleanly: a call not disturbed by a fault gets its answer
//!   (a result or a JSON-RPC error) within the deadline, and a disturbed
//!   one fails with a transport error rather than hanging;
//! - progress reaches the caller in order, never twice (legacy era; at
//!   2026-07-28 a re-issued call may start its progress again);
//! - exact resume: every `Last-Event-ID` names an event written on that
//!   stream of that client's session, never goes back, and after a
//!   server-side close is the last event written (INV-S7);
//! - nothing crosses sessions: a session id is only ever sent by the client
//!   it was minted for (INV-S9), cancellations name the sender's own
//!   requests (INV-S14);
//!
//! and then your oracles ([`Simulation::oracle`]) over the [`Run`]: every
//! call with its arguments, outcome and progress. On a failure it prints the
//! seed, the failure, the trace stamped with simulated time and a one-line
//! replay command (`STREAMABLE_SIM_SEED=<seed> cargo test ... -- --exact <test>`).
//!
//! ```no_run
//! use serde_json::json;
//! use streamable_hyper::{Json, McpServer, Tool};
//! use streamable_sim::kit::{Call, Simulation};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add { a: i64, b: i64 }
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Sum { sum: i64 }
//!
//! fn app() -> McpServer {
//!     McpServer::new("adder", "1").tool(Tool::typed("add", "Add", |_ctx, Add { a, b }| async move {
//!         Ok(Json(Sum { sum: a + b }))
//!     }))
//! }
//!
//! // In a #[test]:
//! Simulation::new(app)
//!     .calls(|rng, _client| {
//!         (0..rng.range(1, 4))
//!             .map(|_| Call::tool("add", json!({"a": rng.range(0, 9), "b": rng.range(0, 9)})))
//!             .collect()
//!     })
//!     .oracle("sums are right", |run| {
//!         for c in run.answered() {
//!             let (a, b) = (c.arguments["a"].as_i64(), c.arguments["b"].as_i64());
//!             let sum = c.result().and_then(|r| r["structuredContent"]["sum"].as_i64());
//!             if sum != a.zip(b).map(|(a, b)| a + b) {
//!                 return Err(format!("{} got {sum:?}", c.arguments));
//!             }
//!         }
//!         Ok(())
//!     })
//!     .check(0..1000);
//! ```
//!
//! Environment: `STREAMABLE_SIM_SEED=N` runs only seed `N` and prints its
//! trace; `STREAMABLE_SIM_SEEDS=N` runs `N` seeds from the range's start
//! instead of the range (for a longer sweep in CI);
//! `STREAMABLE_SIM_PROGRESS=1` draws a progress bar on the terminal.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use streamable_core::client::EraPreference;
use streamable_core::client::Failure;
use streamable_core::{Config, HostPolicy};
use streamable_hyper::client::{Client, Error};
use streamable_hyper::{Handler, McpService};

use crate::client_world::app::connect_until_up;
use crate::client_world::oracles::{check_requests, check_streams};
use crate::client_world::recorder::{MakeService, Shared, lock, server_host};
use crate::client_world::{BACKOFF, REQUEST_TIMEOUT, Scenario};
use crate::harness::{self, Boots, DEADLINE, PORT, SERVER, Trace, now_ms};
use crate::report::Report;

pub use crate::harness::Rng;

type CallsFn = dyn Fn(&mut Rng, usize) -> Vec<Call> + Send + Sync;
type OracleFn = dyn Fn(&Run) -> Result<(), String> + Send + Sync;

/// One call a simulated client makes.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The tool.
    pub tool: String,
    /// Its arguments.
    pub arguments: Value,
}

impl Call {
    /// `tools/call` of `tool` with `arguments`.
    pub fn tool(tool: &str, arguments: Value) -> Call {
        Call {
            tool: tool.to_owned(),
            arguments,
        }
    }
}

/// How a call ended, as the calling application saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The `CallToolResult` (an `isError` result included).
    Result(Value),
    /// A JSON-RPC error from the server.
    Error {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// The transport failed (timeout, lost stream, lost session, ...).
    Failed(String),
}

/// One call, as the simulation recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct CallRecord {
    /// The client (0, 1, 2).
    pub client: usize,
    /// Whether the client speaks 2026-07-28 (else the legacy session era).
    pub modern: bool,
    /// The tool.
    pub tool: String,
    /// Its arguments.
    pub arguments: Value,
    /// When it started and ended (ms of simulated time).
    pub start_ms: u64,
    /// See `start_ms`.
    pub end_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The progress values the caller got, in order.
    pub progress: Vec<f64>,
    /// Whether a fault (crash, partition) touched it: only such a call may
    /// fail with a transport error.
    pub disturbed: bool,
}

impl CallRecord {
    /// The result, if the call got one.
    pub fn result(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Result(v) => Some(v),
            _ => None,
        }
    }
}

/// What a run produced, for your oracles.
#[derive(Clone, Debug)]
pub struct Run {
    /// The seed.
    pub seed: u64,
    /// Every call, in the order they ended.
    pub calls: Vec<CallRecord>,
    /// Whether the server crashed and restarted in this run.
    pub crashed: bool,
}

impl Run {
    /// The calls that got a result or a JSON-RPC error (not a transport
    /// failure).
    pub fn answered(&self) -> impl Iterator<Item = &CallRecord> {
        self.calls
            .iter()
            .filter(|c| !matches!(c.outcome, Outcome::Failed(_)))
    }
}

/// A seeded simulation of your server; see the [module](self).
#[derive(Clone)]
pub struct Simulation {
    make: Arc<MakeService>,
    calls: Arc<CallsFn>,
    oracles: Vec<(String, Arc<OracleFn>)>,
    deadline: Duration,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.oracles.iter().map(|o| o.0.as_str()).collect();
        f.debug_struct("Simulation")
            .field("oracles", &names)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Simulate the application `app` builds (called at every server boot:
    /// the first and each restart after a crash). It runs on the real
    /// adapter ([`McpService`]) with the simulation's settings: a
    /// `localhost`/`server` host policy, session ids from the seed, the
    /// core's invariants checked after every step.
    pub fn new<H, F>(app: F) -> Simulation
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let make = move |retry_ms: u64, ids: u64| {
            let config = Config {
                retry_ms,
                hosts: HostPolicy::List(vec!["localhost".into(), SERVER.into()]),
                ..Config::default()
            };
            McpService::builder()
                .config(config)
                .connection_backlog(16)
                .keep_alive(None)
                .check_invariants(true)
                .predictable_session_ids_for_simulation(ids)
                .build(app())
        };
        Simulation {
            make: Arc::new(make),
            calls: Arc::new(|_, _| Vec::new()),
            oracles: Vec::new(),
            deadline: DEADLINE,
        }
    }

    /// The calls client `c` makes in a run, drawn from the seed's `rng`
    /// (the kit decides when each starts and which overlap).
    pub fn calls<F>(mut self, calls: F) -> Simulation
    where
        F: Fn(&mut Rng, usize) -> Vec<Call> + Send + Sync + 'static,
    {
        self.calls = Arc::new(calls);
        self
    }

    /// An oracle of yours over a finished run; `Err` fails the seed.
    pub fn oracle<F>(mut self, name: &str, oracle: F) -> Simulation
    where
        F: Fn(&Run) -> Result<(), String> + Send + Sync + 'static,
    {
        self.oracles.push((name.to_owned(), Arc::new(oracle)));
        self
    }

    /// How long an undisturbed call may take (simulated; default 5 s; the
    /// client gives up on a request after 4 s).
    pub fn deadline(mut self, deadline: Duration) -> Simulation {
        self.deadline = deadline;
        self
    }

    /// Run every seed of `seeds` (see the [module](self) for the
    /// environment variables); panics at the first failure with its seed,
    /// trace and replay command. For a plain `#[test]`.
    pub fn check(&self, seeds: Range<u64>) {
        if let Some(seed) = env_u64("STREAMABLE_SIM_SEED") {
            let (report, _) = self.run_seed(seed);
            println!("{}", report.trace_text());
            if report.failure.is_some() {
                panic!("{}", explain(&report));
            }
            return;
        }
        let seeds = match env_u64("STREAMABLE_SIM_SEEDS") {
            Some(n) => seeds.start..seeds.start + n,
            None => seeds,
        };
        let bar = std::env::var_os("STREAMABLE_SIM_PROGRESS").map(|_| {
            let b = ProgressBar::new(seeds.end - seeds.start);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {eta}") {
                b.set_style(style);
            }
            b
        });
        for seed in seeds {
            let (report, _) = self.run_seed(seed);
            if report.failure.is_some() {
                if let Some(b) = &bar {
                    b.abandon();
                }
                panic!("{}", explain(&report));
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        if let Some(b) = bar {
            b.finish();
        }
    }

    /// The first failing seed of `seeds`, with its report (`None`: all
    /// passed). For tests that expect a failure.
    pub fn find_failure(&self, seeds: Range<u64>) -> Option<(Report, Run)> {
        seeds
            .map(|s| self.run_seed(s))
            .find(|(r, _)| r.failure.is_some())
    }

    /// Run one seed: its report (trace, first failure) and what the calls
    /// did.
    pub fn run_seed(&self, seed: u64) -> (Report, Run) {
        let scen = Arc::new(Scenario::from_seed(seed));
        let trace = Trace::default();
        trace.log("sim", format!("kit, seed {seed}"));
        trace.log("sim", format!("{scen:?}"));
        let world: Shared = Arc::default();
        let cuts = Arc::new(Mutex::new((Rng::new(seed ^ 0xC07), BTreeMap::new())));
        let cuts_made = cuts.clone();
        let records: Arc<Mutex<Vec<CallRecord>>> = Arc::default();
        let mut sim = scen.turmoil(seed).build();
        {
            let (trace, world, scen, make) = (
                trace.clone(),
                world.clone(),
                scen.clone(),
                self.make.clone(),
            );
            let boots = Boots::new(scen.server_delay_ms);
            sim.host(SERVER, move || {
                let (boot, delay) = boots.next();
                server_host(
                    make.clone(),
                    delay,
                    seed ^ (u64::from(boot) << 48),
                    scen.clone(),
                    None,
                    world.clone(),
                    cuts.clone(),
                    trace.clone(),
                )
            });
        }
        let names = scen.client_names();
        // The user's calls come from their own stream of numbers, so the
        // scenario's draws stay those of the client world.
        let mut r = Rng::new(seed ^ 0x0C05_7031);
        for (i, script) in scen.clients.iter().enumerate() {
            let calls = (self.calls)(&mut r, i);
            let plan: Vec<(Call, u64, bool)> = calls
                .into_iter()
                .map(|c| (c, r.range(0, 150), r.one_in(3)))
                .collect();
            let client = SimClient {
                idx: i,
                name: names[i].clone(),
                modern: script.modern,
                standalone: script.standalone,
                scen: scen.clone(),
                trace: trace.clone(),
                records: records.clone(),
            };
            let start = Duration::from_millis(u64::from(script.start_ms));
            sim.client(names[i].as_str(), async move {
                tokio::time::sleep(start).await;
                client
                    .run(plan)
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
            });
        }
        let (panics, mut result) = harness::play(sim, &scen, &names, &trace);
        let run = Run {
            seed,
            calls: records.lock().expect("records").clone(),
            crashed: scen.crash.is_some(),
        };
        let mut counts = BTreeMap::new();
        if result.is_ok()
            && let Err(e) = self.oracles_hold(&scen, &names, &world, &run, &mut counts)
        {
            trace.log("oracle", format!("FAILED: {e}"));
            result = Err(e);
        }
        let cuts = cuts_made.lock().expect("cuts").1.values().sum::<u32>();
        counts.insert("connections cut", u64::from(cuts));
        let mut report = harness::report(seed, None, &trace, &panics, result);
        report.counts = counts;
        (report, run)
    }

    fn oracles_hold(
        &self,
        scen: &Scenario,
        names: &[String],
        world: &Shared,
        run: &Run,
        n: &mut BTreeMap<&'static str, u64>,
    ) -> Result<(), String> {
        let hop = scen.hop();
        let idx_of = |client: &str| names.iter().position(|n| n == client).unwrap_or(0);
        {
            let w = lock(world);
            check_requests(scen, &w, hop, &idx_of, n)?;
            check_streams(scen, &w, hop, &idx_of, n)?;
            for ((sid, s), log) in &w.streams {
                if log.responses.len() > 1 {
                    return Err(format!(
                        "answered twice: stream {s} of session {sid} carried {} responses (events {:?})",
                        log.responses.len(),
                        log.responses
                    ));
                }
            }
        }
        for c in &run.calls {
            *n.entry("calls").or_default() += 1;
            let took = c.end_ms - c.start_ms;
            if let Outcome::Failed(e) = &c.outcome {
                // A fault may lose a call (it may have run: never re-sent,
                // X-27), or the first request on a connection pooled before
                // the fault; nothing else may.
                let after_fault = scen.crash.is_some_and(|(at, _)| u64::from(at) <= c.end_ms)
                    || scen
                        .partition
                        .is_some_and(|(pc, at, _)| pc == c.client && u64::from(at) <= c.end_ms);
                let excused = c.disturbed
                    || (after_fault
                        && (e.contains("session expired") || e.contains("stream lost")));
                if !excused {
                    return Err(format!(
                        "undisturbed call failed: client {} {} {} after {took} ms: {e}",
                        c.client, c.tool, c.arguments
                    ));
                }
            }
            if !c.disturbed && took > self.deadline.as_millis() as u64 {
                return Err(format!(
                    "deadline: client {} {} {} took {took} ms",
                    c.client, c.tool, c.arguments
                ));
            }
            let falls = c.progress.windows(2).filter(|p| p[0] >= p[1]).count();
            if falls > 0 && !c.modern {
                return Err(format!(
                    "progress out of order or repeated: client {} {} {}: {:?}",
                    c.client, c.tool, c.arguments, c.progress
                ));
            }
            if !c.progress.is_empty() {
                *n.entry("calls with progress").or_default() += 1;
            }
        }
        for (name, oracle) in &self.oracles {
            oracle(run).map_err(|e| format!("oracle {name:?}: {e}"))?;
        }
        Ok(())
    }
}

/// One simulated application using our client.
struct SimClient {
    idx: usize,
    name: String,
    modern: bool,
    standalone: bool,
    scen: Arc<Scenario>,
    trace: Trace,
    records: Arc<Mutex<Vec<CallRecord>>>,
}

impl SimClient {
    async fn connect(&self) -> Option<Client> {
        let builder = || {
            Client::builder(&format!("http://{SERVER}:{PORT}/mcp"))
                .client_info(&self.name, "1")
                .timeout(Some(REQUEST_TIMEOUT))
                .reconnect(BACKOFF, 5)
                .standalone_stream(self.standalone)
                .era(if self.modern {
                    EraPreference::Auto
                } else {
                    EraPreference::Legacy
                })
                .header("x-sim-client", &self.name)
                .check_invariants(true)
        };
        connect_until_up(builder, &self.trace, &self.name).await
    }

    async fn run(self, plan: Vec<(Call, u64, bool)>) -> Result<(), harness::Failed> {
        let Some(client) = self.connect().await else {
            return Err(self.trace.fail(&self.name, "never connected"));
        };
        let mut overlapping = Vec::new();
        for (call, pause, overlap) in plan {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let task = self.call(&client, call);
            if overlap {
                overlapping.push(tokio::spawn(task));
            } else {
                task.await;
            }
        }
        for t in overlapping {
            let _ = t.await;
        }
        tokio::time::sleep(Duration::from_millis(2 * self.scen.hop())).await;
        client.close().await;
        self.trace.log(&self.name, "closed");
        Ok(())
    }

    fn call(&self, client: &Client, call: Call) -> impl Future<Output = ()> + Send + use<> {
        let (client, trace, name, records, scen, idx, modern) = (
            client.clone(),
            self.trace.clone(),
            self.name.clone(),
            self.records.clone(),
            self.scen.clone(),
            self.idx,
            self.modern,
        );
        async move {
            trace.log(&name, format!("call {} {}", call.tool, call.arguments));
            let progress: Arc<Mutex<Vec<f64>>> = Arc::default();
            let seen = progress.clone();
            let start = now_ms();
            let res = client
                .call_tool_with_progress(&call.tool, call.arguments.clone(), move |p| {
                    seen.lock().expect("progress").push(p.progress);
                })
                .await;
            let end = now_ms();
            let outcome = match res {
                Ok(v) => Outcome::Result(v),
                Err(Error::Rpc(e)) => Outcome::Error {
                    code: e.code,
                    message: e.message,
                },
                Err(Error::Transport(Failure::SessionExpired)) => {
                    Outcome::Failed("session expired".into())
                }
                Err(Error::Transport(Failure::StreamLost)) => Outcome::Failed("stream lost".into()),
                Err(e) => Outcome::Failed(e.to_string()),
            };
            trace.log(&name, format!("{} -> {outcome:?}", call.tool));
            let record = CallRecord {
                client: idx,
                modern,
                tool: call.tool,
                arguments: call.arguments,
                start_ms: start,
                end_ms: end,
                outcome,
                progress: progress.lock().expect("progress").clone(),
                disturbed: scen.disturbed(idx, start, end),
            };
            records.lock().expect("records").push(record);
        }
    }
}

/// The failure, its trace and the command that replays it in the test
/// that ran it.
fn explain(report: &Report) -> String {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map_or_else(|| "<your test>".to_owned(), str::to_owned);
    format!(
        "seed {} failed: {}\n--- trace ---\n{}--- replay ---\nSTREAMABLE_SIM_SEED={} cargo test -- --exact {test}",
        report.seed,
        report.failure.as_deref().unwrap_or("?"),
        report.trace_text(),
        report.seed,
    )
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}
