//! [`MemorySharedStore`]: the shared store in this process's memory, for
//! several [`McpService`](crate::McpService)s in one process (tests, a
//! process running several servers) and as the reference semantics a
//! network backend follows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{
    EventBatch, Retention, SessionRecord, SharedStore, SharedStoreFuture, StoreCommand,
    StoreFailure, StoreReply, StoredEvent, StreamKey,
};

/// The bounds of a [`MemorySharedStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Most sessions held at once (expired ones are discarded first);
    /// beyond it a new session's record is refused
    /// ([`StoreFailure::Unavailable`], so that `initialize` gets 503).
    /// Default 100 000.
    pub max_sessions: usize,
    /// Most streams kept per session; the oldest (finished first) is
    /// dropped for a new one. Default 64.
    pub max_streams_per_session: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            max_sessions: 100_000,
            max_streams_per_session: 64,
        }
    }
}

/// A shared store in memory: clone it (it is an `Arc` inside) and hand a
/// clone to each [`Builder::shared_store`](crate::Builder::shared_store)
/// that should share it.
///
/// Semantics are the port's (`streamable_core::store`): records expire
/// their TTL after the last put, touch or append (tokio's clock, so a paused
/// or simulated clock applies); appends check the session in the same
/// critical section; each stream keeps the newest events within the
/// [`Retention`] its appends carry; tails wait on a wake-up that every
/// append, end and delete sends. Bounded by [`MemoryLimits`].
#[derive(Clone, Debug, Default)]
pub struct MemorySharedStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    limits: MemoryLimits,
    tables: Mutex<BTreeMap<Box<str>, Entry>>,
    changed: Notify,
}

#[derive(Debug)]
struct Entry {
    record: SessionRecord,
    expires: Instant,
    streams: BTreeMap<StreamKey, Log>,
}

#[derive(Debug, Default)]
struct Log {
    events: VecDeque<StoredEvent>,
    bytes: usize,
    next_seq: u64,
    finished: bool,
}

impl MemorySharedStore {
    /// An empty store with default limits.
    pub fn new() -> Self {
        MemorySharedStore::default()
    }

    /// An empty store with these limits.
    pub fn with_limits(limits: MemoryLimits) -> Self {
        MemorySharedStore {
            inner: Arc::new(Inner {
                limits,
                tables: Mutex::default(),
                changed: Notify::new(),
            }),
        }
    }

    /// Live (unexpired) sessions.
    pub fn session_count(&self) -> usize {
        let now = Instant::now();
        self.inner
            .tables
            .lock()
            .map(|t| t.values().filter(|e| e.expires > now).count())
            .unwrap_or(0)
    }

    fn run(&self, command: StoreCommand) -> Result<StoreReply, StoreFailure> {
        let now = Instant::now();
        let mut tables = self
            .inner
            .tables
            .lock()
            .map_err(|_| StoreFailure::Unavailable("memory store poisoned".into()))?;
        // A session past its TTL is gone, whatever asks.
        if tables
            .get(command.session())
            .is_some_and(|e| e.expires <= now)
        {
            tables.remove(command.session());
        }
        let reply = match command {
            StoreCommand::PutSession { record, ttl } => {
                if let Some(e) = tables.get_mut(&record.session) {
                    e.record = record;
                    e.expires = now + ttl;
                } else {
                    if tables.len() >= self.inner.limits.max_sessions {
                        tables.retain(|_, e| e.expires > now);
                    }
                    if tables.len() >= self.inner.limits.max_sessions {
                        return Err(StoreFailure::Unavailable("memory store full".into()));
                    }
                    tables.insert(
                        record.session.clone(),
                        Entry {
                            record,
                            expires: now + ttl,
                            streams: BTreeMap::new(),
                        },
                    );
                }
                StoreReply::Done
            }
            StoreCommand::TouchSession { session, ttl } => {
                StoreReply::Session(tables.get_mut(&session).map(|e| {
                    e.expires = now + ttl;
                    e.record.clone()
                }))
            }
            StoreCommand::LoadSession { session } => {
                StoreReply::Session(tables.get(&session).map(|e| e.record.clone()))
            }
            StoreCommand::DeleteSession { session } => {
                tables.remove(&session);
                self.inner.changed.notify_waiters();
                StoreReply::Done
            }
            StoreCommand::AppendEvent {
                session,
                stream,
                event,
                retention,
                ttl,
            } => {
                let Some(e) = tables.get_mut(&session) else {
                    return Ok(StoreReply::NoSuchSession);
                };
                e.expires = now + ttl;
                let limit = self.inner.limits.max_streams_per_session.max(1);
                if !e.streams.contains_key(&stream) && e.streams.len() >= limit {
                    let victim = e
                        .streams
                        .iter()
                        .find(|(_, l)| l.finished)
                        .or_else(|| e.streams.iter().next())
                        .map(|(k, _)| *k);
                    if let Some(k) = victim {
                        e.streams.remove(&k);
                    }
                }
                e.streams
                    .entry(stream)
                    .or_default()
                    .append(event, retention);
                self.inner.changed.notify_waiters();
                StoreReply::Appended
            }
            StoreCommand::EndStream { session, stream } => {
                let Some(e) = tables.get_mut(&session) else {
                    return Ok(StoreReply::NoSuchSession);
                };
                e.streams.entry(stream).or_default().finished = true;
                self.inner.changed.notify_waiters();
                StoreReply::Done
            }
            StoreCommand::ReadEvents {
                session,
                stream,
                after,
                max,
            }
            | StoreCommand::TailEvents {
                session,
                stream,
                after,
                max,
                ..
            } => match tables.get(&session).and_then(|e| e.streams.get(&stream)) {
                Some(log) => StoreReply::Events(log.read(after, max)),
                None => StoreReply::NoSuchStream,
            },
            _ => return Err(StoreFailure::Unavailable("unknown command".into())),
        };
        Ok(reply)
    }

    /// A tail: read; when nothing is new and the stream goes on, wait for a
    /// change (at most `wait`) and read again.
    async fn tail(
        &self,
        command: StoreCommand,
        wait: Duration,
    ) -> Result<StoreReply, StoreFailure> {
        let until = Instant::now() + wait;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            // Registered before the read, so no append slips between.
            notified.as_mut().enable();
            let reply = self.run(command.clone())?;
            let quiet = match (&reply, &command) {
                (StoreReply::NoSuchStream, _) => true,
                (StoreReply::Events(b), StoreCommand::TailEvents { after, .. }) => {
                    b.events.is_empty() && ((!b.finished && !b.evicted) || b.next_seq <= *after)
                }
                _ => false,
            };
            if !quiet || Instant::now() >= until {
                return Ok(reply);
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.run(command);
            }
        }
    }
}

impl Log {
    fn append(&mut self, event: StoredEvent, retention: Retention) {
        if event.seq < self.next_seq {
            // Already there (a retried append).
            return;
        }
        if event.seq > self.next_seq {
            // A gap (an append that never arrived): what is kept before it
            // cannot be read on without skipping, so readers see an eviction.
            self.events.clear();
            self.bytes = 0;
        }
        self.next_seq = event.seq + 1;
        self.bytes += event.frame.len();
        self.events.push_back(event);
        while self.events.len() > 1
            && (self.events.len() > retention.max_events.max(1) || self.bytes > retention.max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.frame.len();
            }
        }
    }

    fn read(&self, after: u64, max: usize) -> EventBatch {
        let first = self.events.front().map_or(self.next_seq, |e| e.seq);
        let events: Vec<StoredEvent> = self
            .events
            .iter()
            .filter(|e| e.seq > after)
            .take(max.max(1))
            .cloned()
            .collect();
        let to_end = events
            .last()
            .map_or(after + 1 >= self.next_seq, |e| e.seq + 1 >= self.next_seq);
        EventBatch {
            evicted: first > after.saturating_add(1),
            finished: self.finished && to_end,
            next_seq: self.next_seq,
            events,
        }
    }
}

impl SharedStore for MemorySharedStore {
    fn execute(
        &self,
        command: StoreCommand,
    ) -> SharedStoreFuture<'_, Result<StoreReply, StoreFailure>> {
        Box::pin(async move {
            match command {
                StoreCommand::TailEvents { wait, .. } => self.tail(command, wait).await,
                command => self.run(command),
            }
        })
    }
}
