//! The life of an application request apart from its answer: registration
//! and queueing until the connection is ready (INV-S11), deadlines and their
//! restart by progress (L-TO-1, L-TO-3), cancellation, and what happens when
//! its exchange is lost: a 2026-07-28 re-issue (H-CAN-4) or a failure.

use serde_json::Value;

use super::Client;
use super::state::{AppRequest, Phase, Queued, Waiter};
use super::types::{ClientConfig, Era, Event, Failure, RequestHandle};
use crate::jsonrpc::{Id, RawJson};
use crate::time::Timestamp;

/// The deadline of a request made at `started` whose timer (re)starts at
/// `from`: the sooner of the timeout and the hard maximum (L-TO-1, L-TO-3).
pub(super) fn deadline(
    config: &ClientConfig,
    started: Timestamp,
    from: Timestamp,
) -> Option<Timestamp> {
    let soft = config.request_timeout.map(|t| from.saturating_add(t));
    let hard = config.max_request_time.map(|t| started.saturating_add(t));
    match (soft, hard) {
        (Some(s), Some(h)) => Some(s.min(h)),
        (s, h) => s.or(h),
    }
}

impl Client {
    /// Register a request made now; [`Client::requeue`] sends it.
    pub(super) fn add_request(
        &mut self,
        method: &str,
        params: Option<RawJson>,
        hidden: bool,
    ) -> RequestHandle {
        let now = self.now;
        let handle = RequestHandle(self.next_handle);
        self.next_handle += 1;
        let progress_token = params.as_ref().and_then(|p| {
            let token = p.to_value().get("_meta")?.get("progressToken")?.clone();
            Some(token.to_string())
        });
        self.requests.insert(
            handle,
            AppRequest {
                method: method.to_owned(),
                params,
                wire: None,
                started: now,
                deadline: deadline(&self.config, now, now),
                progress_token,
                reissues: 0,
                header_retried: false,
                version_retried: false,
                hidden,
                rounds: 0,
                input: None,
                gathering: None,
            },
        );
        handle
    }

    /// Send `h` now when the connection is ready, else after it is.
    pub(super) fn requeue(&mut self, h: RequestHandle) {
        if self.phase == Phase::Ready {
            self.send_request(h);
        } else {
            self.queue.push_back(Queued::Request(h));
        }
    }

    /// Send everything that waited for the connection, in order (INV-S11).
    pub(super) fn flush_queue(&mut self) {
        while let Some(q) = self.queue.pop_front() {
            match q {
                Queued::Request(h) => self.send_request(h),
                Queued::Notification { method, params } => {
                    self.send_notification(&method, params.as_ref())
                }
            }
        }
    }

    /// L-TO-3: progress for the request that sent this `progressToken`
    /// restarts its timer, within the hard maximum.
    pub(super) fn progress(&mut self, now: Timestamp, params: Option<&RawJson>) {
        if !self.config.progress_resets_timeout {
            return;
        }
        let Some(token) = params
            .and_then(|p| p.to_value().get("progressToken").cloned())
            .map(|t| t.to_string())
        else {
            return;
        };
        // U-PROG-1: tokens are unique among the requester's active requests.
        if let Some(r) = self
            .requests
            .values_mut()
            .find(|r| r.progress_token.as_deref() == Some(token.as_str()))
        {
            r.deadline = r.deadline.max(deadline(&self.config, r.started, now));
        }
    }

    /// Stop waiting for `h`: cancellation or timeout.
    pub(super) fn abandon(&mut self, h: RequestHandle, reason: Option<&str>) {
        let Some(r) = self.requests.remove(&h) else {
            return;
        };
        if r.gathering.is_some() {
            // HC-MRTR-1: answers still to come for it are refused.
            self.inputs.retain(|_, i| i.request != h);
        }
        let Some(wire) = r.wire else {
            self.queue
                .retain(|q| !matches!(q, Queued::Request(q) if *q == h));
            return;
        };
        let Some(p) = self.inflight.remove(&wire) else {
            return;
        };
        self.drop_exchange(p.exchange);
        if let Some(k) = p.stream {
            self.remove_stream(k);
        }
        if self.era == Some(Era::Legacy) && self.phase == Phase::Ready {
            let mut params = serde_json::json!({ "requestId": wire.to_value() });
            if let Some(reason) = reason {
                params["reason"] = Value::from(reason);
            }
            self.send_notification(
                "notifications/cancelled",
                Some(&RawJson::from_value(&params)),
            );
        }
    }

    /// Request `wire` has no response and no stream to resume: re-issue it
    /// (2026-07-28, H-CAN-4) or fail it.
    pub(super) fn request_lost(&mut self, _now: Timestamp, wire: &Id, failure: Failure) {
        let Some(p) = self.inflight.remove(wire) else {
            return;
        };
        if let Some(k) = p.stream {
            self.remove_stream(k);
        }
        let Waiter::App(h) = p.waiter else {
            return;
        };
        if let Failure::Http { error: Some(e), .. } = &failure
            && self.wants_header_retry(h, e)
        {
            return self.start_header_retry(
                h,
                Event::Failed {
                    request: h,
                    failure,
                },
            );
        }
        if let Failure::Http { error: Some(e), .. } = &failure
            && self.wants_version_retry(h, e)
        {
            // HC-VER-1: refused for the version it was sent with, which the
            // server lists as supported: it did not run; send it once more.
            if let Some(r) = self.requests.get_mut(&h) {
                r.version_retried = true;
                r.wire = None;
            }
            return self.send_request(h);
        }
        let reissue = self.era == Some(Era::Modern)
            && failure == Failure::StreamLost
            && self
                .requests
                .get(&h)
                .is_some_and(|r| r.reissues < self.config.modern_reissues);
        if reissue {
            if let Some(r) = self.requests.get_mut(&h) {
                r.reissues += 1;
                r.wire = None;
            }
            self.send_request(h);
        } else if let Some(r) = self.requests.remove(&h) {
            self.failed(h, r.hidden, failure);
        }
    }

    /// Request `h` (already removed from `requests`) ended without a
    /// response: tell the application, or, when it was the hidden refresh,
    /// give the waiting calls their original answers (H-HDR-6).
    pub(super) fn failed(&mut self, h: RequestHandle, hidden: bool, failure: Failure) {
        if hidden {
            self.refresh_failed();
        } else {
            self.events.push_back(Event::Failed {
                request: h,
                failure,
            });
        }
    }
}
