//! What a handler can do while it runs: progress, log messages,
//! server-to-client requests, cancellation.

mod cancel;
mod error;
mod input;
mod link;
mod progress;
mod request;
mod session;

use std::sync::Arc;

use serde_json::{Value, json};
use streamable_core::{Id, ProtocolVersion, RawJson, RequestKey, Target};
use tokio::sync::oneshot;

use crate::mailbox::Command;
pub(crate) use cancel::{CancelSender, CancelState};
pub use error::ContextError;
pub use input::{INPUT_METHODS, MAX_INPUTS_PER_ROUND, with_input_rounds};
pub(crate) use input::{InputSettings, random_keys};
pub(crate) use link::Link;
use progress::{ProgressFloor, number, progress_token};
pub use session::{LogLevel, ServerHandle, Session, SessionData};

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
/// ([`SendError::Stateless`](streamable_core::SendError::Stateless)), but
/// [`RequestContext::elicit`], [`RequestContext::create_message`],
/// [`RequestContext::list_roots`] and [`RequestContext::input`] work in both
/// eras (multi-round-trip requests, [`with_input_rounds`]), and it
/// is cancelled when its client closes the response stream (H-CAN-1).
#[derive(Debug)]
pub struct RequestContext {
    session: Session,
    version: ProtocolVersion,
    request: RequestKey,
    id: Id,
    /// The request's params, for `_meta.progressToken`, read on first use:
    /// most requests never report progress, and parsing the params for it
    /// on the driver task costs every request a scan of its params.
    params: Option<RawJson>,
    progress_token: std::sync::OnceLock<Option<Value>>,
    /// The last progress value sent (each must be greater, U-PROG-3).
    progress_floor: ProgressFloor,
    cancelled: Arc<CancelState>,
    /// The `requestState` keys, for a stateless request (MRTR).
    input_settings: Option<Arc<InputSettings>>,
    /// The current multi-round-trip round, once [`with_input_rounds`]
    /// started one.
    input: Option<Arc<input::InputRound>>,
    /// The task this request runs as (the tasks extension), if any.
    task: Option<crate::tasks::TaskHandle>,
    /// A deferred task ([`Tool::defer_task`](crate::Tool::defer_task)): the
    /// call runs in its request until [`RequestContext::go_async`].
    deferral: Option<Arc<crate::tasks::Deferral>>,
    /// The HTTP request's parts (moved, not copied, from the request).
    parts: Option<http::request::Parts>,
}

impl RequestContext {
    /// The context of request `request` (JSON-RPC id `id`, with `params`)
    /// in `session`, speaking `version`, cancelled through `cancelled`.
    pub(crate) fn new(
        session: Session,
        version: ProtocolVersion,
        request: RequestKey,
        id: Id,
        params: Option<RawJson>,
        cancelled: Arc<CancelState>,
    ) -> Self {
        RequestContext {
            session,
            version,
            request,
            id,
            params,
            progress_token: std::sync::OnceLock::new(),
            progress_floor: ProgressFloor::default(),
            cancelled,
            input_settings: None,
            input: None,
            task: None,
            deferral: None,
            parts: None,
        }
    }

    /// Give a stateless request the `requestState` keys (the driver does).
    pub(crate) fn set_input_settings(&mut self, settings: Option<Arc<InputSettings>>) {
        self.input_settings = settings;
    }

    /// This context, running as task `task` (the tasks extension).
    pub(crate) fn with_task(mut self, task: crate::tasks::TaskHandle) -> Self {
        self.task = Some(task);
        self
    }

    /// This context, able to become a task on [`RequestContext::go_async`].
    pub(crate) fn with_deferral(mut self, deferral: Arc<crate::tasks::Deferral>) -> Self {
        self.deferral = Some(deferral);
        self
    }

    /// The task this tool call runs as, when the server answered it with a
    /// `CreateTaskResult` (a task-supporting tool, a client that declared
    /// the tasks extension; for a deferred tool, once it went async): ask
    /// the client for input through it (or simply through
    /// [`RequestContext::elicit`] and its siblings, which do so).
    pub fn task(&self) -> Option<&crate::tasks::TaskHandle> {
        self.task
            .as_ref()
            .or_else(|| self.deferral.as_ref().and_then(|d| d.task()))
    }

    /// Continue as a task (the tasks extension, SEP-2663): for a tool
    /// registered with [`Tool::defer_task`](crate::Tool::defer_task) and
    /// called by a client that declared the extension, the runtime creates
    /// the task, answers the call with its `CreateTaskResult`, and this
    /// same handler keeps running as the task: from here on its inputs go
    /// through the task (`tasks/get` / `tasks/update`), its result becomes
    /// the task's, and [`RequestContext::cancelled`] follows `tasks/cancel`.
    /// The answers gathered in the call's input rounds before (MRTR) stay
    /// the handler's own values: a tool can ask in rounds, then go async.
    ///
    /// Anywhere else (a plain call, a 2025 session, a tool that already
    /// runs as a task, a client without the extension) this does nothing
    /// and the handler simply goes on. Fails when inputs of this round are
    /// still unanswered ([`ContextError::InputRequired`] as -32603; end the
    /// handler with `?` on the input instead) or the task cannot be created.
    pub async fn go_async(&self) -> Result<(), streamable_core::ErrorObject> {
        let Some(d) = &self.deferral else {
            return Ok(());
        };
        if d.task().is_some() {
            return Ok(());
        }
        if self.input.as_ref().is_some_and(|r| r.has_pending()) {
            return Err(ContextError::InputRequired.into());
        }
        d.go().await
    }

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
            || self
                .deferral
                .as_ref()
                .and_then(|d| d.cancel_state())
                .is_some_and(|c| c.is_cancelled())
    }

    /// Resolves when the client cancels this request
    /// (`notifications/cancelled`; for a 2026-07-28 request, closing its
    /// response stream) or its session ends. Never resolves otherwise.
    pub async fn cancelled(&self) {
        if let Some(c) = self.deferral.as_ref().and_then(|d| d.cancel_state()) {
            return c.wait().await;
        }
        self.cancelled.wait().await;
        // A deferred call that went async meanwhile: its request was
        // answered (not cancelled), so the task's signal rules from now.
        if !self.cancelled.is_cancelled()
            && let Some(c) = self.deferral.as_ref().and_then(|d| d.cancel_state())
        {
            c.wait().await;
        }
    }

    /// Send `notifications/progress` (U-PROG-*) if the client gave a progress
    /// token; without one this does nothing and returns `Ok(false)`.
    ///
    /// Each value must be greater than the last one offered for this request
    /// (U-PROG-3); one that is not (or is NaN) is refused with
    /// [`ContextError::ProgressNotIncreasing`] and nothing is sent. A value
    /// counts as offered once it passes this check, even if the core then
    /// refuses to send it.
    pub async fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<&str>,
    ) -> Result<bool, ContextError> {
        let Some(token) = self.progress_token() else {
            return Ok(false);
        };
        if !self.progress_floor.raise(progress) {
            return Err(ContextError::ProgressNotIncreasing);
        }
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

    /// Send a request to the client on this request's stream and
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
    /// ([`SendError::NotAllowed`](streamable_core::SendError::NotAllowed) otherwise; [`SendError::Stateless`](streamable_core::SendError::Stateless) for a
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

    /// `sampling/createMessage`: see [`RequestContext::elicit`] for how it
    /// works in each era (needs the client's `sampling` capability in
    /// 2026-07-28).
    pub async fn create_message(&self, params: Value) -> Result<RawJson, ContextError> {
        self.ask(None, "sampling/createMessage", Some(params)).await
    }

    /// `elicitation/create`.
    ///
    /// In a session, a server-to-client request on this request's stream.
    /// In a 2026-07-28 round ([`with_input_rounds`]; [`McpServer`](crate::McpServer)
    /// starts one for `tools/call`, `prompts/get` and `resources/read`):
    /// the client's answer if its retry carries one, else the input is
    /// asked in this round's `InputRequiredResult` and the call fails with
    /// [`ContextError::InputRequired`] (end the handler with `?`); a
    /// client that did not declare `elicitation` in its `_meta` capabilities
    /// gets [`ContextError::MissingCapability`] (-32021 through `?`), an
    /// answer of the wrong shape [`ContextError::BadInputResponse`]
    /// (-32602). Without a round, a stateless request gets
    /// [`SendError::Stateless`](streamable_core::SendError::Stateless).
    pub async fn elicit(&self, params: Value) -> Result<RawJson, ContextError> {
        self.ask(None, "elicitation/create", Some(params)).await
    }

    /// `roots/list` (see [`RequestContext::elicit`]; needs `roots`).
    pub async fn list_roots(&self) -> Result<RawJson, ContextError> {
        self.ask(None, "roots/list", None).await
    }

    /// Ask for an input under a key of the handler's choosing: `method` is
    /// `elicitation/create`, `sampling/createMessage` or `roots/list`
    /// (anything else fails with
    /// [`SendError::NotAllowed`](streamable_core::SendError::NotAllowed)).
    /// In a 2026-07-28 round the key names the input in `inputRequests` and
    /// `inputResponses` (unique within the request; the same key means the
    /// same input in every round); in a session it is not used and this is
    /// [`RequestContext::request`]. Otherwise as [`RequestContext::elicit`].
    pub async fn input(
        &self,
        key: &str,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        self.ask(Some(key), method, params).await
    }

    /// Whether this request runs as a 2026-07-28 multi-round-trip round,
    /// where inputs are asked through `InputRequiredResult`.
    pub fn in_input_round(&self) -> bool {
        self.input.is_some()
    }

    /// Whether this round's request carried a `requestState` (it verified:
    /// one that does not is answered -32602 before the handler runs).
    pub fn has_request_state(&self) -> bool {
        self.input.as_ref().is_some_and(|r| r.carried_state)
    }

    async fn ask(
        &self,
        key: Option<&str>,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        let input_method = matches!(
            method,
            "elicitation/create" | "sampling/createMessage" | "roots/list"
        );
        // Running as a task: the input is one of the task's input requests
        // (its key is the task's own, so `key` is not used).
        if let Some(task) = self.task() {
            if !input_method {
                return Err(ContextError::NotSent(
                    streamable_core::SendError::NotAllowed,
                ));
            }
            let mut request = json!({ "method": method });
            if let Some(p) = params {
                request["params"] = p;
            }
            return task
                .input(request)
                .await
                .map(|v| RawJson::from_value(&v))
                .map_err(ContextError::Task);
        }
        if let Some(round) = &self.input {
            return round.ask(&self.session.data, key, method, params);
        }
        if key.is_some() && !input_method {
            return Err(ContextError::NotSent(
                streamable_core::SendError::NotAllowed,
            ));
        }
        self.request(method, params).await
    }
}

#[cfg(test)]
mod tests;
