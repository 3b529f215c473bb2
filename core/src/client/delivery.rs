//! Parse-and-deliver: a finished JSON body judged by its exchange's purpose,
//! and every JSON-RPC message of a body or an SSE event handed to whoever
//! waits for it (responses at most once, INV-S2), to the application
//! (notifications, server requests) or answered by the machine itself
//! (`ping`, INV-L6).

use bytes::Bytes;
use serde_json::Value;

use super::Client;
use super::state::{Purpose, Waiter};
use super::types::{Era, Event, Failure, RequestHandle, ServerRequestKey};
use crate::jsonrpc::{self, ErrorObject, Id, Message, RawJson};
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

/// The JSON-RPC error in an error body, with or without an id.
fn error_of(body: &Bytes) -> Option<ErrorObject> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let code = error.get("code")?.as_i64()?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let data = error.get("data").map(RawJson::from_value);
    Some(ErrorObject {
        code,
        message,
        data,
    })
}

impl Client {
    /// A complete non-SSE body.
    pub(super) fn on_buffer(
        &mut self,
        now: Timestamp,
        purpose: Purpose,
        status: u16,
        buf: Vec<u8>,
    ) {
        let ok = (200..300).contains(&status);
        let body = Bytes::from(buf);
        match purpose {
            Purpose::Probe(wire) => {
                if ok {
                    self.deliver_body(now, &body, None);
                }
                if self.inflight.remove(&wire).is_some() {
                    // No result for the probe: judge the refusal.
                    self.probe_refused(now, status, error_of(&body));
                }
            }
            Purpose::Initialize(wire) | Purpose::Request(wire) => {
                if ok {
                    let related = match self.inflight.get(&wire).map(|p| p.waiter) {
                        Some(Waiter::App(h)) => Some(h),
                        _ => None,
                    };
                    self.deliver_body(now, &body, related);
                }
                let Some(waiter) = self.inflight.get(&wire).map(|p| p.waiter) else {
                    return;
                };
                let failure = if ok {
                    Failure::Malformed(format!("{status} without the response"))
                } else {
                    Failure::Http {
                        status,
                        error: error_of(&body),
                    }
                };
                if let Waiter::App(h) = waiter {
                    if let Failure::Http { status, error } = &failure
                        && self.assumption_failed(now, &wire, h, *status, error.as_ref())
                    {
                        return;
                    }
                    self.request_lost(now, &wire, failure);
                } else {
                    self.inflight.remove(&wire);
                    if !ok && self.assumed {
                        // H-BC-2: the cached legacy era is refused.
                        self.redetect(now, Era::Legacy);
                    } else {
                        self.close_with(failure);
                    }
                }
            }
            Purpose::Notification | Purpose::Reply => {
                if !ok {
                    let detail = error_of(&body).map(|e| e.message).unwrap_or_default();
                    self.events.push_back(Event::Warning(format!(
                        "message refused with {status} {detail}"
                    )));
                }
            }
            Purpose::Listen(_) | Purpose::Delete => {}
        }
    }

    /// An exchange ended without a usable body.
    pub(super) fn exchange_failed(&mut self, now: Timestamp, purpose: Purpose, failure: Failure) {
        match purpose {
            Purpose::Probe(wire) | Purpose::Initialize(wire) => {
                if self.inflight.remove(&wire).is_some() {
                    self.close_with(failure);
                }
            }
            Purpose::Request(wire) => self.request_lost(now, &wire, failure),
            Purpose::Notification | Purpose::Reply => {
                self.events
                    .push_back(Event::Warning(format!("message not delivered: {failure}")));
            }
            Purpose::Listen(key) => {
                // The reconnection failed before its head (HC-GET-1: a
                // held Ready waits no longer).
                self.release_ready();
                if let Some(s) = self.streams.get_mut(&key) {
                    s.conn = None;
                }
                self.stream_ended_unattached(now, key);
            }
            Purpose::Delete => self.finish_close(None),
        }
    }

    /// Every JSON-RPC message in a JSON body.
    fn deliver_body(&mut self, now: Timestamp, body: &Bytes, related: Option<RequestHandle>) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.deliver_messages(now, body, related, "body");
    }

    /// Every JSON-RPC message in `text` (a JSON body or one SSE event's
    /// data); an unparsable one becomes a warning naming `source`.
    pub(super) fn deliver_messages(
        &mut self,
        now: Timestamp,
        text: &Bytes,
        related: Option<RequestHandle>,
        source: &str,
    ) {
        match jsonrpc::parse_body(text) {
            Ok(jsonrpc::Body::Single(m)) => self.deliver(now, m, related),
            Ok(jsonrpc::Body::Batch(ms)) => {
                for m in ms {
                    self.deliver(now, m, related);
                }
            }
            Err(e) => self
                .events
                .push_back(Event::Warning(format!("unparsable {source}: {e:?}"))),
        }
    }

    /// One JSON-RPC message from the server: a response to its waiter, a
    /// request to the application (or `ping` answered here), a notification
    /// to the application after its side effects (progress, cancellation).
    fn deliver(&mut self, now: Timestamp, message: Message, related: Option<RequestHandle>) {
        match message {
            Message::Response { id, outcome } => {
                // INV-S2: only an outstanding id is answered, once.
                let Some(p) = self.inflight.remove(&id) else {
                    return;
                };
                if let Some(k) = p.stream {
                    // The stream owes nothing more (INV-L2): stop reading it.
                    self.remove_stream(k);
                }
                match p.waiter {
                    Waiter::App(h) => self.complete(h, outcome),
                    Waiter::Initialize => self.complete_initialize(now, outcome),
                    Waiter::Probe => match outcome {
                        Ok(result) => {
                            self.become_ready(Era::Modern, ProtocolVersion::V2026_07_28, result)
                        }
                        Err(e) => self.probe_refused(now, 200, Some(e)),
                    },
                }
            }
            Message::Request { id, method, params } => {
                if self.era == Some(Era::Modern) {
                    // H-GEN-2: a modern server never sends requests.
                    self.events.push_back(Event::Warning(format!(
                        "2026-07-28 server sent a request ({method}); ignored"
                    )));
                } else if method == "ping" {
                    // INV-L6: answered by the client itself.
                    self.send_reply(&id, &Ok(RawJson::empty_object()));
                } else {
                    let key = ServerRequestKey(self.next_server_request);
                    self.next_server_request += 1;
                    self.server_requests.insert(key, (self.epoch, id));
                    self.events.push_back(Event::Request {
                        key,
                        method,
                        params,
                        related,
                    });
                }
            }
            Message::Notification { method, params } => {
                if method == "notifications/progress" {
                    self.progress(now, params.as_ref());
                }
                if method == "notifications/cancelled"
                    && let Some(rid) = params
                        .as_ref()
                        .and_then(|p| p.to_value().get("requestId").cloned())
                    && let Some(rid) = Id::from_raw(&rid.to_string())
                {
                    let epoch = self.epoch;
                    self.server_requests
                        .retain(|_, (e, id)| !(*e == epoch && *id == rid));
                }
                self.events.push_back(Event::Notification {
                    method,
                    params,
                    related,
                });
            }
        }
    }

    /// The response to application request `h`: a header mismatch starts
    /// the refresh (H-HDR-6), a `tools/list` teaches the tools (H-HDR-4), the
    /// hidden refresh goes on; anything else is delivered.
    fn complete(&mut self, h: RequestHandle, outcome: Result<RawJson, ErrorObject>) {
        if let Err(e) = &outcome
            && self.wants_header_retry(h, e)
        {
            let answer = Event::Response {
                request: h,
                outcome,
            };
            return self.start_header_retry(h, answer);
        }
        if !self.requests.contains_key(&h) {
            return;
        }
        self.losses = 0;
        // A response in the assumed era confirms it (H-BC-2).
        self.assumed = false;
        // H-RES-1, HC-MRTR-1: a 2026-07-28 result that is not complete.
        if let Ok(result) = &outcome
            && self.modern_result(h, result)
        {
            return;
        }
        let Some(r) = self.requests.remove(&h) else {
            return;
        };
        let outcome = match outcome {
            Ok(result) if r.method == "tools/list" && self.era == Some(Era::Modern) => {
                Ok(self.learn_tools(result))
            }
            other => other,
        };
        if r.hidden {
            return self.refresh_answered(h, outcome);
        }
        self.events.push_back(Event::Response {
            request: h,
            outcome,
        });
    }
}
