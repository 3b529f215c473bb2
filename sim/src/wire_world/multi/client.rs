//! The multi-instance world's clients and the oracles they apply to what
//! crossed the balancer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use streamable_core::sse::Decoder;

use super::{LB, Op, Plan, Tally};
use crate::harness::{DEADLINE, Failed, PORT, Trace, now_ms};
use crate::wire::{self, Incoming};
use crate::wire_world::Oracle;

/// How long a stream may be silent: a healthy one sends an event at least
/// every gap of the `slow` tool (at most 200 ms) or ends; a tail on another
/// instance asks the store again every `tail_wait` (1 s).
const STALL: Duration = Duration::from_millis(2_500);

/// Tries of one request that gets 503 or 502 before the client gives up.
const TRIES: u32 = 12;
/// The pause before a retry (the instances' `Retry-After` is 1 s; the
/// simulated client is more eager, which only adds load).
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// One answer's head (and a JSON body, read whole).
enum Got {
    Json {
        status: u16,
        session: Option<String>,
        retry_after: bool,
        instance: String,
        body: Bytes,
    },
    Sse {
        status: u16,
        instance: String,
        body: IncomingBody,
    },
}

impl Got {
    fn instance(&self) -> &str {
        match self {
            Got::Json { instance, .. } | Got::Sse { instance, .. } => instance,
        }
    }

    fn status(&self) -> u16 {
        match self {
            Got::Json { status, .. } | Got::Sse { status, .. } => *status,
        }
    }

    fn describe(&self) -> String {
        match self {
            Got::Json {
                status,
                body,
                instance,
                ..
            } => format!(
                "status {status} from {instance}: {}",
                String::from_utf8_lossy(body)
            ),
            Got::Sse {
                status, instance, ..
            } => format!("status {status} from {instance} (event stream)"),
        }
    }
}

/// No answer within the deadline, or a broken connection.
#[derive(Debug)]
enum NoAnswer {
    Connect,
    Timeout,
    Broken(#[allow(dead_code)] String),
}

/// One exchange through the balancer on a fresh connection, the head
/// within the deadline.
async fn send(req: Request<Bytes>) -> Result<Got, NoAnswer> {
    let fut = async {
        let io = turmoil::net::TcpStream::connect((LB, PORT))
            .await
            .map_err(|_| NoAnswer::Connect)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| NoAnswer::Broken(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let res = sender
            .send_request(req.map(Full::new))
            .await
            .map_err(|e| NoAnswer::Broken(e.to_string()))?;
        let status = res.status().as_u16();
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let session = header("mcp-session-id");
        let instance = header("x-sim-instance").unwrap_or_else(|| "?".into());
        let retry_after = header("retry-after").is_some();
        let sse = header("content-type").is_some_and(|v| v.starts_with("text/event-stream"));
        let body = res.into_body();
        if sse {
            Ok(Got::Sse {
                status,
                instance,
                body,
            })
        } else {
            let body = body
                .collect()
                .await
                .map_err(|e| NoAnswer::Broken(e.to_string()))?
                .to_bytes();
            Ok(Got::Json {
                status,
                session,
                retry_after,
                instance,
                body,
            })
        }
    };
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(r) => r,
        Err(_) => Err(NoAnswer::Timeout),
    }
}

/// What a client needs to apply the oracles.
#[derive(Clone)]
struct Ctx {
    name: String,
    plan: Arc<Plan>,
    trace: Trace,
    tally: Tally,
}

impl Ctx {
    fn fail(&self, oracle: Oracle, what: impl std::fmt::Display) -> Failed {
        self.trace.fail_on(&self.name, oracle, what)
    }

    fn log(&self, what: impl std::fmt::Display) {
        self.trace.log(&self.name, what);
    }

    /// A request, tried again on 503 (with `Retry-After`) and 502 (the
    /// balancer found its instance down) and on no answer when a fault
    /// explains it. `Ok(None)`: given up, and a fault explains why, or the
    /// session is `at_risk` (its creation may never complete in the store);
    /// the time of the last try's sending comes with the answer.
    async fn exchange(
        &self,
        what: &str,
        at_risk: bool,
        make: impl Fn() -> Request<Bytes>,
    ) -> Result<Option<(Got, u64)>, Failed> {
        let first = now_ms();
        for _ in 0..TRIES {
            let sent = now_ms();
            match send(make()).await {
                Err(NoAnswer::Connect) => {}
                Err(e) => {
                    if !self.plan.disturbed(sent, now_ms()) {
                        return Err(self.fail(
                            Oracle::Deadline,
                            format!(
                                "{what}: no answer ({e:?}) after {} ms without any fault",
                                now_ms() - sent
                            ),
                        ));
                    }
                    self.log(format!("{what}: no answer ({e:?}), explained by a fault"));
                }
                Ok(got) => match got.status() {
                    503 => {
                        if let Got::Json {
                            retry_after: false, ..
                        } = &got
                        {
                            return Err(self
                                .fail(Oracle::Served, format!("{what}: 503 without Retry-After")));
                        }
                        // A defined answer even without a fault: the
                        // session may still be being created elsewhere
                        // (MI-2); the retries are bounded below.
                        self.tally.add("503 answers retried", 1);
                        self.log(format!("{what}: 503, retrying"));
                    }
                    502 => {
                        if !self.plan.instance_down(sent, now_ms()) {
                            return Err(self.fail(
                                Oracle::Served,
                                format!("{what}: {} without any fault", got.describe()),
                            ));
                        }
                        self.log(format!("{what}: {}, retrying", got.describe()));
                    }
                    _ => return Ok(Some((got, sent))),
                },
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        if self.plan.disturbed(first, now_ms()) || at_risk {
            self.log(format!("{what}: gave up, explained by a fault"));
            return Ok(None);
        }
        Err(self.fail(
            Oracle::Deadline,
            format!("{what}: {TRIES} tries without an answer and without any fault"),
        ))
    }
}

/// A legacy (2025-11-25) client.
pub(super) struct Legacy {
    cx: Ctx,
    /// The session, when its `initialize` was sent, and when it was ready.
    session: Option<(String, u64, u64)>,
    /// The instance that created it.
    creator: String,
    next_id: i64,
}

/// How a stream read ended.
enum End {
    /// The stream ended.
    Done,
    /// We stopped after the progress events we wanted.
    Stopped,
    /// The connection broke.
    Broken,
    /// No frame within the deadline.
    Stalled,
}

/// The oracles on the stream of one request (its POST and its resumes).
struct StreamCheck {
    id: i64,
    tag: String,
    /// The stream part of its event ids (`"{instance}.{number}"`).
    prefix: Option<String>,
    /// The last event id seen (`seq`).
    cursor: Option<u64>,
    /// The next event on this connection is the first after a resume.
    resumed: bool,
    responses: u32,
    progress: u32,
}

impl StreamCheck {
    fn new(id: i64, tag: String) -> Self {
        StreamCheck {
            id,
            tag,
            prefix: None,
            cursor: None,
            resumed: false,
            responses: 0,
            progress: 0,
        }
    }

    fn last_event_id(&self) -> Option<String> {
        Some(format!("{}-{}", self.prefix.as_ref()?, self.cursor?))
    }

    /// Read `body` to its end (or `stop_after` progress events in all),
    /// each frame within [`STALL`]. `post`: the request's own stream
    /// (its first event must be the priming event).
    async fn read(
        &mut self,
        cx: &Ctx,
        body: &mut IncomingBody,
        post: bool,
        stop_after: Option<u32>,
    ) -> Result<End, Failed> {
        let mut dec = Decoder::new();
        let mut first = post;
        loop {
            let frame = match tokio::time::timeout(STALL, body.frame()).await {
                Err(_) => return Ok(End::Stalled),
                Ok(None) => return Ok(End::Done),
                Ok(Some(Err(_))) => return Ok(End::Broken),
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let _ = dec.feed(&data);
            while let Some(ev) = dec.next_event() {
                if first && (!ev.has_id || !ev.data.is_empty()) {
                    return Err(cx.fail(
                        Oracle::Served,
                        format!(
                            "the stream of request {} does not start with a priming event (a session served in a state the store never had): {:?}",
                            self.id, ev.data
                        ),
                    ));
                }
                first = false;
                if ev.has_id {
                    self.event_id(cx, ev.last_event_id.as_deref().unwrap_or(""))?;
                }
                if !ev.data.is_empty() {
                    self.message(cx, &ev.data)?;
                }
            }
            if stop_after.is_some_and(|n| self.progress >= n) {
                return Ok(End::Stopped);
            }
        }
    }

    fn event_id(&mut self, cx: &Ctx, id: &str) -> Result<(), Failed> {
        let Some((prefix, seq)) = id
            .rsplit_once('-')
            .and_then(|(p, s)| Some((p, s.parse::<u64>().ok()?)))
        else {
            return Err(cx.fail(Oracle::Served, format!("event id {id:?} is malformed")));
        };
        match &self.prefix {
            None => self.prefix = Some(prefix.to_owned()),
            Some(p) if p != prefix => {
                return Err(cx.fail(
                    Oracle::Isolation,
                    format!(
                        "event {id} on the stream {p} of request {} (an event of another stream)",
                        self.id
                    ),
                ));
            }
            Some(_) => {}
        }
        if let Some(c) = self.cursor {
            if seq <= c {
                return Err(cx.fail(
                    Oracle::AtMostOnce,
                    format!("event {id} delivered again (cursor {c})"),
                ));
            }
            if seq != c + 1 {
                let how = if self.resumed {
                    "a resume starts exactly after Last-Event-ID"
                } else {
                    "event ids contiguous"
                };
                return Err(cx.fail(Oracle::ExactReplay, format!("event {id} after {c} ({how})")));
            }
        }
        self.resumed = false;
        self.cursor = Some(seq);
        Ok(())
    }

    fn message(&mut self, cx: &Ctx, data: &str) -> Result<(), Failed> {
        match wire::classify(data.as_bytes()) {
            Incoming::Response { id, tag, error, .. } => {
                if id != self.id || tag != self.tag && !error {
                    return Err(cx.fail(
                        Oracle::Isolation,
                        format!(
                            "response {id} tagged {tag:?} on the stream of request {} tagged {:?}",
                            self.id, self.tag
                        ),
                    ));
                }
                if error {
                    return Err(cx.fail(
                        Oracle::Served,
                        format!("request {} answered with an error: {data}", self.id),
                    ));
                }
                self.responses += 1;
                if self.responses > 1 {
                    return Err(cx.fail(
                        Oracle::OneResponse,
                        format!("request {} answered twice", self.id),
                    ));
                }
            }
            Incoming::Notification { method } if method == "notifications/progress" => {
                let v: Value = serde_json::from_str(data).unwrap_or_default();
                let token = v.pointer("/params/progressToken").and_then(Value::as_str);
                if token != Some(self.tag.as_str()) {
                    return Err(cx.fail(
                        Oracle::Isolation,
                        format!(
                            "progress {token:?} on the stream of request {} ({:?})",
                            self.id, self.tag
                        ),
                    ));
                }
                self.progress += 1;
            }
            Incoming::Notification { .. } => {}
            other => {
                return Err(cx.fail(
                    Oracle::Served,
                    format!("unexpected on request {}'s stream: {other:?}", self.id),
                ));
            }
        }
        Ok(())
    }
}

fn slow_body(id: i64, tag: &str, steps: u8, gap_ms: u16) -> String {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": "slow",
            "arguments": {"tag": tag, "steps": steps, "gap_ms": gap_ms},
            "_meta": {"progressToken": tag}
        }
    })
    .to_string()
}

impl Legacy {
    pub(super) fn new(name: String, plan: Arc<Plan>, trace: Trace, tally: Tally) -> Self {
        Legacy {
            cx: Ctx {
                name,
                plan,
                trace,
                tally,
            },
            session: None,
            creator: String::new(),
            next_id: 0,
        }
    }

    /// Play the script; a failure is in the trace.
    pub(super) async fn run(mut self, start: u64, ops: Vec<Op>) {
        tokio::time::sleep(Duration::from_millis(start)).await;
        for op in ops {
            if self.session.is_none() {
                match self.init().await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => return,
                }
            }
            let r = match op {
                Op::Echo => self.echo().await,
                Op::Resume {
                    steps,
                    gap_ms,
                    cut,
                    pause_ms,
                } => self.resume(steps, gap_ms, cut, pause_ms).await,
                Op::Delete => self.delete().await,
            };
            if r.is_err() {
                return;
            }
        }
        self.cx.log("done");
    }

    fn session(&self) -> String {
        self.session
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default()
    }

    /// A new session; `Ok(false)`: none could be had, and a fault explains it.
    async fn init(&mut self) -> Result<bool, Failed> {
        for _ in 0..3 {
            let name = self.cx.name.clone();
            let Some((got, sent)) = self
                .cx
                .exchange("initialize", false, || {
                    wire::post(None, wire::initialize_body(&name))
                })
                .await?
            else {
                return Ok(false);
            };
            let created_on = got.instance().to_owned();
            let session = match got {
                Got::Json {
                    status: 200,
                    session: Some(s),
                    ..
                } => s,
                // MI-2: the record of the result could not be stored (a
                // slow, cut or restarting store): an error without a
                // session; initialize again.
                Got::Json {
                    status: 200,
                    session: None,
                    ref body,
                    ..
                } if self.cx.plan.disturbed(sent, now_ms())
                    && String::from_utf8_lossy(body).contains("-32603") =>
                {
                    self.cx
                        .log("initialize failed: its record was not stored (a store fault)");
                    self.cx.tally.add("initialize refused by a store fault", 1);
                    continue;
                }
                other => {
                    return Err(self
                        .cx
                        .fail(Oracle::Served, format!("initialize: {}", other.describe())));
                }
            };
            let s = session.clone();
            let Some((got, _)) = self
                .cx
                .exchange("notifications/initialized", false, || {
                    wire::post(Some(&s), wire::initialized_body())
                })
                .await?
            else {
                return Ok(false);
            };
            match got.status() {
                202 => {
                    self.cx.log(format!(
                        "session {session} (created on {created_on}, initialized on {})",
                        got.instance()
                    ));
                    self.session = Some((session, sent, now_ms()));
                    self.creator = created_on;
                    self.cx.tally.add("sessions", 1);
                    return Ok(true);
                }
                404 if self.cx.plan.lost_writes_of(sent, now_ms()) => {
                    self.cx
                        .log("404 right after initialize: its record was lost in a store restart");
                    self.cx.tally.add("sessions lost and created again", 1);
                }
                _ => {
                    return Err(self.cx.fail(
                        if got.status() == 404 {
                            Oracle::DeclaredLoss
                        } else {
                            Oracle::Served
                        },
                        format!("notifications/initialized: {}", got.describe()),
                    ));
                }
            }
        }
        Ok(false)
    }

    /// The session's setup writes may have been lost: in a store restart
    /// (the session may be gone, 404, or back in an earlier phase), or with
    /// its creator, crashed before the record of its initialize result was
    /// stored (other instances answer 503 until the record expires,
    /// MI-2).
    fn setup_lost(&self) -> bool {
        self.session.as_ref().is_some_and(|(_, sent, ready)| {
            self.cx.plan.lost_writes_of(*sent, *ready)
                || self.cx.plan.creator_crashed(&self.creator, *sent, *ready)
        })
    }

    /// A request given up: drop a session whose setup may be lost (the
    /// next step initializes again).
    fn gave_up(&mut self) -> Result<(), Failed> {
        if self.setup_lost() {
            self.cx
                .log("the session's setup may be lost; initializing again");
            self.cx.tally.add("sessions lost and created again", 1);
            self.session = None;
        }
        Ok(())
    }

    /// An answer that says the session is gone, or that it is served in a
    /// state it never had: a declared loss if a store restart explains it
    /// (the session is dropped; the next step initializes again).
    fn session_trouble(&mut self, oracle: Oracle, what: String) -> Result<(), Failed> {
        if self.setup_lost() {
            self.cx.log(format!(
                "{what}: the session's setup was lost in a store restart; initializing again"
            ));
            self.cx.tally.add("sessions lost and created again", 1);
            self.session = None;
            return Ok(());
        }
        Err(self.cx.fail(oracle, what))
    }

    fn next(&mut self) -> (i64, String) {
        self.next_id += 1;
        (self.next_id, format!("{}-{}", self.cx.name, self.next_id))
    }

    async fn echo(&mut self) -> Result<(), Failed> {
        let (id, tag) = self.next();
        let s = self.session();
        let Some((got, _)) = self
            .cx
            .exchange("echo", self.setup_lost(), || {
                wire::post(Some(&s), wire::call_body(id, "echo", &tag))
            })
            .await?
        else {
            return self.gave_up();
        };
        let mut check = StreamCheck::new(id, tag);
        match got {
            Got::Json {
                status: 200, body, ..
            } => {
                let data = String::from_utf8_lossy(&body).into_owned();
                if let Err(f) = check.message(&self.cx, &data) {
                    return if self.setup_lost() {
                        self.session_trouble(Oracle::Served, f.to_string())
                    } else {
                        Err(f)
                    };
                }
            }
            Got::Sse {
                status: 200,
                mut body,
                ..
            } => {
                check.read(&self.cx, &mut body, true, None).await?;
            }
            Got::Json { status: 404, .. } => {
                return self.session_trouble(Oracle::DeclaredLoss, format!("echo {id}: 404"));
            }
            other => {
                let what = format!("echo {id}: {}", other.describe());
                return self.session_trouble(Oracle::Served, what);
            }
        }
        if check.responses != 1 {
            return Err(self.cx.fail(
                Oracle::OneResponse,
                format!("echo {id}: {} responses", check.responses),
            ));
        }
        self.cx.tally.add("echo calls answered", 1);
        Ok(())
    }

    /// DELETE the session; once it is answered 204, a request on it must
    /// be 404 wherever it lands (two tries, so mostly on two instances),
    /// unless a store restart lost the delete (within its lag).
    async fn delete(&mut self) -> Result<(), Failed> {
        let s = self.session();
        let began = now_ms();
        let Some((got, sent)) = self
            .cx
            .exchange("delete", self.setup_lost(), || wire::delete(&s))
            .await?
        else {
            return self.gave_up();
        };
        match got.status() {
            204 => {}
            // A try answered 503 after its delete reached the store (the
            // reply was late or lost): the retry finds the session gone.
            404 if self.cx.plan.disturbed(began, now_ms()) => {
                self.cx
                    .log("DELETE: 404 on a retry, an earlier try's delete landed");
            }
            404 => {
                return self.session_trouble(Oracle::DeclaredLoss, "DELETE: 404".into());
            }
            _ => {
                let what = format!("DELETE: {}", got.describe());
                return self.session_trouble(Oracle::Served, what);
            }
        }
        let deleted = now_ms();
        self.cx.log(format!("deleted on {}", got.instance()));
        self.session = None;
        for k in 0..2 {
            let (id, tag) = self.next();
            let Some((got, _)) = self
                .cx
                .exchange("after delete", false, || {
                    wire::post(Some(&s), wire::call_body(id, "echo", &tag))
                })
                .await?
            else {
                return Ok(());
            };
            match got.status() {
                404 => self.cx.tally.add("404s after DELETE", 1),
                _ if self.cx.plan.lost_writes_of(sent, deleted) => {
                    self.cx.log(format!(
                        "request {k} after DELETE: {}; the delete was lost in a store restart",
                        got.describe()
                    ));
                    return Ok(());
                }
                _ => {
                    return Err(self.cx.fail(
                        Oracle::DeclaredLoss,
                        format!(
                            "request {k} after DELETE answered 204: {} (INV-S8: 404 on every instance; no store restart lost the delete)",
                            got.describe()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn resume(
        &mut self,
        steps: u8,
        gap_ms: u16,
        cut: u8,
        pause_ms: u16,
    ) -> Result<(), Failed> {
        let (id, tag) = self.next();
        let s = self.session();
        let body = slow_body(id, &tag, steps, gap_ms);
        let Some((got, called)) = self
            .cx
            .exchange("slow", self.setup_lost(), || {
                wire::post(Some(&s), body.clone())
            })
            .await?
        else {
            return self.gave_up();
        };
        let (writer, mut body) = match got {
            Got::Sse {
                status: 200,
                instance,
                body,
            } => (instance, body),
            Got::Json { status: 404, .. } => {
                return self.session_trouble(Oracle::DeclaredLoss, format!("slow {id}: 404"));
            }
            other => {
                let what = format!("slow {id}: {}", other.describe());
                return self.session_trouble(Oracle::Served, what);
            }
        };
        let mut check = StreamCheck::new(id, tag);
        let end = match check
            .read(&self.cx, &mut body, true, Some(u32::from(cut)))
            .await
        {
            Ok(e) => e,
            Err(f) if self.setup_lost() => {
                return self.session_trouble(Oracle::Served, f.to_string());
            }
            Err(f) => return Err(f),
        };
        // Drop the connection mid-stream (the balancer drops its own to the
        // instance), then resume after the pause.
        drop(body);
        if let End::Broken | End::Stalled = end
            && !self.cx.plan.disturbed(called, now_ms())
        {
            return Err(self.cx.fail(
                Oracle::Deadline,
                format!("slow {id}: the stream from {writer} broke or stalled without any fault"),
            ));
        }
        self.cx.log(format!(
            "slow {id}: dropped after {} progress events from {writer}",
            check.progress
        ));
        tokio::time::sleep(Duration::from_millis(u64::from(pause_ms))).await;
        for _ in 0..TRIES {
            if check.responses == 1 {
                break;
            }
            let Some(last) = check.last_event_id() else {
                return Err(self.cx.fail(
                    Oracle::Served,
                    format!("slow {id}: no event id to resume from"),
                ));
            };
            let s = self.session();
            let Some((got, sent)) = self
                .cx
                .exchange("resume", self.setup_lost(), || wire::get(&s, Some(&last)))
                .await?
            else {
                return self.gave_up();
            };
            match got {
                Got::Sse {
                    status: 200,
                    instance,
                    mut body,
                } => {
                    if instance != writer {
                        self.cx.tally.add("resumes on another instance", 1);
                    }
                    self.cx.log(format!("resume {last} on {instance}"));
                    check.resumed = true;
                    match check.read(&self.cx, &mut body, false, None).await {
                        Ok(End::Done | End::Stopped) => {}
                        Ok(End::Broken | End::Stalled) => {
                            if self.cx.plan.stream_lost(&writer, called, now_ms()) {
                                self.cx.log(format!(
                                    "resume of {id} on {instance} stalled: its writer {writer} crashed or the store restarted; the response is lost"
                                ));
                                self.cx.tally.add("responses lost with their writer", 1);
                                return Ok(());
                            }
                            if !self.cx.plan.disturbed(sent, now_ms()) {
                                return Err(self.cx.fail(
                                    Oracle::Deadline,
                                    format!("resume of {id} on {instance} broke or stalled without any fault"),
                                ));
                            }
                        }
                        Err(f) if self.setup_lost() => {
                            return self.session_trouble(Oracle::Served, f.to_string());
                        }
                        Err(f) => return Err(f),
                    }
                }
                Got::Json { status: 404, .. } => {
                    return self
                        .session_trouble(Oracle::DeclaredLoss, format!("resume of {id}: 404"));
                }
                Got::Json {
                    status: status @ (400 | 410 | 204),
                    ref instance,
                    ..
                } => {
                    if self.cx.plan.disturbed(called, now_ms()) {
                        self.cx.log(format!(
                            "resume of {id} on {instance}: {status}, a loss declared after a fault"
                        ));
                        self.cx.tally.add("declared event losses", 1);
                        return Ok(());
                    }
                    return Err(self.cx.fail(
                        match status {
                            204 => Oracle::OneResponse,
                            // The store does not know the stream.
                            400 => Oracle::DeclaredLoss,
                            // The events after the cursor are gone.
                            _ => Oracle::ExactReplay,
                        },
                        format!(
                            "resume of {id} after {last}: {} though no fault lost anything",
                            got.describe()
                        ),
                    ));
                }
                other => {
                    let what = format!("resume of {id}: {}", other.describe());
                    return self.session_trouble(Oracle::Served, what);
                }
            }
        }
        if check.responses != 1 {
            if self.cx.plan.disturbed(called, now_ms()) {
                self.cx
                    .log(format!("slow {id}: no response, explained by a fault"));
                return Ok(());
            }
            return Err(self.cx.fail(
                Oracle::OneResponse,
                format!("slow {id}: no response after {TRIES} resumes"),
            ));
        }
        self.cx.tally.add("resumed calls answered exactly", 1);
        Ok(())
    }
}

/// The 2026-07-28 client: stateless `echo` calls through the balancer.
pub(super) async fn modern(plan: Arc<Plan>, trace: Trace, tally: Tally) {
    let cx = Ctx {
        name: "m0".into(),
        plan: plan.clone(),
        trace,
        tally,
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for k in 0..plan.modern_calls as i64 {
        let tag = format!("m0-{k}");
        let got = match cx
            .exchange("stateless echo", false, || {
                wire::modern_call(k, "echo", &tag)
            })
            .await
        {
            Ok(Some((got, _))) => got,
            Ok(None) => continue,
            Err(_) => return,
        };
        let mut check = StreamCheck::new(k, tag.clone());
        let ok = match got {
            Got::Json {
                status: 200, body, ..
            } => check.message(&cx, &String::from_utf8_lossy(&body)).is_ok(),
            Got::Sse {
                status: 200,
                mut body,
                ..
            } => check.read(&cx, &mut body, false, None).await.is_ok(),
            other => {
                cx.fail(
                    Oracle::Served,
                    format!("stateless echo: {}", other.describe()),
                );
                return;
            }
        };
        if !ok {
            return;
        }
        if check.responses != 1 {
            cx.fail(
                Oracle::OneResponse,
                format!("stateless echo {k}: {} responses", check.responses),
            );
            return;
        }
        cx.tally.add("stateless calls answered", 1);
    }
}
