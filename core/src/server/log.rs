//! A stream is a log; a connection is a cursor into it.
//!
//! Every SSE stream of a session (the stream of a POST that carries
//! requests, or the standalone GET stream) owns an append-only [`EventLog`]
//! of encoded frames with bounded retention. Live delivery, replay after
//! `Last-Event-ID` and a reconnect are the same operation: write the log
//! from a cursor onwards. Event ids are `"{stream}-{seq}"`; stream numbers are
//! unique across the whole server, so an id minted in one session never
//! names a stream of another (X-22, INV-S6, INV-S18). With a shared store the
//! stream part also names the instance (`"{instance:016x}.{number}"`,
//! [`StreamKey`]), so ids minted by different instances never collide.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::output::ExchangeId;
use crate::store::StreamKey;

/// A stream's name: its number, unique for the life of the server, and the
/// instance (with a shared store; `0` without).
pub(crate) type StreamId = StreamKey;

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Logged {
    pub(crate) seq: u64,
    pub(crate) frame: Bytes,
    /// Whether the event carries a JSON-RPC response (INV-S4 checks GET
    /// streams never do).
    pub(crate) response: bool,
}

/// The events of one stream, oldest first, contiguous in `seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct EventLog {
    events: VecDeque<Logged>,
    next_seq: u64,
    bytes: usize,
}

/// Why a cursor cannot be resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayError {
    /// The cursor names an event that was never emitted (forged).
    Future,
    /// Events after the cursor were evicted: replay would skip (INV-S5).
    Evicted,
}

impl EventLog {
    /// The sequence number the next event will get.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Append a frame; evict the oldest events beyond the limits (the newest
    /// event is always kept). Returns the new event's sequence number.
    pub(crate) fn append(
        &mut self,
        frame: Bytes,
        response: bool,
        max_events: usize,
        max_bytes: usize,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += frame.len();
        self.events.push_back(Logged {
            seq,
            frame,
            response,
        });
        while self.events.len() > 1
            && (self.events.len() > max_events.max(1) || self.bytes > max_bytes)
        {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.frame.len();
            }
        }
        seq
    }

    /// The events a client that has seen everything up to and including
    /// `cursor` is missing (`None`: the client has seen nothing), in order.
    pub(crate) fn after(
        &self,
        cursor: Option<u64>,
    ) -> Result<impl Iterator<Item = &Logged>, ReplayError> {
        let from = match cursor {
            Some(c) if c >= self.next_seq => return Err(ReplayError::Future),
            Some(c) => c + 1,
            None => 0,
        };
        self.from(from)
    }

    /// Events with `seq >= from`; refuses rather than skips when some were evicted.
    pub(crate) fn from(&self, from: u64) -> Result<impl Iterator<Item = &Logged>, ReplayError> {
        let first = self.events.front().map_or(self.next_seq, |e| e.seq);
        if from < first {
            return Err(ReplayError::Evicted);
        }
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        Ok(self.events.iter().skip(skip))
    }

    /// Every retained event.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Logged> {
        self.events.iter()
    }

    /// Bytes retained.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Events retained.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

/// Where a stream came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Origin {
    /// A POST that carried requests; `batch` when it was a 2025-03-26 batch
    /// (answered with a JSON array).
    Post { batch: bool },
    /// The standalone GET stream.
    Get,
}

/// How the stream's exchange is being answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Form {
    /// Head not yet sent; responses collected for one JSON body.
    Pending { collected: Vec<Bytes> },
    /// `text/event-stream`: everything goes through the log.
    Sse,
}

/// One stream of a session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Stream {
    pub(crate) origin: Origin,
    pub(crate) form: Form,
    pub(crate) log: EventLog,
    /// The one live connection (INV-S20), caught up with the log whenever
    /// it is attached.
    pub(crate) conn: Option<ExchangeId>,
    /// Events with `seq < written` were written to some connection.
    pub(crate) written: u64,
    /// Requests of this stream not yet answered (POST streams).
    pub(crate) owed: usize,
    /// Requests this stream carried in total, and responses it logged
    /// (INV-S1: never more responses than requests).
    pub(crate) requests: usize,
    pub(crate) responses: usize,
    /// All responses were emitted: the stream is over (INV-L2).
    pub(crate) finished: bool,
    /// Leave the session header off the head (a failed `initialize`, X-21).
    pub(crate) anonymous: bool,
}

impl Stream {
    pub(crate) fn new(origin: Origin, form: Form) -> Self {
        Stream {
            origin,
            form,
            log: EventLog::default(),
            conn: None,
            written: 0,
            owed: 0,
            requests: 0,
            responses: 0,
            finished: false,
            anonymous: false,
        }
    }
}

/// Format an event id: `"{number}-{seq}"`, or with a shared store
/// `"{instance:016x}.{number}-{seq}"`.
pub(crate) fn event_id(stream: StreamId, seq: u64) -> String {
    format!("{stream}-{seq}")
}

/// Parse an event id minted by [`event_id`]: bounded (at most 16 + 1 + 20 +
/// 1 + 20 bytes are looked at) and strict (decimal digits, exactly 16
/// lowercase hex digits of a non-zero instance).
pub(crate) fn parse_event_id(text: &str) -> Option<(StreamId, u64)> {
    if text.len() > 58 {
        return None;
    }
    let (s, q) = text.split_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
    let (instance, number) = match s.split_once('.') {
        None => (0, s),
        Some((i, n)) => {
            if i.len() != 16 || !i.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            let instance = u64::from_str_radix(i, 16).ok().filter(|&i| i != 0)?;
            (instance, n)
        }
    };
    if !digits(number) || !digits(q) {
        return None;
    }
    Some((
        StreamKey {
            instance,
            number: number.parse().ok()?,
        },
        q.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frame(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn inv_s6_the_log_keeps_exactly_its_limits() {
        // Event limit: the limit itself is kept, one more evicts the oldest.
        let mut log = EventLog::default();
        for _ in 0..3 {
            log.append(frame(1), false, 3, usize::MAX);
        }
        assert_eq!(log.len(), 3);
        log.append(frame(1), false, 3, usize::MAX);
        assert_eq!(log.len(), 3);
        assert_eq!(log.iter().next().map(|e| e.seq), Some(1));
        // Byte limit: exactly the limit is kept.
        let mut log = EventLog::default();
        log.append(frame(10), false, 100, 20);
        log.append(frame(10), false, 100, 20);
        assert_eq!((log.len(), log.bytes()), (2, 20));
        log.append(frame(1), false, 100, 20);
        assert_eq!((log.len(), log.bytes()), (2, 11));
        // One event above the byte limit is still kept: the newest event is
        // never evicted (it may be a response owed to a client).
        let mut log = EventLog::default();
        log.append(frame(50), true, 100, 20);
        assert_eq!((log.len(), log.bytes()), (1, 50));
    }

    #[test]
    fn t_res_5_a_cursor_at_or_past_the_end_is_from_the_future() {
        let mut log = EventLog::default();
        log.append(frame(1), false, 10, 100);
        log.append(frame(1), false, 10, 100);
        assert_eq!(log.after(Some(1)).map(|mut i| i.next().is_none()), Ok(true));
        assert!(matches!(log.after(Some(2)), Err(ReplayError::Future)));
        assert!(matches!(
            log.after(Some(u64::MAX)),
            Err(ReplayError::Future)
        ));
    }

    #[test]
    fn t_res_3_event_ids_parse_strictly_and_up_to_their_longest_form() {
        let longest = "ffffffffffffffff.18446744073709551615-18446744073709551615";
        assert_eq!(longest.len(), 58);
        assert_eq!(
            parse_event_id(longest),
            Some((
                StreamKey {
                    instance: u64::MAX,
                    number: u64::MAX
                },
                u64::MAX
            ))
        );
        assert_eq!(parse_event_id(&format!("{longest}0")), None);
        // Signs, empty parts and over-long digit runs are not ours, even
        // where Rust's integer parser would take them.
        for bad in ["1-+5", "+1-5", "-5", "1-", "1-000000000000000000005"] {
            assert_eq!(parse_event_id(bad), None, "{bad}");
        }
        assert_eq!(
            parse_event_id("7-9"),
            Some((
                StreamKey {
                    instance: 0,
                    number: 7
                },
                9
            ))
        );
    }
}
