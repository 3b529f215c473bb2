//! The machine's internal invariants, checked by tests and the simulator
//! after every step.

use super::Client;
use super::state::{BodyState, Queued, Waiter};
use super::stream::StreamKind;
use super::types::Era;

impl Client {
    /// Check the machine's internal invariants (for tests and the simulator).
    pub fn check_invariants(&self) -> Result<(), String> {
        for (wire, p) in &self.inflight {
            if let Waiter::App(h) = p.waiter {
                let r = self
                    .requests
                    .get(&h)
                    .ok_or("in-flight wire id of no request")?;
                if r.wire.as_ref() != Some(wire) {
                    return Err(format!("request {h:?} does not own wire id {wire}"));
                }
            }
            if let Some(k) = p.stream
                && !self.streams.contains_key(&k)
            {
                return Err(format!("wire id {wire} names a missing stream"));
            }
        }
        for (k, s) in &self.streams {
            if let Some(c) = s.conn {
                match self.exchanges.get(&c).map(|e| &e.body) {
                    Some(BodyState::Sse(k2)) if k2 == k => {}
                    Some(BodyState::Head) => {}
                    _ => return Err(format!("stream {k:?} attached to a dead exchange")),
                }
            }
            if s.conn.is_some() && s.reconnect_at.is_some() {
                return Err(format!("stream {k:?} connected and waiting to reconnect"));
            }
            if let StreamKind::Post(wire) = &s.kind
                && !self.inflight.contains_key(wire)
            {
                return Err(format!("stream {k:?} owes nothing but is kept"));
            }
        }
        if self.session.is_some() && self.era != Some(Era::Legacy) {
            return Err("a session outside the legacy era".into());
        }
        // H-HDR-6: the only hidden request is the refresh's current page,
        // and the calls waiting for it are neither sent nor queued.
        for (h, r) in &self.requests {
            if r.hidden && self.refresh.as_ref().map(|f| f.request) != Some(*h) {
                return Err(format!("hidden request {h:?} belongs to no refresh"));
            }
        }
        if let Some(refresh) = &self.refresh {
            if !self.requests.contains_key(&refresh.request) {
                return Err("the refresh has no request".into());
            }
            for (h, _, _) in &refresh.waiting {
                let queued = self
                    .queue
                    .iter()
                    .any(|q| matches!(q, Queued::Request(q) if q == h));
                if self.requests.get(h).is_some_and(|r| r.wire.is_some()) || queued {
                    return Err(format!("{h:?} waits for the refresh but was sent"));
                }
            }
        }
        // HC-MRTR-1: an input request names a request gathering its round;
        // a gathering request is neither sent nor queued, and waits for as
        // many answers as it has input requests outstanding.
        for (k, i) in &self.inputs {
            if self
                .requests
                .get(&i.request)
                .is_none_or(|r| r.gathering.is_none())
            {
                return Err(format!("input request {k:?} of no gathering request"));
            }
        }
        for (h, r) in &self.requests {
            let Some(g) = &r.gathering else { continue };
            let queued = self
                .queue
                .iter()
                .any(|q| matches!(q, Queued::Request(q) if q == h));
            if r.wire.is_some() || queued {
                return Err(format!("{h:?} gathers input but was sent"));
            }
            let open = self.inputs.values().filter(|i| i.request == *h).count();
            if open != g.outstanding || open == 0 {
                return Err(format!(
                    "{h:?} waits for {} answers, {open} open",
                    g.outstanding
                ));
            }
            if r.rounds > self.config.max_input_rounds {
                return Err(format!("{h:?} past its input rounds"));
            }
        }
        // L-TO-3: no deadline lies past the hard maximum.
        if let Some(max) = self.config.max_request_time {
            for (h, r) in &self.requests {
                if r.deadline
                    .is_some_and(|d| d > r.started.saturating_add(max))
                {
                    return Err(format!("{h:?} deadline past its hard maximum"));
                }
            }
        }
        Ok(())
    }
}
