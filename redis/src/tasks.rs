//! Tasks on Redis: [`RedisTaskStore`].

use streamable_core::task::{Applied, Task, TaskChange};
use streamable_hyper::{StoreError, StoreFuture, TaskStore};

use crate::{Error, Redis};

/// The most optimistic attempts of one [`TaskStore::apply`]: each reads
/// the task, applies the change in Rust and writes it back only if no one
/// wrote in between; past this many lost races the change fails with
/// [`StoreError::Unavailable`] (a task changed this often at once is not
/// a workload tasks have).
pub const MAX_CAS_ATTEMPTS: usize = 32;

/// The largest task record stored (4 MiB of JSON, the result included); a
/// larger one is refused with [`StoreError::Unavailable`] rather than
/// filling Redis.
pub const MAX_RECORD_BYTES: usize = 4 << 20;

/// How much later than its TTL Redis discards a task (1 minute). The
/// store decides expiry itself against the caller's `now_ms`; Redis's TTL
/// is set relative (`PEXPIRE`, the time left plus this margin), so neither
/// a Redis clock ahead of the instances' nor a little drift between
/// instances loses a task early (TASK-6); the margin only bounds how long
/// an expired task takes space.
const EXPIRY_MARGIN_MS: u64 = 60_000;

/// Compare-and-set on the record's version: write `rec` as version
/// `ARGV[2]` only if the stored version is still `ARGV[1]` (and the task
/// still exists). The TTL set at creation is kept.
const CAS: &str = r"
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'ver', ARGV[2], 'rec', ARGV[3])
return 1
";

/// Tasks in Redis, shared by every instance connected to it (TASK-5): a
/// task is the hash `<ns>:task:{<id>}` with the fields `ver` (a counter
/// bumped by every change) and `rec` (the task as JSON,
/// [`Task::to_record`]), expiring a minute after the task's own expiry.
/// [`TaskStore::apply`] reads, applies the change with the core's state
/// machine and writes back with a compare-and-set script on `ver`, retried
/// on a lost race: changes are atomic with respect to each other on any
/// number of instances. Reads and writes go to the primary, so a get after
/// a create that resolved finds the task.
///
/// Bound: Redis's memory; each record at most [`MAX_RECORD_BYTES`]. There
/// is no count limit ([`StoreError::Full`] is never returned): size Redis
/// with `maxmemory` and the `volatile-ttl` policy (`docs/redis.md`).
#[derive(Clone, Debug)]
pub struct RedisTaskStore {
    redis: Redis,
    cas: redis::Script,
}

impl RedisTaskStore {
    /// Tasks in `redis`.
    pub fn new(redis: Redis) -> RedisTaskStore {
        RedisTaskStore {
            redis,
            cas: redis::Script::new(CAS),
        }
    }

    fn key(&self, id: &str) -> String {
        self.redis.key("task", id)
    }

    /// The task and its version, or `None`.
    async fn read(&self, id: &str) -> Result<Option<(u64, Task)>, Error> {
        let mut c = self.redis.connection();
        let key = self.key(id);
        let (ver, rec): (Option<u64>, Option<Vec<u8>>) = self
            .redis
            .bounded(async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg("ver")
                    .arg("rec")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let (Some(ver), Some(rec)) = (ver, rec) else {
            return Ok(None);
        };
        let v: serde_json::Value =
            serde_json::from_slice(&rec).map_err(|e| Error::Corrupt(format!("task {id}: {e}")))?;
        let task = Task::from_record(&v)
            .ok_or_else(|| Error::Corrupt(format!("task {id}: not a task record")))?;
        Ok(Some((ver, task)))
    }

    async fn create_inner(&self, task: Task, now_ms: u64) -> Result<(), StoreError> {
        let rec = encode(&task)?;
        let key = self.key(task.id());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .cmd("HSET")
            .arg(&key)
            .arg("ver")
            .arg(1u64)
            .arg("rec")
            .arg(rec)
            .ignore();
        if let Some(at) = task.expires_at() {
            pipe.cmd("PEXPIRE")
                .arg(&key)
                .arg(at.saturating_sub(now_ms).saturating_add(EXPIRY_MARGIN_MS))
                .ignore();
        }
        let mut c = self.redis.connection();
        self.redis
            .bounded(async move { pipe.query_async::<()>(&mut c).await })
            .await
            .map_err(unavailable)
    }

    async fn apply_inner(
        &self,
        id: &str,
        change: TaskChange,
        now_ms: u64,
    ) -> Result<(Applied, Task), StoreError> {
        let key = self.key(id);
        for attempt in 0..MAX_CAS_ATTEMPTS {
            if attempt > 0 {
                // Lost a race: back off a little, jittered, so that
                // contending instances do not retry in lockstep.
                tokio::time::sleep(backoff(attempt)).await;
            }
            let (ver, mut task) = match self.read(id).await.map_err(unavailable)? {
                Some((v, t)) if !t.is_expired(now_ms) => (v, t),
                _ => return Err(StoreError::NotFound),
            };
            let applied = task
                .apply(change.clone(), now_ms)
                .map_err(StoreError::Refused)?;
            if applied == Applied::Unchanged {
                return Ok((applied, task));
            }
            let rec = encode(&task)?;
            let mut c = self.redis.connection();
            let mut inv = self.cas.key(&key);
            inv.arg(ver).arg(ver + 1).arg(rec);
            let won: i64 = self
                .redis
                .bounded(async move { inv.invoke_async(&mut c).await })
                .await
                .map_err(unavailable)?;
            if won == 1 {
                return Ok((applied, task));
            }
            // Someone changed it (or it expired) in between: read again.
        }
        Err(StoreError::Unavailable(format!(
            "task {id}: {MAX_CAS_ATTEMPTS} concurrent changes in a row"
        )))
    }
}

/// Up to `attempt` ms plus a jitter below 2 ms, from the clock's low bits
/// (no randomness is needed, only de-synchronisation).
fn backoff(attempt: usize) -> std::time::Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let micros = (attempt.min(8) as u64) * 500 + u64::from(nanos % 2_000_000) / 1_000;
    std::time::Duration::from_micros(micros)
}

fn encode(task: &Task) -> Result<Vec<u8>, StoreError> {
    let rec = serde_json::to_vec(&task.to_record())
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    if rec.len() > MAX_RECORD_BYTES {
        return Err(StoreError::Unavailable(format!(
            "task record of {} bytes exceeds {MAX_RECORD_BYTES}",
            rec.len()
        )));
    }
    Ok(rec)
}

fn unavailable(e: Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl TaskStore for RedisTaskStore {
    fn create(&self, task: Task, now_ms: u64) -> StoreFuture<'_, Result<(), StoreError>> {
        Box::pin(self.create_inner(task, now_ms))
    }

    fn get<'a>(
        &'a self,
        id: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<Option<Task>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .read(id)
                .await
                .map_err(unavailable)?
                .map(|(_, t)| t)
                .filter(|t| !t.is_expired(now_ms)))
        })
    }

    fn apply<'a>(
        &'a self,
        id: &'a str,
        change: TaskChange,
        now_ms: u64,
    ) -> StoreFuture<'a, Result<(Applied, Task), StoreError>> {
        Box::pin(self.apply_inner(id, change, now_ms))
    }
}
