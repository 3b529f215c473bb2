//! The server side of the client world: the real service behind the
//! recorder (every request and SSE event into the [`World`], and the cuts)
//! and the front (the client variants' rewrites).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use streamable_core::sse::Decoder;
use streamable_hyper::McpBody;

use super::{MAX_CUTS_PER_STREAM, Scenario};
use crate::harness::{PORT, Rng, Trace, now_ms};
use crate::variants::Bug;
use crate::wire::parse_event_id;

/// Builds the server's service for one boot: from the `retry` (ms) its
/// priming events carry and the seed of its session ids (the fixture's in
/// the client world, a user's application in [`crate::kit`]).
pub(crate) type MakeService = dyn Fn(u64, u64) -> streamable_hyper::McpService + Send + Sync;

/// The cut decisions: a generator, and the cuts made per stream.
pub(crate) type Cuts = Arc<Mutex<(Rng, BTreeMap<(String, u64), u32>)>>;

/// One HTTP request as the server received it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) at: u64,
    pub(super) client: String,
    pub(super) method: http::Method,
    pub(super) session: Option<String>,
    pub(super) last_event_id: Option<String>,
    /// The JSON-RPC messages of a POST body.
    pub(super) messages: Vec<Value>,
    pub(super) status: Option<u16>,
    /// Answered by the `retry: 0` storm, not by the real service.
    pub(super) storm: bool,
}

impl Seen {
    /// One trace line: who, what, which session, which cursor.
    fn describe(&self) -> String {
        let methods: Vec<String> = self
            .messages
            .iter()
            .map(|m| match (m["method"].as_str(), m.get("id")) {
                (Some(method), Some(id)) => format!("{method}#{id}"),
                (Some(method), None) => method.to_owned(),
                (None, id) => format!("answer#{}", id.unwrap_or(&Value::Null)),
            })
            .collect();
        let short = |s: &Option<String>| {
            s.as_deref()
                .map_or("-".to_owned(), |s| s[..s.len().min(8)].to_owned())
        };
        format!(
            "<- {} {} session {} last-event-id {} {}",
            self.client,
            self.method,
            short(&self.session),
            self.last_event_id.as_deref().unwrap_or("-"),
            methods.join(",")
        )
    }

    pub(super) fn is_initialize(&self) -> bool {
        self.messages
            .iter()
            .any(|m| m["method"] == "initialize" && m.get("id").is_some())
    }
}

/// A connection of a stream that the server ended (cleanly, or cut).
#[derive(Clone, Debug)]
pub(super) struct Close {
    /// The request (index into [`World::requests`]) that opened the connection.
    pub(super) request: usize,
    pub(super) at: u64,
    /// The last event sequence written on that connection.
    pub(super) last: Option<u64>,
    /// The last `retry` written on the stream before the close.
    pub(super) retry: Option<u64>,
    /// Whether the call's response had been written by then.
    pub(super) finished: bool,
}

/// One SSE stream of a session (POST or GET origin).
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamLog {
    pub(super) client: String,
    /// The tag of the call whose POST opened it (none: the GET stream).
    pub(super) tag: Option<String>,
    /// Every event sequence written, with its first time.
    pub(super) events: BTreeMap<u64, u64>,
    pub(super) retry: Option<u64>,
    pub(super) closes: Vec<Close>,
    pub(super) response_at: Option<u64>,
    /// The event sequences that carried a JSON-RPC response (a stream
    /// answers one request: more than one is a request answered twice).
    pub(crate) responses: std::collections::BTreeSet<u64>,
}

/// One call as the application saw it.
#[derive(Clone, Debug)]
pub(super) struct Call {
    pub(super) client: usize,
    pub(super) tag: String,
    pub(super) start: u64,
    pub(super) end: u64,
    /// `Err` carries the error text.
    pub(super) outcome: Result<(), String>,
    /// Progress values as the callback got them.
    pub(super) progress: Vec<f64>,
    pub(super) steps: u64,
    pub(super) cancelled: bool,
}

/// Everything seen in one run (outlives server crashes).
#[derive(Default)]
pub(crate) struct World {
    pub(super) requests: Vec<Seen>,
    pub(crate) streams: BTreeMap<(String, u64), StreamLog>,
    /// `(client, session id, time, initialize's JSON-RPC id)` of every
    /// session minted.
    pub(super) minted: Vec<(String, String, u64, String)>,
    pub(super) calls: Vec<Call>,
    /// Per client: `(tag, i, time)` of every flood notification received.
    pub(super) notes: BTreeMap<String, Vec<(String, u64, u64)>>,
    /// Per client: the flood calls it made (tag, n, start, end).
    pub(super) floods: Vec<(usize, String, u64, u64, u64)>,
    /// Per client: when it finished its script and closed.
    pub(super) closed_at: BTreeMap<String, u64>,
}

pub(crate) type Shared = Arc<Mutex<World>>;

pub(crate) fn lock(w: &Shared) -> std::sync::MutexGuard<'_, World> {
    w.lock().expect("world")
}

/// The front layer's memory (variant (k)).
#[derive(Default)]
pub(super) struct Front {
    /// Per client, the first session id it was answered 404 for.
    pub(super) dead: BTreeMap<String, String>,
}

/// What every connection and request of the server host shares.
#[derive(Clone)]
struct Layers {
    service: streamable_hyper::McpService,
    world: Shared,
    cuts: Cuts,
    front: Arc<Mutex<Front>>,
    scen: Arc<Scenario>,
    trace: Trace,
}

/// The server host: the real service behind the recorder (and the front,
/// for the client variants).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn server_host(
    make: Arc<MakeService>,
    delay: Duration,
    ids: u64,
    scen: Arc<Scenario>,
    bug: Option<Bug>,
    world: Shared,
    cuts: Cuts,
    trace: Trace,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::time::sleep(delay).await;
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    trace.log("server", "listening");
    let service = make(u64::from(scen.server.retry_ms), ids);
    service.start();
    let layers = Layers {
        service,
        world,
        cuts,
        front: Arc::default(),
        scen,
        trace,
    };
    loop {
        let (io, _) = listener.accept().await?;
        let layers = layers.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<IncomingBody>| {
                let Layers {
                    service,
                    world,
                    cuts,
                    front,
                    scen,
                    trace,
                } = layers.clone();
                async move {
                    let (mut parts, body) = req.into_parts();
                    let bytes = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let client = header(&parts.headers, "x-sim-client").unwrap_or_default();
                    if bug.is_some() {
                        rewrite_request(bug, &front, &client, &mut parts.headers);
                    }
                    let mut seen = record_request(&parts, &bytes, &client);
                    // The storm stands in front of the standalone GET only:
                    // a first GET, or one resuming a storm id.
                    seen.storm = scen.server.storm
                        && seen.method == http::Method::GET
                        && seen
                            .last_event_id
                            .as_deref()
                            .is_none_or(|l| l.starts_with("storm-"));
                    trace.log("server", seen.describe());
                    let idx = {
                        let mut w = lock(&world);
                        w.requests.push(seen.clone());
                        w.requests.len() - 1
                    };
                    if seen.storm {
                        lock(&world).requests[idx].status = Some(200);
                        return Ok(storm_response(idx));
                    }
                    let res = service
                        .handle(Request::from_parts(parts, Full::new(bytes)))
                        .await;
                    let status = res.status().as_u16();
                    let minted = header(res.headers(), "mcp-session-id");
                    {
                        let mut w = lock(&world);
                        w.requests[idx].status = Some(status);
                        if seen.is_initialize()
                            && status == 200
                            && let Some(sid) = minted
                        {
                            let init = seen
                                .messages
                                .iter()
                                .find_map(|m| m.get("id"))
                                .map(Value::to_string)
                                .unwrap_or_default();
                            w.minted.push((client.clone(), sid, now_ms(), init));
                        }
                    }
                    if status == 404
                        && let Some(sid) = &seen.session
                    {
                        front
                            .lock()
                            .expect("front")
                            .dead
                            .entry(client.clone())
                            .or_insert_with(|| sid.clone());
                    }
                    let (parts, body) = res.into_parts();
                    let body = if body.is_stream() {
                        let tag = seen.messages.iter().find_map(|m| {
                            m.pointer("/params/arguments/tag")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        });
                        let cut_after = {
                            let mut c = cuts.lock().expect("cuts");
                            (scen.server.cut_one_in > 0
                                && c.0.one_in(u64::from(scen.server.cut_one_in)))
                            .then(|| c.0.range(2, 4) as u32)
                        };
                        RecBody::stream(body, world, cuts, (idx, seen), tag, cut_after, bug)
                    } else {
                        RecBody::plain(body)
                    };
                    Ok::<_, Infallible>(Response::from_parts(parts, body))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

pub(super) fn header(h: &http::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Variants (i) and (k): what a broken client would have sent.
pub(super) fn rewrite_request(
    bug: Option<Bug>,
    front: &Mutex<Front>,
    client: &str,
    headers: &mut http::HeaderMap,
) {
    match bug {
        Some(Bug::StaleCursor) => {
            // (i) the cursor lags one event behind what was received.
            if let Some((s, q)) = header(headers, "last-event-id")
                .as_deref()
                .and_then(parse_event_id)
                && q > 0
                && let Ok(v) = http::HeaderValue::from_str(&format!("{s}-{}", q - 1))
            {
                headers.insert("last-event-id", v);
            }
        }
        Some(Bug::KeepsDeadSession) => {
            // (k) the session id answered 404 stays in use.
            if headers.contains_key("mcp-session-id")
                && let Some(dead) = front.lock().expect("front").dead.get(client)
                && let Ok(v) = http::HeaderValue::from_str(dead)
            {
                headers.insert("mcp-session-id", v);
            }
        }
        _ => {}
    }
}

pub(super) fn record_request(parts: &http::request::Parts, body: &[u8], client: &str) -> Seen {
    let messages = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch,
        Ok(v) => vec![v],
        Err(_) => Vec::new(),
    };
    Seen {
        at: now_ms(),
        client: client.to_owned(),
        method: parts.method.clone(),
        session: header(&parts.headers, "mcp-session-id"),
        last_event_id: header(&parts.headers, "last-event-id"),
        messages,
        status: None,
        storm: false,
    }
}

/// A response body on its way out: records every SSE event, cuts the
/// connection when told to, and (variant (j)) hides `retry` from the client.
pub(super) enum RecBody {
    Plain(McpBody),
    Stream(Box<Recording>),
    /// The storm's one frame, then the end.
    Storm(Option<Bytes>),
}

/// The `retry: 0` storm's answer to request `idx`: a priming event with a
/// new id and `retry: 0`, and the end of the stream.
fn storm_response(idx: usize) -> Response<RecBody> {
    let frame = format!("id: storm-{idx}\nretry: 0\ndata:\n\n");
    let mut res = Response::new(RecBody::Storm(Some(Bytes::from(frame))));
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    res
}

pub(super) struct Recording {
    pub(super) inner: McpBody,
    pub(super) world: Shared,
    pub(super) cuts: Cuts,
    pub(super) request: usize,
    pub(super) client: String,
    pub(super) session: Option<String>,
    pub(super) tag: Option<String>,
    pub(super) key: Option<(String, u64)>,
    pub(super) decoder: Decoder,
    pub(super) last: Option<u64>,
    pub(super) frames: u32,
    pub(super) cut_after: Option<u32>,
    pub(super) cutting: Option<Pin<Box<tokio::time::Sleep>>>,
    pub(super) finished: bool,
    pub(super) bug: Option<Bug>,
}

impl RecBody {
    fn plain(body: McpBody) -> RecBody {
        RecBody::Plain(body)
    }

    fn stream(
        inner: McpBody,
        world: Shared,
        cuts: Cuts,
        (request, seen): (usize, Seen),
        tag: Option<String>,
        cut_after: Option<u32>,
        bug: Option<Bug>,
    ) -> RecBody {
        RecBody::Stream(Box::new(Recording {
            inner,
            world,
            cuts,
            request,
            client: seen.client,
            session: seen.session,
            tag,
            key: None,
            decoder: Decoder::new(),
            last: None,
            frames: 0,
            cut_after,
            cutting: None,
            finished: false,
            bug,
        }))
    }
}

impl Recording {
    /// Note the events of one frame.
    fn observe(&mut self, data: &[u8]) {
        if self.decoder.feed(data).is_err() {
            return;
        }
        let now = now_ms();
        let mut w = lock(&self.world);
        while let Some(ev) = self.decoder.next_event() {
            let Some((s, q)) = ev.last_event_id.as_deref().and_then(parse_event_id) else {
                continue;
            };
            let Some(session) = self.session.clone() else {
                continue;
            };
            let key = (session, s);
            self.key = Some(key.clone());
            self.last = Some(self.last.map_or(q, |l| l.max(q)));
            let log = w.streams.entry(key).or_insert_with(|| StreamLog {
                client: self.client.clone(),
                tag: self.tag.clone(),
                ..StreamLog::default()
            });
            log.events.entry(q).or_insert(now);
            if let Some(r) = self.decoder.retry() {
                log.retry = Some(r);
            }
            if serde_json::from_str::<Value>(&ev.data).is_ok_and(|v| {
                v.get("id").is_some() && (v.get("result").is_some() || v.get("error").is_some())
            }) {
                log.responses.insert(q);
                if log.response_at.is_none() {
                    log.response_at = Some(now);
                    self.finished = true;
                }
            }
        }
        // A retry without an event (a resumed stream's first frame).
        if let (Some(key), Some(r)) = (&self.key, self.decoder.retry())
            && let Some(log) = w.streams.get_mut(key)
        {
            log.retry = Some(r);
        }
    }

    fn closed(&mut self) {
        let Some(key) = self.key.clone() else {
            return;
        };
        let mut w = lock(&self.world);
        if let Some(log) = w.streams.get_mut(&key) {
            let finished = self.finished || log.response_at.is_some();
            log.closes.push(Close {
                request: self.request,
                at: now_ms(),
                last: self.last,
                retry: log.retry,
                finished,
            });
        }
    }

    /// Whether this connection may be cut (at most a few per stream).
    fn may_cut(&self) -> bool {
        let Some(key) = &self.key else {
            return false;
        };
        let mut c = self.cuts.lock().expect("cuts");
        let n = c.1.entry(key.clone()).or_insert(0);
        if *n >= MAX_CUTS_PER_STREAM {
            return false;
        }
        *n += 1;
        true
    }
}

impl Body for RecBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let r = match self.get_mut() {
            RecBody::Plain(b) => {
                return Pin::new(b)
                    .poll_frame(cx)
                    .map(|f| f.map(|f| f.map_err(|e| match e {})));
            }
            RecBody::Stream(r) => r,
            RecBody::Storm(frame) => return Poll::Ready(frame.take().map(|f| Ok(Frame::data(f)))),
        };
        if let Some(sleep) = &mut r.cutting {
            // Give what was written a moment to leave, then drop the
            // connection the way a network does.
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            r.cutting = None;
            r.cut_after = None;
            r.closed();
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "cut by the simulation",
            ))));
        }
        match Pin::new(&mut r.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        r.observe(&data);
                        r.frames += 1;
                        if r.cut_after == Some(r.frames) && r.may_cut() {
                            r.cutting =
                                Some(Box::pin(tokio::time::sleep(Duration::from_millis(2))));
                        }
                        if r.bug == Some(Bug::IgnoresRetry) {
                            Frame::data(strip_retry(&data))
                        } else {
                            Frame::data(data)
                        }
                    }
                    Err(frame) => frame,
                };
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => match e {},
            Poll::Ready(None) => {
                r.closed();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Variant (j): the frame without its `retry` lines.
pub(super) fn strip_retry(data: &Bytes) -> Bytes {
    if !data.windows(6).any(|w| w == b"retry:") {
        return data.clone();
    }
    let text = String::from_utf8_lossy(data);
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("retry:"))
        .collect();
    Bytes::from(kept)
}
