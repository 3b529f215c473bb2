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

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use serde_json::Value;

use super::{IdSource, Server};
use crate::config::ResponseMode;
use crate::edge::{Mirrored, Refusal, VersionHeader};
use crate::jsonrpc::{self, Body, ErrorObject, Id, Message, RawJson, code};
use crate::mirror::{self, ParamHeader};
use crate::output::{Content, Delivery, ExchangeId, Output, RequestKey, ResponseHead, SendError};
use crate::sse;
use crate::version::ProtocolVersion;

/// The `_meta` key of the request's protocol version (H-META-1).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key of the client's capabilities (H-META-1).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key tagging every message of a listen stream (H-SUB-3).
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The change notifications a listener may ask for (the `notifications`
/// filter of `subscriptions/listen`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// `notifications/tools/list_changed`.
    pub tools_list_changed: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts_list_changed: bool,
    /// `notifications/resources/list_changed`.
    pub resources_list_changed: bool,
    /// `notifications/resources/updated` for these URIs.
    pub resource_subscriptions: BTreeSet<String>,
}

impl Filter {
    /// Whether a notification `method` about `uri` passes this filter.
    pub fn admits(&self, method: &str, uri: Option<&str>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools_list_changed,
            "notifications/prompts/list_changed" => self.prompts_list_changed,
            "notifications/resources/list_changed" => self.resources_list_changed,
            "notifications/resources/updated" => {
                uri.is_some_and(|u| self.resource_subscriptions.contains(u))
            }
            _ => false,
        }
    }

    fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        if self.tools_list_changed {
            m.insert("toolsListChanged".into(), true.into());
        }
        if self.prompts_list_changed {
            m.insert("promptsListChanged".into(), true.into());
        }
        if self.resources_list_changed {
            m.insert("resourcesListChanged".into(), true.into());
        }
        if !self.resource_subscriptions.is_empty() {
            m.insert(
                "resourceSubscriptions".into(),
                self.resource_subscriptions.iter().cloned().collect(),
            );
        }
        Value::Object(m)
    }
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
/// selects the legacy era (H-BC-5).
pub(crate) fn is_modern(session: Option<&str>, version: &VersionHeader, body: &Body) -> bool {
    if let Body::Single(Message::Request { method, .. }) = body
        && method == "initialize"
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

fn mismatch(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(
        code::HEADER_MISMATCH,
        format!("Header mismatch: {}", message.into()),
    )
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

    /// The checks of the modern era, in order: version header present,
    /// `_meta` fields present (-32602), header equals `_meta` (-32020),
    /// version supported (-32022), `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`
    /// (-32020). All answered with 400.
    fn validate_modern(
        &self,
        is_request: bool,
        version: &VersionHeader,
        mirrored: &Mirrored,
        method: &str,
        params: Option<&Value>,
    ) -> Result<(), (StatusCode, ErrorObject)> {
        let bad = StatusCode::BAD_REQUEST;
        if let Some(name) = mirrored.repeated {
            return Err((bad, mismatch(format!("repeated {name} header"))));
        }
        let header_version = match version {
            VersionHeader::Absent => {
                return Err((bad, mismatch("the MCP-Protocol-Version header is required")));
            }
            VersionHeader::Known(v) => v.as_str(),
            VersionHeader::Unknown(s) => s.as_str(),
        };
        let meta = params
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        let meta_version = meta
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        if is_request {
            let caps = meta
                .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
                .is_some_and(Value::is_object);
            let mut missing = Vec::new();
            if meta_version.is_none() {
                missing.push(META_PROTOCOL_VERSION);
            }
            if !caps {
                missing.push(META_CLIENT_CAPABILITIES);
            }
            if !missing.is_empty() {
                return Err((
                    bad,
                    ErrorObject::new(
                        code::INVALID_PARAMS,
                        format!("Invalid params: _meta must carry {}", missing.join(" and ")),
                    ),
                ));
            }
        }
        if let Some(mv) = meta_version
            && mv != header_version
        {
            return Err((
                bad,
                mismatch(format!(
                    "MCP-Protocol-Version header value '{header_version}' does not match body value '{mv}'"
                )),
            ));
        }
        if !matches!(version, VersionHeader::Known(v) if !v.is_legacy()) {
            let data = serde_json::json!({
                "supported": supported_versions(),
                "requested": header_version,
            });
            return Err((
                bad,
                ErrorObject::new(
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    "Unsupported protocol version",
                )
                .with_data(RawJson::from_value(&data)),
            ));
        }
        match &mirrored.method {
            None if is_request => {
                return Err((bad, mismatch("the Mcp-Method header is required")));
            }
            Some(h) if h != method => {
                return Err((
                    bad,
                    mismatch(format!(
                        "Mcp-Method header value '{h}' does not match body value '{method}'"
                    )),
                ));
            }
            _ => {}
        }
        if let Some(field) = mirror::name_field(method) {
            let body_name = params.and_then(|p| p.get(field)).and_then(Value::as_str);
            let Some(raw) = &mirrored.name else {
                return Err((
                    bad,
                    mismatch(format!("the Mcp-Name header is required for {method}")),
                ));
            };
            let decoded =
                mirror::decode_value(raw).map_err(|e| (bad, mismatch(format!("Mcp-Name: {e}"))))?;
            if body_name != Some(decoded.as_str()) {
                return Err((
                    bad,
                    mismatch(format!(
                        "Mcp-Name header value '{decoded}' does not match body value '{}'",
                        body_name.unwrap_or("")
                    )),
                ));
            }
            if method == "tools/call" {
                self.check_params(&decoded, params, mirrored)
                    .map_err(|m| (bad, mismatch(m)))?;
            }
        }
        Ok(())
    }

    /// `Mcp-Param-*` of a `tools/call` against the tool's declared
    /// annotations (H-HDR-5): present iff the value is, equal after decoding.
    fn check_params(
        &self,
        tool: &str,
        params: Option<&Value>,
        mirrored: &Mirrored,
    ) -> Result<(), String> {
        let Some(declared) = self.stateless.tool_params.get(tool) else {
            return Ok(());
        };
        let null = Value::Null;
        let arguments = params.and_then(|p| p.get("arguments")).unwrap_or(&null);
        for p in declared {
            let name = p.header_name();
            let header = mirrored
                .params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v);
            match (p.value_in(arguments), header) {
                (None, None) => {}
                (Some(_), None) => {
                    return Err(format!("the Mcp-Param-{} header is required", p.name));
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "Mcp-Param-{} is sent but the argument is absent",
                        p.name
                    ));
                }
                (Some(value), Some(raw)) => {
                    let decoded = mirror::decode_value(raw)
                        .map_err(|e| format!("Mcp-Param-{}: {e}", p.name))?;
                    if !p.matches(&decoded, value) {
                        return Err(format!(
                            "Mcp-Param-{} header value '{decoded}' does not match body value '{value}'",
                            p.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// `subscriptions/listen`: acknowledge at once with the honoured subset
    /// (H-SUB-2), then keep the stream for [`Server::publish`].
    fn listen(&mut self, ex: ExchangeId, id: Id, params: Option<&Value>) {
        let max_uris = self.config.max_resource_subscriptions;
        let requested = params.and_then(|p| p.get("notifications"));
        let flag = |k: &str| {
            requested
                .and_then(|r| r.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let uris: BTreeSet<String> = requested
            .and_then(|r| r.get("resourceSubscriptions"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if uris.len() > max_uris {
            return self.refuse_with_id(
                ex,
                StatusCode::BAD_REQUEST,
                Some(&id),
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    format!("Invalid params: at most {max_uris} resource subscriptions per listen"),
                ),
            );
        }
        if self.stateless.listeners >= self.config.max_listeners {
            return self.too_many(ex, &id, "subscriptions");
        }
        let support = &self.config.subscriptions;
        let filter = Filter {
            tools_list_changed: support.tools_list_changed && flag("toolsListChanged"),
            prompts_list_changed: support.prompts_list_changed && flag("promptsListChanged"),
            resources_list_changed: support.resources_list_changed && flag("resourcesListChanged"),
            resource_subscriptions: if support.resource_updates {
                uris
            } else {
                BTreeSet::new()
            },
        };
        let mut ack = serde_json::Map::new();
        ack.insert("notifications".into(), filter.to_value());
        let ack = tagged(Value::Object(ack), &id);
        self.outputs.push_back(Output::StreamHead {
            exchange: ex,
            head: ResponseHead::new(StatusCode::OK, Content::EventStream),
        });
        self.emit(ex, |out| {
            jsonrpc::write_notification(out, "notifications/subscriptions/acknowledged", Some(&ack))
        });
        self.stateless.listeners += 1;
        self.stateless.calls.insert(
            ex,
            Call {
                id,
                purpose: Purpose::Listen { filter },
                streaming: true,
            },
        );
    }

    /// One SSE event without an id (modern streams are not resumable,
    /// H-SSE-6).
    fn emit(&mut self, ex: ExchangeId, write: impl FnOnce(&mut BytesMut)) {
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
    fn too_many(&mut self, ex: ExchangeId, id: &Id, what: &str) {
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
        let not_found = matches!(&outcome, Err(e) if e.code == code::METHOD_NOT_FOUND);
        if call.streaming || (self.config.response_mode == ResponseMode::Sse && !not_found) {
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
            let status = if not_found {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
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

    /// Notify every listener whose filter asks for `method` (H-SUB-1),
    /// tagged with its subscription id (H-SUB-3). Returns how many
    /// listeners it reached.
    pub(super) fn stateless_publish(&mut self, method: &str, params: Option<&RawJson>) -> usize {
        let value = params
            .map(RawJson::to_value)
            .unwrap_or(Value::Object(Default::default()));
        let uri = value.get("uri").and_then(Value::as_str).map(str::to_owned);
        let targets: Vec<(ExchangeId, Id)> = self
            .stateless
            .calls
            .iter()
            .filter_map(|(ex, call)| match &call.purpose {
                Purpose::Listen { filter } if filter.admits(method, uri.as_deref()) => {
                    Some((*ex, call.id.clone()))
                }
                _ => None,
            })
            .collect();
        for (ex, id) in &targets {
            let tagged = tagged(value.clone(), id);
            self.emit(*ex, |out| {
                jsonrpc::write_notification(out, method, Some(&tagged))
            });
        }
        targets.len()
    }

    /// End every subscription gracefully: the completion result, then close
    /// (H-SUB-5). Returns how many ended.
    pub(super) fn stateless_end_subscriptions(&mut self) -> usize {
        let listeners: Vec<(ExchangeId, Id)> = self
            .stateless
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.purpose, Purpose::Listen { .. }))
            .map(|(ex, c)| (*ex, c.id.clone()))
            .collect();
        for (ex, id) in &listeners {
            self.stateless.calls.remove(ex);
            let mut result = serde_json::Map::new();
            result.insert("resultType".into(), "complete".into());
            let result = tagged(Value::Object(result), id);
            self.emit(*ex, |out| jsonrpc::write_result(out, id, &result));
            self.outputs.push_back(Output::Close { exchange: *ex });
        }
        self.stateless.listeners -= listeners.len();
        listeners.len()
    }

    /// The modern part of [`Server::check_invariants`].
    pub(super) fn check_stateless(&self) {
        let s = &self.stateless;
        assert!(
            s.requests.len() <= self.config.max_stateless_in_flight,
            "stateless in-flight limit"
        );
        assert!(s.listeners <= self.config.max_listeners, "listener limit");
        let mut listeners = 0;
        let mut calls = 0;
        for (ex, call) in &s.calls {
            assert!(
                !self.router.exchanges.contains_key(ex),
                "an exchange is both modern and legacy"
            );
            match &call.purpose {
                Purpose::Call { request, .. } => {
                    calls += 1;
                    assert_eq!(s.requests.get(request), Some(ex), "modern request table");
                    assert!(
                        !self.router.requests.contains_key(request),
                        "a request is both modern and legacy"
                    );
                }
                Purpose::Listen { filter } => {
                    listeners += 1;
                    assert!(call.streaming, "INV-S23: listen stream without its head");
                    assert!(
                        filter.resource_subscriptions.len()
                            <= self.config.max_resource_subscriptions,
                        "resource subscription limit"
                    );
                }
            }
        }
        assert_eq!(calls, s.requests.len(), "dangling modern requests");
        assert_eq!(listeners, s.listeners, "listener count");
    }
}

/// `value` (an object, or made one) with `_meta.subscriptionId` = `id`.
fn tagged(mut value: Value, id: &Id) -> RawJson {
    if !value.is_object() {
        value = Value::Object(Default::default());
    }
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if !meta.is_object() {
            *meta = Value::Object(Default::default());
        }
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_SUBSCRIPTION_ID.into(), id.to_value());
        }
    }
    RawJson::from_value(&value)
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
