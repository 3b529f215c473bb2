//! The harness both worlds share: the seed's generator and the draws made
//! the same way in both (server start, link latency, faults), the trace and
//! failure record, the turmoil driver that crashes, restarts and partitions
//! hosts on cue, panic capture, and the [`Report`] of a run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::report::Report;
use crate::variants::Bug;

/// The server's host name.
pub const SERVER: &str = "server";
/// The port the server listens on.
pub(crate) const PORT: u16 = 8000;
/// No request may wait longer than this (simulated) unless a fault explains it.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A small deterministic generator (splitmix64): the whole scenario comes
/// from it, so one `u64` decides everything.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5EED_5EED_5EED_5EED)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }
}

/// When the server binds (0 one seed in three, else 0-300 ms) and the link
/// latency bounds (min 0-5 ms, max up to `spread` ms above): drawn the same
/// way by both worlds.
pub(crate) fn draw_timing(r: &mut Rng, spread: u64) -> (u16, u8, u8) {
    let server_delay_ms = if r.one_in(3) {
        0
    } else {
        r.range(0, 300) as u16
    };
    let min_latency_ms = r.range(0, 5) as u8;
    let max_latency_ms = min_latency_ms + r.range(1, spread) as u8;
    (server_delay_ms, min_latency_ms, max_latency_ms)
}

/// A server crash (one seed in `crash_one_in`: at 100-1500 ms, down for
/// 0-300 ms) and a partition of one of `n` clients (one seed in 8: at
/// 100-1500 ms, for 50-1000 ms).
#[allow(clippy::type_complexity)]
pub(crate) fn draw_faults(
    r: &mut Rng,
    n: usize,
    crash_one_in: u64,
) -> (Option<(u32, u32)>, Option<(usize, u32, u32)>) {
    let crash = r
        .one_in(crash_one_in)
        .then(|| (r.range(100, 1500) as u32, r.range(0, 300) as u32));
    let partition = r.one_in(8).then(|| {
        (
            r.range(0, n as u64 - 1) as usize,
            r.range(100, 1500) as u32,
            r.range(50, 1000) as u32,
        )
    });
    (crash, partition)
}

/// Whether a fault touches client `c` between `from` and `to` (ms): a
/// partition of that client, or the server being down (plus a second for
/// the client to notice).
pub(crate) fn disturbed(
    crash: Option<(u32, u32)>,
    partition: Option<(usize, u32, u32)>,
    c: usize,
    from: u64,
    to: u64,
) -> bool {
    let overlaps = |a: u64, b: u64| from <= b && a <= to;
    if let Some((pc, at, len)) = partition
        && pc == c
        && overlaps(u64::from(at), u64::from(at) + u64::from(len) + 100)
    {
        return true;
    }
    if let Some((at, down)) = crash
        && overlaps(u64::from(at), u64::from(at) + u64::from(down) + 1000)
    {
        return true;
    }
    false
}

/// The shared trace and failure record of one run.
#[derive(Clone, Default)]
pub(crate) struct Trace {
    pub(crate) inner: Arc<Mutex<TraceInner>>,
}

#[derive(Default)]
pub(crate) struct TraceInner {
    pub(crate) lines: Vec<String>,
    pub(crate) failure: Option<String>,
}

pub(crate) fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

impl Trace {
    pub(crate) fn log(&self, who: &str, what: impl std::fmt::Display) {
        self.log_at(now_ms(), who, what);
    }

    /// A line stamped with `ms` (for the runner, outside any host).
    pub(crate) fn log_at(&self, ms: u64, who: &str, what: impl std::fmt::Display) {
        let line = format!("[{ms:>6} ms] {who:<7} {what}");
        self.inner.lock().expect("trace").lines.push(line);
    }

    pub(crate) fn fail(&self, who: &str, what: impl std::fmt::Display) -> Failed {
        let msg = format!("{who}: {what}");
        self.log(who, format!("FAILED: {what}"));
        let mut g = self.inner.lock().expect("trace");
        if g.failure.is_none() {
            g.failure = Some(msg.clone());
        }
        Failed(msg)
    }
}

/// An oracle failure (ends the client's script).
#[derive(Debug)]
pub(crate) struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

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
        counts: BTreeMap::new(),
    }
}

/// Step `sim` to its end, crashing and restarting the server and
/// partitioning a client as the faults say; stops at a panic.
pub(crate) fn drive(
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
pub(crate) fn stop_catching_panics() {
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
