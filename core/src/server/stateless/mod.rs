//! The 2026-07-28 era: stateless exchanges on the same endpoint.
//!
//! A modern request is self-contained: its version travels in
//! `MCP-Protocol-Version` and in `_meta`, its method and name are mirrored in
//! headers that must agree with the body (INV-S24), and its response stream
//! belongs to it alone. There is no session, no GET stream, no resumption
//! and no server-to-client request (H-SSE-2). Closing the response stream is
//! the cancellation (H-CAN-1, X-13): the application is told and nothing more
//! is emitted for the request (INV-S23).
//!
//! ```text
//!  POST ──validate──▶ Pending ──first notification──▶ Streaming ──response──▶ (closed)
//!                        │  response                     │ client closes
//!                        ▼                               ▼
//!              JSON reply (404 for -32601)         Cancelled delivered, (removed)
//! ```
//!
//! `subscriptions/listen` is owned by the core: the acknowledgement goes out
//! first, [`Server::publish`] fans change notifications out to the
//! listeners whose filter asks for them, each tagged with the subscription id
//! (H-SUB-1..4), and [`Server::end_subscriptions`] sends each listener its
//! completion result before closing (H-SUB-5, X-29).
//!
//! `validate.rs` holds the checks of a modern request, `listen.rs` the
//! subscription streams; this file the tables and the exchanges.

mod listen;
mod validate;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use serde_json::Value;

use super::{IdSource, Server};
use crate::config::ResponseMode;
use crate::edge::{Mirrored, Refusal, VersionHeader};
use crate::jsonrpc::{self, Body, ErrorObject, Id, Message, RawJson, code};
use crate::mirror::ParamHeader;
use crate::output::{Content, Delivery, ExchangeId, Output, RequestKey, ResponseHead, SendError};
use crate::sse;
use crate::version::ProtocolVersion;

pub use self::listen::Filter;

/// The `_meta` key of the request's protocol version (H-META-1).
pub(crate) const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key of the client's capabilities (H-META-1).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key tagging every message of a listen stream (H-SUB-3).
pub(crate) const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
/// The `_meta` key of a request's log level: without it the request gets no
/// `notifications/message` (SEP-2575, REM-3).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

/// The requests 2026-07-28 removed (SEP-2575): each is answered 404 with
/// -32601 by the core itself, whatever the application would have done
/// with it (REM-1), so no handler can answer them by accident.
pub const REMOVED_METHODS: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

/// The log levels, least severe first (RFC 5424 names, as `logging.mdx`).
const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The severity of a log level name (its index in [`LOG_LEVELS`]).
fn severity(level: &str) -> Option<u8> {
    LOG_LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i).ok())
}

/// What a modern exchange is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    /// A request handled by the application.
    Call {
        request: RequestKey,
        /// `server/discover`: the core fills `supportedVersions`.
        discover: bool,
    },
    /// A `subscriptions/listen` stream, owned by the core.
    Listen { filter: Filter },
}

/// One open modern exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Call {
    pub(crate) id: Id,
    pub(crate) purpose: Purpose,
    /// The SSE head was sent (otherwise the answer may still be JSON).
    pub(crate) streaming: bool,
    /// The least severe `notifications/message` the request asked for
    /// (`_meta` logLevel); `None`: it asked for none, so none is sent
    /// (REM-3).
    pub(crate) log_level: Option<u8>,
}

/// The modern tables: open exchanges and the requests they carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Stateless {
    pub(crate) calls: BTreeMap<ExchangeId, Call>,
    pub(crate) requests: BTreeMap<RequestKey, ExchangeId>,
    pub(crate) listeners: usize,
    /// `x-mcp-header` annotations by tool name, as the application declared.
    pub(crate) tool_params: BTreeMap<String, Vec<ParamHeader>>,
}

/// Whether a POST belongs to the modern era: it names a modern (or unknown)
/// version, or carries modern `_meta` without a session. `initialize` always
/// selects the legacy era (H-BC-5) unless its version header names a
/// modern version: no legacy client sends that, and at 2026-07-28
/// `initialize` is a removed method (REM-2).
pub(crate) fn is_modern(session: Option<&str>, version: &VersionHeader, body: &Body) -> bool {
    let modern_header = matches!(version, VersionHeader::Known(v) if !v.is_legacy());
    if let Body::Single(Message::Request { method, .. }) = body
        && method == "initialize"
        && !modern_header
    {
        return false;
    }
    match version {
        VersionHeader::Known(v) if !v.is_legacy() => true,
        _ if session.is_some() => false,
        VersionHeader::Unknown(_) => true,
        _ => body_declares_version(body),
    }
}

fn body_declares_version(body: &Body) -> bool {
    let Body::Single(Message::Request { params, .. } | Message::Notification { params, .. }) = body
    else {
        return false;
    };
    // A cheap textual pre-check; the full parse happens in validation.
    params
        .as_ref()
        .is_some_and(|p| p.as_str().contains(META_PROTOCOL_VERSION))
}

/// Every version the server speaks, newest first (`data.supported`, H-VER-3).
pub(crate) fn supported_versions() -> Value {
    let mut all = vec![ProtocolVersion::V2026_07_28.as_str()];
    all.extend(ProtocolVersion::LEGACY.iter().rev().map(|v| v.as_str()));
    Value::from(all)
}

/// Add `"resultType": "complete"` to a result object that has none (H-RES-1).
pub(crate) fn with_result_type(result: RawJson) -> RawJson {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "resultType")]
        result_type: Option<serde::de::IgnoredAny>,
    }
    let bytes = result.as_bytes();
    let Some(open) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return result;
    };
    if bytes[open] != b'{' {
        return result;
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            result_type: Some(_),
        })
        | Err(_) => return result,
        Ok(_) => {}
    }
    let rest = &bytes[open + 1..];
    let empty = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = BytesMut::with_capacity(bytes.len() + 26);
    out.extend_from_slice(b"{\"resultType\":\"complete\"");
    if !empty {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(rest);
    RawJson::trusted(out.freeze())
}

impl<I: IdSource> Server<I> {
    /// A POST of the modern era: validate, then dispatch.
    pub(super) fn modern_post(
        &mut self,
        ex: ExchangeId,
        version: VersionHeader,
        mirrored: Mirrored,
        body: Body,
    ) {
        let message = match body {
            Body::Single(m) => m,
            Body::Batch(_) => {
                return self.refuse(
                    ex,
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        code::INVALID_REQUEST,
                        "Bad Request: JSON-RPC batches are not part of 2026-07-28",
                    ),
                );
            }
        };
        let (id, method, params) = match message {
            Message::Request { id, method, params } => (Some(id), method, params),
            Message::Notification { method, params } => (None, method, params),
            Message::Response { .. } => {
                return self.refuse(
                    ex,
                    Refusal::new(
                        StatusCode::BAD_REQUEST,
                        code::INVALID_REQUEST,
                        "Bad Request: clients never send responses in 2026-07-28 (H-GEN-2)",
                    ),
                );
            }
        };
        let value = params.as_ref().map(RawJson::to_value);
        if let Err((status, error)) =
            self.validate_modern(id.is_some(), &version, &mirrored, &method, value.as_ref())
        {
            return self.refuse_with_id(ex, status, id.as_ref(), error);
        }
        let Some(id) = id else {
            // H-POST-4: an accepted notification gets 202 and nothing else.
            self.outputs.push_back(Output::Reply {
                exchange: ex,
                head: ResponseHead::new(StatusCode::ACCEPTED, Content::Empty),
                body: Bytes::new(),
            });
            self.outputs
                .push_back(Output::Deliver(Delivery::Notification {
                    session: None,
                    method,
                    params,
                }));
            return;
        };
        if REMOVED_METHODS.contains(&method.as_str()) {
            return self.refuse_with_id(
                ex,
                StatusCode::NOT_FOUND,
                Some(&id),
                ErrorObject::new(
                    code::METHOD_NOT_FOUND,
                    format!("Method not found: {method} was removed in 2026-07-28"),
                ),
            );
        }
        let log_level = match value
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_LOG_LEVEL))
        {
            None => None,
            Some(l) => match l.as_str().and_then(severity) {
                Some(s) => Some(s),
                None => {
                    return self.refuse_invalid_params(
                        ex,
                        &id,
                        format!(
                            "Invalid params: _meta {META_LOG_LEVEL} must be one of {}",
                            LOG_LEVELS.join(", ")
                        ),
                    );
                }
            },
        };
        if method == "subscriptions/listen" {
            return self.listen(ex, id, value.as_ref());
        }
        if self.stateless.requests.len() >= self.config.max_stateless_in_flight {
            return self.too_many(ex, &id, "stateless requests in flight");
        }
        let rk = self.router.new_request();
        self.stateless.requests.insert(rk, ex);
        self.stateless.calls.insert(
            ex,
            Call {
                id: id.clone(),
                purpose: Purpose::Call {
                    request: rk,
                    discover: method == "server/discover",
                },
                streaming: false,
                log_level,
            },
        );
        self.outputs.push_back(Output::Deliver(Delivery::Request {
            session: None,
            request: rk,
            id,
            method,
            params,
        }));
    }

    /// One SSE event without an id (modern streams are not resumable,
    /// H-SSE-6).
    pub(super) fn emit(&mut self, ex: ExchangeId, write: impl FnOnce(&mut BytesMut)) {
        let mut msg = BytesMut::with_capacity(128);
        write(&mut msg);
        let mut frame = BytesMut::with_capacity(msg.len() + 16);
        sse::encode_message(&mut frame, None, &msg);
        self.outputs.push_back(Output::Event {
            exchange: ex,
            frame: frame.freeze(),
        });
    }

    /// 429 for a server-wide limit, with a JSON-RPC error naming it.
    pub(super) fn too_many(&mut self, ex: ExchangeId, id: &Id, what: &str) {
        self.refuse_with_id(
            ex,
            StatusCode::TOO_MANY_REQUESTS,
            Some(id),
            ErrorObject::new(
                code::INTERNAL_ERROR,
                format!("Too Many Requests: the server's limit of {what} is reached"),
            ),
        );
    }

    /// Refuse request `id` with 400 and -32602 `message` (its params are
    /// out of bounds or malformed).
    pub(super) fn refuse_invalid_params(&mut self, ex: ExchangeId, id: &Id, message: String) {
        self.refuse_with_id(
            ex,
            StatusCode::BAD_REQUEST,
            Some(id),
            ErrorObject::new(code::INVALID_PARAMS, message),
        );
    }

    pub(super) fn refuse_with_id(
        &mut self,
        ex: ExchangeId,
        status: StatusCode,
        id: Option<&Id>,
        error: ErrorObject,
    ) {
        let mut body = BytesMut::with_capacity(96 + error.message.len());
        jsonrpc::write_error(&mut body, id, &error);
        self.outputs.push_back(Output::Reply {
            exchange: ex,
            head: ResponseHead::new(status, Content::Json),
            body: body.freeze(),
        });
    }

    /// Whether `rk` is a modern request (then the commands below apply).
    pub(super) fn is_stateless(&self, rk: RequestKey) -> bool {
        self.stateless.requests.contains_key(&rk)
    }

    /// A notification on a modern request's own stream (H-SSE-1).
    pub(super) fn stateless_notify(
        &mut self,
        rk: RequestKey,
        method: &str,
        params: Option<&RawJson>,
    ) -> Result<(), SendError> {
        let &ex = self.stateless.requests.get(&rk).ok_or(SendError::Gone)?;
        let call = self.stateless.calls.get_mut(&ex).ok_or(SendError::Gone)?;
        if method == "notifications/message" && !log_wanted(call.log_level, params) {
            // REM-3: a request that set no log level (or a higher one)
            // gets no log message; dropping it is what the era asks.
            return Ok(());
        }
        if !call.streaming {
            if self.config.response_mode == ResponseMode::Json {
                return Err(SendError::JsonMode);
            }
            call.streaming = true;
            self.outputs.push_back(Output::StreamHead {
                exchange: ex,
                head: ResponseHead::new(StatusCode::OK, Content::EventStream),
            });
        }
        self.emit(ex, |out| jsonrpc::write_notification(out, method, params));
        Ok(())
    }

    /// The response of a modern request: JSON (404 for an unknown method,
    /// H-VER-5) or the last event of its stream (H-SSE-3).
    pub(super) fn stateless_answer(
        &mut self,
        rk: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
    ) -> Result<(), SendError> {
        let ex = self.stateless.requests.remove(&rk).ok_or(SendError::Gone)?;
        let Some(call) = self.stateless.calls.remove(&ex) else {
            return Err(SendError::Gone);
        };
        let discover = matches!(call.purpose, Purpose::Call { discover: true, .. });
        let outcome = outcome.map(|result| {
            let result = if discover {
                with_supported_versions(result)
            } else {
                result
            };
            with_result_type(result)
        });
        let mut msg = BytesMut::with_capacity(64);
        jsonrpc::write_outcome(&mut msg, &call.id, &outcome);
        // An error whose HTTP status the spec fixes is a JSON reply with
        // that status, unless the stream has begun (H-VER-5, ERR-2).
        let fixed_status = match &outcome {
            Err(e) => error_status(e.code),
            Ok(_) => None,
        };
        if call.streaming
            || (self.config.response_mode == ResponseMode::Sse && fixed_status.is_none())
        {
            if !call.streaming {
                self.outputs.push_back(Output::StreamHead {
                    exchange: ex,
                    head: ResponseHead::new(StatusCode::OK, Content::EventStream),
                });
            }
            let mut frame = BytesMut::with_capacity(msg.len() + 16);
            sse::encode_message(&mut frame, None, &msg);
            self.outputs.push_back(Output::Event {
                exchange: ex,
                frame: frame.freeze(),
            });
            self.outputs.push_back(Output::Close { exchange: ex });
        } else {
            let status = fixed_status.unwrap_or(StatusCode::OK);
            self.outputs.push_back(Output::Reply {
                exchange: ex,
                head: ResponseHead::new(status, Content::Json),
                body: msg.freeze(),
            });
        }
        Ok(())
    }

    /// The client closed a modern exchange: that is the cancellation
    /// (H-CAN-1). Returns whether `ex` was modern.
    pub(super) fn stateless_disconnect(&mut self, ex: ExchangeId) -> bool {
        let Some(call) = self.stateless.calls.remove(&ex) else {
            return false;
        };
        match call.purpose {
            Purpose::Call { request, .. } => {
                self.stateless.requests.remove(&request);
                // H-CAN-2: the request is forgotten at once, so nothing more
                // can be emitted for it; a late answer finds it gone.
                self.outputs.push_back(Output::Deliver(Delivery::Cancelled {
                    session: None,
                    request,
                    reason: None,
                }));
            }
            Purpose::Listen { .. } => self.stateless.listeners -= 1,
        }
        true
    }

    /// The modern part of [`Server::check_invariants`].
    pub(super) fn check_stateless(&self) -> Result<(), String> {
        let s = &self.stateless;
        ensure!(
            s.requests.len() <= self.config.max_stateless_in_flight,
            "stateless in-flight limit"
        );
        ensure!(s.listeners <= self.config.max_listeners, "listener limit");
        let mut listeners = 0;
        let mut calls = 0;
        for (ex, call) in &s.calls {
            ensure!(
                !self.router.exchanges.contains_key(ex),
                "an exchange is both modern and legacy"
            );
            match &call.purpose {
                Purpose::Call { request, .. } => {
                    calls += 1;
                    ensure_eq!(s.requests.get(request), Some(ex), "modern request table");
                    ensure!(
                        !self.router.requests.contains_key(request),
                        "a request is both modern and legacy"
                    );
                }
                Purpose::Listen { filter } => {
                    listeners += 1;
                    ensure!(call.streaming, "INV-S23: listen stream without its head");
                    ensure!(
                        filter.resource_subscriptions.len()
                            <= self.config.max_resource_subscriptions,
                        "resource subscription limit"
                    );
                }
            }
        }
        ensure_eq!(calls, s.requests.len(), "dangling modern requests");
        ensure_eq!(listeners, s.listeners, "listener count");
        Ok(())
    }
}

/// The HTTP status a modern error answer must have: 404 for -32601
/// (H-VER-5), 400 for the errors the spec pins to 400 (-32020, -32021,
/// -32022; ERR-2). Others are 200.
fn error_status(code: i64) -> Option<StatusCode> {
    match code {
        code::METHOD_NOT_FOUND => Some(StatusCode::NOT_FOUND),
        code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_PROTOCOL_VERSION => {
            Some(StatusCode::BAD_REQUEST)
        }
        _ => None,
    }
}

/// Whether a `notifications/message` with `params` goes out to a request
/// that asked for `wanted` (REM-3): only when it asked, and only at or
/// above that level. A message whose level cannot be read goes out when
/// any level was asked for.
fn log_wanted(wanted: Option<u8>, params: Option<&RawJson>) -> bool {
    #[derive(serde::Deserialize)]
    struct Level<'a> {
        #[serde(borrow)]
        level: Option<std::borrow::Cow<'a, str>>,
    }
    let Some(wanted) = wanted else {
        return false;
    };
    let level = params
        .and_then(|p| p.deserialize::<Level<'_>>().ok())
        .and_then(|l| l.level)
        .and_then(|l| severity(&l));
    level.is_none_or(|l| l >= wanted)
}

/// `server/discover`: the transport knows which versions it speaks, so it
/// writes `supportedVersions` itself (H-VER-7).
fn with_supported_versions(result: RawJson) -> RawJson {
    let mut value = result.to_value();
    match value.as_object_mut() {
        Some(obj) => {
            obj.insert("supportedVersions".into(), supported_versions());
            RawJson::from_value(&value)
        }
        None => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_type_is_added_once() {
        let add = |s: &str| {
            with_result_type(RawJson::parse(s.to_owned()).unwrap())
                .as_str()
                .to_owned()
        };
        assert_eq!(add("{}"), r#"{"resultType":"complete"}"#);
        assert_eq!(add(r#" {"a":1}"#), r#"{"resultType":"complete","a":1}"#);
        assert_eq!(
            add(r#"{"resultType":"input_required"}"#),
            r#"{"resultType":"input_required"}"#
        );
        assert_eq!(add("[1]"), "[1]");
    }
}
