//! The wire world at `N = 3` shards (issue 19, `docs/scale.md`): clients of
//! both eras against one server with three sharded drivers, all decided by
//! one seed.
//!
//! - **Legacy clients** (2025-11-25) initialize (their sessions land on the
//!   shards their ids name), subscribe to `mem://x` and read their GET
//!   streams; **2026-07-28 clients** open `subscriptions/listen` streams for
//!   `mem://x` (each on the shard its connection was given).
//! - **Cross-shard fan-out**: a stateless client calls the `touch` tool (on
//!   whichever shard), which calls `resource_updated("mem://x")`: it must
//!   reach every subscriber on every shard, each exactly once, and count
//!   them all.
//! - **A shard's driver dies** (a deliberate panic at a seeded time): the
//!   sessions it held are answered 503, every other session is still
//!   answered 200 with its own tag, and stateless calls keep being served
//!   (the dead shard is skipped).
//!
//! Oracles report through the trace like the standard scenario's; the only
//! panic allowed is the deliberate one. [`run`] returns the [`Report`], with
//! `counts` of sessions on the dead and on live shards (a sweep checks that
//! both cases occur).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::fixture;
use crate::harness::{self, DEADLINE, PORT, Rng, SERVER, Trace, now_ms};
use crate::report::Report;
use crate::wire;

use super::server::SimListener;

/// Shards of the server in this world.
pub const SHARDS: usize = 3;

/// The message of the deliberate crash (the only panic a run may have).
const CRASH_MESSAGE: &str = "crashed on purpose";

/// What a seed decides.
#[derive(Clone, Debug)]
struct Plan {
    legacy: usize,
    modern: usize,
    min_latency_ms: u64,
    max_latency_ms: u64,
    starts: Vec<u64>,
    /// When the publisher calls `touch` (every subscription is open by then).
    publish_ms: u64,
    /// When the shard dies, and which.
    crash_ms: u64,
    dead: usize,
    /// When the clients check who is still served.
    check_ms: u64,
}

impl Plan {
    fn from_seed(seed: u64) -> Plan {
        let mut r = Rng::new(seed ^ 0x5AAD_5AAD);
        let legacy = r.range(3, 6) as usize;
        let modern = r.range(2, 4) as usize;
        let min_latency_ms = r.range(0, 5);
        let max_latency_ms = min_latency_ms + r.range(0, 30);
        let starts = (0..legacy + modern).map(|_| r.range(0, 300)).collect();
        // Every subscription is open well before: a start within 300 ms,
        // then four exchanges of at most 2 x 35 ms each.
        let publish_ms = 700 + r.range(0, 100);
        let crash_ms = publish_ms + 200 + r.range(0, 200);
        Plan {
            legacy,
            modern,
            min_latency_ms,
            max_latency_ms,
            starts,
            publish_ms,
            crash_ms,
            dead: r.range(0, SHARDS as u64 - 1) as usize,
            check_ms: crash_ms + 300,
        }
    }
}

/// Results the clients share for the counts.
#[derive(Default)]
struct Tally {
    dead_sessions: AtomicU32,
    live_sessions: AtomicU32,
    shards: Mutex<BTreeMap<usize, u32>>,
}

/// Run the sharded world of `seed`.
pub fn run(seed: u64) -> Report {
    let plan = Plan::from_seed(seed);
    let trace = Trace::default();
    trace.log("sim", format!("seed {seed}, {SHARDS} shards, {plan:?}"));
    let mut b = turmoil::Builder::new();
    b.rng_seed(seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(Duration::from_secs(60))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(plan.min_latency_ms))
        .max_message_latency(Duration::from_millis(plan.max_latency_ms));
    let mut sim = b.build();
    {
        let (trace, plan) = (trace.clone(), plan.clone());
        sim.host(SERVER, move || server(seed, plan.clone(), trace.clone()));
    }
    let tally = Arc::new(Tally::default());
    for i in 0..plan.legacy {
        let (trace, plan, tally) = (trace.clone(), plan.clone(), tally.clone());
        let name = format!("l{i}");
        sim.client(name.clone().as_str(), async move {
            legacy(name, i, plan, trace, tally).await;
            Ok(())
        });
    }
    for j in 0..plan.modern {
        let (trace, plan) = (trace.clone(), plan.clone());
        let name = format!("m{j}");
        sim.client(name.clone().as_str(), async move {
            listener(name, plan.legacy + j, plan, trace).await;
            Ok(())
        });
    }
    {
        let (trace, plan) = (trace.clone(), plan.clone());
        sim.client("p", async move {
            publisher(plan, trace).await;
            Ok(())
        });
    }
    let panics = harness::catch_panics();
    let result = drive(&mut sim, &panics, &trace);
    drop(sim);
    let mut report = harness::report(seed, None, &trace, &panics, result);
    let shards = tally.shards.lock().expect("tally").len() as u64;
    report.counts.insert(
        "sessions on the dead shard",
        u64::from(tally.dead_sessions.load(Ordering::SeqCst)),
    );
    report.counts.insert(
        "sessions on live shards",
        u64::from(tally.live_sessions.load(Ordering::SeqCst)),
    );
    report.counts.insert("shards holding sessions", shards);
    report
}

/// Step the simulation to its end; the deliberate crash's panic is taken
/// out of the slot as soon as it happens (so a later panic is still
/// caught), any other panic fails the run.
fn drive(
    sim: &mut turmoil::Sim<'_>,
    panics: &harness::Panics,
    trace: &Trace,
) -> Result<(), String> {
    let mut crashed = false;
    loop {
        let done = sim.step().map_err(|e| e.to_string())?;
        let taken = panics.lock().expect("panics").take();
        if let Some(p) = taken {
            if !crashed && p.contains(CRASH_MESSAGE) {
                crashed = true;
                trace.log_at(
                    sim.elapsed().as_millis() as u64,
                    "sim",
                    "the shard's driver panicked (deliberately)",
                );
            } else {
                *panics.lock().expect("panics") = Some(p);
                return Err("a task panicked".to_owned());
            }
        }
        if done {
            return if crashed {
                Ok(())
            } else {
                Err("the shard never crashed".to_owned())
            };
        }
    }
}

async fn server(seed: u64, plan: Plan, trace: Trace) -> Result<(), Box<dyn std::error::Error>> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    trace.log("server", "listening");
    let service = fixture::fan_out_service(SHARDS, seed);
    let killer = service.clone();
    let t = trace.clone();
    tokio::spawn(async move {
        sleep_until_ms(plan.crash_ms).await;
        t.log("server", format!("crash shard {}", plan.dead));
        killer.crash_shard_for_simulation(plan.dead);
    });
    streamable_hyper::serve(SimListener::new(listener), service, std::future::pending()).await?;
    Ok(())
}

async fn sleep_until_ms(ms: u64) {
    let now = now_ms();
    if ms > now {
        tokio::time::sleep(Duration::from_millis(ms - now)).await;
    }
}

enum Got {
    Json(u16, Option<String>, Bytes),
    Sse(u16, IncomingBody),
}

/// One exchange on a fresh connection, the head within the deadline.
async fn send(req: Request<Bytes>) -> Result<Got, String> {
    let fut = async {
        let stream = turmoil::net::TcpStream::connect((SERVER, PORT))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let res = sender
            .send_request(req.map(Full::new))
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let session = res
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sse = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = res.into_body();
        if sse {
            Ok(Got::Sse(status, body))
        } else {
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Got::Json(status, session, bytes))
        }
    };
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(r) => r,
        Err(_) => Err("no answer within the deadline".to_owned()),
    }
}

/// The JSON of a JSON answer, or of the first response on an SSE one.
async fn answer(got: Got) -> (u16, Value) {
    match got {
        Got::Json(s, _, b) => (s, serde_json::from_slice(&b).unwrap_or(Value::Null)),
        Got::Sse(s, mut body) => {
            let mut events = Events::default();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    for v in events.push(&data) {
                        if v.get("id").is_some() && v.get("method").is_none() {
                            return (s, v);
                        }
                    }
                }
            }
            (s, Value::Null)
        }
    }
}

/// SSE `data:` payloads as JSON, from chunks split anywhere.
#[derive(Default)]
struct Events {
    buf: String,
}

impl Events {
    fn push(&mut self, chunk: &[u8]) -> Vec<Value> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let event: String = self.buf.drain(..end + 2).collect();
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if !data.is_empty()
                && let Ok(v) = serde_json::from_str::<Value>(&data.join("\n"))
            {
                out.push(v);
            }
        }
        out
    }
}

/// Read `body` in the background, counting `notifications/resources/updated`
/// for `mem://x`; the second counter is set to 1 when the stream ends.
fn count_updates(mut body: IncomingBody) -> (Arc<AtomicU32>, Arc<AtomicU32>) {
    let (updates, ended) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (u, e) = (updates.clone(), ended.clone());
    tokio::spawn(async move {
        let mut events = Events::default();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                for v in events.push(&data) {
                    if v["method"] == "notifications/resources/updated"
                        && v["params"]["uri"] == "mem://x"
                    {
                        u.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
        e.store(1, Ordering::SeqCst);
    });
    (updates, ended)
}

/// The first answer, retried while the server is not listening yet.
async fn send_until_up(req: impl Fn() -> Request<Bytes>) -> Result<Got, String> {
    let mut last = String::new();
    for _ in 0..50 {
        match send(req()).await {
            Ok(g) => return Ok(g),
            Err(e) if e.starts_with("connect") => {
                last = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn residue(session: &str) -> Option<usize> {
    (session.len() == 32)
        .then(|| u128::from_str_radix(session, 16).ok())
        .flatten()
        .map(|v| (v % SHARDS as u128) as usize)
}

async fn legacy(name: String, idx: usize, plan: Plan, trace: Trace, tally: Arc<Tally>) {
    let fail = |what: String| {
        trace.fail(&name, what);
    };
    sleep_until_ms(plan.starts[idx]).await;
    let init = send_until_up(|| wire::post(None, wire::initialize_body(&name))).await;
    let session = match init {
        Ok(Got::Json(200, Some(s), _)) => s,
        Ok(Got::Sse(200, _)) | Ok(Got::Json(..)) | Ok(Got::Sse(..)) | Err(_) => {
            return fail("initialize was not answered 200 with a session".into());
        }
    };
    let Some(shard) = residue(&session) else {
        return fail(format!("session id {session} is not 32 hex digits"));
    };
    trace.log(&name, format!("session on shard {shard}"));
    *tally
        .shards
        .lock()
        .expect("tally")
        .entry(shard)
        .or_default() += 1;
    match send(wire::post(Some(&session), wire::initialized_body())).await {
        Ok(Got::Json(202, ..)) => {}
        _ => return fail("notifications/initialized was not accepted".into()),
    }
    let sub =
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"mem://x"}}"#;
    match send(wire::post(Some(&session), sub.to_owned())).await {
        Ok(g) => {
            let (s, v) = answer(g).await;
            if s != 200 || v.get("result").is_none() {
                return fail(format!("resources/subscribe: {s} {v}"));
            }
        }
        Err(e) => return fail(format!("resources/subscribe: {e}")),
    }
    let (updates, ended) = match send(wire::get(&session, None)).await {
        Ok(Got::Sse(200, body)) => count_updates(body),
        _ => return fail("the GET stream did not open".into()),
    };
    sleep_until_ms(plan.check_ms).await;
    let got = updates.load(Ordering::SeqCst);
    if got != 1 {
        return fail(format!(
            "{got} resources/updated on the GET stream of a session on shard {shard} (expected exactly 1: the fan-out reaches every shard)"
        ));
    }
    let dead = shard == plan.dead;
    if dead && ended.load(Ordering::SeqCst) == 0 {
        return fail("the GET stream of a dead shard's session is still open".into());
    }
    let tag = format!("{name}-after");
    let call = send(wire::post(Some(&session), wire::call_body(2, "echo", &tag))).await;
    match call {
        Ok(g) => {
            let (s, v) = answer(g).await;
            if dead {
                if s != 503 {
                    return fail(format!("a dead shard's session was answered {s}, not 503"));
                }
                tally.dead_sessions.fetch_add(1, Ordering::SeqCst);
                trace.log(&name, "503 from the dead shard, as it must");
            } else {
                if s != 200 || v["result"]["structuredContent"]["tag"] != tag.as_str() {
                    return fail(format!("a live shard's session was answered {s} {v}"));
                }
                if ended.load(Ordering::SeqCst) != 0 {
                    return fail("the GET stream of a live shard's session ended".into());
                }
                tally.live_sessions.fetch_add(1, Ordering::SeqCst);
                trace.log(&name, "served by its live shard");
            }
        }
        Err(e) => fail(format!("echo after the crash: {e}")),
    }
}

fn listen_request(id: i64) -> Request<Bytes> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"notifications":{{"resourceSubscriptions":["mem://x"]}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{m}","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"listener","version":"1"}}}}}}}}"#,
        m = wire::MODERN
    );
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", wire::ACCEPT_BOTH)
        .header("host", "localhost")
        .header("mcp-protocol-version", wire::MODERN)
        .header("mcp-method", "subscriptions/listen")
        .body(Bytes::from(body))
        .expect("static request parts")
}

async fn listener(name: String, idx: usize, plan: Plan, trace: Trace) {
    sleep_until_ms(plan.starts[idx]).await;
    let (updates, _ended) = match send_until_up(|| listen_request(idx as i64)).await {
        Ok(Got::Sse(200, body)) => count_updates(body),
        Ok(g) => {
            let (s, v) = answer(g).await;
            trace.fail(&name, format!("subscriptions/listen answered {s} {v}"));
            return;
        }
        Err(e) => {
            trace.fail(&name, format!("subscriptions/listen: {e}"));
            return;
        }
    };
    trace.log(&name, "listening");
    sleep_until_ms(plan.check_ms).await;
    let got = updates.load(Ordering::SeqCst);
    if got != 1 {
        trace.fail(
            &name,
            format!("{got} resources/updated on a listen stream (expected exactly 1)"),
        );
    }
}

async fn publisher(plan: Plan, trace: Trace) {
    sleep_until_ms(plan.publish_ms).await;
    let want = (plan.legacy + plan.modern) as u64;
    match send_until_up(|| wire::modern_call(1, "touch", "p-touch")).await {
        Ok(g) => {
            let (s, v) = answer(g).await;
            let reached = v["result"]["structuredContent"]["reached"].as_u64();
            if s != 200 || reached != Some(want) {
                trace.fail("p", format!("touch answered {s} {v}; expected to reach {want} subscribers on every shard"));
                return;
            }
            trace.log("p", format!("touch reached {want} subscribers"));
        }
        Err(e) => {
            trace.fail("p", format!("touch: {e}"));
            return;
        }
    }
    sleep_until_ms(plan.check_ms).await;
    // Stateless calls on fresh connections take every home shard in turn:
    // the dead one is skipped, all are served.
    for k in 0..2 * SHARDS as i64 {
        let tag = format!("p-{k}");
        match send(wire::modern_call(10 + k, "echo", &tag)).await {
            Ok(g) => {
                let (s, v) = answer(g).await;
                if s != 200 || v["result"]["structuredContent"]["tag"] != tag.as_str() {
                    trace.fail(
                        "p",
                        format!("a stateless call after the crash was answered {s} {v}"),
                    );
                    return;
                }
            }
            Err(e) => {
                trace.fail("p", format!("a stateless call after the crash: {e}"));
                return;
            }
        }
    }
    trace.log("p", "stateless calls served after the crash");
}
