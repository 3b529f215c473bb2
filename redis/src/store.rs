//! Sessions and their event streams on Redis: [`RedisSharedStore`], the
//! adapter's [`SharedStore`] executing the core's store commands.
//!
//! Layout (every key tagged `{<session>}`, so one session is one Redis
//! Cluster slot and every script touches one slot):
//!
//! - `<ns>:sess:{<sid>}`, a hash, TTL the session's (refreshed by touch,
//!   put and append): `rec` (the [`SessionRecord`] as JSON), `ord` (streams
//!   ever opened), `cnt` (streams held), `sx` (Unix ms until which every
//!   stream key is kept), and per stream `<sk>` (its event-id prefix,
//!   [`StreamKey`]'s `Display`): `s:<sk>` (its ordinal), `n:<sk>` (next
//!   seq), `b:<sk>` (frame bytes retained), `e:<sk>` (present once ended).
//! - `<ns>:ev:{<sid>}:<sk>`, a Redis Stream per MCP stream: event `seq` is
//!   the entry `<seq+1>-1` with fields `f` (the SSE frame) and `r` (`1` for
//!   a response); the end marker is `<next+1>-0` with field `end`. So
//!   `XRANGE key <after+2>-0 +` is exactly what follows cursor `after`, and
//!   `XREAD BLOCK .. <after+1>-1` wakes on the next event or the end.
//!
//! Details, failure semantics and sizing: `docs/redis.md`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::Value;
use redis::aio::MultiplexedConnection;
use streamable_core::ProtocolVersion;
use streamable_core::RawJson;
use streamable_hyper::store::{
    EventBatch, Retention, SessionPhase, SessionRecord, SharedStore, SharedStoreFuture,
    StoreCommand, StoreFailure, StoreReply, StoredEvent, StreamKey,
};

use crate::{Error, Redis};

/// The default most streams one session holds in Redis (64): past it, a
/// new stream drops the session's oldest finished one (twice the core's
/// default `max_finished_streams_per_session`, so the core's own bound
/// decides first).
pub const DEFAULT_MAX_STREAMS_PER_SESSION: usize = 64;

/// The most idle dedicated connections kept for blocking tails (16); a
/// tail beyond them opens one and closes it afterwards.
pub const MAX_IDLE_TAIL_CONNECTIONS: usize = 16;

/// Shared Lua helpers, prepended to the scripts that need them.
const LIB: &str = r"
local function keep_streams(sess, ttl, prefix)
  -- Every stream key lives at least as long as its session (2x its TTL,
  -- renewed when half is left), so touching a session is O(1) most times.
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local sx = tonumber(redis.call('HGET', sess, 'sx') or '0')
  if sx >= now + ttl then return end
  for _, f in ipairs(redis.call('HKEYS', sess)) do
    if string.sub(f, 1, 2) == 's:' then
      redis.call('PEXPIRE', prefix .. string.sub(f, 3), 2 * ttl)
    end
  end
  redis.call('HSET', sess, 'sx', now + 2 * ttl)
end
local function drop_stream(sess, sk, prefix)
  redis.call('DEL', prefix .. sk)
  redis.call('HDEL', sess, 's:' .. sk, 'n:' .. sk, 'b:' .. sk, 'e:' .. sk)
  redis.call('HINCRBY', sess, 'cnt', -1)
end
local function register(sess, sk, max_streams, prefix)
  if redis.call('HEXISTS', sess, 's:' .. sk) == 1 then return end
  local ord = redis.call('HINCRBY', sess, 'ord', 1)
  redis.call('HSET', sess, 's:' .. sk, ord, 'n:' .. sk, 0, 'b:' .. sk, 0)
  if redis.call('HINCRBY', sess, 'cnt', 1) <= max_streams then return end
  -- Over the bound: drop the oldest finished stream, or else the oldest.
  local all = redis.call('HGETALL', sess)
  local ended = {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 2) == 'e:' then ended[string.sub(all[i], 3)] = true end
  end
  local fin, fin_ord, any, any_ord = nil, nil, nil, nil
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 's:' and string.sub(f, 3) ~= sk then
      local k = string.sub(f, 3)
      local o = tonumber(all[i + 1])
      if any_ord == nil or o < any_ord then any, any_ord = k, o end
      if ended[k] and (fin_ord == nil or o < fin_ord) then fin, fin_ord = k, o end
    end
  end
  local victim = fin or any
  if victim then drop_stream(sess, victim, prefix) end
end
";

/// KEYS: session. ARGV: record, ttl ms, stream prefix.
const PUT: &str = r"
redis.call('HSET', KEYS[1], 'rec', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
keep_streams(KEYS[1], tonumber(ARGV[2]), ARGV[3])
return 1
";

/// KEYS: session. ARGV: ttl ms, stream prefix. Returns the record or nil.
const TOUCH: &str = r"
local rec = redis.call('HGET', KEYS[1], 'rec')
if not rec then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
keep_streams(KEYS[1], tonumber(ARGV[1]), ARGV[2])
return rec
";

/// KEYS: session. ARGV: stream prefix.
const DELETE: &str = r"
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, 2) == 's:' then
    redis.call('DEL', ARGV[1] .. string.sub(f, 3))
  end
end
redis.call('DEL', KEYS[1])
return 1
";

/// KEYS: session, stream. ARGV: sk, seq, frame, response (0/1), max
/// events, max bytes, ttl ms, max streams, stream prefix.
/// Returns 1 appended (or already there), 0 no such session.
const APPEND: &str = r"
local sess, stream, sk = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', sess) == 0 then return 0 end
local ttl = tonumber(ARGV[7])
register(sess, sk, tonumber(ARGV[8]), ARGV[9])
local seq = tonumber(ARGV[2])
local nxt = tonumber(redis.call('HGET', sess, 'n:' .. sk))
if seq < nxt then return 1 end
if seq > nxt then
  -- A gap (an append that never arrived): what is kept before it cannot
  -- be read on without skipping, so it goes and readers see an eviction.
  redis.call('DEL', stream)
  redis.call('HSET', sess, 'b:' .. sk, 0)
end
redis.call('XADD', stream, (seq + 1) .. '-1', 'f', ARGV[3], 'r', ARGV[4])
redis.call('HSET', sess, 'n:' .. sk, seq + 1)
local bytes = redis.call('HINCRBY', sess, 'b:' .. sk, string.len(ARGV[3]))
local max_events, max_bytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local len = redis.call('XLEN', stream)
while len > 1 and (len > max_events or bytes > max_bytes) do
  local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  redis.call('XDEL', stream, first[1])
  if first[2][1] ~= 'end' then
    bytes = redis.call('HINCRBY', sess, 'b:' .. sk, -string.len(first[2][2]))
  end
  len = len - 1
end
redis.call('PEXPIRE', sess, ttl)
redis.call('PEXPIRE', stream, 2 * ttl)
keep_streams(sess, ttl, ARGV[9])
return 1
";

/// KEYS: session, stream. ARGV: sk, max streams, stream prefix.
/// Returns 1 ended, 0 no such session.
const END: &str = r"
local sess, stream, sk = KEYS[1], KEYS[2], ARGV[1]
if redis.call('EXISTS', sess) == 0 then return 0 end
register(sess, sk, tonumber(ARGV[2]), ARGV[3])
if redis.call('HEXISTS', sess, 'e:' .. sk) == 1 then return 1 end
local nxt = tonumber(redis.call('HGET', sess, 'n:' .. sk))
redis.call('XADD', stream, (nxt + 1) .. '-0', 'end', 1)
redis.call('HSET', sess, 'e:' .. sk, 1)
local ttl = redis.call('PTTL', sess)
if ttl > 0 then redis.call('PEXPIRE', stream, 2 * ttl) end
return 1
";

/// KEYS: session, stream. ARGV: sk, start id, max.
/// Returns {0} (no such stream) or {1, next seq, ended, entries}.
const READ: &str = r"
local sess, sk = KEYS[1], ARGV[1]
local nxt = redis.call('HGET', sess, 'n:' .. sk)
if not nxt then return {0} end
local ended = redis.call('HEXISTS', sess, 'e:' .. sk)
return {1, tonumber(nxt), ended, redis.call('XRANGE', KEYS[2], ARGV[2], '+', 'COUNT', ARGV[3])}
";

struct Scripts {
    put: redis::Script,
    touch: redis::Script,
    delete: redis::Script,
    append: redis::Script,
    end: redis::Script,
    read: redis::Script,
}

/// Sessions and streams in Redis, shared by every instance connected to it
/// (the layout is in the [module docs](self)). Every command is one
/// `EVALSHA` of a script loaded once per Redis (atomic: a deleted session
/// never gains an event), except a tail, which reads, then waits with
/// `XREAD BLOCK` on a dedicated connection, then reads again. Every call is
/// bounded by the handle's timeout ([`crate::RedisConfig::timeout`]; a
/// tail by its wait plus that), failing with [`StoreFailure::TimedOut`] or
/// [`StoreFailure::Unavailable`], which the core answers with 503 and
/// `Retry-After`.
#[derive(Clone)]
pub struct RedisSharedStore {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    scripts: Scripts,
    max_streams: usize,
    idle_tails: Mutex<Vec<MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisSharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSharedStore")
            .field("redis", &self.inner.redis)
            .field("max_streams", &self.inner.max_streams)
            .finish_non_exhaustive()
    }
}

impl RedisSharedStore {
    /// Sessions and streams in `redis`, at most
    /// [`DEFAULT_MAX_STREAMS_PER_SESSION`] streams per session.
    pub fn new(redis: Redis) -> RedisSharedStore {
        RedisSharedStore::with_max_streams(redis, DEFAULT_MAX_STREAMS_PER_SESSION)
    }

    /// As [`RedisSharedStore::new`] with another bound on the streams one
    /// session holds (at least 1).
    pub fn with_max_streams(redis: Redis, max_streams: usize) -> RedisSharedStore {
        let lib = |body: &str| redis::Script::new(&format!("{LIB}\n{body}"));
        RedisSharedStore {
            inner: Arc::new(Inner {
                redis,
                scripts: Scripts {
                    put: lib(PUT),
                    touch: lib(TOUCH),
                    delete: redis::Script::new(DELETE),
                    append: lib(APPEND),
                    end: lib(END),
                    read: redis::Script::new(READ),
                },
                max_streams: max_streams.max(1),
                idle_tails: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The Redis handle.
    pub fn redis(&self) -> &Redis {
        &self.inner.redis
    }

    /// The key of session `sid`'s hash.
    pub fn session_key(&self, sid: &str) -> String {
        self.inner.redis.key("sess", sid)
    }

    /// The key of the Redis Stream holding stream `stream` of `sid`.
    pub fn stream_key(&self, sid: &str, stream: StreamKey) -> String {
        format!("{}{stream}", self.stream_prefix(sid))
    }

    fn stream_prefix(&self, sid: &str) -> String {
        format!("{}:", self.inner.redis.key("ev", sid))
    }
}

fn failure(e: Error) -> StoreFailure {
    match e {
        Error::Timeout => StoreFailure::TimedOut,
        e => StoreFailure::Unavailable(e.to_string().into()),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn phase_str(p: SessionPhase) -> &'static str {
    match p {
        SessionPhase::Initializing => "initializing",
        SessionPhase::AwaitingInitialized => "awaiting_initialized",
        SessionPhase::Ready => "ready",
    }
}

/// The stored record: `init` is the client's `initialize` params as they
/// came (raw JSON text, never re-encoded).
#[derive(serde::Serialize, serde::Deserialize)]
struct WireRecord<'a> {
    v: u32,
    #[serde(borrow)]
    session: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    version: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    principal: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    phase: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    init: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    log: Option<std::borrow::Cow<'a, str>>,
}

fn encode_record(r: &SessionRecord) -> Vec<u8> {
    let w = WireRecord {
        v: 1,
        session: (&*r.session).into(),
        version: r.version.as_str().into(),
        principal: r.principal.as_deref().map(Into::into),
        phase: phase_str(r.phase).into(),
        init: r
            .init_params
            .as_ref()
            .and_then(|i| serde_json::from_str(i.as_str()).ok()),
        log: r.log_level.as_deref().map(Into::into),
    };
    serde_json::to_vec(&w).unwrap_or_default()
}

fn decode_record(bytes: &[u8]) -> Result<SessionRecord, Error> {
    let bad = || Error::Corrupt("session record".into());
    let w: WireRecord<'_> = serde_json::from_slice(bytes).map_err(|_| bad())?;
    if w.v != 1 {
        return Err(bad());
    }
    let init_params = match w.init {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(RawJson::parse(raw.get().as_bytes().to_vec()).map_err(|_| bad())?),
    };
    Ok(SessionRecord {
        session: w.session.into(),
        version: ProtocolVersion::parse(&w.version).ok_or_else(bad)?,
        principal: w.principal.map(Into::into),
        phase: match &*w.phase {
            "initializing" => SessionPhase::Initializing,
            "awaiting_initialized" => SessionPhase::AwaitingInitialized,
            "ready" => SessionPhase::Ready,
            _ => return Err(bad()),
        },
        init_params,
        log_level: w.log.map(Into::into),
    })
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn bytes_of(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// `<seq+1>-1` -> `seq`; the end marker (`-0`) -> `None`.
fn parse_entry(entry: &Value) -> Result<Option<StoredEvent>, Error> {
    let bad = || Error::Corrupt("stream entry".into());
    let Value::Array(parts) = entry else {
        return Err(bad());
    };
    let [id, Value::Array(fields)] = parts.as_slice() else {
        return Err(bad());
    };
    let id = std::str::from_utf8(bytes_of(id).ok_or_else(bad)?).map_err(|_| bad())?;
    let (ms, sub) = id.split_once('-').ok_or_else(bad)?;
    if sub == "0" {
        return Ok(None);
    }
    let seq = ms
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .ok_or_else(bad)?;
    let mut frame = None;
    let mut response = false;
    for pair in fields.chunks(2) {
        if let [k, v] = pair {
            match bytes_of(k) {
                Some(b"f") => frame = bytes_of(v).map(bytes::Bytes::copy_from_slice),
                Some(b"r") => response = bytes_of(v) == Some(b"1"),
                _ => {}
            }
        }
    }
    Ok(Some(StoredEvent {
        seq,
        frame: frame.ok_or_else(bad)?,
        response,
    }))
}

impl RedisSharedStore {
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: Vec<Vec<u8>>,
    ) -> Result<T, Error> {
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(a);
        }
        let mut c = self.inner.redis.connection();
        self.inner
            .redis
            .bounded(async move { inv.invoke_async(&mut c).await })
            .await
    }

    async fn read(
        &self,
        session: &str,
        stream: StreamKey,
        after: u64,
        max: usize,
    ) -> Result<StoreReply, Error> {
        let sk = stream.to_string();
        let start = format!("{}-0", after.saturating_add(2));
        let reply: Value = self
            .eval(
                &self.inner.scripts.read,
                &[
                    &self.session_key(session),
                    &self.stream_key(session, stream),
                ],
                vec![
                    sk.into_bytes(),
                    start.into_bytes(),
                    max.max(1).to_string().into(),
                ],
            )
            .await?;
        let bad = || Error::Corrupt("read reply".into());
        let Value::Array(parts) = reply else {
            return Err(bad());
        };
        if parts.first().and_then(int) != Some(1) {
            return Ok(StoreReply::NoSuchStream);
        }
        let [_, next, ended, Value::Array(entries)] = parts.as_slice() else {
            return Err(bad());
        };
        let next_seq = int(next)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(bad)?;
        let ended = int(ended) == Some(1);
        let mut events = Vec::with_capacity(entries.len());
        for e in entries {
            if let Some(ev) = parse_entry(e)? {
                events.push(ev);
            }
        }
        let first_wanted = after.saturating_add(1);
        let evicted = match events.first() {
            Some(e) => e.seq > first_wanted,
            None => next_seq > first_wanted,
        };
        let reached = events.last().map_or(first_wanted, |e| e.seq + 1);
        Ok(StoreReply::Events(EventBatch {
            events,
            evicted,
            finished: ended && reached >= next_seq,
            next_seq,
        }))
    }

    async fn tail(
        &self,
        session: &str,
        stream: StreamKey,
        after: u64,
        max: usize,
        wait: Duration,
    ) -> Result<StoreReply, Error> {
        let first = self.read(session, stream, after, max).await?;
        match &first {
            StoreReply::Events(b) if b.events.is_empty() && !b.finished && !b.evicted => {}
            _ => return Ok(first),
        }
        // Nothing yet: wait on a dedicated connection (a blocking command
        // would stall every call pipelined on the shared one).
        let mut conn = self.tail_connection(wait).await?;
        let key = self.stream_key(session, stream);
        let last = format!("{}-1", after.saturating_add(1));
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(ms(wait))
            .arg("STREAMS")
            .arg(&key)
            .arg(&last);
        let bound = wait.saturating_add(self.inner.redis.call_timeout());
        let woke = tokio::time::timeout(bound, cmd.query_async::<Value>(&mut conn)).await;
        match woke {
            Ok(Ok(_)) => self.return_tail_connection(conn),
            Ok(Err(e)) => return Err(Error::Redis(e)),
            Err(_) => return Err(Error::Timeout),
        }
        self.read(session, stream, after, max).await
    }

    async fn tail_connection(&self, wait: Duration) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = self.inner.idle_tails.lock().ok().and_then(|mut v| v.pop()) {
            return Ok(c);
        }
        let timeout = self.inner.redis.call_timeout();
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(
                wait.max(Duration::from_secs(60)).saturating_add(timeout),
            ));
        let client = self.inner.redis.client().clone();
        self.inner
            .redis
            .bounded(async move {
                client
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await
            })
            .await
    }

    fn return_tail_connection(&self, c: MultiplexedConnection) {
        if let Ok(mut idle) = self.inner.idle_tails.lock()
            && idle.len() < MAX_IDLE_TAIL_CONNECTIONS
        {
            idle.push(c);
        }
    }

    async fn run(&self, command: StoreCommand) -> Result<StoreReply, Error> {
        let s = &self.inner.scripts;
        match command {
            StoreCommand::PutSession { record, ttl } => {
                let sid = record.session.clone();
                let _: i64 = self
                    .eval(
                        &s.put,
                        &[&self.session_key(&sid)],
                        vec![
                            encode_record(&record),
                            ms(ttl).to_string().into(),
                            self.stream_prefix(&sid).into(),
                        ],
                    )
                    .await?;
                Ok(StoreReply::Done)
            }
            StoreCommand::TouchSession { session, ttl } => {
                let rec: Option<Vec<u8>> = self
                    .eval(
                        &s.touch,
                        &[&self.session_key(&session)],
                        vec![
                            ms(ttl).to_string().into(),
                            self.stream_prefix(&session).into(),
                        ],
                    )
                    .await?;
                Ok(StoreReply::Session(
                    rec.map(|r| decode_record(&r)).transpose()?,
                ))
            }
            StoreCommand::LoadSession { session } => {
                let key = self.session_key(&session);
                let mut c = self.inner.redis.connection();
                let rec: Option<Vec<u8>> = self
                    .inner
                    .redis
                    .bounded(async move {
                        redis::cmd("HGET")
                            .arg(&key)
                            .arg("rec")
                            .query_async(&mut c)
                            .await
                    })
                    .await?;
                Ok(StoreReply::Session(
                    rec.map(|r| decode_record(&r)).transpose()?,
                ))
            }
            StoreCommand::DeleteSession { session } => {
                let _: i64 = self
                    .eval(
                        &s.delete,
                        &[&self.session_key(&session)],
                        vec![self.stream_prefix(&session).into()],
                    )
                    .await?;
                Ok(StoreReply::Done)
            }
            StoreCommand::AppendEvent {
                session,
                stream,
                event,
                retention,
                ttl,
            } => {
                let Retention {
                    max_events,
                    max_bytes,
                } = retention;
                let r: i64 = self
                    .eval(
                        &s.append,
                        &[
                            &self.session_key(&session),
                            &self.stream_key(&session, stream),
                        ],
                        vec![
                            stream.to_string().into(),
                            event.seq.to_string().into(),
                            event.frame.to_vec(),
                            if event.response {
                                b"1".to_vec()
                            } else {
                                b"0".to_vec()
                            },
                            max_events.max(1).to_string().into(),
                            max_bytes.to_string().into(),
                            ms(ttl).to_string().into(),
                            self.inner.max_streams.to_string().into(),
                            self.stream_prefix(&session).into(),
                        ],
                    )
                    .await?;
                Ok(if r == 1 {
                    StoreReply::Appended
                } else {
                    StoreReply::NoSuchSession
                })
            }
            StoreCommand::EndStream { session, stream } => {
                let r: i64 = self
                    .eval(
                        &s.end,
                        &[
                            &self.session_key(&session),
                            &self.stream_key(&session, stream),
                        ],
                        vec![
                            stream.to_string().into(),
                            self.inner.max_streams.to_string().into(),
                            self.stream_prefix(&session).into(),
                        ],
                    )
                    .await?;
                Ok(if r == 1 {
                    StoreReply::Done
                } else {
                    StoreReply::NoSuchSession
                })
            }
            StoreCommand::ReadEvents {
                session,
                stream,
                after,
                max,
            } => self.read(&session, stream, after, max).await,
            StoreCommand::TailEvents {
                session,
                stream,
                after,
                max,
                wait,
            } => self.tail(&session, stream, after, max, wait).await,
            other => Err(Error::Corrupt(format!(
                "a store command this backend does not know: {other:?}"
            ))),
        }
    }
}

impl SharedStore for RedisSharedStore {
    fn execute(
        &self,
        command: StoreCommand,
    ) -> SharedStoreFuture<'_, Result<StoreReply, StoreFailure>> {
        Box::pin(async move { self.run(command).await.map_err(failure) })
    }
}
