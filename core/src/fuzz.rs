//! Fuzz target bodies (feature `fuzzing`; never for production).
//!
//! Each function takes arbitrary bytes, drives one parser or machine with
//! them, and panics only when a property breaks (or the code under test
//! panics, which the panic policy, `docs/panic-policy.md`, calls a bug).
//! The same functions run under libFuzzer (`fuzz/`, nightly) and in a
//! stable `#[test]` that replays the committed corpus and a few thousand
//! random inputs (`core/tests/fuzz_replay.rs`), so CI exercises every
//! target without a nightly toolchain.
//!
//! | target | what it checks |
//! | --- | --- |
//! | [`edge`] | arbitrary HTTP requests (method, headers, body) through the server's edge classification, JSON-RPC parser, `Last-Event-ID` and `Mcp-Param-*` checks, with time passing: no panic, `check_invariants` after every step, every exchange answered at most once |
//! | [`jsonrpc`] | the JSON-RPC body parser: no panic; a body it accepts is valid JSON |
//! | [`sse`] | the SSE decoder, whole and split at arbitrary points: the same events, cursor, `retry` and error for every split |
//! | [`client`] | the core client against arbitrary response heads, bodies, splits, ends, errors and time: no panic, `check_invariants` after every step |
//! | [`headers`] | `Last-Event-ID` parsing and `Mcp-Param-*` value decoding: no panic; encode then decode gives the value back |
//! | [`request_state`] | `requestState` verification of arbitrary tokens, and of a valid token with one byte changed: no panic, and never accepted unless unchanged |

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

use crate::client::{Client, ClientConfig, EraPreference, Transmit};
use crate::request_state::{self, Binding, KeyRing, RequestState, StateKey};
use crate::server::SeededIds;
use crate::sse::Decoder;
use crate::{Config, Output, Server, Timestamp, jsonrpc, mirror};

/// Reads structure out of fuzz bytes; past the end every read is zero.
struct Bytes2<'a>(&'a [u8]);

impl<'a> Bytes2<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `max` bytes, the length from the input.
    fn slice(&mut self, max: usize) -> &'a [u8] {
        let n = (usize::from(self.u16()) % (max + 1)).min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const HEADERS: [&str; 14] = [
    "host",
    "origin",
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "mcp-method",
    "mcp-name",
    "mcp-param-region",
    "mcp-param-count",
    "authorization",
    "content-length",
    "x-other",
];

/// Values worth more than random bytes: the ones the edge looks for.
const VALUES: [&str; 16] = [
    "localhost",
    "http://localhost",
    "application/json, text/event-stream",
    "text/event-stream",
    "application/json",
    "2025-11-25",
    "2025-06-18",
    "2026-07-28",
    "0-0",
    "1-1",
    "tools/call",
    "initialize",
    "=?base64?SGVsbG8=?=",
    "=?base64?!!?=",
    "*/*",
    "",
];

const BODIES: [&str; 6] = [
    r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"f","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","arguments":{"region":"x"}}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"t","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"f","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    r#"[{"jsonrpc":"2.0","id":4,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}]"#,
    r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
];

fn header_map(r: &mut Bytes2<'_>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for _ in 0..(r.byte() % 8) {
        let name = HEADERS[usize::from(r.byte()) % HEADERS.len()];
        let k = r.byte();
        let value = if k < 160 {
            HeaderValue::from_static(VALUES[usize::from(k) % VALUES.len()])
        } else {
            match HeaderValue::from_bytes(r.slice(64)) {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        h.append(HeaderName::from_static(name), value);
    }
    h
}

/// Arbitrary HTTP requests through the server, with time passing.
pub fn edge(data: &[u8]) {
    let mut r = Bytes2(data);
    let mut config = Config::default();
    if r.byte() & 1 == 1 {
        config.max_sessions = 2;
    }
    let mut server = Server::new(config, SeededIds(u64::from(r.byte())));
    let mut now = 0u64;
    let mut sessions: Vec<HeaderValue> = Vec::new();
    let mut answered = BTreeMap::new();
    let mut live = Vec::new();
    while !r.is_empty() {
        now += u64::from(r.byte()) * 100;
        let op = r.byte();
        match op % 8 {
            0 => server.handle_timeout(Timestamp(now)),
            1 => {
                if let Some(&ex) = live.get(usize::from(r.byte()) % live.len().max(1)) {
                    server.handle_disconnect(Timestamp(now), ex);
                }
            }
            _ => {
                let method = match r.byte() % 6 {
                    0 => Method::GET,
                    1 => Method::DELETE,
                    2 => Method::PUT,
                    _ => Method::POST,
                };
                let mut headers = header_map(&mut r);
                if r.byte() & 1 == 1
                    && let Some(s) = sessions.get(usize::from(r.byte()) % sessions.len().max(1))
                {
                    headers.insert("mcp-session-id", s.clone());
                }
                let body = if r.byte() < 128 {
                    Bytes::from_static(BODIES[usize::from(r.byte()) % BODIES.len()].as_bytes())
                } else {
                    Bytes::copy_from_slice(r.slice(512))
                };
                let mut req = Request::new(body);
                *req.method_mut() = method;
                *req.uri_mut() = http::Uri::from_static("/mcp");
                *req.headers_mut() = headers;
                let ex = server.handle_request(Timestamp(now), req);
                live.push(ex);
            }
        }
        while let Some(out) = server.poll_output() {
            match out {
                Output::Reply { exchange, head, .. } => {
                    assert!(
                        answered.insert(exchange, ()).is_none(),
                        "exchange answered twice"
                    );
                    if let Some(s) = head.session_id.as_deref()
                        && let Ok(v) = HeaderValue::from_str(s)
                    {
                        sessions.push(v);
                    }
                }
                Output::StreamHead { exchange, head } => {
                    assert!(
                        answered.insert(exchange, ()).is_none(),
                        "exchange answered twice"
                    );
                    if let Some(s) = head.session_id.as_deref()
                        && let Ok(v) = HeaderValue::from_str(s)
                    {
                        sessions.push(v);
                    }
                }
                // Answer some at once, leave others in flight.
                Output::Deliver(crate::Delivery::Request { request, .. }) if r.byte() & 1 == 0 => {
                    let _ =
                        server.respond(Timestamp(now), request, Ok(crate::RawJson::empty_object()));
                }
                _ => {}
            }
        }
        if let Err(e) = server.check_invariants() {
            panic!("server invariant: {e}");
        }
    }
}

/// The JSON-RPC body parser.
pub fn jsonrpc(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if jsonrpc::parse_body(&body).is_ok() {
        // The oracle is the JSON grammar (RFC 8259), not `serde_json::Value`:
        // `Value` refuses numbers beyond f64 (`1e99999`), which are valid
        // JSON that the parser rightly keeps verbatim in `params` (found by
        // this target on 2026-12-06; the input is in fuzz/regressions/).
        assert!(
            serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok(),
            "accepted a body that is not JSON"
        );
    }
    let _ = crate::RawJson::parse(body);
}

/// Everything a decoder shows after `chunks`.
fn decode_all<'a>(
    limit: usize,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (Vec<crate::sse::Event>, Option<String>, Option<u64>, bool) {
    let mut d = Decoder::with_limit(limit);
    let mut events = Vec::new();
    let mut failed = false;
    for c in chunks {
        failed |= d.feed(c).is_err();
        while let Some(e) = d.next_event() {
            events.push(e);
        }
        if failed {
            break;
        }
    }
    (
        events,
        d.last_event_id().map(str::to_owned),
        d.retry(),
        failed,
    )
}

/// The SSE decoder, whole and split at arbitrary points.
pub fn sse(data: &[u8]) {
    let mut r = Bytes2(data);
    let limit = 16 + usize::from(r.byte()) * 4;
    let cuts: Vec<usize> = (0..r.byte() % 8).map(|_| usize::from(r.u16())).collect();
    let stream = r.0;
    let whole = decode_all(limit, std::iter::once(stream));
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let pieces = points.windows(2).map(|w| &stream[w[0]..w[1]]);
    let split = decode_all(limit, pieces);
    if !whole.3 && !split.3 {
        assert_eq!(whole, split, "a split changed what was decoded");
    } else {
        // Once failed the decoder stops; the events before the failure
        // are a prefix of one another's.
        let n = whole.0.len().min(split.0.len());
        assert_eq!(whole.0[..n], split.0[..n]);
        assert_eq!(whole.3, split.3, "a split changed whether it failed");
    }
}

/// `Last-Event-ID` parsing and `Mcp-Param-*` value decoding.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Some((i, s, q)) = crate::server::parse_event_id_for_fuzz(&text) {
        // Leading zeros parse too, so compare the parsed form.
        let again = crate::server::event_id_for_fuzz(i, s, q);
        assert_eq!(
            crate::server::parse_event_id_for_fuzz(&again),
            Some((i, s, q))
        );
    }
    if let Ok(v) = mirror::decode_value(&text) {
        assert_eq!(mirror::decode_value(&mirror::encode_value(&v)), Ok(v));
    }
    let encoded = mirror::encode_value(&text);
    assert!(
        encoded
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) || b == b'\t'),
        "an encoded value is not a header value"
    );
    assert_eq!(mirror::decode_value(&encoded).as_deref(), Ok(&*text));
}

/// `requestState` verification.
pub fn request_state(data: &[u8]) {
    let key = StateKey::new(1, &[7u8; 32]).expect("a 32-byte secret");
    let ring = KeyRing::new(key);
    let binding = Binding::new("tools/call", "t", None, "p");
    let token = String::from_utf8_lossy(data);
    if let Ok(state) = request_state::open(&ring, &token, &binding, 0) {
        // Only a token this key signed can open; it must be the real one.
        assert_eq!(state.binding, binding);
    }
    // A valid token with one byte changed never opens.
    let mut r = Bytes2(data);
    let state = RequestState {
        binding: binding.clone(),
        expires_ms: 1_000,
        answers: BTreeMap::new(),
    };
    let Ok(sealed) = request_state::seal(&ring, &state) else {
        return;
    };
    let mut bytes = sealed.clone().into_bytes();
    let at = usize::from(r.u16()) % bytes.len();
    let new = r.byte();
    bytes[at] = new;
    let Ok(changed) = String::from_utf8(bytes) else {
        return;
    };
    let opened = request_state::open(&ring, &changed, &binding, 0);
    if changed != sealed {
        // Base64 without padding: changing the unused low bits of the last
        // character may decode to the same bytes (a canonical-encoding
        // question, not a forgery): then the state is the sealed one.
        if let Ok(s) = opened {
            assert_eq!(s.binding, binding);
            assert_eq!(s.expires_ms, 1_000);
        }
    }
}

/// The core client against arbitrary responses.
pub fn client(data: &[u8]) {
    let mut r = Bytes2(data);
    let mut config = ClientConfig::new(http::Uri::from_static("http://127.0.0.1:9/mcp"));
    config.era = match r.byte() % 3 {
        0 => EraPreference::Legacy,
        1 => EraPreference::Auto,
        _ => EraPreference::Modern,
    };
    config.standalone_stream = r.byte() & 1 == 1;
    config.max_event_bytes = 256;
    config.max_body_bytes = 1024;
    let mut now = 0u64;
    let mut c = Client::new(config, Timestamp(now));
    let mut open = Vec::new();
    let mut handles = Vec::new();
    while !r.is_empty() {
        now += u64::from(r.byte()) * 50;
        // The driver's contract: per request, one head, then body chunks,
        // then one end or error; nothing after an abort.
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Send { id, .. } => open.push((id, false)),
                Transmit::Abort { id } => open.retain(|(o, _)| *o != id),
            }
        }
        while c.poll_event().is_some() {}
        let op = r.byte();
        let pick = usize::from(r.byte());
        let slot = pick % open.len().max(1);
        let (id, headed) = match open.get(slot) {
            Some(&(id, headed)) => (Some(id), headed),
            None => (None, false),
        };
        match (op % 8, id) {
            (0, _) => c.handle_timeout(Timestamp(now)),
            (1, _) => {
                if let Ok(h) = c.request(Timestamp(now), "tools/call", None) {
                    handles.push(h);
                }
            }
            (2, Some(id)) if !headed => {
                open[slot].1 = true;
                let status = [200, 202, 400, 404, 405, 500][usize::from(r.byte()) % 6];
                let mut h = header_map(&mut r);
                if r.byte() & 1 == 1 {
                    h.insert(
                        "content-type",
                        HeaderValue::from_static("text/event-stream"),
                    );
                } else {
                    h.insert("content-type", HeaderValue::from_static("application/json"));
                }
                c.handle_head(Timestamp(now), id, status, &h);
            }
            (3 | 4, Some(id)) if headed => {
                let chunk: Vec<u8> = if r.byte() < 100 {
                    let canned = [
                        &b"id: 1-0\nretry: 0\ndata: \n\n"[..],
                        br#"data: {"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"s","version":"1"}}}"#,
                        b"\n\n",
                        br#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"a":{"method":"elicitation/create","params":{}}}}}"#,
                        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":0,"progress":1}}"#,
                    ];
                    canned[usize::from(r.byte()) % canned.len()].to_vec()
                } else {
                    r.slice(300).to_vec()
                };
                c.handle_body(Timestamp(now), id, &chunk);
            }
            (5, Some(id)) if headed => {
                open.remove(slot);
                c.handle_end(Timestamp(now), id);
            }
            (6, Some(id)) => {
                open.remove(slot);
                c.handle_error(Timestamp(now), id);
            }
            (7, _) => {
                if let Some(&h) = handles.get(pick % handles.len().max(1)) {
                    let _ = c.cancel(Timestamp(now), h, None);
                }
            }
            _ => {}
        }
        if let Err(e) = c.check_invariants() {
            panic!("client invariant: {e}");
        }
    }
}
