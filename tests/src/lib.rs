//! End-to-end tests of streamable over real loopback sockets.
//!
//! This library holds the test harness: a test application (the example
//! server's tools plus a few hostile ones), a server on an ephemeral
//! loopback port, and a tiny HTTP/SSE client with bounded timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use streamable_core::Config;
use streamable_core::sse::{Decoder, Event};
use streamable_hyper::{Builder, LogLevel, McpServer, McpService, Tool, ToolResult};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Every wait in the tests is bounded by this.
pub const T: Duration = Duration::from_secs(10);

/// The example application's module (`transport-hyper/examples/common`),
/// compiled into this library so its tools exist once; only its tools are
/// used here, its `app()` is the examples'.
#[allow(dead_code)]
#[path = "../../transport-hyper/examples/common/mod.rs"]
mod example;

/// Gates of the `lockstep` tool, by name: a test opens one step at a time
/// with [`open_gate`].
fn gate(name: &str) -> std::sync::Arc<tokio::sync::Semaphore> {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static GATES: OnceLock<Mutex<BTreeMap<String, Arc<tokio::sync::Semaphore>>>> = OnceLock::new();
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    gates
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(0)))
        .clone()
}

/// Let the `lockstep` tool waiting on gate `name` take its next step.
pub fn open_gate(name: &str) {
    gate(name).add_permits(1);
}

/// The test application: the example's `echo`, `countdown` and `ask_llm`,
/// plus the hostile `panic` and `flood`, and `lockstep` (progress `1..=n`,
/// each sent only after the test opened gate `gate` for it, then the result
/// `"lockstep of n done"`): a client that must see event `i` before it lets
/// the tool produce event `i + 1` proves each event left when it was
/// emitted, with no clock involved (a buffered stream deadlocks and the
/// test fails at its bound `T`). Its own name and no resources or prompts
/// (the tests check both).
pub fn app() -> McpServer {
    McpServer::new("streamable-tests", "1.0")
        .tool(example::echo())
        .tool(example::countdown())
        .tool(example::ask_llm())
        .tool(Tool::new(
            "lockstep",
            "n progress notifications, each after the test opened the gate.",
            json!({"type": "object", "properties": {"gate": {"type": "string"}, "n": {"type": "integer"}}, "required": ["gate"]}),
            |ctx, args| async move {
                let n = args["n"].as_u64().unwrap_or(3);
                let gate = gate(args["gate"].as_str().unwrap_or_default());
                for i in 1..=n {
                    let Ok(permit) = gate.acquire().await else {
                        return Ok(ToolResult::text("gate closed"));
                    };
                    permit.forget();
                    let _ = ctx.progress(i as f64, Some(n as f64), None).await;
                }
                Ok(ToolResult::text(format!("lockstep of {n} done")))
            },
        ))
        .tool(Tool::new("panic", "Panics.", json!({"type": "object"}), |_ctx, _args| async move {
            if std::hint::black_box(true) {
                panic!("tool panicked on purpose");
            }
            Ok(ToolResult::text("unreachable"))
        }))
        .tool(Tool::new(
            "flood",
            "count log messages of size bytes, as fast as possible.",
            json!({"type": "object", "properties": {"count": {"type": "integer"}, "size": {"type": "integer"}}}),
            |ctx, args| async move {
                let count = args["count"].as_u64().unwrap_or(100);
                let blob = "x".repeat(args["size"].as_u64().unwrap_or(1000) as usize);
                let mut sent = 0;
                for _ in 0..count {
                    if ctx.log(LogLevel::Info, None, json!(blob)).await.is_ok() {
                        sent += 1;
                    }
                }
                Ok(ToolResult::text(format!("sent {sent}")))
            },
        ))
}

/// A server on an ephemeral loopback port, serving `/mcp`.
pub struct TestServer {
    /// Its address.
    pub addr: SocketAddr,
    /// The service (to shut it down).
    pub service: McpService,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Start with this core config and keep-alive interval.
    pub async fn start_with(config: Config, keep_alive: Option<Duration>) -> TestServer {
        Self::start_service(Self::builder(config, keep_alive).build(app())).await
    }

    /// The adapter settings of [`TestServer::start_with`], for a test that
    /// changes one more (e.g. the connection backlog).
    pub fn builder(config: Config, keep_alive: Option<Duration>) -> Builder {
        McpService::builder()
            .config(config)
            .keep_alive(keep_alive)
            .path("/mcp")
            .body_timeout(Duration::from_millis(500))
    }

    /// Serve `service` (built by the test, with its own handler).
    pub async fn start_service(service: McpService) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(streamable_hyper::serve(
            listener,
            service.clone(),
            std::future::pending(),
        ));
        TestServer {
            addr,
            service,
            task,
        }
    }

    /// Start with defaults.
    pub async fn start() -> TestServer {
        Self::start_with(Config::default(), Some(Duration::from_secs(15))).await
    }

    /// A client for it.
    pub fn client(&self) -> Client {
        Client {
            addr: self.addr,
            session: None,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTP/1.1 client: one fresh connection per request, bounded waits.
#[derive(Clone, Debug)]
pub struct Client {
    /// Server address.
    pub addr: SocketAddr,
    /// `Mcp-Session-Id` sent on requests, once known.
    pub session: Option<String>,
}

/// An `initialize` request body proposing `version`.
pub fn initialize_body(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": version,
        "capabilities": {"sampling": {}},
        "clientInfo": {"name": "e2e", "version": "1"}
    }})
}

/// Send `req` on a fresh connection to `addr`.
pub async fn send(addr: SocketAddr, req: http::Request<Full<Bytes>>) -> http::Response<Incoming> {
    timeout(T, async {
        let io = TcpStream::connect(addr).await.expect("connect");
        io.set_nodelay(true).expect("nodelay");
        let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        tx.send_request(req).await.expect("response head")
    })
    .await
    .expect("response head within the bound")
}

/// The `_meta` every 2026-07-28 request carries (H-META-1).
pub fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "e2e-modern", "version": "1"}
    })
}

/// A 2026-07-28 request: `_meta` merged into `params`, and the mirrored
/// headers (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` encoded per
/// H-HDR-2). No session header.
pub fn modern_request(
    addr: SocketAddr,
    id: i64,
    method: &str,
    mut params: Value,
) -> http::Request<Full<Bytes>> {
    params["_meta"] = match params.get("_meta") {
        Some(Value::Object(m)) => {
            let mut meta = modern_meta();
            for (k, v) in m {
                meta[k] = v.clone();
            }
            meta
        }
        _ => modern_meta(),
    };
    let name = streamable_core::mirror::name_field(method)
        .and_then(|f| params.get(f))
        .and_then(Value::as_str)
        .map(streamable_core::mirror::encode_value);
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut b = http::Request::post(format!("http://{addr}/mcp"))
        .header("host", format!("127.0.0.1:{}", addr.port()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        b = b.header("mcp-name", n);
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

/// A POST of `body` to `/mcp` with the usual headers.
pub fn post_request(
    addr: SocketAddr,
    session: Option<&str>,
    body: &Value,
) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::post(format!("http://{addr}/mcp"))
        .header("host", format!("127.0.0.1:{}", addr.port()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

impl Client {
    /// POST a JSON-RPC message.
    pub async fn post(&self, body: &Value) -> http::Response<Incoming> {
        send(
            self.addr,
            post_request(self.addr, self.session.as_deref(), body),
        )
        .await
    }

    /// GET the session's stream, resuming after `last_event_id` if given.
    pub async fn get(&self, last_event_id: Option<&str>) -> http::Response<Incoming> {
        let mut b = http::Request::get(format!("http://{}/mcp", self.addr))
            .header("host", format!("127.0.0.1:{}", self.addr.port()))
            .header("accept", "text/event-stream");
        if let Some(s) = &self.session {
            b = b.header("mcp-session-id", s);
        }
        if let Some(id) = last_event_id {
            b = b.header("last-event-id", id);
        }
        send(self.addr, b.body(Full::new(Bytes::new())).expect("request")).await
    }

    /// Initialize (proposing `version`), record the session id, and send
    /// `notifications/initialized`. Returns the initialize result.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let res = self.post(&initialize_body(version)).await;
        assert_eq!(res.status(), 200, "initialize status");
        self.session = Some(
            res.headers()["mcp-session-id"]
                .to_str()
                .expect("ascii")
                .to_owned(),
        );
        let v = json_body(res).await;
        let res = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(res.status(), 202);
        v
    }

    /// Call a tool with `id` and optional progress token; returns the response.
    pub async fn call_tool(
        &self,
        id: i64,
        name: &str,
        args: Value,
        progress: Option<&str>,
    ) -> http::Response<Incoming> {
        let mut params = json!({"name": name, "arguments": args});
        if let Some(p) = progress {
            params["_meta"] = json!({"progressToken": p});
        }
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}))
            .await
    }
}

/// The whole body as JSON (bounded wait).
pub async fn json_body(res: http::Response<Incoming>) -> Value {
    let bytes = timeout(T, res.into_body().collect())
        .await
        .expect("body within the bound")
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// An SSE reader over a streaming response body.
pub struct SseReader {
    body: Incoming,
    decoder: Decoder,
    /// Comment frames seen (keep-alives).
    pub comments: usize,
    ended: bool,
}

/// One received event and when it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    /// The event.
    pub event: Event,
    /// Its arrival time.
    pub at: Instant,
}

impl Received {
    /// The event's data as JSON (`Null` for an empty priming event).
    pub fn json(&self) -> Value {
        if self.event.data.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.event.data).expect("event data is JSON")
        }
    }
}

impl SseReader {
    /// Read the events of `res` (which must be `text/event-stream`).
    pub fn new(res: http::Response<Incoming>) -> SseReader {
        assert_eq!(
            res.headers()["content-type"],
            "text/event-stream",
            "expected an SSE response"
        );
        SseReader {
            body: res.into_body(),
            decoder: Decoder::new(),
            comments: 0,
            ended: false,
        }
    }

    /// The next event (`None` at the end of the stream), within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<Received> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(event) = self.decoder.next_event() {
                return Some(Received {
                    event,
                    at: Instant::now(),
                });
            }
            if self.ended {
                return None;
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .expect("SSE event within the bound");
            match frame {
                None => {
                    self.ended = true;
                    self.decoder.finish();
                }
                Some(Err(_)) => {
                    self.ended = true;
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        if data.starts_with(b":") {
                            self.comments += 1;
                        }
                        self.decoder.feed(&data).expect("decode");
                    }
                }
            }
        }
    }

    /// The last `retry` the stream sent, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.decoder.retry()
    }

    /// The next event within [`T`].
    pub async fn next(&mut self) -> Option<Received> {
        self.next_within(T).await
    }

    /// Every remaining event until the stream ends (bounded by [`T`] in all).
    pub async fn rest(&mut self) -> Vec<Received> {
        let deadline = Instant::now() + T;
        let mut out = Vec::new();
        while let Some(e) = self.next_within(deadline - Instant::now()).await {
            out.push(e);
        }
        out
    }
}
