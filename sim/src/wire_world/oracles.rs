//! The wire world's oracles on the streams a client reads: event ids
//! contiguous and resumed exactly (INV-S2, INV-S5), one response with the
//! caller's tag (INV-S1, INV-S18), progress on time (the latency bound), no
//! response on a GET stream (INV-S4).

use http_body_util::BodyExt;
use hyper::body::Incoming as IncomingBody;
use serde_json::Value;
use streamable_core::sse::Decoder;

use super::client::{Client, Got, NoAnswer, describe};
use crate::harness::{DEADLINE, Failed, Trace, now_ms};
use crate::wire::{self, Incoming};

/// The wire world's oracles, by name (as the model checker's `PROP_*`): a
/// failure records which one it broke, so a test shows each known-bad
/// variant caught by the oracle meant for it
/// ([`crate::report::assert_caught_by`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Oracle {
    /// INV-L1 at start-up: a client's `initialize` is answered within the
    /// deadline once the listener accepts (variant (a)).
    Readiness,
    /// INV-L1: every later request of a session gets its head, and every
    /// stream its next frame, within the deadline, unless a fault explains
    /// it (variant (h): one slow reader must not stall its session).
    Deadline,
    /// Events stream as they are emitted: a progress event arrives within
    /// the latency bound of its emission (variant (b)).
    Latency,
    /// INV-S5: event ids contiguous on a connection, and a resume starts
    /// exactly after the cursor.
    ExactReplay,
    /// INV-S2: no event delivered twice.
    AtMostOnce,
    /// INV-S1: exactly one response per request, on its own stream.
    OneResponse,
    /// INV-S18: nothing of another request, client or session (tags,
    /// progress tokens, sampling answers).
    Isolation,
    /// INV-S4: no response on the standalone GET stream.
    GetStream,
    /// INV-S8: a deleted session answers 404.
    DeadSession,
    /// An answer the script did not expect (a status, a missing priming
    /// event): the protocol as the requirements describe it.
    Protocol,
    /// The server's accept loop itself failed.
    Server,
    /// Multi-instance world (issue 17): a session or a stream is lost (404,
    /// 400 on a resume), or a deleted session is served again after its
    /// 204, only where the store declared a loss: a store restart that lost
    /// writes the session or stream needed, or a store fault while the
    /// stream was written (variant (p)).
    DeclaredLoss,
    /// Multi-instance world: a request of a live session is served on any
    /// instance as on the one that created it: its own result, or a
    /// defined retryable status (503 with `Retry-After`, the balancer's
    /// 502 for a dead instance), never another error (variant (r)).
    Served,
}

impl Oracle {
    /// The name printed in a failure.
    pub fn name(self) -> &'static str {
        match self {
            Oracle::Readiness => "readiness (INV-L1)",
            Oracle::Deadline => "deadline (INV-L1)",
            Oracle::Latency => "latency",
            Oracle::ExactReplay => "exact replay (INV-S5)",
            Oracle::AtMostOnce => "at most once (INV-S2)",
            Oracle::OneResponse => "one response (INV-S1)",
            Oracle::Isolation => "isolation (INV-S18)",
            Oracle::GetStream => "GET stream (INV-S4)",
            Oracle::DeadSession => "dead session (INV-S8)",
            Oracle::Protocol => "protocol",
            Oracle::Server => "server",
            Oracle::DeclaredLoss => "declared loss (MI-4)",
            Oracle::Served => "served anywhere (MI-3)",
        }
    }
}

pub(super) enum StreamEnd {
    /// The stream ended (or we stopped after the events we wanted).
    Done,
    /// The connection broke or stalled.
    Broken(NoAnswer),
}

/// What a client checks on the stream of one of its requests (the POST's
/// and the resumes').
pub(super) struct StreamCheck {
    pub(super) tag: String,
    pub(super) id: i64,
    pub(super) cursor: Option<(u64, u64)>,
    pub(super) resume_from: Option<(u64, u64)>,
    pub(super) responses: u32,
    pub(super) progress: Vec<u64>,
    pub(super) slow_reader: bool,
}

impl StreamCheck {
    pub(super) fn new(tag: String, id: i64, slow_reader: bool) -> Self {
        StreamCheck {
            tag,
            id,
            cursor: None,
            resume_from: None,
            responses: 0,
            progress: Vec::new(),
            slow_reader,
        }
    }

    /// Read `body` to its end (or until `stop_after` progress events), each
    /// frame within the deadline.
    pub(super) async fn read(
        &mut self,
        c: &mut Client,
        mut body: IncomingBody,
        sent: u64,
        stop_after: Option<usize>,
    ) -> Result<StreamEnd, Failed> {
        let mut dec = Decoder::new();
        let mut first_on_conn = true;
        loop {
            let frame = match tokio::time::timeout(DEADLINE, body.frame()).await {
                Err(_) => return Ok(StreamEnd::Broken(NoAnswer::Timeout)),
                Ok(None) => return Ok(StreamEnd::Done),
                Ok(Some(Err(e))) => return Ok(StreamEnd::Broken(NoAnswer::Broken(e.to_string()))),
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let _ = dec.feed(&data);
            while let Some(ev) = dec.next_event() {
                if ev.has_id
                    && let Some((s, q)) = ev.last_event_id.as_deref().and_then(wire::parse_event_id)
                {
                    let expect = match (first_on_conn, self.resume_from, self.cursor) {
                        (true, Some((rs, rq)), _) => Some((rs, rq + 1)),
                        (false, _, Some((cs, cq))) => Some((cs, cq + 1)),
                        _ => None,
                    };
                    if let Some(e) = expect
                        && e != (s, q)
                    {
                        return Err(c.fail(
                            Oracle::ExactReplay,
                            format!(
                                "event {s}-{q}, expected {}-{} (INV-S5: exact replay, no gaps)",
                                e.0, e.1
                            ),
                        ));
                    }
                    if let Some((cs, cq)) = self.cursor
                        && cs == s
                        && q <= cq
                    {
                        return Err(c.fail(
                            Oracle::AtMostOnce,
                            format!("event {s}-{q} delivered again (INV-S2)"),
                        ));
                    }
                    first_on_conn = false;
                    self.cursor = Some((s, q));
                }
                if !ev.data.is_empty() {
                    let msg = wire::classify(ev.data.as_bytes());
                    self.check_latency(c, &ev.data, sent)?;
                    self.message(c, &msg)?;
                    self.progress_of(c, &ev.data)?;
                    if let Incoming::Request { id, method } = msg {
                        c.log(format!("server asks {method} id={id}; answering"));
                        let session = c.session.clone();
                        let asked = now_ms();
                        let id_v: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
                        let r = c
                            .send(wire::post(
                                session.as_deref(),
                                wire::answer_body(&id_v, &c.name),
                            ))
                            .await;
                        match r {
                            Ok(Got::Json(202, ..)) => {}
                            Err(e) => c.excuse("answer", asked, e)?,
                            other => {
                                if !c.disturbed_since(asked) {
                                    return Err(c.fail(
                                        Oracle::Protocol,
                                        format!("answer: {}", describe(&other)),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            if stop_after.is_some_and(|n| self.progress.len() >= n) {
                return Ok(StreamEnd::Done);
            }
        }
    }

    fn check_latency(&self, c: &Client, data: &str, sent: u64) -> Result<(), Failed> {
        let v: Value = serde_json::from_str(data).unwrap_or_default();
        let Some(emitted) = v
            .pointer("/params/message")
            .and_then(|m| m.as_str())
            .and_then(|m| m.strip_prefix("t="))
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return Ok(());
        };
        let now = now_ms();
        let late = now.saturating_sub(emitted);
        // Events emitted before this connection was asked for are a replay:
        // they wait for the client by design.
        if late > c.scen.latency_bound()
            && emitted >= sent
            && !self.slow_reader
            && !c.scen.disturbed(c.idx, sent.min(emitted), now)
        {
            return Err(c.fail(Oracle::Latency, format!(
                "progress emitted at {emitted} ms arrived at {now} ms: {late} ms late (bound {} ms; events must stream, not wait for the handler)",
                c.scen.latency_bound()
            )));
        }
        Ok(())
    }

    pub(super) fn message(&mut self, c: &mut Client, msg: &Incoming) -> Result<(), Failed> {
        let Incoming::Response {
            id,
            tag,
            error,
            answer,
        } = msg
        else {
            return Ok(());
        };
        if !answer.is_empty() && *answer != c.name {
            return Err(c.fail(
                Oracle::Isolation,
                format!("the sampling request of id={id} was answered by {answer:?} (INV-S18)"),
            ));
        }
        if *id != self.id {
            return Err(c.fail(
                Oracle::OneResponse,
                format!(
                    "response to id={id} on the stream of id={} (INV-S1)",
                    self.id
                ),
            ));
        }
        if *error || tag != &self.tag {
            return Err(c.fail(
                Oracle::Isolation,
                format!(
                    "response to id={id} carries {tag:?} (error: {error}), expected {:?} (INV-S18)",
                    self.tag
                ),
            ));
        }
        self.responses += 1;
        if self.responses > 1 {
            return Err(c.fail(
                Oracle::OneResponse,
                format!("second response to id={id} (INV-S1)"),
            ));
        }
        Ok(())
    }
}

// The progress token and value are checked where the raw data is at hand.
impl StreamCheck {
    fn progress_of(&mut self, c: &Client, data: &str) -> Result<(), Failed> {
        let v: Value = serde_json::from_str(data).unwrap_or_default();
        if v.get("method").and_then(|m| m.as_str()) != Some("notifications/progress") {
            return Ok(());
        }
        let token = v
            .pointer("/params/progressToken")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        if token != self.tag {
            return Err(c.fail(
                Oracle::Isolation,
                format!(
                    "progress for {token:?} on the stream of {:?} (INV-S18)",
                    self.tag
                ),
            ));
        }
        let p = v
            .pointer("/params/progress")
            .and_then(|p| p.as_u64())
            .unwrap_or(0);
        self.progress.push(p);
        Ok(())
    }
}

/// Read a GET stream in the background (or, for a slow reader, hold it
/// unread): its event ids contiguous (INV-S5), no response on it (INV-S4),
/// and only the client's own notifications (INV-S18). A violation is
/// recorded in the trace; the script goes on.
pub(super) async fn check_get_stream(body: IncomingBody, slow: bool, name: String, trace: Trace) {
    if slow {
        // Never read; the body is dropped when the script ends.
        let _keep = body;
        std::future::pending::<()>().await;
        return;
    }
    let mut body = body;
    let mut dec = Decoder::new();
    let mut cursor: Option<(u64, u64)> = None;
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let _ = dec.feed(&data);
        while let Some(ev) = dec.next_event() {
            if let Some(id) = ev.last_event_id.as_deref().filter(|_| ev.has_id)
                && let Some((s, q)) = wire::parse_event_id(id)
            {
                if let Some((cs, cq)) = cursor
                    && (cs, cq + 1) != (s, q)
                {
                    trace.fail_on(
                        &name,
                        Oracle::ExactReplay,
                        format!("GET stream: event {s}-{q} after {cs}-{cq} (INV-S5)"),
                    );
                }
                cursor = Some((s, q));
            }
            if ev.data.is_empty() {
                continue;
            }
            match wire::classify(ev.data.as_bytes()) {
                Incoming::Response { id, .. } => {
                    trace.fail_on(
                        &name,
                        Oracle::GetStream,
                        format!("response to {id} on the GET stream (INV-S4)"),
                    );
                }
                Incoming::Notification { .. } => {
                    let v: Value = serde_json::from_str(&ev.data).unwrap_or_default();
                    let t = v
                        .pointer("/params/data/tag")
                        .and_then(|t| t.as_str())
                        .unwrap_or("");
                    if !t.starts_with(&format!("{name}-")) {
                        trace.fail_on(
                            &name,
                            Oracle::Isolation,
                            format!("GET stream carried {t:?}, another client's (INV-S18)"),
                        );
                    }
                }
                _ => {}
            }
        }
    }
}
