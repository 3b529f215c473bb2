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
//! session id adopted from an error response (X-21), no re-initialisation
//! after a 404 (T-SES-8), one `Last-Event-ID` cursor shared by all streams
//! (X-23), a priming event fed to a JSON parser (X-6), `retry` ignored or
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

mod backoff;
mod types;

use std::collections::{BTreeMap, VecDeque};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

pub use backoff::Backoff;
pub use types::{
    ClientConfig, ClientError, Era, EraPreference, Event, Failure, HttpId, RequestHandle,
    ServerRequestKey, Transmit,
};

use crate::jsonrpc::{self, ErrorObject, Id, Message, RawJson, code};
use crate::mirror::{self, ParamHeader};
use crate::sse::Decoder;
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

/// `Accept` of every POST (T-POST-2, H-POST-1).
const ACCEPT_POST: &str = "application/json, text/event-stream";
/// The `_meta` keys of a 2026-07-28 request (H-META-1).
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// Consecutive session losses without one successful response before the
/// client gives up instead of re-initialising again.
const MAX_SESSION_LOSSES: u32 = 3;
/// H-HDR-6: `tools/list` pages one refresh follows (via `nextCursor`)
/// looking for the tools of the waiting calls.
const MAX_REFRESH_PAGES: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct StreamKey(u64);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Probing,
    /// The session header of the initialize response waits here until the
    /// result proves successful (X-21).
    Initializing {
        session: Option<String>,
    },
    Ready,
    Closing,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    Probe(Id),
    Initialize(Id),
    Request(Id),
    Notification,
    Reply,
    Listen(StreamKey),
    Delete,
}

#[derive(Debug)]
enum BodyState {
    Head,
    Buffer(Vec<u8>),
    Sse(StreamKey),
    Drain,
}

#[derive(Debug)]
struct Exchange {
    purpose: Purpose,
    epoch: u64,
    session_sent: bool,
    status: u16,
    body: BodyState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiter {
    App(RequestHandle),
    Initialize,
    Probe,
}

#[derive(Debug)]
struct Pending {
    waiter: Waiter,
    exchange: HttpId,
    stream: Option<StreamKey>,
    /// Sent in an era taken from [`EraPreference::Cached`] and not yet
    /// confirmed by any response (H-BC-2).
    assumed: bool,
}

#[derive(Debug)]
struct AppRequest {
    method: String,
    params: Option<RawJson>,
    wire: Option<Id>,
    /// When the application asked (the hard maximum counts from here, L-TO-3).
    started: Timestamp,
    deadline: Option<Timestamp>,
    /// The JSON text of `params._meta.progressToken`, if any (L-TO-3).
    progress_token: Option<String>,
    reissues: u8,
    /// H-HDR-6: a `tools/list` refresh and retry was already spent.
    header_retried: bool,
    /// The machine's own `tools/list` refresh (H-HDR-6): never reported to
    /// the application.
    hidden: bool,
}

/// H-HDR-6: the `tools/list` the machine sends after a `-32020` about an
/// `Mcp-Param-*` header, and the calls waiting for it.
#[derive(Debug)]
struct Refresh {
    /// The hidden request of the current page.
    request: RequestHandle,
    /// Each waiting call, its tool, and what it would have delivered had
    /// there been no refresh (delivered when the refresh fails).
    waiting: Vec<(RequestHandle, String, Event)>,
    /// Tools seen in the pages so far.
    seen: std::collections::BTreeSet<String>,
    /// Pages fetched so far.
    pages: u32,
}

#[derive(Debug)]
enum Queued {
    Request(RequestHandle),
    Notification {
        method: String,
        params: Option<RawJson>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum StreamKind {
    /// A POST's response stream: it owes the response with this wire id.
    Post(Id),
    /// The standalone GET stream.
    Standalone,
}

/// One SSE stream: its own decoder, hence its own cursor and `retry`
/// (X-23), across all the connections that carry it.
#[derive(Debug)]
struct Stream {
    kind: StreamKind,
    decoder: Decoder,
    conn: Option<HttpId>,
    reconnect_at: Option<Timestamp>,
    attempts: u32,
    related: Option<RequestHandle>,
}

/// The client state machine. See the [module documentation](self).
#[derive(Debug)]
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
    tools: BTreeMap<String, Vec<ParamHeader>>,
    /// H-HDR-6: the `tools/list` refresh in flight, if any.
    refresh: Option<Refresh>,
    /// H-BC-2: the era came from [`EraPreference::Cached`] and no response
    /// has confirmed it yet.
    assumed: bool,
    /// H-BC-2: the assumed era proved wrong; requests sent under it that
    /// the server refuses the same way are sent again in the new era.
    redetected: bool,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    phase_deadline: Option<Timestamp>,
    losses: u32,
    now: Timestamp,
}

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
            tools: BTreeMap::new(),
            refresh: None,
            assumed: false,
            redetected: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            phase_deadline: None,
            losses: 0,
            now,
        };
        match client.config.era {
            EraPreference::Legacy => client.start_initialize(now),
            EraPreference::Auto => client.start_probe(now),
            EraPreference::Modern => {
                client.become_ready(
                    Era::Modern,
                    ProtocolVersion::V2026_07_28,
                    RawJson::empty_object(),
                );
            }
            EraPreference::Cached(Era::Legacy) => {
                client.assumed = true;
                client.start_initialize(now);
            }
            EraPreference::Cached(Era::Modern) => {
                client.assumed = true;
                client.become_ready(
                    Era::Modern,
                    ProtocolVersion::V2026_07_28,
                    RawJson::empty_object(),
                );
            }
        }
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
    /// send (for tests and diagnostics).
    pub fn cursor_of(&self, request: RequestHandle) -> Option<&str> {
        self.streams
            .values()
            .find(|s| s.related == Some(request))
            .and_then(|s| s.decoder.last_event_id())
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
        requests.chain(streams).chain(self.phase_deadline).min()
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

    /// Answer a server-to-client request. The answer is a new POST sent at
    /// once, whatever streams are open (INV-S25).
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
        // again (X-27); requests not sent yet wait for the new session.
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
                    // Kept aside until the result proves successful (X-21).
                    let session = headers
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .filter(|s| crate::sse::is_valid_event_id(s))
                        .map(str::to_owned);
                    if let Phase::Initializing { session: slot } = &mut self.phase {
                        *slot = session;
                    }
                }
                if sse {
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

    // ----- internals -----

    fn tick(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
    }

    fn alloc_wire(&mut self) -> Id {
        self.next_wire += 1;
        Id::Int(self.next_wire)
    }

    /// Register a request made now; [`Client::requeue`] sends it.
    fn add_request(
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
                hidden,
            },
        );
        handle
    }

    /// Send `h` now when the connection is ready, else after it is.
    fn requeue(&mut self, h: RequestHandle) {
        if self.phase == Phase::Ready {
            self.send_request(h);
        } else {
            self.queue.push_back(Queued::Request(h));
        }
    }

    /// L-TO-3: progress for the request that sent this `progressToken`
    /// restarts its timer, within the hard maximum.
    fn progress(&mut self, now: Timestamp, params: Option<&RawJson>) {
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

    fn session_headers(&self) -> Vec<(HeaderName, String)> {
        let mut h = Vec::new();
        if let Some(s) = &self.session {
            h.push((HeaderName::from_static("mcp-session-id"), s.clone()));
        }
        if let Some(v) = self.version {
            h.push((
                HeaderName::from_static("mcp-protocol-version"),
                v.as_str().to_owned(),
            ));
        }
        h
    }

    /// Builds and queues one HTTP request; `None` when a header value is not
    /// representable (reported as a warning).
    fn send(
        &mut self,
        method: Method,
        purpose: Purpose,
        body: Bytes,
        headers: Vec<(HeaderName, String)>,
    ) -> Option<HttpId> {
        let mut builder = http::Request::builder()
            .method(method.clone())
            .uri(self.config.endpoint.clone());
        if method == Method::POST {
            builder = builder
                .header(http::header::ACCEPT, ACCEPT_POST)
                .header(http::header::CONTENT_TYPE, "application/json");
        } else if method == Method::GET {
            builder = builder.header(http::header::ACCEPT, "text/event-stream");
        }
        let session_sent = headers.iter().any(|(n, _)| n == "mcp-session-id");
        for (name, value) in &self.config.headers {
            builder = builder.header(name, value);
        }
        for (name, value) in headers {
            match HeaderValue::from_str(&value) {
                Ok(v) => builder = builder.header(name, v),
                Err(_) => {
                    self.events
                        .push_back(Event::Warning(format!("unsendable {name} value")));
                    return None;
                }
            }
        }
        let request = builder.body(body).ok()?;
        let id = HttpId(self.next_http);
        self.next_http += 1;
        self.exchanges.insert(
            id,
            Exchange {
                purpose,
                epoch: self.epoch,
                session_sent,
                status: 0,
                body: BodyState::Head,
            },
        );
        self.transmits.push_back(Transmit::Send {
            id,
            request: Box::new(request),
        });
        Some(id)
    }

    fn set_body(&mut self, id: HttpId, body: BodyState) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.body = body;
        }
    }

    /// Forget an exchange and tell the driver to drop it.
    fn drop_exchange(&mut self, id: HttpId) {
        if self.exchanges.remove(&id).is_some() {
            self.transmits.push_back(Transmit::Abort { id });
        }
    }

    fn start_probe(&mut self, now: Timestamp) {
        self.phase = Phase::Probing;
        self.phase_deadline = self.config.request_timeout.map(|t| now.saturating_add(t));
        let wire = self.alloc_wire();
        let params = self.with_meta(None);
        let mut body = BytesMut::new();
        jsonrpc::write_request(&mut body, &wire, "server/discover", Some(&params));
        let headers = vec![
            (
                HeaderName::from_static("mcp-protocol-version"),
                ProtocolVersion::V2026_07_28.as_str().to_owned(),
            ),
            (
                HeaderName::from_static("mcp-method"),
                "server/discover".to_owned(),
            ),
        ];
        if let Some(x) = self.send(
            Method::POST,
            Purpose::Probe(wire.clone()),
            body.freeze(),
            headers,
        ) {
            self.inflight.insert(
                wire,
                Pending {
                    waiter: Waiter::Probe,
                    exchange: x,
                    stream: None,
                    assumed: false,
                },
            );
        }
    }

    fn start_initialize(&mut self, now: Timestamp) {
        self.phase = Phase::Initializing { session: None };
        self.era = Some(Era::Legacy);
        self.version = None;
        self.session = None;
        self.phase_deadline = self.config.request_timeout.map(|t| now.saturating_add(t));
        let wire = self.alloc_wire();
        let params = format!(
            r#"{{"protocolVersion":"{}","capabilities":{},"clientInfo":{}}}"#,
            self.config.legacy_version.as_str(),
            self.config.capabilities.as_str(),
            self.config.client_info.as_str()
        );
        let params =
            RawJson::parse(Bytes::from(params)).unwrap_or_else(|_| RawJson::empty_object());
        let mut body = BytesMut::new();
        jsonrpc::write_request(&mut body, &wire, "initialize", Some(&params));
        // No session header and no version header: nothing is negotiated yet.
        if let Some(x) = self.send(
            Method::POST,
            Purpose::Initialize(wire.clone()),
            body.freeze(),
            Vec::new(),
        ) {
            self.inflight.insert(
                wire,
                Pending {
                    waiter: Waiter::Initialize,
                    exchange: x,
                    stream: None,
                    assumed: false,
                },
            );
        }
    }

    fn become_ready(&mut self, era: Era, version: ProtocolVersion, result: RawJson) {
        self.phase = Phase::Ready;
        self.phase_deadline = None;
        self.era = Some(era);
        self.version = Some(version);
        self.events.push_back(Event::Ready {
            era,
            version,
            result,
        });
        if era == Era::Legacy {
            // Exactly once per session, before anything else (INV-S11).
            self.send_notification("notifications/initialized", None);
        }
        self.flush_queue();
        if era == Era::Legacy && self.config.standalone_stream {
            let key = self.open_stream(StreamKind::Standalone, None);
            self.reconnect(key);
        }
    }

    fn flush_queue(&mut self) {
        while let Some(q) = self.queue.pop_front() {
            match q {
                Queued::Request(h) => self.send_request(h),
                Queued::Notification { method, params } => {
                    self.send_notification(&method, params.as_ref())
                }
            }
        }
    }

    /// `params` with the 2026-07-28 `_meta` fields merged in (H-META-1).
    fn with_meta(&self, params: Option<&RawJson>) -> RawJson {
        let mut value = params.map_or(Value::Object(Default::default()), RawJson::to_value);
        if let Value::Object(map) = &mut value {
            let meta = map
                .entry("_meta")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(meta) = meta {
                meta.insert(
                    META_VERSION.into(),
                    Value::from(ProtocolVersion::V2026_07_28.as_str()),
                );
                meta.insert(
                    META_CAPABILITIES.into(),
                    self.config.capabilities.to_value(),
                );
                meta.insert(META_INFO.into(), self.config.client_info.to_value());
            }
        }
        RawJson::from_value(&value)
    }

    /// The request-metadata headers of a 2026-07-28 POST (H-VER-1, H-HDR-1..3).
    fn modern_headers(&self, method: &str, params: Option<&RawJson>) -> Vec<(HeaderName, String)> {
        let value = params.map(RawJson::to_value);
        let mut h = vec![
            (
                HeaderName::from_static("mcp-protocol-version"),
                ProtocolVersion::V2026_07_28.as_str().to_owned(),
            ),
            (
                HeaderName::from_static(mirror::METHOD_HEADER),
                mirror::encode_value(method),
            ),
        ];
        if let Some(field) = mirror::name_field(method)
            && let Some(name) = value.as_ref().and_then(|v| v.get(field)?.as_str())
        {
            h.push((
                HeaderName::from_static(mirror::NAME_HEADER),
                mirror::encode_value(name),
            ));
        }
        if method == "tools/call"
            && let Some(tool) = value.as_ref().and_then(|v| v.get("name")?.as_str())
            && let Some(params) = self.tools.get(tool)
            && let Some(args) = value.as_ref().and_then(|v| v.get("arguments"))
        {
            for p in params {
                if let Some(text) = p.value_in(args).and_then(|v| p.header_value(v))
                    && let Ok(name) = HeaderName::from_bytes(p.header_name().as_bytes())
                {
                    h.push((name, text));
                }
            }
        }
        h
    }

    fn send_request(&mut self, handle: RequestHandle) {
        let Some(r) = self.requests.get(&handle) else {
            return;
        };
        let (method, params) = (r.method.clone(), r.params.clone());
        let wire = self.alloc_wire();
        let mut body = BytesMut::new();
        let headers = if self.era == Some(Era::Modern) {
            let with_meta = self.with_meta(params.as_ref());
            jsonrpc::write_request(&mut body, &wire, &method, Some(&with_meta));
            self.modern_headers(&method, params.as_ref())
        } else {
            jsonrpc::write_request(&mut body, &wire, &method, params.as_ref());
            self.session_headers()
        };
        match self.send(
            Method::POST,
            Purpose::Request(wire.clone()),
            body.freeze(),
            headers,
        ) {
            Some(x) => {
                if let Some(r) = self.requests.get_mut(&handle) {
                    r.wire = Some(wire.clone());
                }
                let assumed = self.assumed && self.era == Some(Era::Modern);
                self.inflight.insert(
                    wire,
                    Pending {
                        waiter: Waiter::App(handle),
                        exchange: x,
                        stream: None,
                        assumed,
                    },
                );
            }
            None => {
                if let Some(r) = self.requests.remove(&handle) {
                    let why = Failure::Malformed("request headers not representable".into());
                    self.failed(handle, r.hidden, why);
                }
            }
        }
    }

    fn send_notification(&mut self, method: &str, params: Option<&RawJson>) {
        let mut body = BytesMut::new();
        let headers = if self.era == Some(Era::Modern) {
            let with_meta = self.with_meta(params);
            jsonrpc::write_notification(&mut body, method, Some(&with_meta));
            self.modern_headers(method, params)
        } else {
            jsonrpc::write_notification(&mut body, method, params);
            self.session_headers()
        };
        self.send(Method::POST, Purpose::Notification, body.freeze(), headers);
    }

    fn send_reply(&mut self, id: &Id, outcome: &Result<RawJson, ErrorObject>) {
        let mut body = BytesMut::new();
        jsonrpc::write_outcome(&mut body, id, outcome);
        let headers = self.session_headers();
        self.send(Method::POST, Purpose::Reply, body.freeze(), headers);
    }

    fn open_stream(&mut self, kind: StreamKind, conn: Option<HttpId>) -> StreamKey {
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
                related: None,
            },
        );
        key
    }

    /// T-SES-8, INV-S9, INV-L3: forget the session and initialise again.
    fn session_lost(&mut self, now: Timestamp) {
        self.epoch += 1;
        self.session = None;
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

    fn remove_stream(&mut self, key: StreamKey) {
        if let Some(s) = self.streams.remove(&key)
            && let Some(c) = s.conn
        {
            self.drop_exchange(c);
        }
    }

    /// Stop waiting for `h`: cancellation or timeout.
    fn abandon(&mut self, h: RequestHandle, reason: Option<&str>) {
        let Some(r) = self.requests.remove(&h) else {
            return;
        };
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

    fn fail_all(&mut self, failure: &Failure) {
        // The waiting calls fail below with everything else.
        self.refresh = None;
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
        let ids: Vec<HttpId> = self.exchanges.keys().copied().collect();
        for id in ids {
            self.drop_exchange(id);
        }
        self.streams.clear();
    }

    fn close_with(&mut self, failure: Failure) {
        self.fail_all(&failure);
        self.finish_close(Some(failure));
    }

    fn finish_close(&mut self, failure: Option<Failure>) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.phase_deadline = None;
        self.session = None;
        self.events.push_back(Event::Closed { failure });
    }

    /// An exchange ended without a usable body.
    fn exchange_failed(&mut self, now: Timestamp, purpose: Purpose, failure: Failure) {
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
                // The reconnection failed before its head.
                if let Some(s) = self.streams.get_mut(&key) {
                    s.conn = None;
                }
                self.stream_ended_unattached(now, key);
            }
            Purpose::Delete => self.finish_close(None),
        }
    }

    /// Request `wire` has no response and no stream to resume: re-issue it
    /// (2026-07-28, H-CAN-4) or fail it.
    fn request_lost(&mut self, _now: Timestamp, wire: &Id, failure: Failure) {
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
    fn failed(&mut self, h: RequestHandle, hidden: bool, failure: Failure) {
        if hidden {
            self.refresh_failed();
        } else {
            self.events.push_back(Event::Failed {
                request: h,
                failure,
            });
        }
    }

    /// H-HDR-6: a `-32020` about an `Mcp-Param-*` header, to a `tools/call`
    /// of the 2026-07-28 era that has not had its refresh yet.
    fn wants_header_retry(&self, h: RequestHandle, e: &ErrorObject) -> bool {
        let about_param = |text: &str| {
            text.to_ascii_lowercase()
                .contains(mirror::PARAM_HEADER_PREFIX)
        };
        self.era == Some(Era::Modern)
            && e.code == code::HEADER_MISMATCH
            && (about_param(&e.message) || e.data.as_ref().is_some_and(|d| about_param(d.as_str())))
            && self
                .requests
                .get(&h)
                .is_some_and(|r| r.method == "tools/call" && !r.header_retried && !r.hidden)
    }

    /// H-HDR-6: park call `h` (its answer, `fallback`, kept for a failed
    /// refresh) until a `tools/list` refresh has taught the tool's current
    /// `x-mcp-header` declarations, then send it once more with a new id.
    /// One refresh serves every call that meets a mismatch meanwhile.
    fn start_header_retry(&mut self, h: RequestHandle, fallback: Event) {
        let Some(r) = self.requests.get_mut(&h) else {
            return;
        };
        r.header_retried = true;
        r.wire = None;
        let tool = r
            .params
            .as_ref()
            .and_then(|p| p.to_value().get("name")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        if let Some(refresh) = &mut self.refresh {
            refresh.waiting.push((h, tool, fallback));
            return;
        }
        let request = self.add_request("tools/list", None, true);
        self.refresh = Some(Refresh {
            request,
            waiting: vec![(h, tool, fallback)],
            seen: Default::default(),
            pages: 1,
        });
        self.requeue(request);
    }

    /// H-HDR-6: one page of the refresh arrived (its tools already learnt).
    /// Follow `nextCursor` while a waiting call's tool is still unseen;
    /// then send the waiting calls again.
    fn refresh_answered(&mut self, h: RequestHandle, outcome: Result<RawJson, ErrorObject>) {
        let Some(refresh) = self.refresh.as_mut().filter(|r| r.request == h) else {
            return;
        };
        let Ok(result) = outcome else {
            return self.refresh_failed();
        };
        let value = result.to_value();
        for tool in value
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                refresh.seen.insert(name.to_owned());
            }
        }
        let next = value.get("nextCursor").and_then(Value::as_str);
        let unseen = refresh
            .waiting
            .iter()
            .any(|(_, tool, _)| !refresh.seen.contains(tool));
        if let Some(cursor) = next
            && unseen
            && refresh.pages < MAX_REFRESH_PAGES
        {
            refresh.pages += 1;
            let params = RawJson::from_value(&serde_json::json!({ "cursor": cursor }));
            let request = self.add_request("tools/list", Some(params), true);
            if let Some(refresh) = &mut self.refresh {
                refresh.request = request;
            }
            return self.requeue(request);
        }
        let complete = next.is_none();
        let Some(refresh) = self.refresh.take() else {
            return;
        };
        for (call, tool, _) in refresh.waiting {
            if complete && !refresh.seen.contains(&tool) {
                // The full list no longer has the tool: forget what it
                // declared rather than keep mirroring stale headers.
                self.tools.remove(&tool);
            }
            if self.requests.contains_key(&call) {
                self.requeue(call);
            }
        }
    }

    /// H-HDR-6: the refresh failed; each waiting call gets the answer it
    /// had before the refresh.
    fn refresh_failed(&mut self) {
        let Some(refresh) = self.refresh.take() else {
            return;
        };
        for (call, _, answer) in refresh.waiting {
            if self.requests.remove(&call).is_some() {
                self.events.push_back(answer);
            }
        }
    }

    /// A complete non-SSE body.
    fn on_buffer(&mut self, now: Timestamp, purpose: Purpose, status: u16, buf: Vec<u8>) {
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

    /// H-BC-1: the probe got no result. A recognised modern error keeps the
    /// modern era; an unrecognised 400/404/405 means a legacy server.
    fn probe_refused(&mut self, now: Timestamp, status: u16, error: Option<ErrorObject>) {
        match modern_code(status, error.as_ref()) {
            Some(code::UNSUPPORTED_PROTOCOL_VERSION) => {
                // H-VER-4: pick a version from `supported`.
                let supported: Vec<ProtocolVersion> = error
                    .as_ref()
                    .and_then(|e| e.data.as_ref())
                    .map(RawJson::to_value)
                    .and_then(|d| d.get("supported").cloned())
                    .and_then(|s| s.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| ProtocolVersion::parse(v.as_str()?))
                    .collect();
                if supported.iter().any(|v| v.is_legacy()) {
                    self.start_initialize(now);
                } else {
                    self.close_with(Failure::Unsupported(format!(
                        "server supports {supported:?}"
                    )));
                }
            }
            Some(_) => self.become_ready(
                Era::Modern,
                ProtocolVersion::V2026_07_28,
                RawJson::empty_object(),
            ),
            None if matches!(status, 400 | 404 | 405) || (200..300).contains(&status) => {
                self.start_initialize(now)
            }
            None => self.close_with(Failure::Http { status, error }),
        }
    }

    /// H-BC-2: request `wire` (of application request `h`), sent in an
    /// assumed modern era, was refused with `status`. A recognised modern
    /// error confirms the era; a 400/404/405 without one (the H-BC-1 rule)
    /// disproves it: the era is detected again and the request, which the
    /// server did not run, waits for the new era. `true` when handled.
    fn assumption_failed(
        &mut self,
        now: Timestamp,
        wire: &Id,
        h: RequestHandle,
        status: u16,
        error: Option<&ErrorObject>,
    ) -> bool {
        if !self.inflight.get(wire).is_some_and(|p| p.assumed) {
            return false;
        }
        if modern_code(status, error).is_some() {
            self.assumed = false;
            return false;
        }
        if !matches!(status, 400 | 404 | 405) || !(self.assumed || self.redetected) {
            return false;
        }
        if let Some(p) = self.inflight.remove(wire)
            && let Some(k) = p.stream
        {
            self.remove_stream(k);
        }
        if let Some(r) = self.requests.get_mut(&h) {
            r.wire = None;
        }
        if self.assumed {
            self.redetect(now, Era::Modern);
        }
        if self.requests.contains_key(&h) {
            self.requeue(h);
        }
        true
    }

    /// H-BC-2: the `assumed` era proved wrong: probe again, once.
    fn redetect(&mut self, now: Timestamp, assumed: Era) {
        self.assumed = false;
        self.redetected = true;
        self.events.push_back(Event::Warning(format!(
            "the cached {assumed:?} era was refused; detecting the era again"
        )));
        self.start_probe(now);
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
    fn deliver_messages(
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
        let Some(r) = self.requests.remove(&h) else {
            return;
        };
        self.losses = 0;
        // A response in the assumed era confirms it (H-BC-2).
        self.assumed = false;
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

    /// H-HDR-4: remember each tool's mirrored parameters; drop (and report)
    /// tools whose annotations are invalid.
    fn learn_tools(&mut self, result: RawJson) -> RawJson {
        let mut value = result.to_value();
        let Some(tools) = value.get_mut("tools").and_then(Value::as_array_mut) else {
            return result;
        };
        let before = tools.len();
        let mut warnings = Vec::new();
        let mut learned = Vec::new();
        tools.retain(|tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
            let schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
            match mirror::param_headers(&schema) {
                Ok(params) => {
                    learned.push((name.to_owned(), params));
                    true
                }
                Err(why) => {
                    warnings.push(format!("tool {name:?} dropped: {why}"));
                    false
                }
            }
        });
        let dropped = tools.len() != before;
        for (name, params) in learned {
            if params.is_empty() {
                self.tools.remove(&name);
            } else {
                self.tools.insert(name, params);
            }
        }
        self.events.extend(warnings.into_iter().map(Event::Warning));
        if dropped {
            RawJson::from_value(&value)
        } else {
            result
        }
    }

    fn complete_initialize(&mut self, now: Timestamp, outcome: Result<RawJson, ErrorObject>) {
        let session = match &mut self.phase {
            Phase::Initializing { session } => session.take(),
            _ => return,
        };
        let result = match outcome {
            Ok(result) => result,
            Err(_) if self.assumed => return self.redetect(now, Era::Legacy),
            Err(e) => {
                return self.close_with(Failure::Http {
                    status: 200,
                    error: Some(e),
                });
            }
        };
        self.assumed = false;
        let version = result
            .to_value()
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(ProtocolVersion::parse)
            .filter(|v| v.is_legacy());
        let Some(version) = version else {
            // L-VER: a version we do not speak ends the attempt.
            return self.close_with(Failure::Unsupported(
                "initialize result names no supported protocolVersion".into(),
            ));
        };
        self.session = session;
        self.become_ready(Era::Legacy, version, result);
    }

    fn on_sse(&mut self, now: Timestamp, id: HttpId, key: StreamKey, chunk: &[u8]) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        let fed = s.decoder.feed(chunk);
        let mut events = Vec::new();
        while let Some(ev) = s.decoder.next_event() {
            events.push(ev);
        }
        if events.iter().any(|e| e.has_id) {
            // Progress: the reconnection budget starts again.
            s.attempts = 0;
        }
        let related = s.related;
        for ev in events {
            // A priming event (empty data, T-PSSE-1) only moves the cursor,
            // which the decoder already recorded; other event types are not
            // JSON-RPC (X-7).
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
    fn stream_ended(&mut self, now: Timestamp, key: StreamKey, conn: HttpId) {
        let Some(s) = self.streams.get_mut(&key) else {
            return;
        };
        if s.conn != Some(conn) {
            return;
        }
        s.conn = None;
        // Discards a partial block and restores the cursor to the last
        // complete event (X-23).
        s.decoder.finish();
        self.stream_ended_unattached(now, key);
    }

    fn stream_ended_unattached(&mut self, now: Timestamp, key: StreamKey) {
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
    fn listen_refused(&mut self, now: Timestamp, key: StreamKey, status: u16) {
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
    fn reconnect(&mut self, key: StreamKey) {
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
                let now = self.now;
                self.stream_ended_unattached(now, key);
            }
        }
    }
}

/// The code of a recognised 2026-07-28 error in a refusal (H-BC-1, X-30):
/// a server that answers with one speaks the modern era.
fn modern_code(status: u16, error: Option<&ErrorObject>) -> Option<i64> {
    error.map(|e| e.code).filter(|c| {
        matches!(
            *c,
            code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_PROTOCOL_VERSION
        ) || (status == 404 && *c == code::METHOD_NOT_FOUND)
    })
}

/// The deadline of a request made at `started` whose timer (re)starts at
/// `from`: the sooner of the timeout and the hard maximum (L-TO-1, L-TO-3).
fn deadline(config: &ClientConfig, started: Timestamp, from: Timestamp) -> Option<Timestamp> {
    let soft = config.request_timeout.map(|t| from.saturating_add(t));
    let hard = config.max_request_time.map(|t| started.saturating_add(t));
    match (soft, hard) {
        (Some(s), Some(h)) => Some(s.min(h)),
        (s, h) => s.or(h),
    }
}

/// The JSON-RPC error in an error body, with or without an id (X-19).
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
