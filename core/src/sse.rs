//! Server-Sent Events codec (sans-IO): an encoder for the frames the server
//! emits and an incremental decoder that follows the WHATWG "event stream
//! interpretation" algorithm exactly.
//!
//! # Wire format we emit
//!
//! Every frame is a complete event block terminated by a blank line, so a
//! client never sees half of one of our frames followed by another:
//!
//! * JSON-RPC message: `event: message\n`, optionally `id: <id>\n`, then one
//!   `data: <line>\n` per line of the payload (CRLF, LF and CR all split
//!   lines), then `\n`. The decoder's joined data therefore equals the
//!   payload with every line ending normalised to `\n`.
//! * Priming event (MCP 2025-11-25, T-PSSE-1): `id: <id>\n`, optionally
//!   `retry: <ms>\n`, then `data: \n\n` — an id with an empty data field, which
//!   WHATWG still dispatches, so clients record the id for resumption.
//! * Retry hint (T-PSSE-4): `retry: <ms>\n\n`.
//! * Keep-alive comment: `: <text>\n\n`.
//!
//! Caller-supplied ids and comment text never break the framing: CR and LF in
//! them are replaced by spaces. Ids should nevertheless be checked with
//! [`is_valid_event_id`], because only those survive a `Last-Event-ID`
//! header round trip unchanged.
//!
//! # Decoder guarantees
//!
//! * Chunking-independent: feeding a stream in any split yields the same
//!   events, the same state and the same error as feeding it in one piece.
//! * Never panics; invalid UTF-8 is replaced lossily (U+FFFD).
//! * Memory is bounded by the limit: one line, one event's data, plus the
//!   events queued but not yet taken with [`Decoder::next_event`] (drain them
//!   after every [`Decoder::feed`]).
//! * A line or an event's data above the limit yields
//!   [`DecodeError::TooLarge`]; the partial block is dropped and the decoder
//!   stays failed (every later `feed` returns the same error) until
//!   [`Decoder::finish`].

use bytes::{BufMut, BytesMut};
use std::collections::VecDeque;
use std::fmt;

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Default limit: 1 MiB for one line and for one event's data.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Appends a JSON-RPC message event: `event: message`, an optional `id`, one
/// `data:` line per line of `data` (CRLF, LF and CR all end a line), and the
/// terminating blank line.
pub fn encode_message(out: &mut BytesMut, id: Option<&str>, data: &[u8]) {
    out.put_slice(b"event: message\n");
    if let Some(id) = id {
        put_field(out, b"id", id);
    }
    let mut rest = data;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(rest.len());
        let (line, tail) = rest.split_at(end);
        out.put_slice(b"data: ");
        out.put_slice(line);
        out.put_u8(b'\n');
        // A trailing line ending yields one more (empty) data line, so the
        // decoder's '\n'-joined data reproduces it.
        rest = match tail {
            [b'\r', b'\n', more @ ..] | [b'\r' | b'\n', more @ ..] => more,
            _ => break,
        };
    }
    out.put_u8(b'\n');
}

/// Appends the priming event of MCP 2025-11-25 (T-PSSE-1): `id: <id>`, an
/// optional `retry: <ms>`, and an empty `data:` field so that clients dispatch
/// the event and record its id.
pub fn encode_priming(out: &mut BytesMut, id: &str, retry_ms: Option<u64>) {
    put_field(out, b"id", id);
    if let Some(ms) = retry_ms {
        put_field(out, b"retry", &ms.to_string());
    }
    out.put_slice(b"data: \n\n");
}

/// Appends a retry-only block `retry: <ms>\n\n`, sent before the server closes
/// an unfinished stream (T-PSSE-4).
pub fn encode_retry(out: &mut BytesMut, retry_ms: u64) {
    put_field(out, b"retry", &retry_ms.to_string());
    out.put_u8(b'\n');
}

/// Appends a keep-alive comment `: <text>\n\n`; CR and LF in `text` become
/// spaces so the comment cannot end early and inject fields.
pub fn encode_comment(out: &mut BytesMut, text: &str) {
    out.put_slice(b": ");
    put_single_line(out, text.as_bytes());
    out.put_slice(b"\n\n");
}

/// True if `id` is usable as an SSE id and in a `Last-Event-ID` header:
/// non-empty and only visible ASCII (0x21..=0x7E).
pub fn is_valid_event_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// Writes `name: value\n`, keeping the value on one line whatever it holds.
fn put_field(out: &mut BytesMut, name: &[u8], value: &str) {
    out.put_slice(name);
    out.put_slice(b": ");
    put_single_line(out, value.as_bytes());
    out.put_u8(b'\n');
}

/// Copies `bytes` with CR and LF replaced by spaces: a stray line ending would
/// otherwise let the caller's text start a new field or end the event.
fn put_single_line(out: &mut BytesMut, bytes: &[u8]) {
    for &b in bytes {
        out.put_u8(if b == b'\n' || b == b'\r' { b' ' } else { b });
    }
}

/// One dispatched event (WHATWG "dispatch the event").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// The event type: the last `event:` field, or `"message"` when absent or
    /// empty.
    pub event: String,
    /// Data lines joined with `'\n'` (the trailing `'\n'` removed).
    pub data: String,
    /// The last-event-id buffer at dispatch time. It persists across events
    /// (an event without an `id` field keeps the previous one, X-33); `None`
    /// until an id was set, and an `id` field with an empty value resets it.
    pub last_event_id: Option<String>,
    /// Whether this event block itself carried an applied `id` field (one
    /// without NUL; an empty one, which resets the id, counts).
    pub has_id: bool,
}

/// Errors the decoder can report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line or an event's data exceeded the configured limit.
    TooLarge {
        /// The limit in bytes that was exceeded.
        limit: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => {
                write!(f, "SSE line or event data exceeds {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Incremental WHATWG event-stream decoder: accepts any chunking of the byte
/// stream and yields the same events.
///
/// `last_event_id` and `retry` persist across [`Decoder::finish`], so one
/// decoder can follow a client across reconnections.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decoder {
    /// Limit on the bytes of one line and of one event's data.
    limit: usize,
    /// BOM bytes matched at the stream start; 3 once the start is behind us
    /// (whether or not a BOM was there).
    bom_matched: u8,
    /// The previous chunk ended in CR: a leading LF of the next chunk belongs
    /// to the same line ending.
    pending_cr: bool,
    /// The raw bytes of the current, unterminated line. Kept as bytes so that
    /// UTF-8 sequences split across chunks decode as if unsplit.
    line: Vec<u8>,
    /// WHATWG data buffer (every `data` value followed by '\n').
    data: String,
    /// WHATWG event type buffer.
    event_type: String,
    /// WHATWG last event ID buffer (`None` stands for the empty string).
    last_event_id: Option<String>,
    /// The buffer's value at the last blank line: WHATWG's "last event ID
    /// string", restored when an unterminated block is discarded.
    committed_id: Option<String>,
    /// Whether the current block carried an applied `id` field.
    has_id: bool,
    /// Reconnection time from the last valid `retry` field.
    retry: Option<u64>,
    /// Dispatched events not yet taken.
    events: VecDeque<Event>,
    /// Sticky failure; cleared by `finish`.
    error: Option<DecodeError>,
}

impl Default for Decoder {
    // Written out because a derived Default would set the limit to 0.
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// Creates a decoder with the default limit of 1 MiB per line and per
    /// event's data.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// Creates a decoder with an explicit limit on the bytes of one line
    /// (field name included, line ending excluded) and of one event's
    /// accumulated data (joining newlines included).
    pub fn with_limit(max_event_bytes: usize) -> Self {
        Self {
            limit: max_event_bytes,
            bom_matched: 0,
            pending_cr: false,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            last_event_id: None,
            committed_id: None,
            has_id: false,
            retry: None,
            events: VecDeque::new(),
            error: None,
        }
    }

    /// Feeds the next chunk of the stream; complete events become available
    /// through [`Decoder::next_event`]. Buffers at most one line (bounded by
    /// the limit). Once it has failed, every call returns the same error and
    /// ignores the chunk until [`Decoder::finish`].
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        let mut rest = chunk;
        // The BOM may be split across chunks, so it is matched byte by byte.
        while let Some(&expected) = BOM.get(usize::from(self.bom_matched)) {
            let Some((&b, tail)) = rest.split_first() else {
                return Ok(());
            };
            if b == expected {
                self.bom_matched += 1;
                rest = tail;
            } else {
                // Not a BOM after all: the bytes matched so far are content.
                let matched = BOM.get(..usize::from(self.bom_matched)).unwrap_or(&[]);
                self.bom_matched = 3;
                self.push_line_bytes(matched)?;
            }
        }
        while !rest.is_empty() {
            // The flag is cleared either way: it only concerns the byte right after the CR.
            if std::mem::take(&mut self.pending_cr)
                && let Some(tail) = rest.strip_prefix(b"\n")
            {
                rest = tail;
                continue;
            }
            let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return self.push_line_bytes(rest);
            };
            let (content, tail) = rest.split_at(end);
            self.push_line_bytes(content)?;
            self.pending_cr = tail.first() == Some(&b'\r');
            rest = tail.get(1..).unwrap_or(&[]);
            // Taken out so `process_line` can borrow self mutably; put back to
            // reuse the allocation.
            let mut line = std::mem::take(&mut self.line);
            let result = self.process_line(&line);
            line.clear();
            self.line = line;
            result?;
        }
        Ok(())
    }

    /// Takes the next complete event, if any.
    ///
    /// Exactly as WHATWG: a block without any `data` field is not
    /// dispatched (its `id` still updates the last event id), whereas a block
    /// with one empty `data:` line is dispatched with empty data.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The current last-event-id buffer, updated by `id` fields as soon as
    /// they are read, including those of blocks that are not dispatched.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// WHATWG's "last event ID string": the buffer's value at the last
    /// dispatched (blank-line terminated) block, which is what a
    /// reconnection sends as `Last-Event-ID` once [`Decoder::finish`]
    /// discarded an unterminated block.
    pub fn committed_event_id(&self) -> Option<&str> {
        self.committed_id.as_deref()
    }

    /// The last valid `retry` value seen (milliseconds), persisting across
    /// events and streams.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Ends the stream: a partial, unterminated event block is discarded
    /// (WHATWG), and the last-event-id buffer returns to its value at the last
    /// blank line, which is what a reconnecting client must send. Clears a
    /// failure and prepares for a new stream (BOM handling included); queued
    /// events, the last event id and the retry value are kept.
    pub fn finish(&mut self) {
        self.clear_block();
        self.last_event_id.clone_from(&self.committed_id);
        self.bom_matched = 0;
        self.pending_cr = false;
        self.error = None;
    }

    /// Appends to the current line, enforcing the limit on its total length so
    /// the outcome does not depend on how the line was chunked.
    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        if self.line.len().saturating_add(bytes.len()) > self.limit {
            return Err(self.fail());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// Enters the sticky failed state. The partial block is dropped so that
    /// the state after a failure is the same for every chunking.
    fn fail(&mut self) -> DecodeError {
        let err = DecodeError::TooLarge { limit: self.limit };
        self.clear_block();
        self.error = Some(err);
        err
    }

    /// Forgets the current line and event block.
    fn clear_block(&mut self) {
        self.line.clear();
        self.data.clear();
        self.event_type.clear();
        self.has_id = false;
    }

    /// Interprets one complete line (without its line ending).
    fn process_line(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        if line.starts_with(b":") {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let (name, value) = line.split_at(colon);
                let value = value.get(1..).unwrap_or(&[]);
                (name, value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                let value = String::from_utf8_lossy(value);
                // +1 for the '\n' appended after every data value.
                let len = self
                    .data
                    .len()
                    .saturating_add(value.len())
                    .saturating_add(1);
                if len > self.limit {
                    return Err(self.fail());
                }
                self.data.push_str(&value);
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => {
                self.last_event_id =
                    (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
                self.has_id = true;
            }
            // Only ASCII digits are valid; values overflowing u64 are ignored
            // too, since no meaningful delay is that long.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(ms) = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// WHATWG "dispatch the event", run at every blank line.
    fn dispatch(&mut self) {
        self.committed_id.clone_from(&self.last_event_id);
        let has_id = std::mem::take(&mut self.has_id);
        let event_type = std::mem::take(&mut self.event_type);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return;
        }
        if data.ends_with('\n') {
            data.pop();
        }
        self.events.push_back(Event {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            last_event_id: self.last_event_id.clone(),
            has_id,
        });
    }
}

#[cfg(test)]
mod tests;
