//! The harness both worlds share: the [`Scenario`] shape and its draws,
//! the trace and failure record, the turmoil driver that crashes, restarts
//! and partitions hosts on cue, panic capture, and the [`Report`] of a run.

mod scenario;
mod trace;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::report::Report;
use crate::variants::Bug;

pub(crate) use scenario::draw_start;
pub use scenario::{Rng, Scenario};
pub(crate) use trace::{Failed, Trace, now_ms};

/// The server's host name.
pub const SERVER: &str = "server";
/// The port the server listens on.
pub(crate) const PORT: u16 = 8000;
/// No request may wait longer than this (simulated) unless a fault explains it.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// Counts the server host's boots: the first waits the scenario's
/// `server_delay_ms` (clients may send before the listener is bound), a
/// restart binds at once.
pub(crate) struct Boots {
    count: AtomicU32,
    first_delay: Duration,
}

impl Boots {
    /// The boots of a server that first binds `server_delay_ms` late.
    pub(crate) fn new(server_delay_ms: u16) -> Self {
        Boots {
            count: AtomicU32::new(0),
            first_delay: Duration::from_millis(u64::from(server_delay_ms)),
        }
    }

    /// This boot's number (0 first) and how long it waits before binding.
    pub(crate) fn next(&self) -> (u32, Duration) {
        let boot = self.count.fetch_add(1, Ordering::SeqCst);
        (
            boot,
            if boot == 0 {
                self.first_delay
            } else {
                Duration::ZERO
            },
        )
    }
}

/// Play `sim` to its end under `scen`'s faults, with panics caught: the
/// panic slot (for [`report`]) and the runner's result.
pub(crate) fn play<S, W>(
    mut sim: turmoil::Sim<'_>,
    scen: &Scenario<S, W>,
    names: &[String],
    trace: &Trace,
) -> (Panics, Result<(), String>) {
    let panics = catch_panics();
    let result = drive(&mut sim, scen.crash, scen.partition, names, trace, &panics);
    drop(sim);
    (panics, result)
}

/// The report of a finished run: the trace, and the first failure among an
/// oracle's, a panic's and the runner's.
pub(crate) fn report(
    seed: u64,
    bug: Option<Bug>,
    trace: &Trace,
    panics: &Panics,
    result: Result<(), String>,
) -> Report {
    // Panics after this point (the caller's own assertions) are reported
    // the usual way again.
    stop_catching_panics();
    let panic = panics.lock().expect("panics").take();
    let mut inner = std::mem::take(&mut *trace.inner.lock().expect("trace"));
    if let Some(p) = panic {
        inner.lines.push(format!("[  end   ] PANIC: {p}"));
        inner.failure.get_or_insert(format!("panic: {p}"));
    }
    if let Err(e) = result {
        inner.failure.get_or_insert(e);
    }
    Report {
        seed,
        bug,
        trace: inner.lines,
        failure: inner.failure,
        oracle: inner.oracle,
        counts: BTreeMap::new(),
        world_flag: "",
    }
}

/// Step `sim` to its end, crashing and restarting the server and
/// partitioning a client as the faults say; stops at a panic.
fn drive(
    sim: &mut turmoil::Sim<'_>,
    crash: Option<(u32, u32)>,
    partition: Option<(usize, u32, u32)>,
    names: &[String],
    trace: &Trace,
    panics: &Panics,
) -> Result<(), String> {
    let mut crashed_at = None;
    let mut partitioned = false;
    loop {
        let now = sim.elapsed().as_millis() as u64;
        if let Some((at, down)) = crash {
            if crashed_at.is_none() && now >= u64::from(at) {
                trace.log_at(now, "sim", "crash server");
                sim.crash(SERVER);
                crashed_at = Some(now);
            }
            if let Some(t) = crashed_at
                && now >= t + u64::from(down)
                && !sim.is_host_running(SERVER)
            {
                trace.log_at(now, "sim", "restart server");
                sim.bounce(SERVER);
            }
        }
        if let Some((c, at, len)) = partition {
            let name = names[c].as_str();
            if !partitioned && now >= u64::from(at) && now < u64::from(at + len) {
                trace.log_at(now, "sim", format!("partition {name} | server"));
                sim.partition(name, SERVER);
                partitioned = true;
            } else if partitioned && now >= u64::from(at + len) {
                trace.log_at(now, "sim", format!("repair {name} | server"));
                sim.repair(name, SERVER);
                partitioned = false;
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

pub(crate) type Panics = Arc<Mutex<Option<String>>>;

thread_local! {
    static PANICS: std::cell::RefCell<Option<Panics>> = const { std::cell::RefCell::new(None) };
}

/// Report panics of this thread the usual way again.
fn stop_catching_panics() {
    PANICS.with(|p| *p.borrow_mut() = None);
}

/// Record panics of this thread (turmoil runs every host on it): on stable
/// tokio a panicking task is otherwise swallowed.
pub(crate) fn catch_panics() -> Panics {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = PANICS.with(|p| {
                p.borrow().as_ref().map(|slot| {
                    let mut s = slot.lock().expect("panics");
                    s.get_or_insert_with(|| info.to_string());
                })
            });
            if recorded.is_none() {
                prev(info);
            }
        }));
    });
    let slot: Panics = Arc::default();
    PANICS.with(|p| *p.borrow_mut() = Some(slot.clone()));
    slot
}
