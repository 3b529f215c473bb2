//! The session state machine of the legacy era (T-SES-*, L-INIT-*): the
//! phases of one session and every transition between them, and the
//! server's table of sessions (creation, deadlines, termination).
//!
//! ```text
//!            initialize POST                result sent               initialized / any request
//!  (none) ───────────────────▶ Initializing ───────────▶ AwaitingInitialized ───────────▶ Ready
//!                                   │  error result             │                            │
//!                                   ▼                           ▼                            ▼
//!                               (removed)       init timeout / DELETE / close      idle timeout / DELETE / close
//! ```
//!
//! | transition | where |
//! |---|---|
//! | (none) -> Initializing | [`Server::create_session`] (503 when no id can be minted, SBP-2) |
//! | Initializing -> AwaitingInitialized | [`Session::result_sent`] |
//! | AwaitingInitialized -> Ready | [`Session::client_ready`] |
//! | any -> (removed) | [`Server::terminate`]: failed initialize, timeout ([`Server::expire_sessions`]), DELETE, application |
//!
//! A terminated session is removed outright: every later request naming its
//! id finds nothing and gets 404 (T-SES-7, INV-S8).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use http::StatusCode;

use super::log::{Form, Stream, StreamId};
use super::{IdSource, Server};
use crate::config::Config;
use crate::edge::Refusal;
use crate::jsonrpc::{Id, RawJson, code};
use crate::output::{CloseReason, Delivery, Output, RequestKey, SessionKey};
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

// Where a session is in its life: `Initializing` (`initialize` delivered,
// its result not yet sent), `AwaitingInitialized` (result sent; requests are
// accepted from now on, X-4), `Ready` (`notifications/initialized` or a
// later request arrived). The same phases are what a shared store records.
use crate::store::SessionPhase as Phase;

/// One session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Session {
    pub(crate) wire_id: Box<str>,
    phase: Phase,
    /// The version proposed in `initialize` until the result fixes it.
    pub(crate) version: ProtocolVersion,
    pub(crate) created: Timestamp,
    pub(crate) last_activity: Timestamp,
    pub(crate) streams: BTreeMap<StreamId, Stream>,
    pub(crate) get_stream: Option<StreamId>,
    /// Finished streams kept for resumption, oldest first.
    pub(crate) finished: VecDeque<StreamId>,
    /// Client requests being handled, by their JSON-RPC id (duplicates
    /// refused, B-MSG-3).
    pub(crate) in_flight: BTreeMap<Id, RequestKey>,
    /// Wire ids of server-to-client requests awaiting an answer.
    pub(crate) outgoing: BTreeSet<i64>,
    pub(crate) next_outgoing: i64,
    /// The deadline entered in the server's timer set, if any.
    pub(crate) armed: Option<Timestamp>,
    /// The principal of the `initialize` that created the session (`None`:
    /// no authorization); every request for it must come from the same one
    /// (INV-S26). Never changes.
    pub(crate) principal: Option<Box<str>>,
    /// With a shared store: the client's `initialize` params and its
    /// `logging/setLevel` level, written to the store so another instance
    /// can rebuild the session (`None` without a store).
    pub(crate) init_params: Option<RawJson>,
    pub(crate) log_level: Option<Box<str>>,
    /// With a shared store: connections of this session reading a stream
    /// from the store (another instance's stream); they count as activity.
    pub(crate) remote_reads: u32,
    /// With a shared store: when the store last confirmed this session (a
    /// touch answered with its record); `None` until then. Within
    /// [`StoreConfig::recheck_interval`](crate::store::StoreConfig::recheck_interval)
    /// of it a POST or GET is served without asking again.
    pub(crate) store_checked: Option<Timestamp>,
}

/// INV-P1 (`docs/panic-policy.md`): a [`SessionKey`] handed from one
/// server method to another within one input names a live session. Every
/// such key comes from `lookup` or a creation earlier in the same input, and
/// a session is removed only by termination or expiry, after which no
/// method of that input uses its key again.
pub(crate) const INV_P1: &str =
    "INV-P1: a session key passed within one input names a live session";
/// INV-P2 (`docs/panic-policy.md`): a [`StreamId`] handed on with its
/// session key names a stream of that session: it was found or created in
/// the same input, and streams are removed only after their last use there.
pub(crate) const INV_P2: &str =
    "INV-P2: a stream id passed with its session key names a stream of that session";

/// The session table, read through INV-P1 instead of `[]` or a bare
/// `expect` at each of the places that rely on it.
pub(crate) trait Sessions {
    /// The live session `sk` (INV-P1).
    fn live(&self, sk: SessionKey) -> &Session;
    /// The live session `sk`, mutably (INV-P1).
    fn live_mut(&mut self, sk: SessionKey) -> &mut Session;
}

impl Sessions for BTreeMap<SessionKey, Session> {
    fn live(&self, sk: SessionKey) -> &Session {
        self.get(&sk).expect(INV_P1)
    }

    fn live_mut(&mut self, sk: SessionKey) -> &mut Session {
        self.get_mut(&sk).expect(INV_P1)
    }
}

impl Session {
    /// Stream `sid` of this session (INV-P2).
    pub(crate) fn stream(&self, sid: StreamId) -> &Stream {
        self.streams.get(&sid).expect(INV_P2)
    }

    /// Stream `sid` of this session, mutably (INV-P2).
    pub(crate) fn stream_mut(&mut self, sid: StreamId) -> &mut Stream {
        self.streams.get_mut(&sid).expect(INV_P2)
    }

    pub(crate) fn new(wire_id: Box<str>, version: ProtocolVersion, now: Timestamp) -> Self {
        Session {
            wire_id,
            phase: Phase::Initializing,
            version,
            created: now,
            last_activity: now,
            streams: BTreeMap::new(),
            get_stream: None,
            finished: VecDeque::new(),
            in_flight: BTreeMap::new(),
            outgoing: BTreeSet::new(),
            next_outgoing: 1,
            armed: None,
            principal: None,
            init_params: None,
            log_level: None,
            remote_reads: 0,
            store_checked: None,
        }
    }

    /// The phase, as a store records it.
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// A store's record of the session says it got further than this
    /// instance saw (another instance sent the initialize result, or the
    /// client's `initialized` went there): catch up. Phases only move
    /// forward, so a stale record changes nothing.
    pub(crate) fn catch_up(&mut self, phase: Phase, version: ProtocolVersion) {
        if phase > self.phase {
            if self.phase == Phase::Initializing {
                self.version = version;
            }
            self.phase = phase;
        }
    }

    /// `Initializing -> AwaitingInitialized`: the application's initialize
    /// `result` goes out and fixes the negotiated version (L-VER-2, see
    /// [`negotiate`]); requests are accepted from now on (X-4). Returns the
    /// result to send.
    pub(crate) fn result_sent(&mut self, result: &RawJson) -> RawJson {
        let (result, negotiated) = negotiate(result, self.version);
        self.version = negotiated;
        if self.phase == Phase::Initializing {
            self.phase = Phase::AwaitingInitialized;
        }
        result
    }

    /// `AwaitingInitialized -> Ready`: `notifications/initialized` or any
    /// request arrived (a client that skips the notification is still
    /// served). Before the initialize result is sent nothing moves.
    pub(crate) fn client_ready(&mut self) {
        if self.phase == Phase::AwaitingInitialized {
            self.phase = Phase::Ready;
        }
    }

    /// Whether the server may send the client a request `method` now
    /// (L-INIT-6: nothing but ping before the client said it is initialized).
    pub(crate) fn may_request(&self, method: &str) -> bool {
        self.phase == Phase::Ready || method == "ping"
    }

    /// Why the session ends when its deadline passes: a ready session idled
    /// out, any other never finished initializing.
    pub(crate) fn expiry_reason(&self) -> CloseReason {
        if self.phase == Phase::Ready {
            CloseReason::IdleTimeout
        } else {
            CloseReason::InitTimeout
        }
    }

    /// Something happened in the session (its idle clock restarts).
    pub(crate) fn touch(&mut self, now: Timestamp) {
        self.last_activity = now;
    }

    /// Busy sessions never idle out: a request in flight or a connection open
    /// counts as activity.
    pub(crate) fn busy(&self) -> bool {
        !self.in_flight.is_empty()
            || self.remote_reads > 0
            || self.streams.values().any(|s| s.conn.is_some())
    }

    /// When this session must end if nothing happens, given its state.
    pub(crate) fn deadline(&self, config: &Config) -> Option<Timestamp> {
        if self.phase != Phase::Ready {
            return Some(self.created.saturating_add(config.init_timeout));
        }
        if self.busy() {
            None
        } else {
            Some(self.last_activity.saturating_add(config.idle_timeout))
        }
    }

    /// Whether the initialize result has been sent.
    pub(crate) fn initialized(&self) -> bool {
        self.phase != Phase::Initializing
    }
}

/// The `Retry-After` of a 503 for failed entropy: the OS generator failing
/// is transient (early boot, a sandbox hiccup), so soon.
const ENTROPY_RETRY_AFTER_SECS: u32 = 1;

/// 404 for an unknown or terminated session (T-SES-7, X-16).
pub(super) fn unknown_session() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        code::SERVER_ERROR,
        "Not Found: session does not exist or has ended",
    )
}

/// The server's session table: creation, deadlines and termination.
impl<I: IdSource> Server<I> {
    /// `(none) -> Initializing`: mint a wire id and enter the session.
    /// Refused with 503 when the session limit is reached or no fresh id
    /// can be had.
    pub(super) fn create_session(
        &mut self,
        proposed: ProtocolVersion,
        principal: Option<&str>,
    ) -> Result<SessionKey, Refusal> {
        if self.sessions.len() >= self.config.max_sessions {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVER_ERROR,
                "Service Unavailable: too many sessions",
            ));
        }
        if self.config.store.is_some() {
            self.ensure_instance()?;
        }
        // 128 bits from the caller's entropy, as 32 hex digits: visible ASCII
        // (T-SES-3). A collision with a live id is redrawn. No entropy, no
        // session (SBP-2): a guessable id would be worse than a retry.
        let mut wire = None;
        for _ in 0..8 {
            let Ok(bits) = self.ids.session_id() else {
                let mut refusal = Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::SERVER_ERROR,
                    "Service Unavailable: no entropy for a session id, retry later",
                );
                refusal.retry_after = Some(ENTROPY_RETRY_AFTER_SECS);
                return Err(refusal);
            };
            let candidate: Box<str> = format!("{bits:032x}").into();
            if !self.by_wire_id.contains_key(&candidate) {
                wire = Some(candidate);
                break;
            }
        }
        let Some(wire) = wire else {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::SERVER_ERROR,
                "Service Unavailable: could not mint a session id",
            ));
        };
        self.next_session += 1;
        let sk = SessionKey(self.next_session);
        self.by_wire_id.insert(wire.clone(), sk);
        let mut session = Session::new(wire, proposed, self.now);
        session.principal = principal.map(Box::from);
        self.sessions.insert(sk, session);
        Ok(sk)
    }

    /// End the sessions whose idle or init deadline has passed.
    pub(super) fn expire_sessions(&mut self) {
        while let Some(&(at, sk)) = self.timers.first() {
            if at > self.now {
                break;
            }
            self.timers.remove(&(at, sk));
            let Some(session) = self.sessions.get_mut(&sk) else {
                continue;
            };
            session.armed = None;
            match session.deadline(&self.config) {
                Some(d) if d <= self.now => {
                    // With a shared store this instance only stops holding
                    // the session: it may live on elsewhere, and the
                    // store's TTL decides when it ends.
                    let reason = if self.config.store.is_some() {
                        CloseReason::Evicted
                    } else {
                        session.expiry_reason()
                    };
                    self.terminate(sk, reason);
                }
                _ => self.rearm(sk),
            }
        }
    }

    /// End a session: close its connections, answer its waiting heads with
    /// 404, forget its requests, tell the application (INV-S8).
    pub(super) fn terminate(&mut self, sk: SessionKey, reason: CloseReason) {
        let Some(session) = self.sessions.remove(&sk) else {
            return;
        };
        self.by_wire_id.remove(&session.wire_id);
        if self.config.store.is_some() {
            self.store_terminated(sk, &session.wire_id, reason);
        }
        if let Some(at) = session.armed {
            self.timers.remove(&(at, sk));
        }
        for (_, stream) in session.streams {
            let Some(ex) = stream.conn else { continue };
            self.router.exchanges.remove(&ex);
            match stream.form {
                Form::Sse => self.outputs.push_back(Output::Close { exchange: ex }),
                Form::Pending { .. } => {
                    // A failed initialize has already been answered.
                    let refusal = unknown_session();
                    self.refuse(ex, refusal);
                }
            }
        }
        for rk in session.in_flight.values() {
            self.router.requests.remove(rk);
        }
        self.outputs
            .push_back(Output::Deliver(Delivery::SessionClosed {
                session: sk,
                reason,
            }));
    }

    /// Keep the timer set in step with the session's deadline. Entries are
    /// only moved earlier here; a late-firing check re-arms (cheap per input).
    pub(super) fn rearm(&mut self, sk: SessionKey) {
        let Some(session) = self.sessions.get_mut(&sk) else {
            return;
        };
        let Some(deadline) = session.deadline(&self.config) else {
            return;
        };
        match session.armed {
            Some(at) if at <= deadline => {}
            Some(at) => {
                self.timers.remove(&(at, sk));
                self.timers.insert((deadline, sk));
                session.armed = Some(deadline);
            }
            None => {
                self.timers.insert((deadline, sk));
                session.armed = Some(deadline);
            }
        }
    }
}

/// L-VER-2: keep the application's `protocolVersion` if it is one we
/// support, otherwise put in ours (the client's proposal if supported, else
/// the newest). Returns the result to send and the negotiated version.
fn negotiate(result: &RawJson, proposed: ProtocolVersion) -> (RawJson, ProtocolVersion) {
    let mut value = result.to_value();
    let chosen = value
        .get("protocolVersion")
        .and_then(|v| v.as_str())
        .and_then(ProtocolVersion::parse)
        .filter(|v| v.is_legacy());
    match chosen {
        Some(v) => (result.clone(), v),
        None => {
            if let Some(obj) = value.as_object_mut() {
                obj.insert("protocolVersion".into(), proposed.as_str().into());
                (RawJson::from_value(&value), proposed)
            } else {
                (result.clone(), proposed)
            }
        }
    }
}
