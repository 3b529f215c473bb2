//! An in-memory client for unit tests of a server's handlers: no socket,
//! no port, no HTTP stack. It builds HTTP requests in memory and hands them
//! to the real [`McpService`] (driver, core, handler tasks), reading the
//! answer (JSON or SSE) from the body the service returns.
//!
//! Deterministic under a current-thread runtime (`#[tokio::test]`, the
//! default flavour): the only concurrency is the service's own tasks on
//! that runtime; with `#[tokio::test(start_paused = true)]` a handler's
//! `tokio::time::sleep` takes no real time.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use streamable_hyper::testing::TestClient;
//! use streamable_hyper::{McpServer, Tool};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Echo { text: String }
//! let app = McpServer::new("demo", "1")
//!     .tool(Tool::typed("echo", "Echo", |_ctx, Echo { text }| async move { Ok(text) }));
//! let client = TestClient::connect(app).await.unwrap();
//! let call = client.call_tool("echo", serde_json::json!({"text": "hi"})).await.unwrap();
//! assert_eq!(call.result["content"][0]["text"], "hi");
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use streamable_core::sse::Decoder;
use tokio::sync::mpsc;

use crate::handler::Handler;
use crate::service::McpService;

/// The protocol version the client speaks (the legacy session era's
/// latest).
pub const TEST_PROTOCOL_VERSION: &str = "2025-11-25";

/// Why a [`TestClient`] request did not give a result.
#[derive(Clone, Debug, PartialEq)]
pub enum TestError {
    /// The server answered with a JSON-RPC error.
    Rpc {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
        /// Its data, if any.
        data: Option<Value>,
    },
    /// The HTTP answer was not a JSON-RPC response (status and body).
    Http(u16, String),
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Rpc { code, message, .. } => write!(f, "JSON-RPC error {code}: {message}"),
            TestError::Http(status, body) => write!(f, "HTTP {status}: {body}"),
        }
    }
}

impl std::error::Error for TestError {}

/// One progress notification of a call, in arrival order.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressEvent {
    /// `progress`.
    pub progress: f64,
    /// `total`, if sent.
    pub total: Option<f64>,
    /// `message`, if sent.
    pub message: Option<String>,
}

/// What a call produced: its result and what came before it on its stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The `CallToolResult` (or any method's result).
    pub result: Value,
    /// Its progress notifications, in order.
    pub progress: Vec<ProgressEvent>,
    /// Every other notification on the call's stream (log messages, ...),
    /// whole, in order.
    pub notifications: Vec<Value>,
}

/// A client session held in memory; see the [module](self).
#[derive(Debug)]
pub struct TestClient {
    service: McpService,
    session: Option<String>,
    next_id: AtomicU64,
    init: Value,
}

impl TestClient {
    /// Build a service around `handler` with the default settings and open a
    /// session (`initialize`, then `notifications/initialized`).
    pub async fn connect(handler: impl Handler) -> Result<TestClient, TestError> {
        TestClient::with_service(McpService::new(handler)).await
    }

    /// Open a session on an existing service (built with your own
    /// [`Builder`](crate::Builder) settings; a [`Builder::path`](crate::Builder::path)
    /// must be `/mcp`, the path this client uses).
    pub async fn with_service(service: McpService) -> Result<TestClient, TestError> {
        let mut c = TestClient {
            service,
            session: None,
            next_id: AtomicU64::new(1),
            init: Value::Null,
        };
        let (init, session) = c
            .exchange(
                "initialize",
                json!({
                    "protocolVersion": TEST_PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "streamable-test-client", "version": "1"},
                }),
                true,
            )
            .await?;
        c.init = init.result;
        c.session = session;
        c.notify("notifications/initialized", Value::Null).await?;
        Ok(c)
    }

    /// The `initialize` result (server info, capabilities, instructions).
    pub fn server_info(&self) -> &Value {
        &self.init
    }

    /// The service it talks to.
    pub fn service(&self) -> &McpService {
        &self.service
    }

    /// Call a tool (with a progress token, so progress is collected).
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<Call, TestError> {
        let params = json!({"name": name, "arguments": arguments});
        self.call("tools/call", params).await
    }

    /// Any request, with a progress token: its result and what its stream
    /// carried before it.
    pub async fn call(&self, method: &str, mut params: Value) -> Result<Call, TestError> {
        let id = self.next_id.load(Ordering::Relaxed);
        if let Some(p) = params.as_object_mut() {
            p.insert("_meta".into(), json!({"progressToken": format!("p{id}")}));
        }
        self.exchange(method, params, false).await.map(|(c, _)| c)
    }

    /// Any request: its result.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, TestError> {
        self.exchange(method, params, false)
            .await
            .map(|(c, _)| c.result)
    }

    /// A notification.
    pub async fn notify(&self, method: &str, params: Value) -> Result<(), TestError> {
        let mut msg = json!({"jsonrpc": "2.0", "method": method});
        if !params.is_null() {
            msg["params"] = params;
        }
        let res = self.post(&msg).await;
        let status = res.status().as_u16();
        if status == 202 {
            return Ok(());
        }
        let body = res.into_body().collect().await.map(|b| b.to_bytes());
        Err(TestError::Http(status, text(body.ok())))
    }

    /// Open the session's standalone stream (`GET`): the messages the
    /// server sends outside any request (`notifications/resources/updated`,
    /// ...) arrive on the returned channel, in order, until the session or
    /// the service ends. Server requests on it are not answered.
    pub async fn open_stream(&self) -> Result<mpsc::UnboundedReceiver<Value>, TestError> {
        let mut req = Request::get("http://localhost/mcp")
            .header(header::HOST, "localhost")
            .header(header::ACCEPT, "text/event-stream")
            .header("mcp-protocol-version", TEST_PROTOCOL_VERSION);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| TestError::Http(0, e.to_string()))?;
        let res = self.service.handle(req).await;
        let status = res.status().as_u16();
        if status != 200 {
            let body = res.into_body().collect().await.map(|b| b.to_bytes());
            return Err(TestError::Http(status, text(body.ok())));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut body = res.into_body();
        tokio::spawn(async move {
            let mut decoder = Decoder::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if decoder.feed(&data).is_err() {
                    return;
                }
                while let Some(ev) = decoder.next_event() {
                    if let Ok(v) = serde_json::from_str::<Value>(&ev.data)
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    /// End the session (`DELETE`).
    pub async fn close(self) {
        let mut req = Request::delete("http://localhost/mcp").header(header::HOST, "localhost");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        if let Ok(req) = req
            .header("mcp-protocol-version", TEST_PROTOCOL_VERSION)
            .body(Full::new(Bytes::new()))
        {
            let _ = self.service.handle(req).await;
        }
    }

    async fn post(&self, msg: &Value) -> http::Response<crate::McpBody> {
        let mut req = Request::post("http://localhost/mcp")
            .header(header::HOST, "localhost")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::CONTENT_TYPE, "application/json")
            .header("mcp-protocol-version", TEST_PROTOCOL_VERSION);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let body = Full::new(Bytes::from(msg.to_string()));
        match req.body(body) {
            Ok(req) => self.service.handle(req).await,
            Err(e) => unreachable!("a request built from valid parts: {e}"),
        }
    }

    /// Send a request; read its answer (JSON, or an SSE stream up to the
    /// response, answering any server-to-client request on it with an
    /// error: this client offers no sampling, elicitation or roots).
    async fn exchange(
        &self,
        method: &str,
        params: Value,
        initialize: bool,
    ) -> Result<(Call, Option<String>), TestError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let res = self.post(&msg).await;
        let status = res.status().as_u16();
        let session = res
            .headers()
            .get("mcp-session-id")
            .filter(|_| initialize)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sse = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let mut body = res.into_body();
        let mut call = Call {
            result: Value::Null,
            progress: Vec::new(),
            notifications: Vec::new(),
        };
        if !sse {
            let bytes = body.collect().await.map(|b| b.to_bytes()).ok();
            let v: Value = bytes
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            return answer(v, status, &mut call, || text(bytes)).map(|()| (call, session));
        }
        let mut decoder = Decoder::new();
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if decoder.feed(&data).is_err() {
                return Err(TestError::Http(status, "an SSE event too large".into()));
            }
            while let Some(ev) = decoder.next_event() {
                let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
                    continue;
                };
                if v.get("method").is_some() && v.get("id").is_some() {
                    self.refuse(&v["id"]).await;
                } else if v.get("method").is_some() {
                    if v["method"] == "notifications/progress" {
                        let p = &v["params"];
                        call.progress.push(ProgressEvent {
                            progress: p["progress"].as_f64().unwrap_or(f64::NAN),
                            total: p["total"].as_f64(),
                            message: p["message"].as_str().map(str::to_owned),
                        });
                    } else {
                        call.notifications.push(v);
                    }
                } else if v.get("id") == Some(&json!(id)) {
                    return answer(v, status, &mut call, String::new).map(|()| (call, session));
                }
            }
        }
        Err(TestError::Http(
            status,
            "the stream ended without a response".into(),
        ))
    }

    async fn refuse(&self, id: &Value) {
        let msg = json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": streamable_core::code::METHOD_NOT_FOUND,
            "message": "the TestClient answers no server-to-client requests",
        }});
        let _ = self.post(&msg).await;
    }
}

fn text(bytes: Option<Bytes>) -> String {
    bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Read a JSON-RPC response into `call` (or its error).
fn answer(
    v: Value,
    status: u16,
    call: &mut Call,
    body: impl FnOnce() -> String,
) -> Result<(), TestError> {
    if let Some(r) = v.get("result") {
        call.result = r.clone();
        return Ok(());
    }
    if let Some(e) = v.get("error") {
        return Err(TestError::Rpc {
            code: e["code"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or("").to_owned(),
            data: e.get("data").cloned(),
        });
    }
    Err(TestError::Http(status, body()))
}
