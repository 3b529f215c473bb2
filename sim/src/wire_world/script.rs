//! The wire world's scripts: what each hand-written client does, op by op
//! (initialize, calls, the GET stream, drop-then-resume, DELETE), checking
//! every answer as it comes with the stream checks of [`super::oracles`].
//! The connection itself (sending, tracing, excusing faults) is
//! [`super::client`].

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use serde_json::{Value, json};

use super::client::{Client, Got, NoAnswer, describe};
use super::oracles::{StreamCheck, StreamEnd, check_get_stream};
use super::{Op, Oracle};
use crate::harness::{DEADLINE, Failed, now_ms};
use crate::wire;

impl Client {
    async fn initialize(&mut self) -> Result<(), Failed> {
        let start = now_ms();
        loop {
            let sent = now_ms();
            match self
                .send(wire::post(None, wire::initialize_body(&self.name)))
                .await
            {
                Ok(Got::Json(200, Some(s), _)) => {
                    self.generation += 1;
                    self.log(format!("initialized: session #{}", self.generation));
                    let r = self
                        .send(wire::post(Some(&s), wire::initialized_body()))
                        .await;
                    if !matches!(r, Ok(Got::Json(202, ..))) && !self.disturbed_since(sent) {
                        return Err(self.fail(
                            Oracle::Protocol,
                            format!(
                                "notifications/initialized not accepted with 202: {}",
                                describe(&r)
                            ),
                        ));
                    }
                    self.session = Some(s);
                    self.born = sent;
                    return Ok(());
                }
                // The listener is not bound yet (start-up race), or a fault:
                // retry, within the deadline.
                Err(NoAnswer::Connect) if now_ms() - start < DEADLINE.as_millis() as u64 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) if self.disturbed_since(sent) => {
                    self.log(format!("initialize: {e:?} during a fault; retrying"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if now_ms() - start > 4 * DEADLINE.as_millis() as u64 {
                        return Err(self.fail(Oracle::Readiness, "could not initialize for 20 s"));
                    }
                }
                other => {
                    // No answer at all is the start-up oracle's; a wrong
                    // answer is the protocol's.
                    let oracle = if other.is_err() {
                        Oracle::Readiness
                    } else {
                        Oracle::Protocol
                    };
                    return Err(
                        self.fail(oracle, format!("initialize failed: {}", describe(&other)))
                    );
                }
            }
        }
    }

    pub(super) async fn run(mut self, ops: Vec<Op>) -> Result<(), Failed> {
        tokio::time::sleep(Duration::from_millis(u64::from(
            self.scen.clients[self.idx].start_ms,
        )))
        .await;
        self.initialize().await?;
        for op in ops {
            self.log(format!("op {op:?}"));
            self.op(op).await?;
        }
        for h in self.background.drain(..) {
            h.abort();
        }
        self.log("done");
        Ok(())
    }

    async fn op(&mut self, op: Op) -> Result<(), Failed> {
        if self.session.is_none() || self.crashed {
            self.crashed = false;
            self.initialize().await?;
        }
        match op {
            Op::Echo => self.call("echo", json!({})).await,
            Op::Slow { steps, gap_ms } => {
                self.call("slow", json!({"steps": steps, "gap_ms": gap_ms}))
                    .await
            }
            Op::Ask => self.call("ask", json!({})).await,
            Op::Flood { n } => self.call("flood", json!({"n": n})).await,
            Op::Get { slow } => self.open_get(slow).await,
            Op::DropResume {
                steps,
                gap_ms,
                pause_ms,
            } => self.drop_resume(steps, gap_ms, pause_ms).await,
            Op::Delete => self.delete().await,
            Op::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
                Ok(())
            }
        }
    }

    /// A tool call, read to its response.
    async fn call(&mut self, tool: &str, mut args: Value) -> Result<(), Failed> {
        self.calls += 1;
        self.next_id += 1;
        let id = self.next_id;
        let tag = self.tag();
        args["tag"] = json!(tag);
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": args, "_meta": {"progressToken": tag}}
        })
        .to_string();
        let session = self.session.clone();
        let sent = now_ms();
        self.log(format!("POST tools/call {tool} id={id} tag={tag}"));
        let got = self.send(wire::post(session.as_deref(), body)).await;
        let mut stream = StreamCheck::new(tag.clone(), id, false);
        match got {
            Ok(Got::Json(200, _, bytes)) => {
                stream.message(self, &wire::classify(&bytes))?;
            }
            Ok(Got::Json(404, ..)) if self.lost_session() => {
                self.log("404: the server restarted; initializing again");
                self.crashed = true;
                return Ok(());
            }
            Ok(Got::Json(status, _, bytes)) => {
                return Err(self.fail(
                    Oracle::Protocol,
                    format!(
                        "tools/call {tool} id={id}: status {status}: {}",
                        String::from_utf8_lossy(&bytes)
                    ),
                ));
            }
            Ok(Got::Sse(200, body)) => {
                self.log("200 text/event-stream");
                let end = stream.read(self, body, sent, None).await?;
                if let StreamEnd::Broken(why) = end {
                    return self.excuse(&format!("tools/call {tool} id={id}"), sent, why);
                }
            }
            Ok(Got::Sse(status, ..)) => {
                return Err(self.fail(Oracle::Protocol, format!("SSE with status {status}")));
            }
            Err(e) => return self.excuse(&format!("tools/call {tool} id={id}"), sent, e),
        }
        if stream.responses != 1 {
            if self.disturbed_since(sent) {
                self.log("stream ended without a response during a fault");
                self.crashed |= self.scen.crash.is_some();
                return Ok(());
            }
            return Err(self.fail(
                Oracle::OneResponse,
                format!(
                    "tools/call id={id}: {} responses (INV-S1/INV-L1: exactly one)",
                    stream.responses
                ),
            ));
        }
        self.log(format!("response id={id} ok"));
        Ok(())
    }

    async fn open_get(&mut self, slow: bool) -> Result<(), Failed> {
        let session = self.session.clone().unwrap_or_default();
        let sent = now_ms();
        match self.send(wire::get(&session, None)).await {
            Ok(Got::Sse(200, body)) => {
                self.log(format!("GET stream open (slow reader: {slow})"));
                let reader = check_get_stream(body, slow, self.name.clone(), self.trace.clone());
                self.background.push(tokio::spawn(reader));
                Ok(())
            }
            Ok(Got::Json(404, ..)) if self.lost_session() => {
                self.crashed = true;
                Ok(())
            }
            Err(e) => self.excuse("GET", sent, e),
            other => Err(self.fail(Oracle::Protocol, format!("GET: {}", describe(&other)))),
        }
    }

    async fn drop_resume(&mut self, steps: u8, gap_ms: u16, pause_ms: u16) -> Result<(), Failed> {
        self.calls += 1;
        self.next_id += 1;
        let id = self.next_id;
        let tag = self.tag();
        let body = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "slow", "arguments": {"tag": tag, "steps": steps, "gap_ms": gap_ms},
                       "_meta": {"progressToken": tag}}
        })
        .to_string();
        let session = self.session.clone().unwrap_or_default();
        let sent = now_ms();
        self.log(format!(
            "POST tools/call slow id={id} tag={tag} (to be dropped)"
        ));
        let mut stream = StreamCheck::new(tag.clone(), id, false);
        let req = wire::post(Some(&session), body);
        let labels = ("tools/call (before drop)", "tools/call slow");
        if !self
            .read_exchange(req, sent, &mut stream, Some(1), labels)
            .await?
        {
            return Ok(());
        }
        let Some(cursor) = stream.cursor else {
            return Err(self.fail(Oracle::Protocol, "no event id before the drop (T-PSSE-1)"));
        };
        self.log(format!(
            "dropped the connection at {}-{}",
            cursor.0, cursor.1
        ));
        tokio::time::sleep(Duration::from_millis(u64::from(pause_ms))).await;
        let last = format!("{}-{}", cursor.0, cursor.1);
        let resumed = now_ms();
        self.log(format!("GET Last-Event-ID: {last}"));
        stream.resume_from = Some(cursor);
        let req = wire::get(&session, Some(&last));
        let labels = ("resume", "resume");
        if !self
            .read_exchange(req, resumed, &mut stream, None, labels)
            .await?
        {
            return Ok(());
        }
        if stream.responses != 1 {
            if self.disturbed_since(sent) {
                self.crashed |= self.scen.crash.is_some();
                return Ok(());
            }
            return Err(self.fail(
                Oracle::OneResponse,
                format!(
                    "after resume: {} responses to id={id} (INV-S1/INV-L1)",
                    stream.responses
                ),
            ));
        }
        if stream.progress != (1..=u64::from(steps)).collect::<Vec<_>>() {
            return Err(self.fail(Oracle::ExactReplay, format!(
                "progress seen across drop and resume: {:?}, expected 1..={steps} once each (INV-S2/INV-S5)",
                stream.progress
            )));
        }
        self.log(format!("resumed stream complete, response id={id} ok"));
        Ok(())
    }

    /// Send `req` (at `at`) and read the event stream it opens into
    /// `stream` (until `stop_after` progress events, if given): `Ok(true)`
    /// when it was read, `Ok(false)` when the script moves on (the server
    /// restarted, or a fault explains the missing answer). The labels name
    /// the exchange in an excuse and in a failure.
    async fn read_exchange(
        &mut self,
        req: Request<Bytes>,
        at: u64,
        stream: &mut StreamCheck,
        stop_after: Option<usize>,
        (what, refused): (&str, &str),
    ) -> Result<bool, Failed> {
        match self.send(req).await {
            Ok(Got::Sse(200, body)) => {
                if let StreamEnd::Broken(why) = stream.read(self, body, at, stop_after).await? {
                    self.excuse(what, at, why)?;
                    return Ok(false);
                }
                Ok(true)
            }
            Ok(Got::Json(404, ..)) if self.lost_session() => {
                self.crashed = true;
                Ok(false)
            }
            Err(e) => {
                self.excuse(what, at, e)?;
                Ok(false)
            }
            other => Err(self.fail(Oracle::Protocol, format!("{refused}: {}", describe(&other)))),
        }
    }

    async fn delete(&mut self) -> Result<(), Failed> {
        let session = self.session.clone().unwrap_or_default();
        let sent = now_ms();
        match self.send(wire::delete(&session)).await {
            Ok(Got::Json(204, ..)) => self.log("DELETE: 204"),
            Ok(Got::Json(404, ..)) if self.lost_session() => {}
            Err(e) => {
                // The DELETE may have reached the server even though its
                // answer did not reach us: the session is over either way.
                self.excuse("DELETE", sent, e)?;
                self.session = None;
                return Ok(());
            }
            other => {
                return Err(self.fail(Oracle::Protocol, format!("DELETE: {}", describe(&other))));
            }
        }
        for h in self.background.drain(..) {
            h.abort();
        }
        // INV-S8: the deleted session is dead.
        self.next_id += 1;
        let body = wire::call_body(self.next_id, "echo", "after-delete");
        let sent = now_ms();
        match self.send(wire::post(Some(&session), body)).await {
            Ok(Got::Json(404, ..)) => self.log("request on the deleted session: 404"),
            Err(e) => self.excuse("POST after DELETE", sent, e)?,
            other => {
                return Err(self.fail(
                    Oracle::DeadSession,
                    format!(
                        "request on a deleted session: {} (INV-S8: expected 404)",
                        describe(&other)
                    ),
                ));
            }
        }
        self.session = None;
        Ok(())
    }
}
