//! The reference shared store of the store tests (`server_store.rs`,
//! `store_world.rs`): the port's semantics (`docs/store.md`) in a
//! `BTreeMap`, without TTL.

use std::collections::{BTreeMap, VecDeque};

use streamable_core::store::{
    EventBatch, SessionRecord, StoreCommand, StoreReply, StoredEvent, StreamKey,
};

/// One stream in the test store.
#[derive(Default, Debug)]
pub(crate) struct Log {
    pub(crate) events: VecDeque<StoredEvent>,
    pub(crate) next_seq: u64,
    pub(crate) finished: bool,
}

/// A shared store in a `BTreeMap`, with the port's semantics (no TTL).
#[derive(Default, Debug)]
pub(crate) struct Store {
    pub(crate) sessions: BTreeMap<Box<str>, (SessionRecord, BTreeMap<StreamKey, Log>)>,
    /// Assert that appends arrive in order (a test whose store never
    /// fails); otherwise a repeat is acknowledged and a gap (an earlier
    /// append failed) clears what is before it, as a real backend would.
    strict: bool,
}

impl Store {
    /// An empty store; `strict` asserts in-order appends.
    pub(crate) fn new(strict: bool) -> Self {
        Self {
            strict,
            ..Self::default()
        }
    }

    /// Execute one command as the port specifies.
    pub(crate) fn exec(&mut self, c: &StoreCommand) -> StoreReply {
        match c {
            StoreCommand::PutSession { record, .. } => {
                let e = self
                    .sessions
                    .entry(record.session.clone())
                    .or_insert_with(|| (record.clone(), BTreeMap::new()));
                e.0 = record.clone();
                StoreReply::Done
            }
            StoreCommand::TouchSession { session, .. } | StoreCommand::LoadSession { session } => {
                StoreReply::Session(self.sessions.get(session).map(|e| e.0.clone()))
            }
            StoreCommand::DeleteSession { session } => {
                self.sessions.remove(session);
                StoreReply::Done
            }
            StoreCommand::AppendEvent {
                session,
                stream,
                event,
                retention,
                ..
            } => {
                let Some(e) = self.sessions.get_mut(session) else {
                    return StoreReply::NoSuchSession;
                };
                let log = e.1.entry(*stream).or_default();
                if self.strict {
                    assert_eq!(event.seq, log.next_seq, "appends arrive in order");
                } else if event.seq < log.next_seq {
                    // A retried append that had landed.
                    return StoreReply::Appended;
                } else if event.seq > log.next_seq {
                    // An earlier append failed: what is before is unreadable.
                    log.events.clear();
                }
                log.next_seq = event.seq + 1;
                log.events.push_back(event.clone());
                while log.events.len() > retention.max_events.max(1) {
                    log.events.pop_front();
                }
                StoreReply::Appended
            }
            StoreCommand::EndStream { session, stream } => {
                let Some(e) = self.sessions.get_mut(session) else {
                    return StoreReply::NoSuchSession;
                };
                e.1.entry(*stream).or_default().finished = true;
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
            } => {
                let Some(log) = self.sessions.get(session).and_then(|e| e.1.get(stream)) else {
                    return StoreReply::NoSuchStream;
                };
                let first = log.events.front().map_or(log.next_seq, |e| e.seq);
                let events: Vec<_> = log
                    .events
                    .iter()
                    .filter(|e| e.seq > *after)
                    .take(*max)
                    .cloned()
                    .collect();
                let last = events.last().map_or(*after, |e| e.seq);
                StoreReply::Events(EventBatch {
                    evicted: first > after + 1,
                    finished: log.finished && last + 1 >= log.next_seq,
                    next_seq: log.next_seq,
                    events,
                })
            }
            other => panic!("unexpected command {other:?}"),
        }
    }
}

/// A tail with nothing to say yet stays pending, as a blocked read.
pub(crate) fn tail_is_quiet(c: &StoreCommand, r: &StoreReply) -> bool {
    let StoreCommand::TailEvents { after, .. } = c else {
        return false;
    };
    match r {
        StoreReply::NoSuchStream => true,
        StoreReply::Events(b) => {
            b.events.is_empty() && ((!b.finished && !b.evicted) || b.next_seq <= *after)
        }
        _ => false,
    }
}
