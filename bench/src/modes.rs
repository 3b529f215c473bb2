//! The four measurements. Each returns one JSON object (the run's record).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::conn::{CallError, Conn, Era, MODERN, Target};
use crate::stats::{Samples, cpu_us, rss_bytes};
use crate::{Mode, Settings};

/// Runs the measurement `s.mode` names.
pub(crate) async fn run(s: &Settings) -> Result<Value, String> {
    let target = Target::parse(&s.url)?;
    let mut v = match s.mode {
        Mode::Json => calls(s, &target, Era::Session(s.protocol.clone())).await?,
        Mode::Modern => calls(s, &target, Era::Modern).await?,
        Mode::SseStream => sse(s, &target).await?,
        Mode::Sessions => sessions(s, &target).await?,
    };
    v["label"] = json!(s.label);
    v["role"] = json!(s.role);
    v["mode"] = json!(s.mode.name());
    v["url"] = json!(s.url);
    v["connections"] = json!(s.connections);
    v["protocol"] = json!(match s.mode {
        Mode::Modern => MODERN,
        _ => &s.protocol,
    });
    Ok(v)
}

/// The measuring window, fixed by the main task once every worker is ready.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    errors: BTreeMap<String, u64>,
    latency: Samples,
    delivery: Samples,
    lateness: Samples,
    first: Samples,
    spread: Samples,
    events: u64,
    stamped: u64,
}

impl Tally {
    fn error(&mut self, e: &CallError) {
        let key = match e {
            CallError::Io(_) => "io".to_owned(),
            CallError::Status(s) => format!("status {}", s.as_u16()),
            CallError::NoResult => "no result".to_owned(),
            CallError::Timeout => "timeout".to_owned(),
        };
        *self.errors.entry(key).or_default() += 1;
    }

    fn merge(&mut self, o: Tally) {
        self.ok += o.ok;
        for (k, n) in o.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.latency.merge(o.latency);
        self.delivery.merge(o.delivery);
        self.lateness.merge(o.lateness);
        self.first.merge(o.first);
        self.spread.merge(o.spread);
        self.events += o.events;
        self.stamped += o.stamped;
    }
}

/// Connects and (session era) opens the worker's session, retrying a
/// refused connection a few times (a thousand simultaneous connects can
/// overflow a small accept backlog).
async fn ready_conn(s: &Settings, target: &Target, era: &Era) -> Result<Conn, CallError> {
    let mut last = None;
    for attempt in 0..5u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
        }
        match Conn::connect(target, era, s.timeout).await {
            Ok(mut c) => match c.open_session().await {
                Ok(()) => return Ok(c),
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(CallError::Timeout))
}

/// Starts `n` workers: each gets its index and the window once all of them
/// are ready (`setup` done). Returns the window and the workers' tallies,
/// plus the CPU time (server, tester) spent inside the window.
async fn drive<F, Fut>(s: &Settings, n: usize, work: F) -> Result<(Window, Tally, CpuUse), String>
where
    F: Fn(usize, Arc<OnceLock<Window>>, Arc<Barrier>) -> Fut,
    Fut: std::future::Future<Output = Tally> + Send + 'static,
{
    let window = Arc::new(OnceLock::new());
    let ready = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tasks.push(tokio::spawn(work(i, window.clone(), ready.clone())));
    }
    // Every worker reaches the barrier, set up or failed.
    ready.wait().await;
    let start = Instant::now() + s.warmup;
    let w = Window {
        start,
        end: start + s.duration,
    };
    let _ = window.set(w);
    ready.wait().await;
    tokio::time::sleep_until(w.start.into()).await;
    let before = CpuUse::now(s);
    tokio::time::sleep_until(w.end.into()).await;
    let after = CpuUse::now(s);
    let mut total = Tally::default();
    for t in tasks {
        match t.await {
            Ok(tally) => total.merge(tally),
            Err(e) => return Err(format!("worker failed: {e}")),
        }
    }
    Ok((w, total, after.since(&before)))
}

/// CPU time of the server (when its pid is known) and of the tester, and
/// the server's driver busy time (when it publishes it).
#[derive(Clone, Copy, Default)]
struct CpuUse {
    server: Option<u64>,
    tester: Option<u64>,
    /// Driver busy nanoseconds (`--driver-metrics`).
    driver_ns: Option<u64>,
}

/// The cores of the Amdahl projection (issue 19).
const PROJECTED_CORES: [u32; 3] = [4, 16, 64];

impl CpuUse {
    fn now(s: &Settings) -> CpuUse {
        CpuUse {
            server: s.pid.as_deref().and_then(cpu_us),
            tester: cpu_us("self"),
            driver_ns: s.driver_metrics.as_deref().and_then(driver_ns),
        }
    }

    fn since(&self, before: &CpuUse) -> CpuUse {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        CpuUse {
            server: d(self.server, before.server),
            tester: d(self.tester, before.tester),
            driver_ns: d(self.driver_ns, before.driver_ns),
        }
    }

    /// The driver's serial time per call and the throughput one driver
    /// allows on `k` cores, beside perfect scaling of the measured CPU per
    /// call (what `k` shards would give):
    /// - Amdahl: a call's work is `d` serial (the driver) and `c - d`
    ///   parallel, so `k` cores serve at most `1 / (d + (c - d) / k)`;
    /// - bound: the driver alone caps at `1 / d` and the cores at `k / c`,
    ///   so `min(k / c, 1 / d)` (serial work overlapping parallel work).
    fn project(&self, v: &mut Value, units: u64) {
        let (Some(ns), Some(server_us)) = (self.driver_ns, self.server) else {
            return;
        };
        if units == 0 {
            return;
        }
        let d = ns as f64 / 1000.0 / units as f64;
        let c = server_us as f64 / units as f64;
        v["driver_us_per_op"] = json!(round2(d));
        if c > 0.0 {
            v["driver_share"] = json!(round2(d / c));
        }
        for k in PROJECTED_CORES {
            let k = f64::from(k);
            let amdahl = 1e6 / (d + (c - d).max(0.0) / k);
            let bound = if d > 0.0 {
                (1e6 * k / c).min(1e6 / d)
            } else {
                1e6 * k / c
            };
            v[format!("proj_amdahl_{k}")] = json!(amdahl.round());
            v[format!("proj_bound_{k}")] = json!(bound.round());
            v[format!("proj_scaled_{k}")] = json!((1e6 * k / c).round());
        }
    }

    /// Adds the CPU figures to a record: utilisation (1.0 = one core) and
    /// microseconds per unit of work.
    fn record(&self, v: &mut Value, secs: f64, units: u64) {
        for (name, us) in [("server", self.server), ("tester", self.tester)] {
            if let Some(us) = us {
                v[format!("{name}_cpu_util")] = json!(round2(us as f64 / 1e6 / secs));
                if units > 0 {
                    v[format!("{name}_cpu_us_per_op")] = json!(round2(us as f64 / units as f64));
                }
            }
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Ids unique across the run: the worker index in the high bits.
fn id(worker: usize, seq: u64) -> u64 {
    ((worker as u64) << 32) | seq
}

/// `json` and `modern`: `tools/call` echo round trips.
async fn calls(s: &Settings, target: &Target, era: Era) -> Result<Value, String> {
    let setup_errors = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let errs = setup_errors.clone();
    let (w, mut t, cpu) = drive(s, s.connections, |i, window, ready| {
        let s = s.clone();
        let target = target.clone();
        let era = era.clone();
        let errs = errs.clone();
        async move {
            let mut tally = Tally::default();
            let conn = ready_conn(&s, &target, &era).await;
            ready.wait().await;
            ready.wait().await;
            let mut conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    *errs
                        .lock()
                        .expect("no panic holds it")
                        .entry(e.to_string())
                        .or_default() += 1;
                    return tally;
                }
            };
            let w = *window.get().expect("set before the second barrier");
            let mut seq = 1u64;
            loop {
                let t0 = Instant::now();
                if t0 >= w.end {
                    break;
                }
                let r = conn.echo(id(i, seq), &s.text).await;
                seq += 1;
                let counted = t0 >= w.start;
                match r {
                    Ok(()) if counted => {
                        tally.ok += 1;
                        tally.latency.push(t0.elapsed().as_micros() as u64);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            tally.error(&e);
                        }
                        if let CallError::Io(_) | CallError::Timeout = e {
                            // The connection is gone: a new one, a new session.
                            match ready_conn(&s, &target, &era).await {
                                Ok(c) => conn = c,
                                Err(_) => break,
                            }
                        }
                    }
                }
            }
            tally
        }
    })
    .await?;
    let secs = (w.end - w.start).as_secs_f64();
    t.latency.sort();
    let mut v = json!({
        "ok": t.ok,
        "errors": t.errors,
        "setup_errors": *setup_errors.lock().expect("no panic holds it"),
        "duration_s": secs,
        "calls_per_s": round2(t.ok as f64 / secs),
        "p50_us": t.latency.pct(50.0),
        "p99_us": t.latency.pct(99.0),
        "max_us": t.latency.max(),
    });
    cpu.record(&mut v, secs, t.ok);
    cpu.project(&mut v, t.ok);
    Ok(v)
}

/// The first number of the server's metrics file (driver busy ns).
fn driver_ns(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Wall-clock microseconds since the epoch (the servers stamp progress
/// messages with the same clock: one machine, one clock).
fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The emit stamp in a progress message `"... @<micros>"`, if any.
fn stamp(data: &[u8]) -> Option<u64> {
    let at = data.windows(2).position(|w| w == b" @")? + 2;
    let digits: &[u8] = &data[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// `sse-stream`: each connection calls `countdown` (n events `interval`
/// apart, each stamped by the server when emitted) back to back; stream
/// starts are staggered evenly over one interval.
async fn sse(s: &Settings, target: &Target) -> Result<Value, String> {
    let era = Era::Session(s.protocol.clone());
    let setup_errors = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let errs = setup_errors.clone();
    let n = s.connections;
    let (w, mut t, cpu) = drive(s, n, |i, window, ready| {
        let s = s.clone();
        let target = target.clone();
        let era = era.clone();
        let errs = errs.clone();
        async move {
            let mut tally = Tally::default();
            let conn = ready_conn(&s, &target, &era).await;
            ready.wait().await;
            ready.wait().await;
            let mut conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    *errs
                        .lock()
                        .expect("no panic holds it")
                        .entry(e.to_string())
                        .or_default() += 1;
                    return tally;
                }
            };
            let w = *window.get().expect("set before the second barrier");
            let interval = Duration::from_millis(s.interval_ms);
            let offset = interval.mul_f64(i as f64 / n as f64);
            tokio::time::sleep(offset).await;
            let mut seq = 1u64;
            loop {
                let t0 = Instant::now();
                if t0 >= w.end {
                    break;
                }
                let counted = t0 >= w.start;
                let mut times: Vec<(Instant, u64, Option<u64>)> =
                    Vec::with_capacity(s.events as usize);
                let r = conn
                    .countdown(id(i, seq), s.events, s.interval_ms, &mut |data| {
                        if crate::conn::contains(data, b"notifications/progress") {
                            times.push((Instant::now(), wall_us(), stamp(data)));
                        }
                    })
                    .await;
                seq += 1;
                if !counted {
                    if let Err(CallError::Io(_) | CallError::Timeout) = r {
                        match ready_conn(&s, &target, &era).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                    continue;
                }
                if let Err(e) = &r {
                    tally.error(e);
                    if let CallError::Io(_) | CallError::Timeout = e {
                        match ready_conn(&s, &target, &era).await {
                            Ok(c) => conn = c,
                            Err(_) => break,
                        }
                    }
                    continue;
                }
                tally.ok += 1;
                let Some(&(first, _, _)) = times.first() else {
                    continue;
                };
                tally.first.push((first - t0).as_micros() as u64);
                let (mut lo, mut hi) = (u64::MAX, 0u64);
                for (k, (at, wall, st)) in times.iter().enumerate() {
                    tally.events += 1;
                    let ideal = first + interval * k as u32;
                    tally
                        .lateness
                        .push(at.saturating_duration_since(ideal).as_micros() as u64);
                    if let Some(st) = st {
                        tally.stamped += 1;
                        let d = wall.saturating_sub(*st);
                        tally.delivery.push(d);
                        lo = lo.min(d);
                        hi = hi.max(d);
                    }
                }
                if hi >= lo {
                    tally.spread.push(hi - lo);
                }
            }
            tally
        }
    })
    .await?;
    let secs = (w.end - w.start).as_secs_f64();
    for x in [
        &mut t.delivery,
        &mut t.lateness,
        &mut t.first,
        &mut t.spread,
    ] {
        x.sort();
    }
    let mut v = json!({
        "ok": t.ok,
        "errors": t.errors,
        "setup_errors": *setup_errors.lock().expect("no panic holds it"),
        "duration_s": secs,
        "events": t.events,
        "events_stamped": t.stamped,
        "events_per_s": round2(t.events as f64 / secs),
        "events_per_call": s.events,
        "interval_ms": s.interval_ms,
        "delivery_p50_us": t.delivery.pct(50.0),
        "delivery_p99_us": t.delivery.pct(99.0),
        "delivery_max_us": t.delivery.max(),
        "lateness_p50_us": t.lateness.pct(50.0),
        "lateness_p99_us": t.lateness.pct(99.0),
        "first_p50_us": t.first.pct(50.0),
        "first_p99_us": t.first.pct(99.0),
        "spread_p50_us": t.spread.pct(50.0),
        "spread_p99_us": t.spread.pct(99.0),
    });
    cpu.record(&mut v, secs, t.events);
    Ok(v)
}

/// `sessions`: open sessions up to each checkpoint (over `connections`
/// connections), let the server settle, read its RSS.
async fn sessions(s: &Settings, target: &Target) -> Result<Value, String> {
    let era = Era::Session(s.protocol.clone());
    let pid = s.pid.clone();
    let rss = |pid: &Option<String>| pid.as_deref().and_then(rss_bytes);
    let baseline = rss(&pid);
    let opened = Arc::new(AtomicUsize::new(0));
    let mut points = Vec::new();
    let mut errors = BTreeMap::<String, u64>::new();
    let mut held = true;
    let mut prev: Option<(usize, u64)> = baseline.map(|b| (0, b));
    for &goal in &s.sessions {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..s.connections {
            let (s, target, era, opened) = (s.clone(), target.clone(), era.clone(), opened.clone());
            tasks.push(tokio::spawn(async move {
                let mut errs = BTreeMap::<String, u64>::new();
                let mut sid_seen = false;
                let mut conn = match Conn::connect(&target, &era, s.timeout).await {
                    Ok(c) => c,
                    Err(e) => {
                        *errs.entry(e.to_string()).or_default() += 1;
                        return (errs, sid_seen);
                    }
                };
                let mut failures = 0;
                while opened.fetch_add(1, Ordering::Relaxed) < goal {
                    conn.forget_session();
                    match conn.open_session().await {
                        Ok(()) => sid_seen |= conn.session().is_some(),
                        Err(e) => {
                            opened.fetch_sub(1, Ordering::Relaxed);
                            *errs.entry(e.to_string()).or_default() += 1;
                            failures += 1;
                            if failures > 100 {
                                break;
                            }
                            if let CallError::Io(_) | CallError::Timeout = e {
                                match Conn::connect(&target, &era, s.timeout).await {
                                    Ok(c) => conn = c,
                                    Err(_) => break,
                                }
                            }
                        }
                    }
                }
                opened.fetch_sub(1, Ordering::Relaxed);
                (errs, sid_seen)
            }));
        }
        let mut any_sid = false;
        for t in tasks {
            let (e, sid) = t.await.map_err(|e| format!("worker failed: {e}"))?;
            any_sid |= sid;
            for (k, n) in e {
                *errors.entry(k).or_default() += n;
            }
        }
        held &= any_sid;
        let open_s = started.elapsed().as_secs_f64();
        let count = opened.load(Ordering::Relaxed);
        // Let the server finish what the last answers started.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = rss(&pid);
        let mut p = json!({
            "sessions": count,
            "open_s": round2(open_s),
            "sessions_per_s": round2(count.saturating_sub(prev.map_or(0, |p| p.0)) as f64 / open_s.max(1e-9)),
        });
        if let Some(r) = now {
            p["rss_bytes"] = json!(r);
            if let (Some(b), true) = (baseline, count > 0) {
                p["bytes_per_session"] = json!(r.saturating_sub(b) / count as u64);
            }
            if let Some((pc, pr)) = prev
                && count > pc
                && pc > 0
            {
                p["marginal_bytes_per_session"] = json!(r.saturating_sub(pr) / (count - pc) as u64);
            }
            prev = Some((count, r));
        }
        points.push(p);
        if count < goal {
            break;
        }
    }
    let last = points.last().cloned().unwrap_or(Value::Null);
    Ok(json!({
        "ok": last["sessions"],
        "errors": errors,
        "session_ids": held,
        "baseline_rss_bytes": baseline,
        "points": points,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stamps() {
        assert_eq!(
            stamp(br#"{"message":"3 left @1732246845123456"}"#),
            Some(1_732_246_845_123_456)
        );
        assert_eq!(stamp(br#"{"message":"3 left"}"#), None);
    }

    #[test]
    fn ids_are_unique_per_worker() {
        assert_ne!(id(1, 5), id(2, 5));
        assert_eq!(id(3, 7) >> 32, 3);
    }
}
