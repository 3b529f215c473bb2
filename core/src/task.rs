//! Tasks (SEP-2663, the `io.modelcontextprotocol/tasks` extension): one
//! task's state as a small machine, and its wire forms.
//!
//! A task is the durable handle a server returns (`CreateTaskResult`,
//! `resultType: "task"`) instead of a `tools/call` result; the client polls
//! it with `tasks/get`, answers its input requests with `tasks/update` and
//! may `tasks/cancel` it. This module holds what is protocol-pure about a
//! task: its statuses and the transitions between them (TASK-3), the
//! input-request keys (unique over the task's life, TASK-7), the expiry rule
//! and the JSON shapes. Time is passed in as wall-clock Unix milliseconds
//! (the wire carries ISO 8601 instants); nothing here reads a clock, draws
//! randomness or locks.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::jsonrpc::{ErrorObject, RawJson};

/// The extension identifier, the key under `capabilities.extensions`.
pub const EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// The most input requests one task may have outstanding at once; a
/// further one is refused with [`TaskError::TooManyInputs`].
pub const MAX_INPUT_REQUESTS: usize = 64;

/// The most task ids one `subscriptions/listen` may ask notifications for;
/// more are refused with -32602.
pub const MAX_LISTEN_TASK_IDS: usize = 256;

/// A task's status (SEP-2663 §Task Status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskStatus {
    /// The request is being processed.
    Working,
    /// The server waits for the client's answers to `inputRequests`.
    InputRequired,
    /// Finished with a result (a tool result with `isError: true` included).
    Completed,
    /// Finished with a JSON-RPC error.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl TaskStatus {
    /// The wire name (`"working"`, `"input_required"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input_required",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `s` on the wire.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "working" => TaskStatus::Working,
            "input_required" => TaskStatus::InputRequired,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }

    /// `completed`, `failed` and `cancelled` are terminal: a terminal task
    /// never changes again (TASK-3).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// A change to a task, as data, so that a store can apply it atomically
/// wherever the task lives (in memory under a lock, or in a shared store).
#[derive(Clone, Debug, PartialEq)]
pub enum TaskChange {
    /// The work needs the client's answer to `request` (a server-to-client
    /// request such as `{"method": "elicitation/create", "params": ..}`):
    /// a fresh key is minted and the task goes to `input_required`.
    NeedInput(RawJson),
    /// The client answered these keys (`tasks/update`); keys not
    /// outstanding are ignored. With none left the task is `working` again.
    Answered(Vec<String>),
    /// A progress description for a non-terminal task (`statusMessage`).
    Message(String),
    /// The work finished with this result.
    Complete(RawJson),
    /// The work failed with this JSON-RPC error.
    Fail(ErrorObject),
    /// The client asked to cancel (`tasks/cancel`). On a terminal task this
    /// changes nothing and is not an error (the ack is idempotent).
    Cancel,
}

/// What applying a [`TaskChange`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The status or payload changed.
    Changed,
    /// Nothing changed (a cancel of a terminal task, an update naming no
    /// outstanding key).
    Unchanged,
    /// [`TaskChange::NeedInput`]: the key minted for the request.
    InputKey(String),
    /// [`TaskChange::Answered`]: the keys that were outstanding and are now
    /// answered, in the order given.
    AnsweredKeys(Vec<String>),
}

/// Why a change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// The task is terminal; only a cancel (a no-op) is accepted.
    Terminal,
    /// [`MAX_INPUT_REQUESTS`] are outstanding already.
    TooManyInputs,
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TaskError::Terminal => "the task has finished",
            TaskError::TooManyInputs => "too many input requests are outstanding",
        })
    }
}

impl std::error::Error for TaskError {}

/// The wire form wanted from [`Task::to_wire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// `CreateTaskResult`: `resultType: "task"` and the task's metadata,
    /// never `result`, `error`, `inputRequests` or `requestState` (TASK-4).
    Created,
    /// `tasks/get`'s `DetailedTask`: `resultType: "complete"`, the metadata
    /// and the payload of the status (`inputRequests`, `result` or `error`).
    Detailed,
    /// `notifications/tasks` params: the `DetailedTask` without `resultType`.
    Notification,
}

/// One task: its id, status, timestamps, TTL and payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    id: String,
    status: TaskStatus,
    status_message: Option<String>,
    created_at: u64,
    last_updated_at: u64,
    ttl_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
    /// Outstanding input requests by key, in key order.
    input_requests: BTreeMap<String, RawJson>,
    /// How many keys were ever minted (the next key's number).
    minted: u64,
    result: Option<RawJson>,
    error: Option<ErrorObject>,
}

impl Task {
    /// A new `working` task `id`, created at `now_ms` (Unix milliseconds),
    /// kept for `ttl_ms` from creation (`None`: unlimited), with the polling
    /// interval suggested to the client.
    pub fn new(
        id: impl Into<String>,
        now_ms: u64,
        ttl_ms: Option<u64>,
        poll_interval_ms: Option<u64>,
    ) -> Task {
        Task {
            id: id.into(),
            status: TaskStatus::Working,
            status_message: None,
            created_at: now_ms,
            last_updated_at: now_ms,
            ttl_ms,
            poll_interval_ms,
            input_requests: BTreeMap::new(),
            minted: 0,
            result: None,
            error: None,
        }
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current status.
    pub fn status(&self) -> TaskStatus {
        self.status
    }

    /// The outstanding input requests by key.
    pub fn input_requests(&self) -> &BTreeMap<String, RawJson> {
        &self.input_requests
    }

    /// The result of a `completed` task.
    pub fn result(&self) -> Option<&RawJson> {
        self.result.as_ref()
    }

    /// The error of a `failed` task.
    pub fn error(&self) -> Option<&ErrorObject> {
        self.error.as_ref()
    }

    /// When (Unix ms) the task may be discarded: creation plus TTL.
    pub fn expires_at(&self) -> Option<u64> {
        self.ttl_ms.map(|t| self.created_at.saturating_add(t))
    }

    /// Whether its TTL has elapsed at `now_ms` (never before; TASK-6).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at().is_some_and(|at| now_ms >= at)
    }

    /// Apply `change` at `now_ms` (TASK-3): a terminal task refuses every
    /// change but a cancel, which it ignores.
    pub fn apply(&mut self, change: TaskChange, now_ms: u64) -> Result<Applied, TaskError> {
        if self.status.is_terminal() {
            return match change {
                TaskChange::Cancel | TaskChange::Answered(_) => Ok(Applied::Unchanged),
                _ => Err(TaskError::Terminal),
            };
        }
        let applied = match change {
            TaskChange::NeedInput(request) => {
                if self.input_requests.len() >= MAX_INPUT_REQUESTS {
                    return Err(TaskError::TooManyInputs);
                }
                self.minted += 1;
                let key = format!("input-{}", self.minted);
                self.input_requests.insert(key.clone(), request);
                self.status = TaskStatus::InputRequired;
                Applied::InputKey(key)
            }
            TaskChange::Answered(keys) => {
                let answered: Vec<String> = keys
                    .into_iter()
                    .filter(|k| self.input_requests.remove(k).is_some())
                    .collect();
                if answered.is_empty() {
                    return Ok(Applied::Unchanged);
                }
                if self.input_requests.is_empty() {
                    self.status = TaskStatus::Working;
                }
                Applied::AnsweredKeys(answered)
            }
            TaskChange::Message(m) => {
                self.status_message = Some(m);
                Applied::Changed
            }
            TaskChange::Complete(result) => {
                self.finish(TaskStatus::Completed);
                self.result = Some(result);
                Applied::Changed
            }
            TaskChange::Fail(error) => {
                self.finish(TaskStatus::Failed);
                self.status_message = Some(error.message.clone());
                self.error = Some(error);
                Applied::Changed
            }
            TaskChange::Cancel => {
                self.finish(TaskStatus::Cancelled);
                self.status_message = Some("cancelled by the client".into());
                Applied::Changed
            }
        };
        self.last_updated_at = self.last_updated_at.max(now_ms);
        Ok(applied)
    }

    /// The whole task as a self-describing JSON record, for a shared store
    /// that keeps tasks outside this process (the wire forms drop what the
    /// state machine needs: the minted-key counter, exact timestamps).
    /// [`Task::from_record`] reads it back unchanged.
    pub fn to_record(&self) -> Value {
        let inputs: Map<String, Value> = self
            .input_requests
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect();
        let error = self.error.as_ref().map(|e| {
            json!({"code": e.code, "message": e.message,
                   "data": e.data.as_ref().map(RawJson::to_value)})
        });
        json!({
            "v": 1,
            "id": self.id,
            "status": self.status.as_str(),
            "statusMessage": self.status_message,
            "createdAt": self.created_at,
            "lastUpdatedAt": self.last_updated_at,
            "ttlMs": self.ttl_ms,
            "pollIntervalMs": self.poll_interval_ms,
            "inputs": inputs,
            "minted": self.minted,
            "result": self.result.as_ref().map(RawJson::to_value),
            "error": error,
        })
    }

    /// A task from a [`Task::to_record`] record; `None` when `v` is not
    /// one (another version, a missing or mistyped member).
    pub fn from_record(v: &Value) -> Option<Task> {
        if v.get("v")?.as_u64()? != 1 {
            return None;
        }
        let opt_u64 = |k: &str| -> Option<Option<u64>> {
            match v.get(k)? {
                Value::Null => Some(None),
                n => n.as_u64().map(Some),
            }
        };
        let opt_raw = |k: &str| -> Option<RawJson> {
            v.get(k).filter(|x| !x.is_null()).map(RawJson::from_value)
        };
        let input_requests = v
            .get("inputs")?
            .as_object()?
            .iter()
            .map(|(k, x)| (k.clone(), RawJson::from_value(x)))
            .collect();
        let error = match v.get("error")? {
            Value::Null => None,
            e => Some(ErrorObject {
                code: e.get("code")?.as_i64()?,
                message: e.get("message")?.as_str()?.to_owned(),
                data: e
                    .get("data")
                    .filter(|d| !d.is_null())
                    .map(RawJson::from_value),
            }),
        };
        Some(Task {
            id: v.get("id")?.as_str()?.to_owned(),
            status: TaskStatus::parse(v.get("status")?.as_str()?)?,
            status_message: match v.get("statusMessage")? {
                Value::Null => None,
                m => Some(m.as_str()?.to_owned()),
            },
            created_at: v.get("createdAt")?.as_u64()?,
            last_updated_at: v.get("lastUpdatedAt")?.as_u64()?,
            ttl_ms: opt_u64("ttlMs")?,
            poll_interval_ms: opt_u64("pollIntervalMs")?,
            input_requests,
            minted: v.get("minted")?.as_u64()?,
            result: opt_raw("result"),
            error,
        })
    }

    fn finish(&mut self, status: TaskStatus) {
        self.status = status;
        self.input_requests.clear();
    }

    /// The task as JSON in the form `wire` asks for.
    pub fn to_wire(&self, wire: Wire) -> Value {
        let mut m = Map::new();
        match wire {
            Wire::Created => m.insert("resultType".into(), json!("task")),
            Wire::Detailed => m.insert("resultType".into(), json!("complete")),
            Wire::Notification => None,
        };
        m.insert("taskId".into(), json!(self.id));
        m.insert("status".into(), json!(self.status.as_str()));
        if let Some(s) = &self.status_message {
            m.insert("statusMessage".into(), json!(s));
        }
        m.insert("createdAt".into(), json!(iso8601(self.created_at)));
        m.insert("lastUpdatedAt".into(), json!(iso8601(self.last_updated_at)));
        m.insert("ttlMs".into(), json!(self.ttl_ms));
        if let Some(p) = self.poll_interval_ms {
            m.insert("pollIntervalMs".into(), json!(p));
        }
        if wire != Wire::Created {
            match self.status {
                TaskStatus::InputRequired => {
                    let reqs: Map<String, Value> = self
                        .input_requests
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_value()))
                        .collect();
                    m.insert("inputRequests".into(), Value::Object(reqs));
                }
                TaskStatus::Completed => {
                    let r = self.result.as_ref().map_or(json!({}), RawJson::to_value);
                    m.insert("result".into(), r);
                }
                TaskStatus::Failed => {
                    if let Some(e) = &self.error {
                        let mut err = json!({"code": e.code, "message": e.message});
                        if let Some(d) = &e.data {
                            err["data"] = d.to_value();
                        }
                        m.insert("error".into(), err);
                    }
                }
                TaskStatus::Working | TaskStatus::Cancelled => {}
            }
        }
        Value::Object(m)
    }
}

/// The error data of -32021 when a request needs the tasks extension the
/// client did not declare (TASK-2): `{"requiredCapabilities": {"extensions":
/// {"io.modelcontextprotocol/tasks": {}}}}`.
pub fn missing_capability() -> ErrorObject {
    let data = json!({"requiredCapabilities": {"extensions": {EXTENSION: {}}}});
    ErrorObject::new(
        crate::jsonrpc::code::MISSING_CAPABILITY,
        format!("Missing required client capability: extensions[\"{EXTENSION}\"]"),
    )
    .with_data(RawJson::from_value(&data))
}

/// Whether client capabilities (the `_meta` `clientCapabilities` object)
/// declare the tasks extension.
pub fn declared(capabilities: &Value) -> bool {
    capabilities
        .get("extensions")
        .and_then(|e| e.get(EXTENSION))
        .is_some_and(|v| !v.is_null())
}

/// `ms` Unix milliseconds as an ISO 8601 UTC instant with milliseconds
/// (`2026-12-05T20:10:00.123Z`).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> RawJson {
        RawJson::parse(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn task_5_a_record_reads_back_the_same_task() {
        let mut t = Task::new("r", 5, Some(1000), Some(50));
        let mut copy = Task::from_record(&t.to_record()).unwrap();
        assert_eq!(copy, t);
        t.apply(TaskChange::NeedInput(raw(r#"{"method":"x"}"#)), 6)
            .unwrap();
        t.apply(TaskChange::Message("m".into()), 7).unwrap();
        copy = Task::from_record(&t.to_record()).unwrap();
        assert_eq!(copy, t);
        // The minted counter survives: the next key is not reused.
        assert_eq!(
            copy.apply(TaskChange::NeedInput(raw("{}")), 8),
            Ok(Applied::InputKey("input-2".into()))
        );
        let mut f = Task::new("f", 0, None, None);
        let err = ErrorObject::new(-1, "no").with_data(raw("[1]"));
        f.apply(TaskChange::Fail(err), 1).unwrap();
        assert_eq!(Task::from_record(&f.to_record()).unwrap(), f);
        let mut c = Task::new("c", 0, None, None);
        c.apply(TaskChange::Complete(raw(r#"{"content":[]}"#)), 1)
            .unwrap();
        assert_eq!(Task::from_record(&c.to_record()).unwrap(), c);
        let mut bad = c.to_record();
        bad["v"] = json!(2);
        assert_eq!(Task::from_record(&bad), None);
        assert_eq!(Task::from_record(&json!({"v": 1})), None);
    }

    #[test]
    fn task_3_terminal_tasks_never_change() {
        for end in [
            TaskChange::Complete(raw(r#"{"content":[]}"#)),
            TaskChange::Fail(ErrorObject::new(-32603, "boom")),
            TaskChange::Cancel,
        ] {
            let mut t = Task::new("t", 0, Some(1000), None);
            assert_eq!(t.apply(end, 5), Ok(Applied::Changed));
            assert!(t.status().is_terminal());
            let before = t.clone();
            assert_eq!(t.apply(TaskChange::Cancel, 9), Ok(Applied::Unchanged));
            assert_eq!(
                t.apply(TaskChange::Complete(raw("{}")), 9),
                Err(TaskError::Terminal)
            );
            assert_eq!(
                t.apply(TaskChange::Fail(ErrorObject::new(1, "x")), 9),
                Err(TaskError::Terminal)
            );
            assert_eq!(
                t.apply(TaskChange::NeedInput(raw("{}")), 9),
                Err(TaskError::Terminal)
            );
            assert_eq!(
                t.apply(TaskChange::Message("m".into()), 9),
                Err(TaskError::Terminal)
            );
            assert_eq!(t, before, "a terminal task is unchanged");
        }
    }

    #[test]
    fn task_7_input_keys_are_unique_and_partial_answers_keep_input_required() {
        let mut t = Task::new("t", 0, None, None);
        let req = raw(r#"{"method":"elicitation/create","params":{}}"#);
        let Ok(Applied::InputKey(a)) = t.apply(TaskChange::NeedInput(req.clone()), 1) else {
            panic!("a key is minted");
        };
        let Ok(Applied::InputKey(b)) = t.apply(TaskChange::NeedInput(req.clone()), 2) else {
            panic!("a key is minted");
        };
        assert_ne!(a, b);
        assert_eq!(t.status(), TaskStatus::InputRequired);
        // Unknown keys are ignored; a subset keeps the task waiting.
        assert_eq!(
            t.apply(TaskChange::Answered(vec!["nope".into()]), 3),
            Ok(Applied::Unchanged)
        );
        assert_eq!(
            t.apply(TaskChange::Answered(vec![a.clone(), "nope".into()]), 3),
            Ok(Applied::AnsweredKeys(vec![a.clone()]))
        );
        assert_eq!(t.status(), TaskStatus::InputRequired);
        assert_eq!(t.input_requests().keys().collect::<Vec<_>>(), vec![&b]);
        // An answered key is never answered twice nor minted again.
        assert_eq!(
            t.apply(TaskChange::Answered(vec![a.clone()]), 4),
            Ok(Applied::Unchanged)
        );
        assert_eq!(
            t.apply(TaskChange::Answered(vec![b.clone()]), 4),
            Ok(Applied::AnsweredKeys(vec![b.clone()]))
        );
        assert_eq!(t.status(), TaskStatus::Working);
        let Ok(Applied::InputKey(c)) = t.apply(TaskChange::NeedInput(req), 5) else {
            panic!("a key is minted");
        };
        assert!(c != a && c != b);
    }

    #[test]
    fn task_7_outstanding_inputs_are_bounded() {
        let mut t = Task::new("t", 0, None, None);
        for _ in 0..MAX_INPUT_REQUESTS {
            assert!(t.apply(TaskChange::NeedInput(raw("{}")), 0).is_ok());
        }
        assert_eq!(
            t.apply(TaskChange::NeedInput(raw("{}")), 0),
            Err(TaskError::TooManyInputs)
        );
    }

    #[test]
    fn task_4_wire_forms_carry_what_each_shape_allows() {
        let mut t = Task::new("abc", 1_764_966_600_000, Some(60_000), Some(500));
        let created = t.to_wire(Wire::Created);
        assert_eq!(created["resultType"], "task");
        assert_eq!(created["taskId"], "abc");
        assert_eq!(created["status"], "working");
        assert_eq!(created["ttlMs"], 60_000);
        assert_eq!(created["pollIntervalMs"], 500);
        assert_eq!(created["createdAt"], "2025-12-05T20:30:00.000Z");
        for absent in [
            "result",
            "error",
            "inputRequests",
            "requestState",
            "ttl",
            "pollInterval",
            "task",
        ] {
            assert!(created.get(absent).is_none(), "{absent}");
        }
        t.apply(
            TaskChange::NeedInput(raw(r#"{"method":"elicitation/create"}"#)),
            1_764_966_601_000,
        )
        .unwrap();
        let d = t.to_wire(Wire::Detailed);
        assert_eq!(d["resultType"], "complete");
        assert_eq!(d["status"], "input_required");
        assert_eq!(
            d["inputRequests"]["input-1"]["method"],
            "elicitation/create"
        );
        assert_eq!(d["lastUpdatedAt"], "2025-12-05T20:30:01.000Z");
        // The create form never shows inputs, even while some are pending.
        assert!(t.to_wire(Wire::Created).get("inputRequests").is_none());
        t.apply(
            TaskChange::Fail(ErrorObject::new(-32603, "boom")),
            1_764_966_602_000,
        )
        .unwrap();
        let d = t.to_wire(Wire::Notification);
        assert!(d.get("resultType").is_none());
        assert_eq!(d["error"]["code"], -32603);
        assert!(d.get("result").is_none() && d.get("inputRequests").is_none());
        let mut done = Task::new("x", 0, None, None);
        done.apply(TaskChange::Complete(raw(r#"{"content":[]}"#)), 0)
            .unwrap();
        let d = done.to_wire(Wire::Detailed);
        assert_eq!(d["result"]["content"], json!([]));
        assert_eq!(d["ttlMs"], Value::Null);
        assert!(d.get("error").is_none());
    }

    #[test]
    fn task_6_a_task_expires_at_its_ttl_and_not_before() {
        let t = Task::new("t", 1000, Some(500), None);
        assert!(!t.is_expired(1499));
        assert!(t.is_expired(1500));
        assert!(!Task::new("t", 0, None, None).is_expired(u64::MAX));
        // A TTL past the end of time saturates instead of overflowing.
        assert!(!Task::new("t", u64::MAX - 1, Some(10), None).is_expired(u64::MAX - 1));
    }

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
        assert_eq!(iso8601(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn task_2_declared_reads_the_extensions_member() {
        assert!(declared(&json!({"extensions": {EXTENSION: {}}})));
        assert!(!declared(&json!({"extensions": {EXTENSION: null}})));
        assert!(!declared(&json!({"extensions": {}})));
        assert!(!declared(&json!({"tasks": {}})));
        assert!(!declared(&Value::Null));
        let e = missing_capability();
        assert_eq!(e.code, -32021);
        let data = e.data.unwrap().to_value();
        assert!(data["requiredCapabilities"]["extensions"][EXTENSION].is_object());
    }

    #[test]
    fn task_1_every_status_reads_back_from_its_wire_name() {
        for st in [
            TaskStatus::Working,
            TaskStatus::InputRequired,
            TaskStatus::Completed,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ] {
            assert_eq!(TaskStatus::parse(st.as_str()), Some(st));
        }
        assert_eq!(TaskStatus::parse("Working"), None);
        // A cancelled task's record reads back as cancelled.
        let mut t = Task::new("c", 0, None, None);
        t.apply(TaskChange::Cancel, 1).unwrap();
        assert_eq!(
            Task::from_record(&t.to_record()).map(|t| t.status()),
            Some(TaskStatus::Cancelled)
        );
    }

    #[test]
    fn task_read_outs_show_the_task() {
        let mut t = Task::new("task-9", 0, None, None);
        assert_eq!(t.id(), "task-9");
        assert_eq!((t.result(), t.error()), (None, None));
        t.apply(TaskChange::Complete(raw(r#"{"content":[]}"#)), 1)
            .unwrap();
        assert_eq!(t.result().map(RawJson::as_str), Some(r#"{"content":[]}"#));
        let mut f = Task::new("f", 0, None, None);
        f.apply(TaskChange::Fail(ErrorObject::new(-32603, "boom")), 1)
            .unwrap();
        assert_eq!(f.error().map(|e| e.code), Some(-32603));
        assert_eq!(f.result(), None);
        assert_eq!(TaskError::Terminal.to_string(), "the task has finished");
        assert_eq!(
            TaskError::TooManyInputs.to_string(),
            "too many input requests are outstanding"
        );
    }

    #[test]
    fn civil_dates_advance_one_day_at_a_time_from_1970_past_2400() {
        // An independent calendar: days per month with the Gregorian leap
        // rule, walked day by day from 1970-01-01 past 2400-03-01 (century and
        // 400-year leap rules both crossed).
        let leap =
            |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
        let month_len = |y: u64, m: u64| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..(440 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert!(y > 2400);
    }
}
