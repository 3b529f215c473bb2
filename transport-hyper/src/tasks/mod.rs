//! The tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`) on the
//! server: a `tools/call` of a task-supporting tool, from a 2026-07-28 client
//! that declared the extension, is answered at once with a
//! `CreateTaskResult` while the tool runs in the background; the client polls
//! `tasks/get`, answers the task's input requests with `tasks/update`, and
//! may `tasks/cancel` it.
//!
//! Task state lives behind the [`TaskStore`] interface ([`MemoryStore`] by
//! default); the work running for a task (its future, its cancellation
//! signal, the handlers waiting for input) lives here, in [`Tasks`]. A tool
//! reaches its task through [`RequestContext::task`]: [`TaskHandle::elicit`]
//! parks the task in `input_required` until `tasks/update` answers.

mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use streamable_core::task::{self, Applied, Task, TaskChange, Wire};
use streamable_core::{ErrorObject, RawJson, code};
use tokio::sync::oneshot;

pub use store::{DEFAULT_MAX_TASKS, MemoryStore, StoreError, StoreFuture, TaskStore};

use crate::catch::CatchUnwind;
use crate::context::{CancelSender, CancelState, RequestContext, ServerHandle};
use crate::handler::Outcome;
use crate::registry::{ToolFn, ToolResult};

/// How long the work of a cancelled task may go on winding down (after its
/// context reads as cancelled) before it is dropped.
pub const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// Whether a tool runs as a task (declared with
/// [`Tool::task_support`](crate::Tool::task_support)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSupport {
    /// A task when the client declared the extension, else a plain call.
    Optional,
    /// Only as a task: a client that did not declare the extension gets
    /// -32021 with the required capability (TASK-2).
    Required,
}

/// The choices of the tasks runtime.
#[derive(Clone, Debug)]
pub struct TaskSettings {
    /// `ttlMs` of every task: it is kept (and its work allowed to run) for
    /// this long from creation, then discarded (TASK-6). Default 1 hour.
    pub ttl: Duration,
    /// `pollIntervalMs` suggested to clients. Default 1 s.
    pub poll_interval: Duration,
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            ttl: Duration::from_secs(3600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The work running for one task in this process.
#[derive(Debug)]
struct Worker {
    /// Ends the work at once (a `tasks/cancel`).
    stop: Option<oneshot::Sender<()>>,
    /// The task context's cancellation signal (what `ctx.cancelled()` sees).
    cancel: CancelSender,
    /// Handlers waiting for the answer to an input key.
    waiting: BTreeMap<String, oneshot::Sender<Value>>,
    /// Answers that arrived before their handler started waiting.
    early: BTreeMap<String, Value>,
}

/// The tasks runtime of an [`McpServer`](crate::McpServer): the store, the
/// settings, and the work running in this process.
pub(crate) struct Tasks {
    store: Arc<dyn TaskStore>,
    settings: TaskSettings,
    workers: Mutex<BTreeMap<String, Worker>>,
    /// For `notifications/tasks` on listen streams (set by `attach`).
    server: Mutex<Option<ServerHandle>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new(Arc::new(MemoryStore::default()), TaskSettings::default())
    }
}

/// Wall-clock Unix milliseconds (the wire's `createdAt` is an instant).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn invalid(msg: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, msg)
}

fn internal(msg: impl Into<String>) -> ErrorObject {
    ErrorObject::new(code::INTERNAL_ERROR, msg)
}

/// A store failure as the JSON-RPC error of a tasks method: an unknown task
/// is -32602 (TASK-9).
fn store_error(e: StoreError) -> ErrorObject {
    match e {
        StoreError::NotFound => invalid("Failed to retrieve task: Task not found"),
        other => internal(format!("Internal error: {other}")),
    }
}

/// An unguessable task id: 128 bits from the OS, hex (SEP-2663 §Security).
fn new_task_id() -> Result<String, ErrorObject> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| internal("Internal error: no entropy for a task id"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Whether this request declared the tasks extension: only 2026-07-28
/// requests can (the extension is not defined for the session era), in
/// their own `_meta` client capabilities (TASK-1).
pub(crate) fn declared(ctx: &RequestContext) -> bool {
    ctx.is_stateless()
        && ctx
            .session()
            .data()
            .client()
            .is_some_and(|c| task::declared(&c["capabilities"]))
}

impl Tasks {
    /// A runtime keeping task state in `store`.
    pub(crate) fn new(store: Arc<dyn TaskStore>, settings: TaskSettings) -> Self {
        Tasks {
            store,
            settings,
            workers: Mutex::default(),
            server: Mutex::default(),
        }
    }

    /// Publish task status notifications through `server`.
    pub(crate) fn attach(&self, server: ServerHandle) {
        if let Ok(mut g) = self.server.lock() {
            *g = Some(server);
        }
    }

    /// Apply `change` to task `id` and tell the listeners of that task
    /// (`notifications/tasks`, the full task as `tasks/get` shows it) when
    /// it changed (TASK-14).
    async fn apply(&self, id: &str, change: TaskChange) -> Result<Applied, StoreError> {
        let (applied, task) = self.store.apply(id, change, now_ms()).await?;
        if applied != Applied::Unchanged {
            let server = self.server.lock().ok().and_then(|g| g.clone());
            if let Some(server) = server {
                let params = task.to_wire(Wire::Notification);
                let _ = server.publish("notifications/tasks", Some(params)).await;
            }
        }
        Ok(applied)
    }

    /// `tools/call` of a task-supporting tool (its arguments already
    /// checked): a task when the client declared the extension, a plain
    /// call when it did not and the tool allows it, else -32021. A
    /// `deferred` tool first runs in the request itself and becomes a task
    /// only when it calls [`RequestContext::go_async`].
    pub(crate) async fn call_tool(
        self: &Arc<Self>,
        ctx: RequestContext,
        run: Arc<ToolFn>,
        args: Value,
        support: TaskSupport,
        deferred: bool,
    ) -> Outcome {
        if !declared(&ctx) {
            return match support {
                TaskSupport::Optional => serialize_result(&run(ctx, args).await?),
                TaskSupport::Required => Err(task::missing_capability()),
            };
        }
        if deferred {
            return self.call_deferred(ctx, run, args).await;
        }
        let (id, wire) = self.create().await?;
        let (cancel, cancelled) = CancelSender::new();
        let handle = TaskHandle {
            tasks: self.clone(),
            id: id.clone(),
        };
        let task_ctx = RequestContext::new(
            ctx.session().clone(),
            ctx.protocol_version(),
            ctx.request_key(),
            ctx.id().clone(),
            None,
            cancelled,
        )
        .with_parts(ctx.http_request().cloned())
        .with_task(handle);
        self.spawn_work(id, cancel, CatchUnwind::new(run(task_ctx, args)));
        Ok(wire)
    }

    /// A deferred tool: run it with the request's own context (so its
    /// inputs go through the request's multi-round-trip rounds) until it
    /// ends (its answer, or an `InputRequiredResult`) or asks to go async;
    /// then create the task, hand the same running future to the task's
    /// work and answer `CreateTaskResult` (MRTR then tasks, TASK-15).
    async fn call_deferred(
        self: &Arc<Self>,
        ctx: RequestContext,
        run: Arc<ToolFn>,
        args: Value,
    ) -> Outcome {
        let (go, mut asked) = oneshot::channel();
        let deferral = Arc::new(Deferral {
            go: Mutex::new(Some(go)),
            task: OnceLock::new(),
        });
        let mut work = CatchUnwind::new(run(ctx.with_deferral(deferral.clone()), args));
        let reply = tokio::select! {
            biased;
            r = &mut work => return finished(r),
            go = &mut asked => match go {
                Ok(reply) => reply,
                // The context is gone: the work is ending.
                Err(_) => return finished(work.await),
            },
        };
        let (id, wire) = match self.create().await {
            Ok(created) => created,
            Err(e) => {
                // The tool learns it stays a plain call; its answer is the
                // call's.
                let _ = reply.send(Err(e));
                return finished(work.await);
            }
        };
        let (cancel, cancelled) = CancelSender::new();
        let handle = TaskHandle {
            tasks: self.clone(),
            id: id.clone(),
        };
        let _ = deferral.task.set((handle, cancelled));
        self.spawn_work(id, cancel, work);
        let _ = reply.send(Ok(()));
        Ok(wire)
    }

    /// Create a task (durably, TASK-5): its id and `CreateTaskResult`.
    async fn create(&self) -> Result<(String, RawJson), ErrorObject> {
        let id = new_task_id()?;
        let now = now_ms();
        let created = Task::new(
            id.clone(),
            now,
            Some(millis(self.settings.ttl)),
            Some(millis(self.settings.poll_interval)),
        );
        let wire = RawJson::from_value(&created.to_wire(Wire::Created));
        self.store
            .create(created, now)
            .await
            .map_err(|e| internal(format!("Internal error: cannot create a task: {e}")))?;
        Ok((id, wire))
    }

    /// Run `work` as task `id`'s work: its end completes or fails the task,
    /// `tasks/cancel` (through `cancel`) or the TTL ends it.
    fn spawn_work(self: &Arc<Self>, id: String, cancel: CancelSender, mut work: Work) {
        let (stop, stopped) = oneshot::channel();
        if let Ok(mut g) = self.workers.lock() {
            g.insert(
                id.clone(),
                Worker {
                    stop: Some(stop),
                    cancel,
                    waiting: BTreeMap::new(),
                    early: BTreeMap::new(),
                },
            );
        }
        let tasks = self.clone();
        let ttl = self.settings.ttl;
        tokio::spawn(async move {
            let change = tokio::select! {
                biased;
                _ = stopped => {
                    // Cancelled: the context reads as cancelled; the work
                    // gets a grace period to wind down, then is dropped.
                    // Its result is refused (the task is terminal).
                    let _ = tokio::time::timeout(CANCEL_GRACE, &mut work).await;
                    None
                }
                () = tokio::time::sleep(ttl) => None,
                r = &mut work => Some(match r {
                    Ok(Ok(result)) => match RawJson::from_serialize(&result) {
                        Ok(raw) => TaskChange::Complete(raw),
                        Err(e) => TaskChange::Fail(internal(format!(
                            "Internal error: the tool result is not JSON: {e}"
                        ))),
                    },
                    Ok(Err(e)) => TaskChange::Fail(e),
                    Err(panic) => TaskChange::Fail(internal(format!(
                        "Internal error: the tool panicked: {panic}"
                    ))),
                }),
            };
            if let Some(change) = change {
                // A task cancelled or discarded meanwhile refuses this; fine.
                let _ = tasks.apply(&id, change).await;
            }
            if let Ok(mut g) = tasks.workers.lock() {
                g.remove(&id);
            }
        });
    }

    /// `tasks/get`, `tasks/update` and `tasks/cancel`.
    pub(crate) async fn request(
        &self,
        ctx: &RequestContext,
        method: &str,
        params: &Value,
    ) -> Outcome {
        // Gating first (TASK-1), so a client without the extension learns
        // what to add whatever else is wrong with its request.
        if !declared(ctx) {
            return Err(task::missing_capability());
        }
        let id = params["taskId"]
            .as_str()
            .ok_or_else(|| invalid("taskId must be a string"))?;
        let now = now_ms();
        match method {
            "tasks/get" => {
                let t = self
                    .store
                    .get(id, now)
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| store_error(StoreError::NotFound))?;
                Ok(RawJson::from_value(&t.to_wire(Wire::Detailed)))
            }
            "tasks/update" => {
                let responses = params["inputResponses"]
                    .as_object()
                    .ok_or_else(|| invalid("inputResponses must be an object"))?;
                let keys = responses.keys().cloned().collect();
                let applied = self
                    .apply(id, TaskChange::Answered(keys))
                    .await
                    .map_err(store_error)?;
                if let Applied::AnsweredKeys(keys) = applied {
                    self.deliver(id, keys, responses);
                }
                Ok(ack())
            }
            "tasks/cancel" => {
                let applied = self
                    .apply(id, TaskChange::Cancel)
                    .await
                    .map_err(store_error)?;
                if applied == Applied::Changed {
                    self.stop(id);
                }
                Ok(ack())
            }
            _ => Err(ErrorObject::new(
                code::METHOD_NOT_FOUND,
                format!("Method not found: {method}"),
            )),
        }
    }

    /// Hand the answers of `keys` to the handlers waiting for them (or keep
    /// them for a handler about to wait).
    fn deliver(&self, id: &str, keys: Vec<String>, responses: &serde_json::Map<String, Value>) {
        let Ok(mut g) = self.workers.lock() else {
            return;
        };
        let Some(w) = g.get_mut(id) else {
            return;
        };
        for k in keys {
            let v = responses.get(&k).cloned().unwrap_or(Value::Null);
            match w.waiting.remove(&k) {
                Some(tx) => {
                    let _ = tx.send(v);
                }
                None => {
                    w.early.insert(k, v);
                }
            }
        }
    }

    /// End the work of a cancelled task: its context reads as cancelled and
    /// its future is dropped.
    fn stop(&self, id: &str) {
        let worker = self.workers.lock().ok().and_then(|mut g| g.remove(id));
        if let Some(mut w) = worker {
            w.cancel.cancel();
            if let Some(stop) = w.stop.take() {
                let _ = stop.send(());
            }
        }
    }
}

/// The empty acknowledgement of `tasks/update` and `tasks/cancel`.
fn ack() -> RawJson {
    RawJson::from_value(&json!({"resultType": "complete"}))
}

/// A tool's running future, panics caught.
type Work = CatchUnwind<crate::registry::ToolFuture>;

/// The answer of a deferred tool that ended without going async.
fn finished(r: Result<Result<ToolResult, ErrorObject>, String>) -> Outcome {
    match r {
        Ok(r) => serialize_result(&r?),
        Err(panic) => Err(internal(format!(
            "Internal error: the tool panicked: {panic}"
        ))),
    }
}

/// How the runtime tells a deferred tool's `go_async` that the task exists.
type GoReply = oneshot::Sender<Result<(), ErrorObject>>;

/// The link between a deferred tool's context and the runtime: the tool's
/// [`RequestContext::go_async`] asks through `go`; the runtime answers once
/// the task exists and is set in `task` (with its cancellation signal).
pub(crate) struct Deferral {
    go: Mutex<Option<oneshot::Sender<GoReply>>>,
    task: OnceLock<(TaskHandle, Arc<CancelState>)>,
}

impl std::fmt::Debug for Deferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferral")
            .field("task", &self.task())
            .finish_non_exhaustive()
    }
}

impl Deferral {
    /// The task, once the tool went async.
    pub(crate) fn task(&self) -> Option<&TaskHandle> {
        self.task.get().map(|t| &t.0)
    }

    /// The task's cancellation signal, once the tool went async.
    pub(crate) fn cancel_state(&self) -> Option<&Arc<CancelState>> {
        self.task.get().map(|t| &t.1)
    }

    /// Ask the runtime to make the call a task; resolves once it is one.
    pub(crate) async fn go(&self) -> Result<(), ErrorObject> {
        let go = self.go.lock().ok().and_then(|mut g| g.take());
        let Some(go) = go else {
            // Asked already (a concurrent go_async): wait for the task.
            return if self.task().is_some() {
                Ok(())
            } else {
                Err(internal("Internal error: the call is already going async"))
            };
        };
        let (reply, answer) = oneshot::channel();
        go.send(reply)
            .map_err(|_| internal("Internal error: the call has ended"))?;
        answer
            .await
            .map_err(|_| internal("Internal error: the call has ended"))?
    }
}

fn serialize_result(r: &ToolResult) -> Outcome {
    RawJson::from_serialize(r)
        .map_err(|e| internal(format!("Internal error: the tool result is not JSON: {e}")))
}

/// Why [`TaskHandle::input`] got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskInputError {
    /// The task ended (cancelled, expired) before the client answered.
    Ended,
    /// The task's state refused the request (too many outstanding, or the
    /// store failed).
    Store(StoreError),
}

impl std::fmt::Display for TaskInputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskInputError::Ended => f.write_str("the task ended before the client answered"),
            TaskInputError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TaskInputError {}

impl From<TaskInputError> for ErrorObject {
    fn from(e: TaskInputError) -> Self {
        internal(format!("Internal error: {e}"))
    }
}

/// What a tool running as a task can do with its task: ask the client for
/// input (the task goes to `input_required` and the request appears in
/// `tasks/get`'s `inputRequests` until `tasks/update` answers it), and
/// describe its progress (`statusMessage`).
#[derive(Clone)]
pub struct TaskHandle {
    tasks: Arc<Tasks>,
    id: String,
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle").field("id", &self.id).finish()
    }
}

impl TaskHandle {
    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Ask the client: `request` is a server-to-client request
    /// (`{"method": .., "params": ..}`); resolves with the client's answer
    /// from `tasks/update`. Several may be outstanding at once (up to
    /// [`task::MAX_INPUT_REQUESTS`]), each under its own key.
    pub async fn input(&self, request: Value) -> Result<Value, TaskInputError> {
        let applied = self
            .tasks
            .apply(
                &self.id,
                TaskChange::NeedInput(RawJson::from_value(&request)),
            )
            .await
            .map_err(TaskInputError::Store)?;
        let Applied::InputKey(key) = applied else {
            return Err(TaskInputError::Ended);
        };
        let rx = {
            let mut g = self
                .tasks
                .workers
                .lock()
                .map_err(|_| TaskInputError::Ended)?;
            let w = g.get_mut(&self.id).ok_or(TaskInputError::Ended)?;
            if let Some(v) = w.early.remove(&key) {
                return Ok(v);
            }
            let (tx, rx) = oneshot::channel();
            w.waiting.insert(key, tx);
            rx
        };
        rx.await.map_err(|_| TaskInputError::Ended)
    }

    /// `elicitation/create` through the task; resolves with the client's
    /// `ElicitResult` (`{"action": .., "content": ..}`).
    pub async fn elicit(&self, params: Value) -> Result<Value, TaskInputError> {
        self.input(json!({"method": "elicitation/create", "params": params}))
            .await
    }

    /// `sampling/createMessage` through the task.
    pub async fn create_message(&self, params: Value) -> Result<Value, TaskInputError> {
        self.input(json!({"method": "sampling/createMessage", "params": params}))
            .await
    }

    /// Set the task's `statusMessage`.
    pub async fn status_message(&self, message: &str) -> Result<(), TaskInputError> {
        self.tasks
            .apply(&self.id, TaskChange::Message(message.to_owned()))
            .await
            .map(|_| ())
            .map_err(TaskInputError::Store)
    }
}
