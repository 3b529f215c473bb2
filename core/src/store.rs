//! The shared-store port (issue 17, `docs/store.md`): how the server core
//! keeps its sessions and event logs in a store that several instances
//! share, so that any instance can serve any session and resume any stream.
//!
//! Sans-IO like the rest of the core: the core emits
//! [`Output::Store`](crate::Output::Store) with a [`StoreToken`] and a
//! [`StoreCommand`]; the driver executes the command against its backend
//! (in memory, Redis, ...) and hands the result back with
//! [`Server::handle_store`](crate::Server::handle_store) and the same token.
//! Store latency and failure are therefore plain inputs, which tests and the
//! simulator can choose.
//!
//! With no store configured ([`Config::store`](crate::Config::store) is
//! `None`, the default) the core emits no store command at all and behaves
//! exactly as a single instance always did.
//!
//! ## Contract for a backend
//!
//! - **Per-session order**: commands naming the same session must take
//!   effect in the order the core emitted them (a driver runs one command
//!   per session at a time, or pipelines them in order on one connection).
//!   Commands of different sessions may run concurrently.
//! - **One reply per command**: every command is completed exactly once,
//!   with a [`StoreReply`] or a [`StoreFailure`]; the core also gives up on
//!   its own after [`StoreConfig::deadline`] (a late completion is then
//!   ignored), so a lost completion costs a 503, never a hang.
//! - **Atomic appends**: [`StoreCommand::AppendEvent`] checks that the
//!   session still exists and appends in one step
//!   ([`StoreReply::NoSuchSession`] otherwise), so a deleted session never
//!   gains events.
//! - Everything a backend keeps is bounded: sessions by their TTL, events by
//!   the [`Retention`] each append carries, finished streams with their
//!   session.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::jsonrpc::RawJson;
use crate::version::ProtocolVersion;

/// Names one store command, so its completion finds its way back. Unique for
/// the life of a [`Server`](crate::Server).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreToken(pub u64);

/// A stream's global name: unique across every instance that shares a store,
/// so an event id names one stream of one session wherever it is presented
/// (`docs/store.md`, event ids).
///
/// `instance` is drawn once per server from its entropy
/// ([`IdSource`](crate::IdSource)) when a store is configured; it is `0`
/// without a store, and the event id keeps its single-instance form
/// `"{number}-{seq}"`. With a store the form is
/// `"{instance:016x}.{number}-{seq}"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    /// The instance that opened the stream (`0`: no store configured).
    pub instance: u64,
    /// The stream's number on that instance (from 1, never reused).
    pub number: u64,
}

impl fmt::Display for StreamKey {
    /// The event-id prefix: `"{number}"`, or `"{instance:016x}.{number}"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instance == 0 {
            write!(f, "{}", self.number)
        } else {
            write!(f, "{:016x}.{}", self.instance, self.number)
        }
    }
}

/// Where a session is in its life, as the store records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionPhase {
    /// `initialize` delivered, its result not yet sent.
    Initializing,
    /// The initialize result was sent; requests are accepted.
    AwaitingInitialized,
    /// `notifications/initialized` (or a later request) arrived.
    Ready,
}

/// Everything an instance needs to serve a session it did not create.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionRecord {
    /// The wire id (`Mcp-Session-Id`, 32 hex digits).
    pub session: Box<str>,
    /// The negotiated version (the proposed one while initializing).
    pub version: ProtocolVersion,
    /// The principal the session is bound to (INV-S26); `None` without
    /// authorization.
    pub principal: Option<Box<str>>,
    /// The session's phase.
    pub phase: SessionPhase,
    /// The client's `initialize` params (client info, capabilities), so an
    /// adapter can rebuild what it keeps per session.
    pub init_params: Option<RawJson>,
    /// The level the client last set with `logging/setLevel`, if any.
    pub log_level: Option<Box<str>>,
}

/// One event of a stream, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoredEvent {
    /// Its position in the stream (from 0, contiguous as appended).
    pub seq: u64,
    /// The encoded SSE frame (with its `id:` line), written as is.
    pub frame: Bytes,
    /// Whether it carries a JSON-RPC response.
    pub response: bool,
}

/// How much of a stream a backend keeps: the newest events within both
/// bounds (the newest event always), as the core's own log does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    /// Most events kept ([`Config::max_events_per_stream`](crate::Config::max_events_per_stream)).
    pub max_events: usize,
    /// Most frame bytes kept ([`Config::max_log_bytes_per_stream`](crate::Config::max_log_bytes_per_stream)).
    pub max_bytes: usize,
}

/// What the core asks of the store. Every command names its session by wire
/// id (backends key everything by it: `{session}` tags in Redis Cluster).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreCommand {
    /// Create or overwrite a session's record and set its TTL.
    /// Reply: [`StoreReply::Done`].
    PutSession {
        /// The record.
        record: SessionRecord,
        /// The session expires this long after the put (refreshed by
        /// touches and appends).
        ttl: Duration,
    },
    /// If the session exists, refresh its TTL and return its record; the
    /// gate of every request for a session when a store is configured.
    /// Reply: [`StoreReply::Session`] (`None`: no such session).
    TouchSession {
        /// The wire id.
        session: Box<str>,
        /// The new TTL.
        ttl: Duration,
    },
    /// Read a session's record without touching it.
    /// Reply: [`StoreReply::Session`].
    LoadSession {
        /// The wire id.
        session: Box<str>,
    },
    /// Delete a session's record and every stream of it (nothing happens if
    /// it does not exist). Reply: [`StoreReply::Done`].
    DeleteSession {
        /// The wire id.
        session: Box<str>,
    },
    /// Append one event to a stream of the session, atomically with a check
    /// that the session exists (a stream is created by its first append),
    /// evicting beyond `retention`, and refresh the session's TTL.
    /// Reply: [`StoreReply::Appended`] or [`StoreReply::NoSuchSession`].
    AppendEvent {
        /// The wire id.
        session: Box<str>,
        /// The stream.
        stream: StreamKey,
        /// The event; `seq` is the stream's next position.
        event: StoredEvent,
        /// What to keep of the stream.
        retention: Retention,
        /// The session's new TTL.
        ttl: Duration,
    },
    /// Mark a stream finished: every response it carries is appended; a
    /// reader at its end is done. Reply: [`StoreReply::Done`] or
    /// [`StoreReply::NoSuchSession`].
    EndStream {
        /// The wire id.
        session: Box<str>,
        /// The stream.
        stream: StreamKey,
    },
    /// The events of a stream after a cursor, oldest first, at most `max`.
    /// Reply: [`StoreReply::Events`], or [`StoreReply::NoSuchStream`] when
    /// the session has no such stream (or no longer exists).
    ReadEvents {
        /// The wire id.
        session: Box<str>,
        /// The stream.
        stream: StreamKey,
        /// The last event the reader has (`seq`); events with a greater
        /// `seq` are returned.
        after: u64,
        /// Most events in the reply (at least one when there are any).
        max: usize,
    },
    /// Live delivery of a stream another instance writes: as
    /// [`StoreCommand::ReadEvents`], but when nothing follows the cursor and
    /// the stream is not finished (or the stream does not exist yet, or
    /// ends before the cursor) the backend waits up to `wait` for an append
    /// or the end (Redis: `XREAD BLOCK`), then replies (possibly with no
    /// events; the core asks again).
    TailEvents {
        /// The wire id.
        session: Box<str>,
        /// The stream.
        stream: StreamKey,
        /// The last event the reader has.
        after: u64,
        /// Most events in the reply.
        max: usize,
        /// The longest wait for something new.
        wait: Duration,
    },
}

impl StoreCommand {
    /// The session (wire id) the command is about: the key of its
    /// per-session order.
    pub fn session(&self) -> &str {
        match self {
            StoreCommand::PutSession { record, .. } => &record.session,
            StoreCommand::TouchSession { session, .. }
            | StoreCommand::LoadSession { session }
            | StoreCommand::DeleteSession { session }
            | StoreCommand::AppendEvent { session, .. }
            | StoreCommand::EndStream { session, .. }
            | StoreCommand::ReadEvents { session, .. }
            | StoreCommand::TailEvents { session, .. } => session,
        }
    }

    /// The longest a backend may take before the core gives up on the
    /// command: `deadline`, plus the wait of a tail.
    pub fn deadline(&self, deadline: Duration) -> Duration {
        match self {
            StoreCommand::TailEvents { wait, .. } => deadline.saturating_add(*wait),
            _ => deadline,
        }
    }
}

/// What a stream read found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventBatch {
    /// Events after the cursor, oldest first, contiguous in `seq`.
    pub events: Vec<StoredEvent>,
    /// Events right after the cursor are no longer retained: the first
    /// retained event is later than `after + 1` (the reader cannot resume
    /// without a gap; answered 410 as a local eviction is).
    pub evicted: bool,
    /// The stream is finished (every response appended) and `events` runs
    /// to its end.
    pub finished: bool,
    /// The `seq` the stream's next append will get (one past its last
    /// event): a cursor at or beyond it names no event (forged).
    pub next_seq: u64,
}

/// A command's successful result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreReply {
    /// Done (put, delete, end of stream).
    Done,
    /// A session's record, or `None` when there is no such session (never
    /// created, deleted, or expired).
    Session(Option<SessionRecord>),
    /// The event was appended.
    Appended,
    /// The session does not exist (an append or end refused).
    NoSuchSession,
    /// A stream read.
    Events(EventBatch),
    /// The session has no such stream.
    NoSuchStream,
}

/// Why a command has no result. The core answers the requests waiting on it
/// with 503 and `Retry-After`; it never guesses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreFailure {
    /// The backend could not be reached or failed.
    Unavailable(Box<str>),
    /// The driver's own deadline for the command passed.
    TimedOut,
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreFailure::Unavailable(why) => write!(f, "the shared store failed: {why}"),
            StoreFailure::TimedOut => f.write_str("the shared store did not answer in time"),
        }
    }
}

impl std::error::Error for StoreFailure {}

/// The store settings of a server ([`Config::store`](crate::Config::store)).
/// Every default is named on its field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreConfig {
    /// How long the core waits for a command's completion before answering
    /// what waits on it with 503. Default 2 s.
    pub deadline: Duration,
    /// The `Retry-After` (seconds) of those 503s. Default 1.
    pub retry_after_secs: u32,
    /// Most requests of one session waiting for its load (restore) or
    /// touch. Default 64. Beyond: 503 with `Retry-After`.
    pub max_waiting_per_session: usize,
    /// Most sessions being loaded or touched at once. Default 1024. Beyond:
    /// 503 with `Retry-After`.
    pub max_gates: usize,
    /// Most store reads for resumed streams in flight at once (replays and
    /// tails). Default 1024. Beyond: 503 with `Retry-After`.
    pub max_reads: usize,
    /// Most events asked for per read. Default 256.
    pub read_batch: usize,
    /// The wait of one [`StoreCommand::TailEvents`]. Default 15 s.
    pub tail_wait: Duration,
    /// How long a session this instance holds is trusted after the store
    /// last confirmed it. Default zero: every request asks the store
    /// ([`StoreCommand::TouchSession`]) before it is served, so a DELETE
    /// or expiry on any instance is seen by the very next request
    /// everywhere (STORE-4, STORE-8).
    ///
    /// A non-zero interval serves a held session's POSTs and GETs without
    /// that round trip while the last confirmation is younger than it
    /// (STORE-11): a JSON `tools/call` then costs no store command at all.
    /// The price, stated: a DELETE, an expiry or a `logging/setLevel` on
    /// another instance is seen here only after up to this long, and the
    /// session's store TTL is refreshed by those requests only once per
    /// interval (appends still refresh it), so keep it well below the
    /// idle timeout. A session this instance does not hold, and every
    /// DELETE, always go through the store.
    pub recheck_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            deadline: Duration::from_secs(2),
            retry_after_secs: 1,
            max_waiting_per_session: 64,
            max_gates: 1024,
            max_reads: 1024,
            read_batch: 256,
            tail_wait: Duration::from_secs(15),
            recheck_interval: Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_1_every_command_names_its_session_and_only_a_tail_waits_longer() {
        let d = Duration::from_millis(500);
        let tail = StoreCommand::TailEvents {
            session: "s1".into(),
            stream: StreamKey {
                instance: 1,
                number: 3,
            },
            after: 0,
            max: 10,
            wait: Duration::from_millis(250),
        };
        assert_eq!(tail.session(), "s1");
        assert_eq!(tail.deadline(d), Duration::from_millis(750));
        let load = StoreCommand::LoadSession {
            session: "s2".into(),
        };
        assert_eq!(load.session(), "s2");
        assert_eq!(load.deadline(d), d);
    }

    #[test]
    fn failures_say_what_went_wrong() {
        assert_eq!(
            StoreFailure::Unavailable("refused".into()).to_string(),
            "the shared store failed: refused"
        );
        assert_eq!(
            StoreFailure::TimedOut.to_string(),
            "the shared store did not answer in time"
        );
    }
}
