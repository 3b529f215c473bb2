//! SSE streams, their cursors and their reconnections: each stream owns its
//! decoder, hence its own `Last-Event-ID` and `retry`, across every
//! connection that carries it. A broken stream is resumed with GET
//! (T-RES-4, INV-S7) after `retry` (never below [`super::MIN_RETRY_MS`],
//! HC-RECON-1) or a capped back-off ([`super::Backoff`], X-28), until its
//! attempt budget is spent; a 2026-07-28 stream is never resumed (H-SSE-6):
//! its request is re-issued or fails.
//!
//! ## Progress (HC-RECON-2)
//!
//! The budget ([`super::ClientConfig::max_reconnect_attempts`]) counts the
//! reconnections of a stream since it last made **progress**: an event
//! dispatched on it that carries an `id` field, has non-empty data (a
//! message for the application) and whose id differs from the stream's
//! cursor before that event. Not progress, so the count goes on: a priming
//! event (empty data), however new its id; an event without an id; an event
//! repeating the cursor's id (a replay of what the client already has); a
//! connection refused or closed before any event. So a server that primes
//! every connection with `retry: 0` and closes it at once gets at most
//! `max_reconnect_attempts` reconnections, each at least `MIN_RETRY_MS`
//! apart, and then the stream is given up (its request fails with
//! `StreamLost`, or the standalone stream is dropped with a warning); a
//! polling server (T-PSSE-5) that sends a new message per connection never
//! runs the budget out.

use bytes::Bytes;
use http::{HeaderName, Method};

use super::Client;
use super::state::{Phase, Purpose, StreamKey};
use super::types::{Era, Event, Failure, HttpId, RequestHandle};
use crate::jsonrpc::Id;
use crate::sse::Decoder;
use crate::time::Timestamp;

/// What a stream is for: what is lost when it cannot be resumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum StreamKind {
    /// A POST's response stream: it owes the response with this wire id.
    Post(Id),
    /// The standalone GET stream.
    Standalone,
}

/// One SSE stream: its own decoder, hence its own cursor and `retry`
/// across all the connections that carry it.
#[derive(Clone, Debug)]
pub(super) struct Stream {
    pub(super) kind: StreamKind,
    /// Holds the cursor (`Last-Event-ID`) and `retry` of this stream only.
    pub(super) decoder: Decoder,
    /// The exchange carrying it now; `None` between connections.
    pub(super) conn: Option<HttpId>,
    /// When the next reconnection is due (never while connected).
    pub(super) reconnect_at: Option<Timestamp>,
    /// Reconnections since the last progress (the budget, HC-RECON-2).
    attempts: u32,
    /// The cursor after the last event dispatched on this stream: an event
    /// repeating it is a replay, not progress.
    seen: Option<String>,
    /// The application request it answers, for [`Event`]s it carries.
    pub(super) related: Option<RequestHandle>,
}

impl Client {
    /// A new stream with its own decoder, carried by `conn` if any.
    pub(super) fn open_stream(&mut self, kind: StreamKind, conn: Option<HttpId>) -> StreamKey {
        let key = StreamKey(self.next_stream);
        self.next_stream += 1;
        self.streams.insert(
            key,
            Stream {
                kind,
                decoder: Decoder::with_limit(self.config.max_event_bytes),
                conn,
                reconnect_at: None,
                attempts: 0,
                seen: None,
                related: None,
            },
        );
        key
    }

    /// Forget stream `key` and stop reading its connection.
    pub(super) fn remove_stream(&mut self, key: StreamKey) {
        if let Some(s) = self.streams.remove(&key)
            && let Some(c) = s.conn
        {
            self.drop_exchange(c);
        }
    }

    /// A chunk of stream `key` over exchange `id`: decode its events, deliver
    /// the JSON-RPC ones, end the connection on a framing error.
    pub(super) fn on_sse(&mut self, now: Timestamp, id: HttpId, key: StreamKey, chunk: &[u8]) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        let fed = s.decoder.feed(chunk);
        let mut events = Vec::new();
        while let Some(ev) = s.decoder.next_event() {
            events.push(ev);
        }
        for ev in &events {
            // HC-RECON-2 (see the module header): only a new message with
            // an id is progress; the budget then starts again.
            let progress = ev.has_id && !ev.data.is_empty() && ev.last_event_id != s.seen;
            if progress {
                s.attempts = 0;
            } else if ev.has_id && ev.data.is_empty() {
                cov_mark::hit!(priming_is_not_progress);
            } else if ev.has_id {
                cov_mark::hit!(replayed_id_is_not_progress);
            }
            if ev.has_id {
                s.seen.clone_from(&ev.last_event_id);
            }
        }
        let related = s.related;
        for ev in events {
            // A priming event (empty data, T-PSSE-1) only moves the cursor,
            // which the decoder already recorded; other event types are not
            // JSON-RPC.
            if ev.data.is_empty() || ev.event != "message" {
                continue;
            }
            self.deliver_messages(now, &Bytes::from(ev.data), related, "SSE event");
        }
        if let Err(e) = fed {
            self.events.push_back(Event::Warning(e.to_string()));
            if self.exchanges.contains_key(&id) {
                self.drop_exchange(id);
                self.stream_ended(now, key, id);
            }
        }
    }

    /// A connection of stream `key` ended (normally or not).
    pub(super) fn stream_ended(&mut self, now: Timestamp, key: StreamKey, conn: HttpId) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.conn != Some(conn) {
            return;
        }
        s.conn = None;
        // Discards a partial block and restores the cursor to the last
        // complete event.
        s.decoder.finish();
        self.stream_ended_unattached(now, key);
    }

    /// Stream `key` has no connection: reconnect it, or, when it cannot be
    /// resumed, lose its request (or drop the standalone stream).
    pub(super) fn stream_ended_unattached(&mut self, now: Timestamp, key: StreamKey) {
        let Some(s) = self.streams.get(&key) else {
            return;
        };
        match s.kind.clone() {
            StreamKind::Post(wire) => {
                if !self.inflight.contains_key(&wire) {
                    self.remove_stream(key);
                } else if self.era == Some(Era::Modern) || s.decoder.last_event_id().is_none() {
                    // Not resumable (H-SSE-6, or no event id was ever sent).
                    self.request_lost(now, &wire, Failure::StreamLost);
                } else {
                    self.schedule_reconnect(now, key);
                }
            }
            StreamKind::Standalone => {
                if self.phase == Phase::Ready {
                    self.schedule_reconnect(now, key);
                } else {
                    self.remove_stream(key);
                }
            }
        }
    }

    /// A reconnection GET was answered without a stream.
    pub(super) fn listen_refused(&mut self, now: Timestamp, key: StreamKey, status: u16) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        s.conn = None;
        match s.kind.clone() {
            StreamKind::Post(wire) => {
                self.request_lost(
                    now,
                    &wire,
                    Failure::Http {
                        status,
                        error: None,
                    },
                );
            }
            StreamKind::Standalone => {
                if status == 405 {
                    // T-GET-3: the server offers no standalone stream.
                    self.remove_stream(key);
                } else {
                    self.stream_ended_unattached(now, key);
                }
            }
        }
    }

    /// INV-S21, X-28: the next reconnection no earlier than `retry`, or after
    /// a capped exponential back-off; give up after the attempt budget.
    fn schedule_reconnect(&mut self, now: Timestamp, key: StreamKey) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.attempts >= self.config.max_reconnect_attempts {
            match s.kind.clone() {
                StreamKind::Post(wire) => self.request_lost(now, &wire, Failure::StreamLost),
                StreamKind::Standalone => {
                    self.remove_stream(key);
                    self.events
                        .push_back(Event::Warning("standalone stream abandoned".into()));
                }
            }
            return;
        }
        let delay = self.config.backoff.delay_ms(s.attempts, s.decoder.retry());
        s.attempts += 1;
        s.reconnect_at = Some(Timestamp(now.0.saturating_add(delay)));
    }

    /// GET the stream again with its own cursor (T-RES-4, T-RES-7, INV-S7).
    pub(super) fn reconnect(&mut self, key: StreamKey) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        s.reconnect_at = None;
        let mut headers = self.session_headers();
        if let Some(cursor) = self
            .streams
            .get(&key)
            .and_then(|s| s.decoder.last_event_id())
        {
            headers.push((HeaderName::from_static("last-event-id"), cursor.to_owned()));
        }
        let id = self.send(Method::GET, Purpose::Listen(key), Bytes::new(), headers);
        match id {
            Some(id) => {
                if let Some(s) = self.streams.get_mut(&key) {
                    s.conn = Some(id);
                }
            }
            None => {
                // HC-GET-1: nothing was sent, nothing to wait for.
                self.release_ready();
                let now = self.now;
                self.stream_ended_unattached(now, key);
            }
        }
    }
}
