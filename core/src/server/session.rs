//! The legacy session state machine (T-SES-*, L-INIT-*).
//!
//! ```text
//!            initialize POST                result sent               initialized / any request
//!  (none) ───────────────────▶ Initializing ───────────▶ AwaitingInitialized ───────────▶ Ready
//!                                   │  error result             │                            │
//!                                   ▼                           ▼                            ▼
//!                               (removed)       init timeout / DELETE / close      idle timeout / DELETE / close
//! ```
//!
//! A terminated session is removed outright: every later request naming its
//! id finds nothing and gets 404 (T-SES-7, INV-S8).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::config::Config;
use crate::jsonrpc::Id;
use crate::output::RequestKey;
use crate::server::log::{Stream, StreamId};
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    /// `initialize` delivered, its result not yet sent.
    Initializing,
    /// Result sent; requests are accepted from now on (X-4).
    AwaitingInitialized,
    /// `notifications/initialized` (or a later request) arrived.
    Ready,
}

/// One session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Session {
    pub(crate) wire_id: Box<str>,
    pub(crate) phase: Phase,
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
}

impl Session {
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
        }
    }

    /// Busy sessions never idle out: a request in flight or a connection open
    /// counts as activity.
    pub(crate) fn busy(&self) -> bool {
        !self.in_flight.is_empty() || self.streams.values().any(|s| s.conn.is_some())
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
