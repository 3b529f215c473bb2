//! The client side of Streamable HTTP as a sans-IO state machine, for both
//! eras: the legacy session era (2025-03-26..2025-11-25: `initialize`,
//! `Mcp-Session-Id`, resumable SSE) and the stateless 2026-07-28 era
//! (per-request `_meta`, mirrored headers, closing a stream cancels).
//!
//! ## The run loop
//!
//! 1. Feed one input: an application command ([`Client::request`],
//!    [`Client::notify`], [`Client::respond`], [`Client::cancel`],
//!    [`Client::close`]), an HTTP event for a request the client asked for
//!    ([`Client::handle_head`], [`Client::handle_body`], [`Client::handle_end`],
//!    [`Client::handle_error`]) or [`Client::handle_timeout`].
//! 2. Drain [`Client::poll_transmit`] (send an HTTP request, or abort one
//!    and drop its body) and [`Client::poll_event`] (hand results,
//!    notifications and server requests to the application).
//! 3. Sleep until [`Client::poll_timeout`].
//!
//! ## Why a machine
//!
//! The bugs this shape rules out are the field's usual client bugs: a
//! session id adopted from an error response, no re-initialisation
//! after a 404 (T-SES-8), one `Last-Event-ID` cursor shared by all streams
//! a priming event fed to a JSON parser, `retry` ignored or
//! reconnect loops that never stop (X-28, INV-L2), and an answer to a
//! server request queued behind the stream that is waiting for it (INV-S25:
//! here every message is its own POST, sent the moment it exists).
//!
//! ## Timeouts, header refresh, era cache
//!
//! - Every request has a deadline ([`ClientConfig::request_timeout`]); on
//!   expiry it is cancelled and fails with [`Failure::Timeout`] (L-TO-1).
//!   A `notifications/progress` carrying the `progressToken` a pending
//!   request sent restarts that request's timer, never past
//!   [`ClientConfig::max_request_time`] after the request was made (L-TO-3;
//!   [`ClientConfig::progress_resets_timeout`] turns the restart off).
//! - 2026-07-28: a `tools/call` refused with `-32020` whose message or data
//!   names an `Mcp-Param-*` header means the client's copy of the tool's
//!   `x-mcp-header` declarations is stale (H-HDR-6). The machine lists the
//!   tools again (a `tools/list` of its own, following `nextCursor` up to
//!   16 pages while a waiting tool is unseen; no event for it) and sends the
//!   call once more with a new id and the new headers. Once per call: a
//!   second mismatch, or a refresh that fails, delivers the mismatch.
//! - [`EraPreference::Cached`] starts in an era an earlier client detected
//!   (H-BC-2), without the probe; if the server refuses that era the
//!   client probes again (once), sends the refused requests again in the
//!   new era and reports it with a second [`Event::Ready`].
//!
//! ## Contracts
//!
//! - Time: inputs carry a non-decreasing [`Timestamp`].
//! - Peer behaviour never panics and never returns `Err`: it becomes an
//!   [`Event`] ([`Event::Failed`], [`Event::Warning`], [`Event::Closed`]).
//! - Every buffer is bounded: a JSON body by [`ClientConfig::max_body_bytes`],
//!   an SSE event by [`ClientConfig::max_event_bytes`], pending requests by
//!   [`ClientConfig::max_pending`].
//! - Determinism: ordered maps only, ids from counters.
//!
//! ## Where things are
//!
//! All state belongs to [`Client`] (this file, with its public API). Each
//! other file adds one concern as an `impl Client` block or holds data:
//!
//! - `types.rs`: the public vocabulary (config, era, handles, [`Transmit`],
//!   [`Event`], [`Failure`], [`ClientError`]).
//! - `state.rs`: the private records (phase, exchanges, pending wire ids,
//!   application requests, the queue).
//! - `era.rs`: connecting: the probe, `initialize`, becoming ready, and
//!   re-detection of a cached era.
//! - `outgoing.rs`: building HTTP requests (headers, `_meta`, mirrored headers).
//! - `requests.rs`: queueing, deadlines and progress, cancellation, loss and
//!   re-issue of application requests.
//! - `delivery.rs`: what a finished body means, and parse-and-deliver of the
//!   JSON-RPC messages of bodies and SSE events.
//! - `mrtr.rs`: 2026-07-28 result types and multi round-trip requests
//!   (`InputRequiredResult`: input requests to the application, the retry).
//! - `refresh.rs`: the tools' `x-mcp-header` declarations and their refresh
//!   after `-32020`.
//! - `stream.rs`: SSE streams, cursors and reconnection; `backoff.rs`: the
//!   reconnection delays.
//! - `lifecycle.rs`: session loss and re-initialisation, closing.
//! - `invariants.rs`: [`Client::check_invariants`].
//! - `auth.rs` (public module [`auth`]): the OAuth 2.1 authorization flow,
//!   a machine of its own that the adapter runs when a request gets a
//!   Bearer challenge.

pub mod auth;
mod backoff;
mod delivery;
mod era;
mod invariants;
mod lifecycle;
mod mrtr;
mod outgoing;
mod refresh;
mod requests;
mod state;
mod stream;
mod types;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::jsonrpc::{ErrorObject, Id, RawJson};
use crate::mirror::ParamHeader;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

use refresh::Refresh;
use state::{
    AppRequest, BodyState, Exchange, InputKey, Pending, Phase, Purpose, Queued, StreamKey, Waiter,
};
use stream::{Stream, StreamKind};

pub use backoff::{Backoff, MIN_RETRY_MS};
pub use mrtr::MAX_INPUT_REQUESTS;
pub use types::{
    ClientConfig, ClientError, Era, EraPreference, Event, Failure, HttpId, RequestHandle,
    ServerRequestKey, Transmit,
};

/// The client state machine. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    era: Option<Era>,
    version: Option<ProtocolVersion>,
    session: Option<String>,
    /// Incremented on every session loss; exchanges remember theirs.
    epoch: u64,
    next_http: u64,
    next_wire: i64,
    next_handle: u64,
    next_stream: u64,
    next_server_request: u64,
    exchanges: BTreeMap<HttpId, Exchange>,
    inflight: BTreeMap<Id, Pending>,
    requests: BTreeMap<RequestHandle, AppRequest>,
    queue: VecDeque<Queued>,
    streams: BTreeMap<StreamKey, Stream>,
    server_requests: BTreeMap<ServerRequestKey, (u64, Id)>,
    /// 2026-07-28: the input requests of multi round-trip rounds that the
    /// application is answering (HC-MRTR-1).
    inputs: BTreeMap<ServerRequestKey, InputKey>,
    tools: BTreeMap<String, Vec<ParamHeader>>,
    /// H-HDR-6: the `tools/list` refresh in flight, if any.
    refresh: Option<Refresh>,
    /// H-BC-2: the era came from [`EraPreference::Cached`] and no response
    /// has confirmed it yet.
    assumed: bool,
    /// H-BC-2: the assumed era proved wrong; requests sent under it that
    /// the server refuses the same way are sent again in the new era.
    redetected: bool,
    /// HC-VER-1: the probe was refused with -32022 listing 2026-07-28 and
    /// sent once more; a second such refusal closes the client.
    probe_retried: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    phase_deadline: Option<Timestamp>,
    /// HC-GET-1: the [`Event::Ready`] held back until the standalone
    /// stream's GET is answered (or [`READY_HOLD_MS`] passed), with the
    /// time it is released at the latest.
    held_ready: Option<(Timestamp, Event)>,
    losses: u32,
    now: Timestamp,
}

/// HC-GET-1: the longest [`Event::Ready`] waits for the standalone stream's
/// response head (ms). A server that holds the GET's head longer still gets
/// a ready client, just without the guarantee that the stream is open.
pub const READY_HOLD_MS: u64 = 2_000;

impl Client {
    /// A client that starts connecting at `now`: the first
    /// [`Client::poll_transmit`] is the probe or the `initialize` POST.
    pub fn new(config: ClientConfig, now: Timestamp) -> Self {
        let mut client = Client {
            config,
            phase: Phase::Closed,
            era: None,
            version: None,
            session: None,
            epoch: 0,
            next_http: 0,
            next_wire: 0,
            next_handle: 0,
            next_stream: 0,
            next_server_request: 0,
            exchanges: BTreeMap::new(),
            inflight: BTreeMap::new(),
            requests: BTreeMap::new(),
            queue: VecDeque::new(),
            streams: BTreeMap::new(),
            server_requests: BTreeMap::new(),
            inputs: BTreeMap::new(),
            tools: BTreeMap::new(),
            refresh: None,
            assumed: false,
            redetected: false,
            probe_retried: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            phase_deadline: None,
            held_ready: None,
            losses: 0,
            now,
        };
        client.connect(now);
        client
    }

    // ----- observers -----

    /// The era in use, once known.
    pub fn era(&self) -> Option<Era> {
        self.era
    }

    /// The negotiated protocol version, once known.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The current session id (legacy era).
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// Whether requests are being sent (not connecting, not closed).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the client is closed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The `Last-Event-ID` a reconnection of the stream of `request` would
    /// send (for tests and diagnostics): the id of the last event dispatched
    /// on it, never that of an event whose block is still unterminated
    /// (found by the in-memory pair: it reported the half-read priming
    /// event's id, which a reconnection correctly does not send).
    pub fn cursor_of(&self, request: RequestHandle) -> Option<&str> {
        self.streams
            .values()
            .find(|s| s.related == Some(request))
            .and_then(|s| s.decoder.committed_event_id())
    }

    // ----- outputs -----

    /// The next HTTP action.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let requests = self.requests.values().filter_map(|r| r.deadline);
        let streams = self.streams.values().filter_map(|s| s.reconnect_at);
        let held = self.held_ready.as_ref().map(|(t, _)| *t);
        requests
            .chain(streams)
            .chain(self.phase_deadline)
            .chain(held)
            .min()
    }

    // ----- application commands -----

    /// Send a request; its outcome arrives as [`Event::Response`] or
    /// [`Event::Failed`]. Requests made while connecting wait for the
    /// session (INV-S11).
    pub fn request(
        &mut self,
        now: Timestamp,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<RequestHandle, ClientError> {
        self.tick(now);
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return Err(ClientError::Closed);
        }
        if self.requests.len() >= self.config.max_pending {
            return Err(ClientError::TooManyPending);
        }
        let handle = self.add_request(method, params, false);
        self.requeue(handle);
        Ok(handle)
    }

    /// Send a notification (its own POST, T-POST-1).
    pub fn notify(
        &mut self,
        now: Timestamp,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<(), ClientError> {
        self.tick(now);
        match self.phase {
            Phase::Closing | Phase::Closed => Err(ClientError::Closed),
            Phase::Ready => {
                self.send_notification(method, params.as_ref());
                Ok(())
            }
            _ => {
                if self.queue.len() >= self.config.max_pending {
                    return Err(ClientError::TooManyPending);
                }
                self.queue.push_back(Queued::Notification {
                    method: method.to_owned(),
                    params,
                });
                Ok(())
            }
        }
    }

    /// Answer a server-to-client request. Legacy era: the answer is a new
    /// POST sent at once, whatever streams are open (INV-S25). 2026-07-28:
    /// the answer to one input request of a multi round-trip round; the
    /// request is retried once the round is complete (HC-MRTR-1).
    pub fn respond(
        &mut self,
        now: Timestamp,
        key: ServerRequestKey,
        outcome: Result<RawJson, ErrorObject>,
    ) -> Result<(), ClientError> {
        self.tick(now);
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return Err(ClientError::Closed);
        }
        if let Some(input) = self.inputs.remove(&key) {
            self.input_answered(input, outcome);
            return Ok(());
        }
        let (epoch, id) = self
            .server_requests
            .remove(&key)
            .ok_or(ClientError::Unknown)?;
        if epoch != self.epoch {
            return Err(ClientError::Unknown);
        }
        self.send_reply(&id, &outcome);
        Ok(())
    }

    /// Cancel a request: legacy, a `notifications/cancelled` POST (T-PSSE-13);
    /// modern, closing its stream (H-CAN-1). No response is delivered for it
    /// afterwards (INV-S14).
    pub fn cancel(
        &mut self,
        now: Timestamp,
        request: RequestHandle,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        self.tick(now);
        if self.requests.get(&request).is_none_or(|r| r.hidden) {
            return Err(ClientError::Unknown);
        }
        self.abandon(request, reason);
        Ok(())
    }

    /// Close: pending requests fail with [`Failure::Closed`], streams are
    /// dropped, and a legacy session is ended with DELETE (T-SES-9); a 2xx,
    /// 404 or 405 answer (or any failure) completes the close.
    pub fn close(&mut self, now: Timestamp) {
        self.tick(now);
        if matches!(self.phase, Phase::Closing | Phase::Closed) {
            return;
        }
        self.fail_all(&Failure::Closed);
        let delete = self.era == Some(Era::Legacy) && self.session.is_some();
        if delete {
            let headers = self.session_headers();
            if self
                .send(Method::DELETE, Purpose::Delete, Bytes::new(), headers)
                .is_some()
            {
                self.phase = Phase::Closing;
                self.phase_deadline = self.config.request_timeout.map(|t| now.saturating_add(t));
                return;
            }
        }
        self.finish_close(None);
    }

    // ----- network inputs -----

    /// The response head of request `id`.
    pub fn handle_head(&mut self, now: Timestamp, id: HttpId, status: u16, headers: &HeaderMap) {
        self.tick(now);
        let Some(ex) = self.exchanges.get_mut(&id) else {
            return;
        };
        ex.status = status;
        let ok = (200..300).contains(&status);
        let sse = ok
            && headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| {
                    ct.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("text/event-stream")
                });
        let purpose = ex.purpose.clone();
        let (epoch, session_sent) = (ex.epoch, ex.session_sent);

        // T-SES-8: a 404 to a request carrying the session id means the
        // session is gone. The request itself may have run (a server that
        // decides its head late answers 404 when the session ended while
        // the request was handled), so it fails rather than being sent
        // again; requests not sent yet wait for the new session.
        if status == 404
            && session_sent
            && !matches!(purpose, Purpose::Delete)
            && self.era == Some(Era::Legacy)
        {
            self.drop_exchange(id);
            if let Purpose::Request(wire) = &purpose {
                self.request_lost(now, wire, Failure::SessionExpired);
            }
            if epoch == self.epoch && self.phase == Phase::Ready {
                self.session_lost(now);
            }
            return;
        }

        let initialize = matches!(purpose, Purpose::Initialize(_));
        match purpose {
            Purpose::Probe(wire) | Purpose::Initialize(wire) | Purpose::Request(wire) => {
                if initialize && ok {
                    // Kept aside until the result proves successful.
                    let session = headers
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .filter(|s| crate::sse::is_valid_event_id(s))
                        .map(str::to_owned);
                    if let Phase::Initializing { session: slot } = &mut self.phase {
                        *slot = session;
                    }
                }
                if sse && !self.inflight.contains_key(&wire) {
                    // Answered already, on another exchange (a server that
                    // routed the response elsewhere, or a resumed stream):
                    // this stream owes nothing (INV-L2), so it is not read.
                    // Found by the `client` fuzz target: a stream kept for
                    // a request no longer in flight.
                    self.drop_exchange(id);
                } else if sse {
                    let key = self.open_stream(StreamKind::Post(wire.clone()), Some(id));
                    if let Some(p) = self.inflight.get_mut(&wire) {
                        p.stream = Some(key);
                        if let Waiter::App(h) = p.waiter
                            && let Some(s) = self.streams.get_mut(&key)
                        {
                            s.related = Some(h);
                        }
                    }
                    self.set_body(id, BodyState::Sse(key));
                } else {
                    self.set_body(id, BodyState::Buffer(Vec::new()));
                }
            }
            Purpose::Notification | Purpose::Reply => {
                let body = if ok {
                    BodyState::Drain
                } else {
                    BodyState::Buffer(Vec::new())
                };
                self.set_body(id, body);
            }
            Purpose::Listen(key) => {
                // HC-GET-1: the server answered the standalone GET (a
                // stream, 405 or an error): the client is ready now.
                self.release_ready();
                if sse {
                    self.set_body(id, BodyState::Sse(key));
                } else {
                    self.drop_exchange(id);
                    self.listen_refused(now, key, status);
                }
            }
            Purpose::Delete => {
                // 2xx, 404 and 405 all mean there is nothing left to end.
                self.drop_exchange(id);
                if !(ok || status == 404 || status == 405) {
                    self.events
                        .push_back(Event::Warning(format!("DELETE answered {status}")));
                }
                self.finish_close(None);
            }
        }
    }

    /// A chunk of the response body of request `id`.
    pub fn handle_body(&mut self, now: Timestamp, id: HttpId, chunk: &[u8]) {
        self.tick(now);
        let Some(ex) = self.exchanges.get_mut(&id) else {
            return;
        };
        match &mut ex.body {
            BodyState::Buffer(buf) => {
                if buf.len().saturating_add(chunk.len()) > self.config.max_body_bytes {
                    let purpose = ex.purpose.clone();
                    self.drop_exchange(id);
                    let why = format!("body above {} bytes", self.config.max_body_bytes);
                    self.exchange_failed(now, purpose, Failure::Malformed(why));
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            BodyState::Sse(key) => {
                let key = *key;
                self.on_sse(now, id, key, chunk);
            }
            BodyState::Head | BodyState::Drain => {}
        }
    }

    /// The response body of request `id` ended normally.
    pub fn handle_end(&mut self, now: Timestamp, id: HttpId) {
        self.tick(now);
        let Some(ex) = self.exchanges.remove(&id) else {
            return;
        };
        match ex.body {
            BodyState::Buffer(buf) => self.on_buffer(now, ex.purpose, ex.status, buf),
            BodyState::Sse(key) => self.stream_ended(now, key, id),
            BodyState::Head => self.exchange_failed(now, ex.purpose, Failure::StreamLost),
            BodyState::Drain => {}
        }
    }

    /// Request `id` failed at the connection level (before or after the head).
    pub fn handle_error(&mut self, now: Timestamp, id: HttpId) {
        self.tick(now);
        let Some(ex) = self.exchanges.remove(&id) else {
            return;
        };
        match ex.body {
            BodyState::Sse(key) => self.stream_ended(now, key, id),
            BodyState::Drain => {}
            BodyState::Head | BodyState::Buffer(_) => {
                self.exchange_failed(now, ex.purpose, Failure::StreamLost)
            }
        }
    }

    /// Time passed: request deadlines, reconnections, connect and close deadlines.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.tick(now);
        let now = self.now;
        let expired: Vec<RequestHandle> = self
            .requests
            .iter()
            .filter(|(_, r)| r.deadline.is_some_and(|d| d <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in expired {
            // An earlier expiry (a refresh) may have ended this one already.
            let Some(hidden) = self.requests.get(&h).map(|r| r.hidden) else {
                continue;
            };
            self.abandon(h, Some("timeout"));
            self.failed(h, hidden, Failure::Timeout);
        }
        if self.held_ready.as_ref().is_some_and(|(t, _)| *t <= now) {
            self.release_ready();
        }
        if self.phase_deadline.is_some_and(|d| d <= now) {
            self.phase_deadline = None;
            match self.phase {
                Phase::Closing => self.finish_close(None),
                Phase::Probing | Phase::Initializing { .. } => {
                    self.close_with(Failure::Timeout);
                }
                _ => {}
            }
        }
        let due: Vec<StreamKey> = self
            .streams
            .iter()
            .filter(|(_, s)| s.reconnect_at.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.reconnect(key);
        }
    }

    // ----- internals -----

    /// HC-GET-1: report the held [`Event::Ready`], if any.
    fn release_ready(&mut self) {
        if let Some((_, ready)) = self.held_ready.take() {
            self.events.push_back(ready);
        }
    }

    /// Inputs carry a non-decreasing time; a late one never moves it back.
    fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }
}
