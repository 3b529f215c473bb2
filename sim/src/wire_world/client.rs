//! The wire world's clients: hand-written HTTP/1.1 exchanges on fresh
//! simulated connections, one script each, checking every answer as it
//! comes; the scripts themselves are in [`super::script`], the stream
//! checks in [`super::oracles`].

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::TokioIo;

use super::Oracle;
use super::Scenario;
use crate::harness::{DEADLINE, Failed, PORT, SERVER, Trace, now_ms};

pub(super) enum Got {
    Json(u16, Option<String>, Bytes),
    Sse(u16, IncomingBody),
}

/// Why a request got no answer.
#[derive(Debug)]
pub(super) enum NoAnswer {
    /// The TCP connection could not be made (the server is not up).
    Connect,
    /// The connection broke.
    Broken(#[allow(dead_code)] String),
    /// The deadline passed.
    Timeout,
}

pub(super) struct Client {
    pub(super) idx: usize,
    pub(super) name: String,
    pub(super) scen: Arc<Scenario>,
    pub(super) trace: Trace,
    pub(super) session: Option<String>,
    /// How many sessions this client has had (for readable traces: session
    /// ids are random).
    pub(super) generation: u32,
    pub(super) next_id: i64,
    pub(super) calls: u32,
    pub(super) background: Vec<tokio::task::JoinHandle<()>>,
    /// The server restarted under us (seen a crash effect).
    pub(super) crashed: bool,
    /// When the current session was created (ms).
    pub(super) born: u64,
}

impl Client {
    /// Client `idx` of `scen`, named `name`, before its first session.
    pub(super) fn new(idx: usize, name: String, scen: Arc<Scenario>, trace: Trace) -> Self {
        Client {
            idx,
            name,
            scen,
            trace,
            session: None,
            generation: 0,
            next_id: 0,
            calls: 0,
            background: Vec::new(),
            crashed: false,
            born: 0,
        }
    }

    pub(super) fn tag(&self) -> String {
        format!("{}-{}", self.name, self.calls)
    }

    pub(super) fn fail(&self, oracle: Oracle, what: impl std::fmt::Display) -> Failed {
        self.trace.fail_on(&self.name, oracle, what)
    }

    pub(super) fn log(&self, what: impl std::fmt::Display) {
        self.trace.log(&self.name, what);
    }

    /// The server crashed since this client's session was created.
    pub(super) fn lost_session(&self) -> bool {
        self.scen.crashed_between(self.born, now_ms())
    }

    pub(super) fn disturbed_since(&self, from: u64) -> bool {
        self.scen.disturbed(self.idx, from, now_ms())
    }

    /// One HTTP exchange on a fresh connection, head within the deadline.
    pub(super) async fn send(&self, req: Request<Bytes>) -> Result<Got, NoAnswer> {
        let fut = async {
            let stream = turmoil::net::TcpStream::connect((SERVER, PORT))
                .await
                .map_err(|_| NoAnswer::Connect)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| NoAnswer::Broken(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let res = sender
                .send_request(req.map(Full::new))
                .await
                .map_err(|e| NoAnswer::Broken(e.to_string()))?;
            let status = res.status().as_u16();
            let session = res
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let sse = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let body = res.into_body();
            if sse {
                Ok(Got::Sse(status, body))
            } else {
                let bytes = body
                    .collect()
                    .await
                    .map_err(|e| NoAnswer::Broken(e.to_string()))?
                    .to_bytes();
                Ok(Got::Json(status, session, bytes))
            }
        };
        match tokio::time::timeout(DEADLINE, fut).await {
            Ok(r) => r,
            Err(_) => Err(NoAnswer::Timeout),
        }
    }

    /// Handle a request that got no answer: fine if a fault explains it,
    /// else a failure of the deadline oracle.
    pub(super) fn excuse(&mut self, what: &str, sent: u64, why: NoAnswer) -> Result<(), Failed> {
        if self.disturbed_since(sent) {
            self.log(format!("{what}: no answer ({why:?}), explained by a fault"));
            self.crashed |= self.scen.crash.is_some();
            return Ok(());
        }
        Err(self.fail(Oracle::Deadline, format!(
            "{what}: no answer ({why:?}) after {} ms without any fault (INV-L1, deadline {} ms)",
            now_ms() - sent,
            DEADLINE.as_millis()
        )))
    }
}

pub(super) fn describe(r: &Result<Got, NoAnswer>) -> String {
    match r {
        Ok(Got::Json(s, _, b)) => format!("status {s} {}", String::from_utf8_lossy(b)),
        Ok(Got::Sse(s, _)) => format!("status {s} (event stream)"),
        Err(e) => format!("{e:?}"),
    }
}
