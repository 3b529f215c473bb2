//! The physical limit: a plain hyper 1 HTTP/1.1 server that answers the
//! benchmark's requests with the least work an MCP-shaped answer needs.
//!
//! ```sh
//! cargo run --release -p streamable-bench --example hyper_echo -- 127.0.0.1:8010
//! ```
//!
//! It reads the body, parses it as JSON (as any JSON-RPC server must) and
//! answers: `initialize` with a result and an `Mcp-Session-Id`,
//! notifications with 202, `tools/call` `echo` with the text, `tools/call`
//! `countdown` with an SSE stream of `n` stamped progress notifications
//! `interval_ms` apart and a result. No session table, no validation, no
//! protocol: it is the reference the MCP servers are compared with, not one
//! of them.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// An SSE body fed by a task through a bounded channel.
struct Events(mpsc::Receiver<Bytes>);

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

type Answer = Response<Either<Full<Bytes>, Events>>;

static SESSIONS: AtomicU64 = AtomicU64::new(0);

fn json_answer(status: StatusCode, body: &Value) -> Answer {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Either::Left(Full::new(Bytes::from(body.to_string()))))
        .expect("valid response")
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

async fn handle(req: Request<Incoming>) -> Result<Answer, Infallible> {
    let Ok(body) = req.into_body().collect().await else {
        return Ok(json_answer(StatusCode::BAD_REQUEST, &json!({})));
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return Ok(json_answer(StatusCode::BAD_REQUEST, &json!({})));
    };
    let id = msg["id"].clone();
    if id.is_null() {
        return Ok(Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Either::Left(Full::new(Bytes::new())))
            .expect("valid response"));
    }
    let params = &msg["params"];
    match (msg["method"].as_str(), params["name"].as_str()) {
        (Some("initialize"), _) => {
            let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
            let mut r = json_answer(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": {
                    "protocolVersion": params["protocolVersion"],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "hyper-echo", "version": "0"}
                }}),
            );
            r.headers_mut()
                .insert("mcp-session-id", format!("s{n}").parse().expect("ascii"));
            Ok(r)
        }
        (Some("tools/call"), Some("countdown")) => {
            let args = &params["arguments"];
            let n = args["n"].as_u64().unwrap_or(5);
            let interval = Duration::from_millis(args["interval_ms"].as_u64().unwrap_or(1000));
            let token = params["_meta"]["progressToken"].clone();
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(async move {
                for i in 1..=n {
                    if i > 1 {
                        tokio::time::sleep(interval).await;
                    }
                    if !token.is_null() {
                        let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
                            "progressToken": token, "progress": i, "total": n,
                            "message": format!("{} left @{}", n - i, unix_micros())
                        }});
                        if tx
                            .send(Bytes::from(format!("event: message\ndata: {note}\n\n")))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                let done = json!({"jsonrpc": "2.0", "id": id, "result": {
                    "content": [{"type": "text", "text": format!("countdown of {n} done")}]
                }});
                let _ = tx
                    .send(Bytes::from(format!("event: message\ndata: {done}\n\n")))
                    .await;
            });
            Ok(Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(Either::Right(Events(rx)))
                .expect("valid response"))
        }
        (Some("tools/call"), _) => {
            let text = params["arguments"]["text"].as_str().unwrap_or("");
            Ok(json_answer(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": {
                    "content": [{"type": "text", "text": text}], "isError": false
                }}),
            ))
        }
        _ => Ok(json_answer(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        )),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8010".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("hyper-echo on http://{}/mcp", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(handle))
                .await;
        });
    }
}
