//! What a handler can do while it runs: progress, log messages,
//! server-to-client requests, cancellation.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use streamable_core::{
    ErrorObject, Id, OutgoingKey, ProtocolVersion, RawJson, RequestKey, SendError, SessionKey,
    Target,
};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::mailbox::{Command, Control, send_command};

/// The channels to the driver.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    /// Weak, so handles kept by the application (e.g. in a registry) do not
    /// keep the driver alive after every service clone is gone.
    pub(crate) mailbox: mpsc::WeakSender<Command>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
}

impl Link {
    pub(crate) async fn send(&self, cmd: Command) -> Result<(), ContextError> {
        let tx = self.mailbox.upgrade().ok_or(ContextError::Stopped)?;
        send_command(&tx, cmd)
            .await
            .map_err(|()| ContextError::Stopped)
    }

    async fn notify(
        &self,
        target: Target,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<(), ContextError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Notify {
            target,
            method: method.to_owned(),
            params,
            done,
        })
        .await?;
        rx.await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)
    }

    async fn request(
        &self,
        target: Target,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<RawJson, ContextError> {
        let (sent, sent_rx) = oneshot::channel();
        let (answer, answer_rx) = oneshot::channel();
        self.send(Command::RequestClient {
            target,
            method: method.to_owned(),
            params,
            sent,
            answer,
        })
        .await?;
        let key = sent_rx
            .await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)?;
        // If this future is dropped while waiting, the driver forgets the
        // request (a late answer is then ignored by the core).
        let mut guard = ForgetGuard {
            key,
            control: Some(self.control.clone()),
        };
        let r = answer_rx.await;
        guard.control = None;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ContextError::Rejected(e)),
            // The session ended (its waiters are dropped) or the driver stopped.
            Err(_) => Err(ContextError::NotSent(SendError::Gone)),
        }
    }
}

struct ForgetGuard {
    key: OutgoingKey,
    control: Option<mpsc::UnboundedSender<Control>>,
}

impl Drop for ForgetGuard {
    fn drop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.send(Control::Forget(self.key));
        }
    }
}

/// Why a message from a handler did not go out, or a server-to-client
/// request did not get a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextError {
    /// The core refused it (see [`SendError`]): the request or session is
    /// gone, no stream can carry it, a limit, JSON response mode, ...
    NotSent(SendError),
    /// The client answered a server-to-client request with an error.
    Rejected(ErrorObject),
    /// The server is shutting down.
    Stopped,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::NotSent(e) => write!(f, "not sent: {e}"),
            ContextError::Rejected(e) => write!(f, "client error {}: {}", e.code, e.message),
            ContextError::Stopped => f.write_str("the server is shutting down"),
        }
    }
}

impl std::error::Error for ContextError {}

/// Log levels of `logging/setLevel` and `notifications/message` (RFC 5424).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug = 0,
    /// `info`
    Info = 1,
    /// `notice`
    Notice = 2,
    /// `warning`
    Warning = 3,
    /// `error`
    Error = 4,
    /// `critical`
    Critical = 5,
    /// `alert`
    Alert = 6,
    /// `emergency`
    Emergency = 7,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }

    /// Parse a wire name.
    ///
    /// ```
    /// use streamable_hyper::LogLevel;
    /// assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
    /// assert_eq!(LogLevel::parse("loud"), None);
    /// ```
    pub fn parse(s: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Per-session state the adapter keeps for the application.
#[derive(Debug, Default)]
pub struct SessionData {
    log_level: AtomicU8,
    /// The client's `initialize` params as compact JSON text: a parsed
    /// `Value` costs ~1.2 KiB of map nodes per idle session, the text ~150 B
    /// (docs/benchmarks.md, memory).
    client: Mutex<Option<Box<str>>>,
    subscriptions: Mutex<BTreeSet<String>>,
}

impl SessionData {
    /// The minimum level of log messages sent (`logging/setLevel`; default
    /// `debug`, i.e. everything).
    pub fn log_level(&self) -> LogLevel {
        LogLevel::ALL[usize::from(self.log_level.load(Ordering::Relaxed).min(7))]
    }

    /// Set the minimum level.
    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level as u8, Ordering::Relaxed);
    }

    /// The client's `initialize` params (`capabilities`, `clientInfo`), once
    /// recorded by [`McpServer`](crate::McpServer) or the application.
    pub fn client(&self) -> Option<Value> {
        let g = self.client.lock().ok()?;
        serde_json::from_str(g.as_deref()?).ok()
    }

    /// Record the client's `initialize` params.
    pub fn set_client(&self, params: Value) {
        let text = params.to_string().into_boxed_str();
        if let Ok(mut g) = self.client.lock() {
            *g = Some(text);
        }
    }

    /// Whether the client declared `capabilities.<name>` in `initialize`.
    pub fn client_supports(&self, name: &str) -> bool {
        self.client()
            .and_then(|c| c.get("capabilities").and_then(|c| c.get(name)).cloned())
            .is_some_and(|v| !v.is_null())
    }

    /// Subscribe to a resource URI (`resources/subscribe`).
    pub fn subscribe(&self, uri: &str) {
        if let Ok(mut g) = self.subscriptions.lock() {
            g.insert(uri.to_owned());
        }
    }

    /// Unsubscribe (`resources/unsubscribe`).
    pub fn unsubscribe(&self, uri: &str) {
        if let Ok(mut g) = self.subscriptions.lock() {
            g.remove(uri);
        }
    }

    /// Whether the session subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .map(|g| g.contains(uri))
            .unwrap_or(false)
    }
}

/// A request's cancellation signal, shared by the driver (through
/// [`CancelSender`]) and the request's context. One allocation and no
/// channel: a `watch` channel per request cost a `BigNotify` (eight
/// `Notify`s, each locked when the sender went) on every tools/call.
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    /// The client cancelled, or the session ended.
    cancelled: AtomicBool,
    /// The driver forgot the request (answered, abandoned) or stopped.
    closed: AtomicBool,
    notify: Notify,
}

impl CancelState {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled or closed (the driver forgot the request or
    /// stopped: treated as cancelled).
    async fn wait(&self) {
        loop {
            // Registered before the check, so a signal sent after it wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cancelled.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The driver's end of a [`CancelState`]; dropping it closes the signal
/// (so a context outliving its request, or a stopped driver, reads as
/// cancelled to [`RequestContext::cancelled`], as a dropped channel did).
#[derive(Debug)]
pub(crate) struct CancelSender(Arc<CancelState>);

impl CancelSender {
    pub(crate) fn new() -> (CancelSender, Arc<CancelState>) {
        let state = Arc::new(CancelState::default());
        (CancelSender(state.clone()), state)
    }

    pub(crate) fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

impl Drop for CancelSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

/// A handle on one session: its key, its state, and its GET stream.
///
/// A stateless 2026-07-28 request has no session; its context still carries
/// a `Session` handle, scoped to that one request, with no key: its
/// [`SessionData`] holds the request's `_meta` client capabilities and
/// client info (so [`SessionData::client_supports`] answers in both eras),
/// and its session-wide operations return
/// [`ContextError::NotSent`]`(`[`SendError::Stateless`]`)`.
#[derive(Clone, Debug)]
pub struct Session {
    pub(crate) key: Option<SessionKey>,
    pub(crate) data: Arc<SessionData>,
    pub(crate) link: Link,
}

impl Session {
    /// The session's key; `None` for the per-request handle of a stateless
    /// 2026-07-28 request.
    pub fn key(&self) -> Option<SessionKey> {
        self.key
    }

    fn target(&self) -> Result<Target, ContextError> {
        self.key
            .map(Target::Session)
            .ok_or(ContextError::NotSent(SendError::Stateless))
    }

    /// Its state (log level, client info, subscriptions).
    pub fn data(&self) -> &SessionData {
        &self.data
    }

    /// Send a notification on the session's standalone GET stream (T-GET-4);
    /// [`SendError::NoStream`] when the client opened none.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.link.notify(self.target()?, method, params).await
    }

    /// Send a request to the client on the GET stream and await its answer.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.link.request(self.target()?, method, params).await
    }

    /// End the session (T-SES-7): later requests naming it get 404.
    pub async fn close(&self) -> Result<(), ContextError> {
        let Some(session) = self.key else {
            return Err(ContextError::NotSent(SendError::Stateless));
        };
        let (done, rx) = oneshot::channel();
        self.link
            .send(Command::CloseSession { session, done })
            .await?;
        rx.await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)
    }
}

/// A handle on the running server for work that belongs to no request:
/// change notifications to 2026-07-28 `subscriptions/listen` streams.
/// Handed to [`Handler::attach`](crate::Handler::attach). It does not keep
/// the server alive.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    pub(crate) link: Link,
}

impl ServerHandle {
    /// Publish a change notification (`notifications/tools/list_changed`,
    /// `notifications/prompts/list_changed`,
    /// `notifications/resources/list_changed`, or
    /// `notifications/resources/updated` with `{"uri": ...}`) to every
    /// listen stream whose filter asks for it; returns how many it reached.
    /// Legacy sessions get theirs on their GET streams through
    /// [`Session::notify`].
    pub async fn publish(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<usize, ContextError> {
        let (done, rx) = oneshot::channel();
        self.link
            .send(Command::Publish {
                method: method.to_owned(),
                params: params.as_ref().map(RawJson::from_value),
                done,
            })
            .await?;
        rx.await.map_err(|_| ContextError::Stopped)
    }
}

/// Everything a handler needs about the request it is answering, and the
/// ways to talk to the client while it works.
///
/// Messages sent through the context travel on this request's own stream
/// (T-PSSE-8): in the default `Auto` response mode the first of them turns
/// the response into an SSE stream, and each is flushed to the client as soon
/// as it is sent.
///
/// The same context serves both protocol eras, so one handler serves both:
/// [`RequestContext::protocol_version`] tells which applies, and what the
/// era does not allow fails with a clear error instead of needing a second
/// code path — a 2026-07-28 request cannot send requests to the client
/// ([`SendError::Stateless`]; return an `InputRequiredResult` instead) and
/// is cancelled when its client closes the response stream (H-CAN-1).
#[derive(Debug)]
pub struct RequestContext {
    pub(crate) session: Session,
    pub(crate) version: ProtocolVersion,
    pub(crate) request: RequestKey,
    pub(crate) id: Id,
    /// The request's params, for `_meta.progressToken`, read on first use:
    /// most requests never report progress, and parsing the params for it
    /// on the driver task costs every request a scan of its params.
    pub(crate) params: Option<RawJson>,
    pub(crate) progress_token: std::sync::OnceLock<Option<Value>>,
    pub(crate) cancelled: Arc<CancelState>,
}

impl RequestContext {
    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The protocol revision this request speaks: the session's negotiated
    /// version, or 2026-07-28 for a stateless request.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.version
    }

    /// Whether this is a stateless 2026-07-28 request (no session, no
    /// server-to-client requests, disconnect = cancellation).
    pub fn is_stateless(&self) -> bool {
        self.session.key.is_none()
    }

    /// Whether [`RequestContext::request`] (sampling, elicitation, roots)
    /// can be used: in a session whose client declared `capability`.
    /// Always false for stateless requests (H-SSE-2).
    pub fn can_request(&self, capability: &str) -> bool {
        !self.is_stateless() && self.session.data.client_supports(capability)
    }

    /// The request's key (the core's handle; unique for the server's life).
    pub fn request_key(&self) -> RequestKey {
        self.request
    }

    /// The client's JSON-RPC id.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// `params._meta.progressToken`, if the client asked for progress.
    pub fn progress_token(&self) -> Option<&Value> {
        self.progress_token
            .get_or_init(|| self.params.as_ref().and_then(progress_token))
            .as_ref()
    }

    /// Whether the client cancelled this request (`notifications/cancelled`,
    /// or for a 2026-07-28 request by closing its stream), or its session
    /// ended.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.is_cancelled()
    }

    /// Resolves when the client cancels this request
    /// (`notifications/cancelled`; for a 2026-07-28 request, closing its
    /// response stream) or its session ends. Never resolves otherwise.
    pub async fn cancelled(&self) {
        self.cancelled.wait().await;
    }

    /// Send `notifications/progress` (U-PROG-*) if the client gave a progress
    /// token; without one this does nothing and returns `Ok(false)`.
    pub async fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> Result<bool, ContextError> {
        let Some(token) = self.progress_token() else {
            return Ok(false);
        };
        let mut p = json!({"progressToken": token, "progress": number(progress)});
        if let Some(t) = total {
            p["total"] = number(t);
        }
        if let Some(m) = message {
            p["message"] = json!(m);
        }
        self.notify("notifications/progress", Some(p)).await?;
        Ok(true)
    }

    /// Send a `notifications/message` log message on this request's stream if
    /// `level` is at or above the session's level; returns whether it was sent.
    pub async fn log(
        &self,
        level: LogLevel,
        logger: Option<&str>,
        data: Value,
    ) -> Result<bool, ContextError> {
        if level < self.session.data.log_level() {
            return Ok(false);
        }
        let mut p = json!({"level": level.as_str(), "data": data});
        if let Some(l) = logger {
            p["logger"] = json!(l);
        }
        self.notify("notifications/message", Some(p)).await?;
        Ok(true)
    }

    /// Send any notification on this request's stream.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.session
            .link
            .notify(Target::Request(self.request), method, params)
            .await
    }

    /// Send a request to the client on this request's stream (X-10) and
    /// await its answer. Dropping the future forgets the request.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.session
            .link
            .request(Target::Request(self.request), method, params)
            .await
    }

    /// End this request's connection without ending its stream (SSE
    /// polling, T-PSSE-2): the client receives `retry` and reconnects with
    /// `Last-Event-ID`, and everything sent meanwhile (the response
    /// included) is replayed to it. Only in 2025-11-25 sessions
    /// ([`SendError::NotAllowed`] otherwise; [`SendError::Stateless`] for a
    /// 2026-07-28 request, where closing the stream would cancel it).
    pub async fn end_connection(&self) -> Result<(), ContextError> {
        let (done, rx) = oneshot::channel();
        self.session
            .link
            .send(Command::EndConnection {
                target: Target::Request(self.request),
                done,
            })
            .await?;
        rx.await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)
    }

    /// `sampling/createMessage`.
    pub async fn create_message(&self, params: Value) -> Result<RawJson, ContextError> {
        self.request("sampling/createMessage", Some(params)).await
    }

    /// `elicitation/create`.
    pub async fn elicit(&self, params: Value) -> Result<RawJson, ContextError> {
        self.request("elicitation/create", Some(params)).await
    }

    /// `roots/list`.
    pub async fn list_roots(&self) -> Result<RawJson, ContextError> {
        self.request("roots/list", None).await
    }
}

/// `params._meta.progressToken`, if any (a string or an integer, U-PROG-1).
fn progress_token(params: &RawJson) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "progressToken")]
        progress_token: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "_meta")]
        meta: Option<Meta>,
    }
    let p: P = params.deserialize().ok()?;
    p.meta?
        .progress_token
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
}

/// Whole numbers as JSON integers (`1`, not `1.0`).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pending_after(state: &CancelState) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), state.wait())
                .await
                .is_err()
        })
    }

    #[test]
    fn cancel_wakes_a_waiter_and_reads_as_cancelled() {
        let (tx, state) = CancelSender::new();
        assert!(!state.is_cancelled());
        assert!(pending_after(&state), "nothing signalled yet");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let waiter = state.clone();
        rt.block_on(async move {
            let wait = tokio::spawn(async move { waiter.wait().await });
            tokio::task::yield_now().await;
            tx.cancel();
            wait.await.expect("woken");
            // The sender is still alive: this was a cancellation.
            drop(tx);
        });
        assert!(state.is_cancelled());
    }

    #[test]
    fn a_dropped_sender_ends_the_wait_without_reading_as_cancelled() {
        let (tx, state) = CancelSender::new();
        drop(tx);
        assert!(!pending_after(&state), "closed: the wait ends");
        assert!(!state.is_cancelled(), "like a dropped watch sender");
    }
}
