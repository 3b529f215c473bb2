//! Where tasks live: the [`TaskStore`] interface and its bounded in-memory
//! implementation, [`MemoryStore`].
//!
//! A store keeps each task's state ([`Task`], the core's state machine) and
//! applies changes to it atomically; it knows nothing of the work running
//! for a task. The interface is small and returns boxed futures, so that a
//! shared store (Redis, a database) can implement it with network calls and
//! still be used as `Arc<dyn TaskStore>`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use streamable_core::task::{Applied, Task, TaskChange, TaskError};

/// The future a store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No live task has this id (never created, or expired and discarded).
    NotFound,
    /// The store holds as many tasks as it may; nothing was created.
    Full,
    /// The task's state machine refused the change.
    Refused(TaskError),
    /// The store could not be reached or failed (a shared store's error).
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("task not found"),
            StoreError::Full => f.write_str("the task store is full"),
            StoreError::Refused(e) => write!(f, "{e}"),
            StoreError::Unavailable(e) => write!(f, "the task store failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Durable, strongly consistent task state (TASK-5): once
/// [`TaskStore::create`] has resolved `Ok`, every later [`TaskStore::get`]
/// of that id — from any instance sharing the store — finds the task until
/// its TTL elapses. Times are wall-clock Unix milliseconds.
pub trait TaskStore: Send + Sync + 'static {
    /// Store a new task.
    fn create(&self, task: Task, now_ms: u64) -> StoreFuture<'_, Result<(), StoreError>>;

    /// The task `id`, or `None` if it is unknown or its TTL elapsed by
    /// `now_ms` (TASK-6: never before).
    fn get<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<Option<Task>, StoreError>>;

    /// Apply `change` to task `id` atomically (with respect to every other
    /// change to it), returning what it did and the task afterwards.
    fn apply<'a>(
        &'a self,
        id: &'a str,
        change: TaskChange,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<(Applied, Task), StoreError>>;
}

/// The default bound of a [`MemoryStore`]: tasks held at once.
pub const DEFAULT_MAX_TASKS: usize = 10_000;

/// Tasks in this process's memory, behind one lock: at most `max_tasks` at
/// once (a create beyond that is refused with [`StoreError::Full`] after
/// discarding what has expired), each discarded when its TTL elapses —
/// `createdAt + ttlMs`, whatever its status. Tasks with no TTL are kept
/// until the store is dropped and count against the bound.
#[derive(Debug)]
pub struct MemoryStore {
    max_tasks: usize,
    inner: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    tasks: BTreeMap<String, Task>,
    /// `(expires_at, id)` of every task with a TTL, for discarding in order.
    expiry: BTreeSet<(u64, String)>,
}

impl Tables {
    /// Discard every task whose TTL has elapsed by `now_ms`.
    fn purge(&mut self, now_ms: u64) {
        while let Some((at, id)) = self.expiry.first().cloned() {
            if at > now_ms {
                break;
            }
            self.expiry.pop_first();
            self.tasks.remove(&id);
        }
    }

    /// The live task `id` at `now_ms`.
    fn live(&mut self, id: &str, now_ms: u64) -> Option<&mut Task> {
        if self.tasks.get(id).is_some_and(|t| t.is_expired(now_ms)) {
            self.purge(now_ms);
        }
        self.tasks.get_mut(id)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(DEFAULT_MAX_TASKS)
    }
}

impl MemoryStore {
    /// A store holding at most `max_tasks` tasks at once.
    pub fn new(max_tasks: usize) -> Self {
        MemoryStore {
            max_tasks,
            inner: Mutex::default(),
        }
    }

    /// How many tasks it holds (expired ones not yet discarded included).
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.tasks.len())
    }

    /// Whether it holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Tables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| StoreError::Unavailable("lock poisoned".into()))?;
        f(&mut g)
    }
}

impl TaskStore for MemoryStore {
    fn create(&self, task: Task, now_ms: u64) -> StoreFuture<'_, Result<(), StoreError>> {
        let r = self.with(|t| {
            t.purge(now_ms);
            if t.tasks.len() >= self.max_tasks {
                return Err(StoreError::Full);
            }
            if let Some(at) = task.expires_at() {
                t.expiry.insert((at, task.id().to_owned()));
            }
            t.tasks.insert(task.id().to_owned(), task);
            Ok(())
        });
        Box::pin(std::future::ready(r))
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<Option<Task>, StoreError>> {
        let r = self.with(|t| Ok(t.live(id, now_ms).cloned()));
        Box::pin(std::future::ready(r))
    }

    fn apply<'a>(
        &'a self,
        id: &'a str,
        change: TaskChange,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<(Applied, Task), StoreError>> {
        let r = self.with(|t| {
            let task = t.live(id, now_ms).ok_or(StoreError::NotFound)?;
            let applied = task.apply(change, now_ms).map_err(StoreError::Refused)?;
            Ok((applied, task.clone()))
        });
        Box::pin(std::future::ready(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamable_core::RawJson;
    use streamable_core::task::TaskStatus;

    fn block<T>(f: StoreFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn task_5_a_created_task_is_found_at_once() {
        let s = MemoryStore::default();
        block(s.create(Task::new("a", 0, Some(1000), None), 0)).unwrap();
        let t = block(s.get("a", 0)).unwrap().unwrap();
        assert_eq!(t.status(), TaskStatus::Working);
        assert_eq!(block(s.get("b", 0)), Ok(None));
    }

    #[test]
    fn task_6_tasks_are_discarded_at_their_ttl_and_not_before() {
        let s = MemoryStore::default();
        block(s.create(Task::new("a", 100, Some(1000), None), 100)).unwrap();
        block(s.create(Task::new("b", 100, None, None), 100)).unwrap();
        assert!(block(s.get("a", 1099)).unwrap().is_some());
        assert_eq!(block(s.get("a", 1100)), Ok(None));
        assert_eq!(
            block(s.apply("a", TaskChange::Cancel, 1100)),
            Err(StoreError::NotFound)
        );
        assert_eq!(s.len(), 1, "the expired task is gone, the other kept");
        assert!(block(s.get("b", u64::MAX)).unwrap().is_some());
    }

    #[test]
    fn task_6_the_store_is_bounded_and_expired_tasks_make_room() {
        let s = MemoryStore::new(2);
        block(s.create(Task::new("a", 0, Some(10), None), 0)).unwrap();
        block(s.create(Task::new("b", 0, Some(1000), None), 0)).unwrap();
        assert_eq!(
            block(s.create(Task::new("c", 5, Some(1000), None), 5)),
            Err(StoreError::Full)
        );
        // At 10 "a" has expired, so there is room again.
        block(s.create(Task::new("c", 10, Some(1000), None), 10)).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn task_3_the_store_applies_the_state_machine() {
        let s = MemoryStore::default();
        block(s.create(Task::new("a", 0, None, None), 0)).unwrap();
        let done = RawJson::from_value(&serde_json::json!({"content": []}));
        let (applied, t) = block(s.apply("a", TaskChange::Complete(done.clone()), 1)).unwrap();
        assert_eq!(applied, Applied::Changed);
        assert_eq!(t.status(), TaskStatus::Completed);
        assert_eq!(
            block(s.apply("a", TaskChange::Complete(done), 2)),
            Err(StoreError::Refused(TaskError::Terminal))
        );
        let (applied, _) = block(s.apply("a", TaskChange::Cancel, 3)).unwrap();
        assert_eq!(applied, Applied::Unchanged);
    }
}
