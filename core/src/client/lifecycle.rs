//! How a connection ends: a lost legacy session and the re-initialisation
//! that follows (T-SES-8, INV-S9, INV-L3), and closing, which fails
//! everything still pending.

use super::Client;
use super::state::{Phase, StreamKey, Waiter};
use super::types::{Event, Failure, HttpId};
use crate::time::Timestamp;

/// Consecutive session losses without one successful response before the
/// client gives up instead of re-initialising again.
const MAX_SESSION_LOSSES: u32 = 3;

impl Client {
    /// T-SES-8, INV-S9, INV-L3: forget the session and initialise again.
    pub(super) fn session_lost(&mut self, now: Timestamp) {
        self.epoch += 1;
        self.session = None;
        // The held Ready named the lost session; the new one brings its own.
        self.held_ready = None;
        self.losses += 1;
        self.events.push_back(Event::SessionExpired);
        let inflight = std::mem::take(&mut self.inflight);
        for (_, p) in inflight {
            self.drop_exchange(p.exchange);
            if let Waiter::App(h) = p.waiter
                && let Some(r) = self.requests.remove(&h)
            {
                self.failed(h, r.hidden, Failure::SessionExpired);
            }
        }
        let keys: Vec<StreamKey> = self.streams.keys().copied().collect();
        for k in keys {
            self.remove_stream(k);
        }
        self.server_requests.clear();
        if self.losses > MAX_SESSION_LOSSES {
            self.close_with(Failure::SessionExpired);
        } else {
            self.start_initialize(now);
        }
    }

    /// Every pending request fails with `failure`; exchanges and streams are
    /// dropped.
    pub(super) fn fail_all(&mut self, failure: &Failure) {
        // The waiting calls fail below with everything else.
        self.refresh = None;
        self.held_ready = None;
        for (h, r) in &self.requests {
            if !r.hidden {
                self.events.push_back(Event::Failed {
                    request: *h,
                    failure: failure.clone(),
                });
            }
        }
        self.requests.clear();
        self.queue.clear();
        self.inflight.clear();
        self.server_requests.clear();
        self.inputs.clear();
        let ids: Vec<HttpId> = self.exchanges.keys().copied().collect();
        for id in ids {
            self.drop_exchange(id);
        }
        self.streams.clear();
    }

    /// Close because of `failure` (not [`super::Client::close`]).
    pub(super) fn close_with(&mut self, failure: Failure) {
        self.fail_all(&failure);
        self.finish_close(Some(failure));
    }

    /// Enter `Closed` and report it, once.
    pub(super) fn finish_close(&mut self, failure: Option<Failure>) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.phase_deadline = None;
        self.session = None;
        self.events.push_back(Event::Closed { failure });
    }
}
