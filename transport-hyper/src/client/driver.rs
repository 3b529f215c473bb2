//! The client driver: the one task that owns the core client machine.
//!
//! Each HTTP request the machine asks for runs in its own task on
//! hyper-util's pooled client and reports head, chunks and end back
//! through one channel; the driver never awaits the network itself. Server
//! requests run their handler in a task of their own and come back as
//! `respond` commands, so a handler may take as long as it needs while
//! every stream keeps flowing.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use streamable_core::client::{
    Client as Core, ClientConfig, ClientError, Event, HttpId, RequestHandle, ServerRequestKey,
    Transmit,
};
use streamable_core::code;
use streamable_core::{ErrorObject, RawJson, Timestamp};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{DynHandler, Error, Notification, Progress, ReadyInfo, ReadySink};

/// What [`Client`](super::Client) handles ask of the driver.
pub(crate) enum Command {
    Request {
        ticket: u64,
        method: String,
        params: Option<RawJson>,
        progress: Option<(String, mpsc::UnboundedSender<Progress>)>,
        done: oneshot::Sender<Result<Value, Error>>,
    },
    Notify {
        method: String,
        params: Option<RawJson>,
        done: oneshot::Sender<Result<(), Error>>,
    },
    Cancel {
        ticket: u64,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

/// The future of one HTTP exchange up to the response head.
type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, String>> + Send>>;

/// The seam between the driver and the network: sends one request on a
/// pooled hyper-util client over whatever connector the builder was given
/// (plain TCP by default; TLS, a Unix socket or the simulator's network
/// otherwise). Erased so `Client` stays one type whatever the connector.
#[derive(Clone)]
pub(crate) struct Http(Arc<dyn Fn(http::Request<Full<Bytes>>) -> ResponseFuture + Send + Sync>);

impl Http {
    /// A pooled client over `connector`.
    pub(crate) fn new<C>(connector: C) -> Http
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let client: HttpClient<C, Full<Bytes>> =
            HttpClient::builder(TokioExecutor::new()).build(connector);
        Http(Arc::new(move |request| {
            let fut = client.request(request);
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        }))
    }

    /// A seam made of a function (a layer around another seam, e.g. OAuth).
    pub(crate) fn from_fn(
        f: impl Fn(http::Request<Full<Bytes>>) -> ResponseFuture + Send + Sync + 'static,
    ) -> Http {
        Http(Arc::new(f))
    }

    /// Send one request.
    pub(crate) fn send(&self, request: http::Request<Full<Bytes>>) -> ResponseFuture {
        (self.0)(request)
    }
}

/// What HTTP tasks report.
enum Net {
    Head(HttpId, u16, http::HeaderMap),
    Body(HttpId, Bytes),
    End(HttpId),
    Error(HttpId),
}

struct Waiter {
    ticket: u64,
    token: Option<String>,
    done: oneshot::Sender<Result<Value, Error>>,
}

/// Capacity of the network event channel (chunks waiting for the driver);
/// a full channel makes HTTP tasks wait, which is TCP back-pressure.
const NET_CAPACITY: usize = 256;

struct Driver {
    core: Core,
    origin: Instant,
    http: Http,
    check_invariants: bool,
    net_tx: mpsc::Sender<Net>,
    tasks: BTreeMap<HttpId, AbortHandle>,
    waiters: BTreeMap<RequestHandle, Waiter>,
    tickets: BTreeMap<u64, RequestHandle>,
    progress: BTreeMap<String, mpsc::UnboundedSender<Progress>>,
    notes: mpsc::Sender<Notification>,
    handlers: BTreeMap<String, DynHandler>,
    resp_tx: mpsc::UnboundedSender<(ServerRequestKey, Result<RawJson, ErrorObject>)>,
    ready: ReadySink,
    closers: Vec<oneshot::Sender<()>>,
}

pub(crate) async fn run(
    config: ClientConfig,
    http: Http,
    check_invariants: bool,
    mut cmd_rx: mpsc::Receiver<Command>,
    notes: mpsc::Sender<Notification>,
    handlers: BTreeMap<String, DynHandler>,
    ready: ReadySink,
) {
    let origin = Instant::now();
    let (net_tx, mut net_rx) = mpsc::channel(NET_CAPACITY);
    let (resp_tx, mut resp_rx) = mpsc::unbounded_channel();
    let mut d = Driver {
        core: Core::new(config, Timestamp::ZERO),
        origin,
        http,
        check_invariants,
        net_tx,
        tasks: BTreeMap::new(),
        waiters: BTreeMap::new(),
        tickets: BTreeMap::new(),
        progress: BTreeMap::new(),
        notes,
        handlers,
        resp_tx,
        ready,
        closers: Vec::new(),
    };
    let mut commands_open = true;
    loop {
        if d.flush() {
            break;
        }
        let deadline = d.core.poll_timeout().map(|t| d.origin + t.as_duration());
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(net) = net_rx.recv() => d.on_net(net),
            Some((key, outcome)) = resp_rx.recv() => {
                let now = d.now();
                if let Err(e) = d.core.respond(now, key, outcome) {
                    tracing::debug!(%e, "answer to a server request not sent");
                }
            }
            cmd = cmd_rx.recv(), if commands_open => match cmd {
                Some(cmd) => d.on_command(cmd),
                None => {
                    // Every handle is gone: end the session politely.
                    commands_open = false;
                    let now = d.now();
                    d.core.close(now);
                }
            },
            () = sleep => {
                let now = d.now();
                d.core.handle_timeout(now);
            }
        }
    }
    for (_, task) in std::mem::take(&mut d.tasks) {
        task.abort();
    }
}

impl Driver {
    fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.origin.elapsed())
    }

    /// Act on every transmit and event; `true` once the machine is closed.
    fn flush(&mut self) -> bool {
        if self.check_invariants
            && let Err(violation) = self.core.check_invariants()
        {
            // Opt-in (tests and the simulator): a broken machine must stop
            // the run loudly, not limp on.
            panic!("client invariant violated: {violation}");
        }
        loop {
            let mut progressed = false;
            while let Some(t) = self.core.poll_transmit() {
                progressed = true;
                self.on_transmit(t);
            }
            while let Some(e) = self.core.poll_event() {
                progressed = true;
                if self.on_event(e) {
                    return true;
                }
            }
            if !progressed {
                return false;
            }
        }
    }

    fn on_transmit(&mut self, t: Transmit) {
        match t {
            Transmit::Send { id, request } => {
                tracing::debug!(
                    http = id.0,
                    method = %request.method(),
                    last_event_id = ?request.headers().get("last-event-id"),
                    "MCP client request"
                );
                let http = self.http.clone();
                let net = self.net_tx.clone();
                let task = tokio::spawn(exchange(http, id, *request, net));
                self.tasks.insert(id, task.abort_handle());
            }
            Transmit::Abort { id } => {
                if let Some(task) = self.tasks.remove(&id) {
                    task.abort();
                }
            }
        }
    }

    fn on_net(&mut self, net: Net) {
        let now = self.now();
        match net {
            Net::Head(id, status, headers) => self.core.handle_head(now, id, status, &headers),
            Net::Body(id, chunk) => self.core.handle_body(now, id, &chunk),
            Net::End(id) => {
                self.tasks.remove(&id);
                self.core.handle_end(now, id);
            }
            Net::Error(id) => {
                self.tasks.remove(&id);
                self.core.handle_error(now, id);
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Request {
                ticket,
                method,
                params,
                progress,
                done,
            } => match self.core.request(now, &method, params) {
                Ok(handle) => {
                    let token = progress.map(|(token, tx)| {
                        self.progress.insert(token.clone(), tx);
                        token
                    });
                    self.tickets.insert(ticket, handle);
                    self.waiters.insert(
                        handle,
                        Waiter {
                            ticket,
                            token,
                            done,
                        },
                    );
                }
                Err(e) => {
                    let _ = done.send(Err(map_error(e)));
                }
            },
            Command::Notify {
                method,
                params,
                done,
            } => {
                let r = self.core.notify(now, &method, params).map_err(map_error);
                let _ = done.send(r);
            }
            Command::Cancel { ticket } => {
                if let Some(handle) = self.tickets.remove(&ticket) {
                    let _ = self
                        .core
                        .cancel(now, handle, Some("cancelled by the caller"));
                    if let Some(w) = self.waiters.remove(&handle)
                        && let Some(token) = w.token
                    {
                        self.progress.remove(&token);
                    }
                }
            }
            Command::Close { done } => {
                if self.core.is_closed() {
                    let _ = done.send(());
                } else {
                    self.closers.push(done);
                    self.core.close(now);
                }
            }
        }
    }

    fn finish(&mut self, handle: RequestHandle, result: Result<Value, Error>) {
        if let Some(w) = self.waiters.remove(&handle) {
            self.tickets.remove(&w.ticket);
            if let Some(token) = w.token {
                self.progress.remove(&token);
            }
            let _ = w.done.send(result);
        }
    }

    /// `true` when the machine closed.
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Ready {
                era,
                version,
                result,
            } => {
                tracing::debug!(?era, %version, "MCP client ready");
                self.ready.ready(ReadyInfo {
                    era,
                    version,
                    result: result.to_value(),
                });
            }
            Event::Response { request, outcome } => {
                let result = outcome.map(|r| r.to_value()).map_err(Error::Rpc);
                self.finish(request, result);
            }
            Event::Failed { request, failure } => {
                self.finish(request, Err(Error::Transport(failure)));
            }
            Event::Notification { method, params, .. } => {
                let params = params.map_or(Value::Null, |p| p.to_value());
                if method == "notifications/progress"
                    && let Some(token) = params.get("progressToken").and_then(token_string)
                    && let Some(tx) = self.progress.get(&token)
                {
                    let _ = tx.send(Progress {
                        progress: params["progress"].as_f64().unwrap_or(0.0),
                        total: params.get("total").and_then(Value::as_f64),
                        message: params
                            .get("message")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    });
                } else if self
                    .notes
                    .try_send(Notification { method, params })
                    .is_err()
                {
                    tracing::warn!("notification dropped: the application is not reading them");
                }
            }
            Event::Request {
                key,
                method,
                params,
                ..
            } => self.on_server_request(key, &method, params),
            Event::SessionExpired => {
                tracing::warn!("MCP session expired; re-initializing");
            }
            Event::Warning(w) => tracing::warn!(warning = %w, "MCP server misbehaved"),
            Event::Closed { failure } => {
                self.ready
                    .failed(failure.map_or(Error::Closed, Error::Transport));
                for (_, w) in std::mem::take(&mut self.waiters) {
                    let _ = w.done.send(Err(Error::Closed));
                }
                for done in self.closers.drain(..) {
                    let _ = done.send(());
                }
                return true;
            }
        }
        false
    }

    /// Run the handler in its own task; its answer comes back as a respond
    /// command (INV-S25: nothing waits for it).
    fn on_server_request(&mut self, key: ServerRequestKey, method: &str, params: Option<RawJson>) {
        let Some(handler) = self.handlers.get(method).cloned() else {
            let now = self.now();
            let error = ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("client does not handle {method}"),
            );
            let _ = self.core.respond(now, key, Err(error));
            return;
        };
        let params = params.map_or(Value::Null, |p| p.to_value());
        let resp = self.resp_tx.clone();
        tokio::spawn(async move {
            // A panicking handler becomes an internal error, not a hang.
            let outcome = match tokio::spawn(handler(params)).await {
                Ok(Ok(value)) => Ok(RawJson::from_value(&value)),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    "client handler panicked",
                )),
            };
            let _ = resp.send((key, outcome));
        });
    }
}

fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn map_error(e: ClientError) -> Error {
    match e {
        ClientError::Closed | ClientError::Unknown => Error::Closed,
        ClientError::TooManyPending => Error::TooManyPending,
    }
}

/// One HTTP request: send it, then report head, every data frame and the end.
async fn exchange(http: Http, id: HttpId, request: http::Request<Bytes>, net: mpsc::Sender<Net>) {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, Full::new(body));
    let response = match (http.0)(request).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "MCP HTTP request failed");
            let _ = net.send(Net::Error(id)).await;
            return;
        }
    };
    let (parts, mut body) = response.into_parts();
    if net
        .send(Net::Head(id, parts.status.as_u16(), parts.headers))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let event = match body.frame().await {
            None => Net::End(id),
            Some(Err(_)) => Net::Error(id),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Net::Body(id, data),
                Err(_) => continue,
            },
        };
        let last = !matches!(event, Net::Body(..));
        if net.send(event).await.is_err() || last {
            return;
        }
    }
}
