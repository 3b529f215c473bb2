//! JSON-RPC 2.0 messages as they cross the wire (B-MSG-*, B-ERR-1).
//!
//! Incoming bodies are parsed once, borrowing from the request body: params,
//! results and error data stay as [`RawJson`] slices of the original
//! [`Bytes`] (no copy, no `Value` tree). Outgoing messages are written by
//! concatenation into a buffer, so routing a response costs one small write.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Standard and MCP error codes (B-ERR-1, H-VER-*).
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Legacy-range implementation error used for transport-level refusals
    /// that have no more specific code (bad session, bad headers).
    pub const SERVER_ERROR: i64 = -32000;
    /// 2026-07-28: an HTTP header disagrees with the body (H-VER-2, H-HDR-5).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// 2026-07-28: a required client capability is missing.
    pub const MISSING_CAPABILITY: i64 = -32021;
    /// 2026-07-28: the requested protocol version is not supported (H-VER-3).
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// A JSON-RPC request id: a string or an integer, never null (B-MSG-2).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Id {
    /// An integer id.
    Int(i64),
    /// A string id.
    Str(Box<str>),
}

impl Id {
    /// Parse an id from its raw JSON text; `None` for null, fractions,
    /// out-of-range numbers and every other JSON type.
    pub fn from_raw(raw: &str) -> Option<Id> {
        let raw = raw.trim();
        if raw.starts_with('"') {
            serde_json::from_str::<String>(raw)
                .ok()
                .map(|s| Id::Str(s.into_boxed_str()))
        } else if raw.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            raw.parse::<i64>().ok().map(Id::Int)
        } else {
            None
        }
    }

    /// Write the id as JSON.
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            Id::Int(n) => put_i64(out, *n),
            Id::Str(s) => write_json_string(out, s),
        }
    }

    /// The id as a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Id::Int(n) => serde_json::Value::from(*n),
            Id::Str(s) => serde_json::Value::from(&**s),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Int(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Write an integer in decimal without a temporary allocation.
fn put_i64(out: &mut BytesMut, n: i64) {
    struct Sink<'a>(&'a mut BytesMut);
    impl fmt::Write for Sink<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.put_slice(s.as_bytes());
            Ok(())
        }
    }
    let _ = fmt::Write::write_fmt(&mut Sink(out), format_args!("{n}"));
}

/// Syntactically valid JSON text, kept as bytes.
///
/// Parameters and results travel through the core as `RawJson` so that the
/// core never builds a `Value` tree for a message it only routes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Bytes);

impl RawJson {
    /// Validate `bytes` as one JSON value.
    pub fn parse(bytes: impl Into<Bytes>) -> Result<RawJson, serde_json::Error> {
        let bytes = bytes.into();
        serde_json::from_slice::<&RawValue>(&bytes)?;
        Ok(RawJson(bytes))
    }

    /// Serialise a value (infallible for `serde_json::Value`).
    pub fn from_value(value: &serde_json::Value) -> RawJson {
        // `to_vec` writes straight into a buffer; `to_string` (Display) goes
        // through the formatter a token at a time (~2× the instructions).
        RawJson(Bytes::from(
            serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec()),
        ))
    }

    /// Serialise anything serde can serialise.
    pub fn from_serialize<T: serde::Serialize + ?Sized>(
        value: &T,
    ) -> Result<RawJson, serde_json::Error> {
        serde_json::to_vec(value).map(|v| RawJson(Bytes::from(v)))
    }

    /// `{}`: the result of `ping` (U-PING-1).
    pub fn empty_object() -> RawJson {
        RawJson(Bytes::from_static(b"{}"))
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The JSON text as `str` (it was valid UTF-8 JSON when constructed).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("null")
    }

    /// Parse into a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        self.deserialize().unwrap_or(serde_json::Value::Null)
    }

    /// Deserialize into `T`.
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        // From the text (UTF-8 checked once, here) rather than the bytes,
        // which re-checks every string it reads.
        match std::str::from_utf8(&self.0) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(&self.0),
        }
    }

    /// Internal: wrap bytes known to be one JSON value (a slice of a parsed body).
    pub(crate) fn trusted(bytes: Bytes) -> RawJson {
        RawJson(bytes)
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<serde_json::Value> for RawJson {
    fn from(value: serde_json::Value) -> Self {
        RawJson::from_value(&value)
    }
}

/// A JSON-RPC error object (B-MSG-6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorObject {
    /// The error code.
    pub code: i64,
    /// A short description.
    pub message: String,
    /// Optional structured detail.
    pub data: Option<RawJson>,
}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Attach data.
    pub fn with_data(mut self, data: RawJson) -> Self {
        self.data = Some(data);
        self
    }

    fn write(&self, out: &mut BytesMut) {
        out.put_slice(b"{\"code\":");
        put_i64(out, self.code);
        out.put_slice(b",\"message\":");
        write_json_string(out, &self.message);
        if let Some(data) = &self.data {
            out.put_slice(b",\"data\":");
            out.put_slice(data.as_bytes());
        }
        out.put_u8(b'}');
    }
}

/// One JSON-RPC message received from the client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A request: expects exactly one response.
    Request {
        /// The client's id.
        id: Id,
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<RawJson>,
    },
    /// A notification: never answered (B-MSG-7).
    Notification {
        /// The method.
        method: String,
        /// The params, if any.
        params: Option<RawJson>,
    },
    /// A response to a request the server sent.
    Response {
        /// The id the server assigned.
        id: Id,
        /// The result or the error.
        outcome: Result<RawJson, ErrorObject>,
    },
}

impl Message {
    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => Some(method),
            Message::Response { .. } => None,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request { .. })
    }
}

/// A parsed POST body: one message or (2025-03-26 only) a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// One message.
    Single(Message),
    /// A non-empty JSON array of messages.
    Batch(Vec<Message>),
}

/// Why a body is not acceptable JSON-RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not JSON at all: -32700.
    NotJson(String),
    /// JSON, but not a JSON-RPC message (or an empty batch): -32600.
    Invalid(String),
}

impl ParseError {
    /// The JSON-RPC error for this failure.
    pub(crate) fn to_error(&self) -> ErrorObject {
        match self {
            ParseError::NotJson(m) => {
                ErrorObject::new(code::PARSE_ERROR, format!("Parse error: {m}"))
            }
            ParseError::Invalid(m) => {
                ErrorObject::new(code::INVALID_REQUEST, format!("Invalid Request: {m}"))
            }
        }
    }
}

/// The members of a message, borrowed from the body. `I` is how the id is
/// read: as raw text (checked afterwards, with a precise error), or on the
/// one-pass fast path as an [`Id`] directly ([`WireId`], which refuses
/// anything that is not one, sending the body down the careful path).
#[derive(Deserialize)]
#[serde(bound(deserialize = "I: Deserialize<'de>"))]
struct Envelope<'a, I> {
    #[serde(default, borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<I>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// Keeps an explicit `null` distinct from an absent field: `"id": null` is
/// an invalid request (B-MSG-2), not a notification.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// An envelope's id, read one way or the other.
trait EnvelopeId {
    /// The id, or `None` if the value is not a valid id.
    fn into_id(self) -> Option<Id>;
}

impl EnvelopeId for &RawValue {
    fn into_id(self) -> Option<Id> {
        Id::from_raw(self.get())
    }
}

/// A JSON-RPC id read straight from the parser: an integer that fits
/// `i64` or a string; anything else (null, fractions, out-of-range
/// numbers, other types) is a deserialisation error.
struct WireId(Id);

impl EnvelopeId for WireId {
    fn into_id(self) -> Option<Id> {
        Some(self.0)
    }
}

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WireId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<WireId, E> {
                Ok(WireId(Id::Int(n)))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<WireId, E> {
                i64::try_from(n)
                    .map(|n| WireId(Id::Int(n)))
                    .map_err(|_| E::custom("id out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<WireId, E> {
                Ok(WireId(Id::Str(s.into())))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct ErrorShape<'a> {
    code: serde_json::Number,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

/// Parse a POST body. Batches are returned as such; whether they are
/// allowed is the caller's decision (it depends on the negotiated version).
pub(crate) fn parse_body(body: &Bytes) -> Result<Body, ParseError> {
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
    match trimmed.map(|i| body[i]) {
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| classify(&e))?;
            if items.is_empty() {
                return Err(ParseError::Invalid("empty batch".into()));
            }
            items
                .into_iter()
                .map(|raw| parse_one(body, raw))
                .collect::<Result<Vec<_>, _>>()
                .map(Body::Batch)
        }
        Some(b'{') => {
            // The common case in one pass: UTF-8 checked once, then the
            // envelope read straight from the body (params stay a borrowed
            // slice). Only a body that fails is read again the slow way,
            // which tells bad JSON (-32700) from a bad message (-32600)
            // exactly as for a batch item.
            if let Ok(text) = std::str::from_utf8(body)
                && let Ok(env) = serde_json::from_str::<Envelope<'_, WireId>>(text)
            {
                return message(body, env).map(Body::Single);
            }
            let raw: &RawValue = serde_json::from_slice(body).map_err(|e| classify(&e))?;
            parse_one(body, raw).map(Body::Single)
        }
        Some(_) => {
            // Valid JSON of the wrong shape is -32600, anything else -32700.
            serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|e| classify(&e))?;
            Err(ParseError::Invalid("expected an object or an array".into()))
        }
        None => Err(ParseError::NotJson("empty body".into())),
    }
}

fn classify(e: &serde_json::Error) -> ParseError {
    match e.classify() {
        serde_json::error::Category::Data => ParseError::Invalid(e.to_string()),
        _ => ParseError::NotJson(e.to_string()),
    }
}

/// A zero-copy slice of `body` for a raw value borrowed from it.
fn slice(body: &Bytes, raw: &RawValue) -> RawJson {
    let text = raw.get().as_bytes();
    let start = text.as_ptr() as usize;
    let base = body.as_ptr() as usize;
    // RawValue borrows from the body whenever the JSON needs no unescaping,
    // which is always the case for a raw value; fall back to a copy otherwise.
    if start >= base && start + text.len() <= base + body.len() {
        RawJson::trusted(body.slice(start - base..start - base + text.len()))
    } else {
        RawJson::trusted(Bytes::copy_from_slice(text))
    }
}

fn parse_one(body: &Bytes, raw: &RawValue) -> Result<Message, ParseError> {
    let env: Envelope<'_, &RawValue> = serde_json::from_str(raw.get())
        .map_err(|e| ParseError::Invalid(format!("not a JSON-RPC object: {e}")))?;
    message(body, env)
}

/// The message an envelope (borrowed from `body`) describes.
fn message<I: EnvelopeId>(body: &Bytes, env: Envelope<'_, I>) -> Result<Message, ParseError> {
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(ParseError::Invalid("\"jsonrpc\" must be \"2.0\"".into()));
    }
    let id =
        match env.id {
            None => None,
            Some(raw_id) => Some(raw_id.into_id().ok_or_else(|| {
                ParseError::Invalid("\"id\" must be a string or an integer".into())
            })?),
        };
    match (env.method, id) {
        (Some(method), id) => {
            if env.result.is_some() || env.error.is_some() {
                return Err(ParseError::Invalid(
                    "a message cannot have both a method and a result or error".into(),
                ));
            }
            let params = env.params.map(|p| slice(body, p));
            if let Some(p) = &params {
                let first = p.as_bytes().first().copied();
                if !matches!(first, Some(b'{') | Some(b'[')) {
                    return Err(ParseError::Invalid(
                        "\"params\" must be an object or an array".into(),
                    ));
                }
            }
            let method = method.into_owned();
            Ok(match id {
                Some(id) => Message::Request { id, method, params },
                None => Message::Notification { method, params },
            })
        }
        (None, Some(id)) => {
            let outcome = match (env.result, env.error) {
                (Some(result), None) => Ok(slice(body, result)),
                (None, Some(error)) => {
                    let shape: ErrorShape<'_> = serde_json::from_str(error.get())
                        .map_err(|e| ParseError::Invalid(format!("malformed error object: {e}")))?;
                    let code = shape.code.as_i64().ok_or_else(|| {
                        ParseError::Invalid("error code must be an integer".into())
                    })?;
                    Err(ErrorObject {
                        code,
                        message: shape.message.into_owned(),
                        data: shape.data.map(|d| slice(body, d)),
                    })
                }
                _ => {
                    return Err(ParseError::Invalid(
                        "a response has exactly one of \"result\" and \"error\"".into(),
                    ));
                }
            };
            Ok(Message::Response { id, outcome })
        }
        (None, None) => Err(ParseError::Invalid(
            "neither a request, a notification nor a response".into(),
        )),
    }
}

/// Write a JSON string literal with JSON escaping.
pub(crate) fn write_json_string(out: &mut BytesMut, s: &str) {
    let needs_escape = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
    if needs_escape {
        // serde_json's escaping is exact; writing into Vec cannot fail.
        let escaped = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        out.put_slice(escaped.as_bytes());
    } else {
        out.put_u8(b'"');
        out.put_slice(s.as_bytes());
        out.put_u8(b'"');
    }
}

/// Write a success response.
pub(crate) fn write_result(out: &mut BytesMut, id: &Id, result: &RawJson) {
    out.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    id.write(out);
    out.put_slice(b",\"result\":");
    out.put_slice(result.as_bytes());
    out.put_u8(b'}');
}

/// Write an error response; `id: None` writes no `id` member (X-19: the
/// id-less error body of a transport-level refusal).
pub(crate) fn write_error(out: &mut BytesMut, id: Option<&Id>, error: &ErrorObject) {
    out.put_slice(b"{\"jsonrpc\":\"2.0\",");
    if let Some(id) = id {
        out.put_slice(b"\"id\":");
        id.write(out);
        out.put_u8(b',');
    }
    out.put_slice(b"\"error\":");
    error.write(out);
    out.put_u8(b'}');
}

/// Write a response of either kind.
pub(crate) fn write_outcome(out: &mut BytesMut, id: &Id, outcome: &Result<RawJson, ErrorObject>) {
    match outcome {
        Ok(result) => write_result(out, id, result),
        Err(error) => write_error(out, Some(id), error),
    }
}

/// Write a notification.
pub(crate) fn write_notification(out: &mut BytesMut, method: &str, params: Option<&RawJson>) {
    out.put_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    write_json_string(out, method);
    if let Some(params) = params {
        out.put_slice(b",\"params\":");
        out.put_slice(params.as_bytes());
    }
    out.put_u8(b'}');
}

/// Write a request.
pub(crate) fn write_request(out: &mut BytesMut, id: &Id, method: &str, params: Option<&RawJson>) {
    out.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    id.write(out);
    out.put_slice(b",\"method\":");
    write_json_string(out, method);
    if let Some(params) = params {
        out.put_slice(b",\"params\":");
        out.put_slice(params.as_bytes());
    }
    out.put_u8(b'}');
}

/// An id-less error body for a transport-level refusal (T-POST-7, X-19).
pub(crate) fn error_body(error: &ErrorObject) -> Bytes {
    let mut out = BytesMut::with_capacity(64 + error.message.len());
    write_error(&mut out, None, error);
    out.freeze()
}

impl ErrorObject {
    /// This error as a complete JSON-RPC response body without an id
    /// (`{"jsonrpc":"2.0","error":{..}}`, no `id` member), the form a
    /// transport-level refusal takes when no request id is known (T-POST-7,
    /// e.g. an adapter's own 503 when its driver is gone.
    pub fn to_id_less_body(&self) -> Bytes {
        error_body(self)
    }
}

#[cfg(test)]
mod tests;
