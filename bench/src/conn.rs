//! One keep-alive HTTP/1.1 connection to the server under test, and the MCP
//! requests the load tester sends over it.
//!
//! The client is hyper's connection-level API (no pool, no retries): each
//! worker owns one connection and sends one request at a time on it, so the
//! figures are round trips, not pipelining.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The target: `host:port` to connect to, the `Host` header and the path.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Socket address (`127.0.0.1:8000`).
    pub(crate) addr: String,
    /// `Host` header value.
    pub(crate) host: HeaderValue,
    /// Request path (`/mcp`).
    pub(crate) path: String,
}

impl Target {
    /// Parses `http://host:port/path` (plain HTTP only: the tester measures
    /// loopback servers).
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let host = HeaderValue::from_str(authority).map_err(|e| format!("{url}: {e}"))?;
        Ok(Target {
            addr,
            host,
            path: path.to_owned(),
        })
    }
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Connecting or sending failed (the connection is unusable).
    Io(String),
    /// The server answered with this status.
    Status(StatusCode),
    /// The answer had no JSON-RPC result (an error object or garbage).
    NoResult,
    /// No complete answer within the per-request timeout.
    Timeout,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Io(e) => write!(f, "i/o: {e}"),
            CallError::Status(s) => write!(f, "status {s}"),
            CallError::NoResult => f.write_str("answer without a result"),
            CallError::Timeout => f.write_str("timeout"),
        }
    }
}

/// The protocol era of the requests.
#[derive(Clone, Debug)]
pub(crate) enum Era {
    /// A session opened with `initialize` at this revision (2025-*).
    Session(String),
    /// 2026-07-28 stateless requests: every request carries the version in
    /// `MCP-Protocol-Version` and in `_meta`, plus `Mcp-Method`/`Mcp-Name`.
    Modern,
}

/// The modern era's revision string.
pub(crate) const MODERN: &str = "2026-07-28";

/// One connection with (for the session era) its own MCP session.
pub(crate) struct Conn {
    send: SendRequest<Full<Bytes>>,
    target: Target,
    session: Option<HeaderValue>,
    version: HeaderValue,
    modern: bool,
    timeout: Duration,
}

impl Conn {
    /// Connects (TCP_NODELAY, HTTP/1.1 keep-alive).
    pub(crate) async fn connect(
        target: &Target,
        era: &Era,
        timeout: Duration,
    ) -> Result<Conn, CallError> {
        let tcp = TcpStream::connect(&target.addr)
            .await
            .map_err(|e| CallError::Io(format!("connect {}: {e}", target.addr)))?;
        let _ = tcp.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| CallError::Io(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let (version, modern) = match era {
            Era::Session(v) => (v.as_str(), false),
            Era::Modern => (MODERN, true),
        };
        Ok(Conn {
            send,
            target: target.clone(),
            session: None,
            version: HeaderValue::from_str(version).map_err(|e| CallError::Io(e.to_string()))?,
            modern,
            timeout,
        })
    }

    /// The session id the server assigned, if any.
    pub(crate) fn session(&self) -> Option<&HeaderValue> {
        self.session.as_ref()
    }

    /// Forgets the session (the next `initialize` opens another one on the
    /// same connection).
    pub(crate) fn forget_session(&mut self) {
        self.session = None;
    }

    fn request(&self, body: String, method: &str, name: Option<&str>) -> Request<Full<Bytes>> {
        let mut b = Request::post(&self.target.path)
            .header(header::HOST, self.target.host.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(s) = &self.session {
            b = b.header("mcp-session-id", s.clone());
        }
        if self.modern || self.session.is_some() {
            b = b.header("mcp-protocol-version", self.version.clone());
        }
        if self.modern {
            b = b.header("mcp-method", method);
            if let Some(n) = name {
                b = b.header("mcp-name", n);
            }
        }
        b.body(Full::new(Bytes::from(body))).expect("valid request")
    }

    async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, CallError> {
        self.send
            .ready()
            .await
            .map_err(|e| CallError::Io(e.to_string()))?;
        self.send
            .send_request(req)
            .await
            .map_err(|e| CallError::Io(e.to_string()))
    }

    /// `initialize` then `notifications/initialized` (a ready session that
    /// the server keeps until its idle timeout).
    pub(crate) async fn open_session(&mut self) -> Result<(), CallError> {
        if self.modern {
            return Ok(());
        }
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{{"name":"streamable-bench","version":"{}"}}}}}}"#,
            self.version.to_str().unwrap_or_default(),
            env!("CARGO_PKG_VERSION")
        );
        let req = self.request(body, "initialize", None);
        let timeout = self.timeout;
        let fut = async {
            let resp = self.send(req).await?;
            if resp.status() != StatusCode::OK {
                return Err(CallError::Status(resp.status()));
            }
            let sid = resp.headers().get("mcp-session-id").cloned();
            let body = read_answer(resp.into_body(), &mut |_| {}).await?;
            if !contains(&body, b"\"result\"") {
                return Err(CallError::NoResult);
            }
            Ok(sid)
        };
        let sid = tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| CallError::Timeout)??;
        self.session = sid;
        let req = self.request(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
            "notifications/initialized",
            None,
        );
        let timeout = self.timeout;
        let fut = async {
            let resp = self.send(req).await?;
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(CallError::Status(status))
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| CallError::Timeout)?
    }

    /// `params._meta` for this era (the modern era's version and
    /// capabilities, plus an optional progress token).
    fn meta(&self, progress_token: Option<u64>) -> String {
        let mut m = String::new();
        if self.modern {
            m.push_str(r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}"#);
        }
        if let Some(t) = progress_token {
            if !m.is_empty() {
                m.push(',');
            }
            m.push_str(&format!(r#""progressToken":{t}"#));
        }
        if m.is_empty() {
            m
        } else {
            format!(r#","_meta":{{{m}}}"#)
        }
    }

    /// One `tools/call` of `echo`; resolves when the result is in.
    pub(crate) async fn echo(&mut self, id: u64, text: &str) -> Result<(), CallError> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}{}}}}}"#,
            self.meta(None)
        );
        let req = self.request(body, "tools/call", Some("echo"));
        let timeout = self.timeout;
        let fut = async {
            let resp = self.send(req).await?;
            if resp.status() != StatusCode::OK {
                let s = resp.status();
                let _ = resp.into_body().collect().await;
                return Err(CallError::Status(s));
            }
            let body = read_answer(resp.into_body(), &mut |_| {}).await?;
            if contains(&body, b"\"result\"") {
                Ok(())
            } else {
                Err(CallError::NoResult)
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| CallError::Timeout)?
    }

    /// One `tools/call` of `countdown` with a progress token and `stamp`;
    /// `on_event` sees each SSE `data` payload as it arrives.
    pub(crate) async fn countdown(
        &mut self,
        id: u64,
        n: u32,
        interval_ms: u64,
        on_event: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<(), CallError> {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"countdown","arguments":{{"n":{n},"interval_ms":{interval_ms},"stamp":true}}{}}}}}"#,
            self.meta(Some(id))
        );
        let req = self.request(body, "tools/call", Some("countdown"));
        let budget = self.timeout + Duration::from_millis(interval_ms * u64::from(n));
        let fut = async {
            let resp = self.send(req).await?;
            if resp.status() != StatusCode::OK {
                let s = resp.status();
                let _ = resp.into_body().collect().await;
                return Err(CallError::Status(s));
            }
            let body = read_answer(resp.into_body(), on_event).await?;
            if contains(&body, b"\"result\"") {
                Ok(())
            } else {
                Err(CallError::NoResult)
            }
        };
        tokio::time::timeout(budget, fut)
            .await
            .map_err(|_| CallError::Timeout)?
    }
}

/// Reads an answer body to its end. For `text/event-stream` every event's
/// `data` is passed to `on_event` as it arrives and the JSON-RPC response
/// (the last event holding `"result"` or `"error"`) is returned; a JSON body
/// is returned whole. Either way the body is read to its end so the
/// connection can be reused.
async fn read_answer(
    mut body: Incoming,
    on_event: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<Bytes, CallError> {
    let mut buf = BytesMut::new();
    let mut answer: Option<Bytes> = None;
    let mut sse: Option<bool> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CallError::Io(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        let is_sse = *sse.get_or_insert_with(|| {
            // A JSON body starts with `{` or `[`; SSE with a field or comment.
            let first = buf.iter().find(|b| !b.is_ascii_whitespace());
            !matches!(first, Some(b'{') | Some(b'['))
        });
        if !is_sse {
            continue;
        }
        // Split off complete events (blank-line terminated).
        while let Some(end) = find_event_end(&buf) {
            let event = buf.split_to(end.0).freeze();
            buf.advance(end.1);
            let data = event_data(&event);
            if data.is_empty() {
                continue;
            }
            if (contains(&data, b"\"result\"") || contains(&data, b"\"error\""))
                && !contains(&data, b"\"method\"")
            {
                answer = Some(data);
                continue;
            }
            on_event(&data);
        }
    }
    match sse {
        Some(false) => Ok(buf.freeze()),
        _ => Ok(answer.unwrap_or_default()),
    }
}

/// The end of the first complete event: (event length, terminator length).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\r' && i + 3 < buf.len() && &buf[i..i + 4] == b"\r\n\r\n" {
            return Some((i, 4));
        }
        i += 1;
    }
    None
}

/// The concatenated `data:` lines of one event.
fn event_data(event: &Bytes) -> Bytes {
    let mut out: Option<Vec<u8>> = None;
    let mut single: Option<Bytes> = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(v) = line.strip_prefix(b"data:") else {
            continue;
        };
        let v = v.strip_prefix(b" ").unwrap_or(v);
        match (&mut out, &single) {
            (None, None) => single = Some(event.slice_ref(v)),
            (None, Some(s)) => {
                let mut o = s.to_vec();
                o.push(b'\n');
                o.extend_from_slice(v);
                out = Some(o);
            }
            (Some(o), _) => {
                o.push(b'\n');
                o.extend_from_slice(v);
            }
        }
    }
    match out {
        Some(o) => Bytes::from(o),
        None => single.unwrap_or_default(),
    }
}

/// Whether `needle` occurs in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:8000/mcp").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8000");
        assert_eq!(t.path, "/mcp");
        assert!(Target::parse("https://x/mcp").is_err());
    }

    #[test]
    fn splits_events_and_joins_data_lines() {
        let buf = b"id: 1\r\ndata: {\"a\":1}\r\n\r\nrest";
        let (end, term) = find_event_end(buf).unwrap();
        assert_eq!(term, 4);
        let ev = Bytes::copy_from_slice(&buf[..end]);
        assert_eq!(&event_data(&ev)[..], b"{\"a\":1}");
        let ev = Bytes::from_static(b"data: a\ndata: b");
        assert_eq!(&event_data(&ev)[..], b"a\nb");
        assert!(find_event_end(b"data: x\n").is_none());
    }
}
