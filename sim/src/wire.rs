//! The HTTP requests an MCP client sends, and what it makes of the answers:
//! shared by the model checker (which hands them to the core directly) and
//! the simulator (which sends them through hyper over simulated TCP).

use bytes::Bytes;
use http::Request;

/// The protocol revision every simulated client proposes: the newest legacy
/// one, whose streams start with a priming event (so every stream is
/// resumable from its first event).
pub const VERSION: &str = "2025-11-25";

/// `Accept` of a POST: both answers are acceptable (T-POST-2).
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// A POST of `body`, in `session` if given.
pub fn post(session: Option<&str>, body: String) -> Request<Bytes> {
    let mut b = Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("host", "localhost");
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(Bytes::from(body)).expect("static request parts")
}

/// The revision of the stateless era.
pub const MODERN: &str = "2026-07-28";

/// A 2026-07-28 (stateless) `tools/call` of `tool`: no session, the version
/// header and `_meta` agreeing, `Mcp-Method` and `Mcp-Name` mirroring the
/// body (H-HDR-1), the `tag` argument and progress token as in [`call_body`].
pub fn modern_call(id: i64, tool: &str, tag: &str) -> Request<Bytes> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"tag":"{tag}"}},"_meta":{{"progressToken":"{tag}","io.modelcontextprotocol/protocolVersion":"{MODERN}","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/clientInfo":{{"name":"{tag}","version":"1"}}}}}}}}"#
    );
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("host", "localhost")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Bytes::from(body))
        .expect("static request parts")
}

/// A GET for the session's standalone stream, or a resume from `last_event_id`.
pub fn get(session: &str, last_event_id: Option<&str>) -> Request<Bytes> {
    let mut b = Request::get("/mcp")
        .header("accept", "text/event-stream")
        .header("host", "localhost")
        .header("mcp-session-id", session);
    if let Some(l) = last_event_id {
        b = b.header("last-event-id", l);
    }
    b.body(Bytes::new()).expect("static request parts")
}

/// A DELETE ending the session.
pub fn delete(session: &str) -> Request<Bytes> {
    Request::delete("/mcp")
        .header("host", "localhost")
        .header("mcp-session-id", session)
        .body(Bytes::new())
        .expect("static request parts")
}

/// The `initialize` request (id 0).
pub fn initialize_body(client: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{"sampling":{{}}}},"clientInfo":{{"name":"{client}","version":"1"}}}}}}"#
    )
}

/// `notifications/initialized`.
pub fn initialized_body() -> String {
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned()
}

/// A tool call whose arguments carry `tag` (the application echoes it, so a
/// response that reaches the wrong client or request is recognisable) and a
/// progress token.
pub fn call_body(id: i64, tool: &str, tag: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"tag":"{tag}"}},"_meta":{{"progressToken":"{tag}"}}}}}}"#
    )
}

/// The client's answer to a server-to-client request with wire id `id`.
pub fn answer_body(id: &serde_json::Value, tag: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"role":"assistant","content":{{"type":"text","text":"{tag}"}},"model":"sim"}}}}"#
    )
}

/// `(stream, seq)` of an event id `"{stream}-{seq}"` (the core's format).
pub fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (s, q) = id.split_once('-')?;
    Some((s.parse().ok()?, q.parse().ok()?))
}

/// What one JSON-RPC message from the server is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Incoming {
    /// A response to our request `id`; `tag` is the tag the application
    /// echoed (empty if none), `error` whether it is an error.
    Response {
        /// Our request id.
        id: i64,
        /// The echoed tag.
        tag: String,
        /// An error response.
        error: bool,
        /// What answered the sampling request the tool made (empty if none):
        /// the client's own name, or the answer crossed sessions.
        answer: String,
    },
    /// A server-to-client request (its raw id, as JSON text).
    Request {
        /// The id, as JSON text.
        id: String,
        /// The method.
        method: String,
    },
    /// A notification.
    Notification {
        /// The method.
        method: String,
    },
    /// Anything else (unparseable data): an oracle failure where it matters.
    Other(String),
}

/// Classify one message (an SSE event's data or a JSON body).
pub fn classify(data: &[u8]) -> Incoming {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Incoming::Other(String::from_utf8_lossy(data).into_owned());
    };
    let method = v.get("method").and_then(|m| m.as_str());
    match (v.get("id"), method) {
        (Some(id), Some(m)) => Incoming::Request {
            id: id.to_string(),
            method: m.to_owned(),
        },
        (None, Some(m)) => Incoming::Notification {
            method: m.to_owned(),
        },
        (Some(id), None) => {
            let tag = v
                .pointer("/result/structuredContent/tag")
                .or_else(|| v.pointer("/result/tag"))
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned();
            let answer = v
                .pointer("/result/structuredContent/answer")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned();
            Incoming::Response {
                id: id.as_i64().unwrap_or(-1),
                tag,
                error: v.get("error").is_some(),
                answer,
            }
        }
        (None, None) => Incoming::Other(v.to_string()),
    }
}

/// Whether an SSE frame as the core encodes it carries a JSON-RPC response
/// (used by the broken variants that misroute responses).
pub fn frame_is_response(frame: &[u8]) -> bool {
    let text = String::from_utf8_lossy(frame);
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .any(|d| matches!(classify(d.trim().as_bytes()), Incoming::Response { .. }))
}
