//! The shared-store port on a real Redis (`scripts/redis.sh`): every
//! command of the core's contract, two instances (two connections) at once.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use streamable_core::{ProtocolVersion, RawJson};
use streamable_hyper::store::{
    EventBatch, Retention, SessionPhase, SessionRecord, SharedStore, StoreCommand, StoreFailure,
    StoreReply, StoredEvent, StreamKey,
};
use streamable_redis::{Redis, RedisConfig, RedisSharedStore};
use support::relay::{Mode, Relay};

const TTL: Duration = Duration::from_secs(60);
const S1: StreamKey = StreamKey {
    instance: 0xabc,
    number: 1,
};
const S2: StreamKey = StreamKey {
    instance: 0xdef,
    number: 1,
};

fn record(sid: &str) -> SessionRecord {
    SessionRecord {
        session: sid.into(),
        version: ProtocolVersion::parse("2025-06-18").unwrap(),
        principal: Some("alice".into()),
        phase: SessionPhase::Ready,
        init_params: Some(RawJson::parse(&br#"{"clientInfo":{"name":"c"}}"#[..]).unwrap()),
        log_level: Some("info".into()),
    }
}

fn event(seq: u64, body: &str) -> StoredEvent {
    StoredEvent {
        seq,
        frame: Bytes::from(format!("id: x-{seq}\ndata: {body}\n\n")),
        response: body.starts_with("resp"),
    }
}

const WIDE: Retention = Retention {
    max_events: 1024,
    max_bytes: 1 << 20,
};

fn put(sid: &str) -> StoreCommand {
    StoreCommand::PutSession {
        record: record(sid),
        ttl: TTL,
    }
}

fn append(sid: &str, stream: StreamKey, seq: u64, retention: Retention) -> StoreCommand {
    StoreCommand::AppendEvent {
        session: sid.into(),
        stream,
        event: event(seq, &format!("e{seq}")),
        retention,
        ttl: TTL,
    }
}

fn read(sid: &str, stream: StreamKey, after: u64, max: usize) -> StoreCommand {
    StoreCommand::ReadEvents {
        session: sid.into(),
        stream,
        after,
        max,
    }
}

fn batch(r: Result<StoreReply, StoreFailure>) -> EventBatch {
    match r {
        Ok(StoreReply::Events(b)) => b,
        other => panic!("expected events, got {other:?}"),
    }
}

fn seqs(b: &EventBatch) -> Vec<u64> {
    b.events.iter().map(|e| e.seq).collect()
}

/// Two instances' stores on one namespace, and the raw handle.
fn two(url: &str) -> (RedisSharedStore, RedisSharedStore, Redis) {
    let ns = support::namespace();
    let r = support::open(url, &ns);
    (
        RedisSharedStore::new(r.clone()),
        RedisSharedStore::new(support::open(url, &ns)),
        r,
    )
}

async fn keys(r: &Redis) -> Vec<String> {
    let mut c = r.connection();
    let mut k: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", r.namespace()))
        .query_async(&mut c)
        .await
        .unwrap();
    k.sort();
    k
}

async fn pttl(r: &Redis, key: &str) -> i64 {
    let mut c = r.connection();
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

#[tokio::test]
async fn redis_7_a_session_put_on_one_instance_is_touched_loaded_and_deleted_on_another() {
    let Some(url) = support::redis_url("redis_7") else {
        return;
    };
    let (a, b, r) = two(&url);
    let sid = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        b.execute(StoreCommand::LoadSession {
            session: sid.into()
        })
        .await,
        Ok(StoreReply::Session(None))
    );
    assert_eq!(a.execute(put(sid)).await, Ok(StoreReply::Done));
    assert_eq!(
        b.execute(StoreCommand::LoadSession {
            session: sid.into()
        })
        .await,
        Ok(StoreReply::Session(Some(record(sid))))
    );
    let key = a.session_key(sid);
    assert_eq!(key, format!("{}:sess:{{{sid}}}", r.namespace()));
    assert!(pttl(&r, &key).await <= 60_000);
    let touched = b
        .execute(StoreCommand::TouchSession {
            session: sid.into(),
            ttl: Duration::from_secs(600),
        })
        .await;
    assert_eq!(touched, Ok(StoreReply::Session(Some(record(sid)))));
    assert!(pttl(&r, &key).await > 60_000, "the touch refreshed the TTL");
    assert_eq!(
        b.execute(StoreCommand::TouchSession {
            session: "unknown".into(),
            ttl: TTL
        })
        .await,
        Ok(StoreReply::Session(None))
    );
    assert_eq!(
        b.execute(StoreCommand::DeleteSession {
            session: sid.into()
        })
        .await,
        Ok(StoreReply::Done)
    );
    assert_eq!(
        a.execute(StoreCommand::TouchSession {
            session: sid.into(),
            ttl: TTL
        })
        .await,
        Ok(StoreReply::Session(None)),
        "DELETE is visible everywhere"
    );
    // A session expires by its TTL.
    a.execute(StoreCommand::PutSession {
        record: record("short"),
        ttl: Duration::from_millis(50),
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        b.execute(StoreCommand::LoadSession {
            session: "short".into()
        })
        .await,
        Ok(StoreReply::Session(None))
    );
}

#[tokio::test]
async fn redis_8_a_read_after_a_cursor_is_exact_and_bounded() {
    let Some(url) = support::redis_url("redis_8") else {
        return;
    };
    let (a, b, _) = two(&url);
    a.execute(put("s")).await.unwrap();
    a.execute(put("t")).await.unwrap();
    for seq in 0..10 {
        assert_eq!(
            a.execute(append("s", S1, seq, WIDE)).await,
            Ok(StoreReply::Appended)
        );
    }
    // Another stream of the session and a stream of another session.
    a.execute(append("s", S2, 0, WIDE)).await.unwrap();
    a.execute(append("t", S1, 0, WIDE)).await.unwrap();
    let all = batch(b.execute(read("s", S1, 3, 100)).await);
    assert_eq!(seqs(&all), (4..10).collect::<Vec<_>>());
    assert_eq!(all.next_seq, 10);
    assert!(!all.evicted && !all.finished);
    assert_eq!(
        all.events[0],
        event(4, "e4"),
        "frames come back byte for byte"
    );
    let few = batch(b.execute(read("s", S1, 3, 2)).await);
    assert_eq!(seqs(&few), vec![4, 5], "at most max");
    let none = batch(b.execute(read("s", S1, 9, 100)).await);
    assert!(none.events.is_empty() && !none.evicted);
    let other = batch(b.execute(read("t", S1, 0, 100)).await);
    assert!(other.events.is_empty(), "nothing of s on t's stream");
    assert_eq!(other.next_seq, 1);
    assert_eq!(
        b.execute(read(
            "s",
            StreamKey {
                instance: 1,
                number: 9
            },
            0,
            10
        ))
        .await,
        Ok(StoreReply::NoSuchStream)
    );
    assert_eq!(
        b.execute(read("nobody", S1, 0, 10)).await,
        Ok(StoreReply::NoSuchStream)
    );
    // A repeated append (a command replayed) changes nothing.
    assert_eq!(
        b.execute(append("s", S1, 5, WIDE)).await,
        Ok(StoreReply::Appended)
    );
    assert_eq!(
        seqs(&batch(b.execute(read("s", S1, 3, 100)).await)).len(),
        6
    );
}

#[tokio::test]
async fn redis_9_an_append_to_a_missing_session_is_refused_and_leaves_nothing() {
    let Some(url) = support::redis_url("redis_9") else {
        return;
    };
    let (a, b, r) = two(&url);
    assert_eq!(
        a.execute(append("gone", S1, 0, WIDE)).await,
        Ok(StoreReply::NoSuchSession)
    );
    a.execute(put("gone")).await.unwrap();
    a.execute(append("gone", S1, 0, WIDE)).await.unwrap();
    b.execute(StoreCommand::DeleteSession {
        session: "gone".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        a.execute(append("gone", S1, 1, WIDE)).await,
        Ok(StoreReply::NoSuchSession)
    );
    assert_eq!(
        a.execute(StoreCommand::EndStream {
            session: "gone".into(),
            stream: S1
        })
        .await,
        Ok(StoreReply::NoSuchSession)
    );
    assert!(keys(&r).await.is_empty(), "{:?}", keys(&r).await);
}

#[tokio::test]
async fn redis_10_retention_keeps_the_newest_events_within_both_bounds() {
    let Some(url) = support::redis_url("redis_10") else {
        return;
    };
    let (a, b, _) = two(&url);
    a.execute(put("s")).await.unwrap();
    let by_count = Retention {
        max_events: 4,
        max_bytes: 1 << 20,
    };
    for seq in 0..10 {
        a.execute(append("s", S1, seq, by_count)).await.unwrap();
    }
    let got = batch(b.execute(read("s", S1, 0, 100)).await);
    assert_eq!(seqs(&got), vec![6, 7, 8, 9]);
    assert!(got.evicted, "events after the cursor are gone: 410");
    let got = batch(b.execute(read("s", S1, 5, 100)).await);
    assert!(!got.evicted, "the cursor is just before the oldest kept");
    // By bytes: each frame of S2 is 21-22 bytes; keep at most 50.
    let by_bytes = Retention {
        max_events: 1000,
        max_bytes: 50,
    };
    for seq in 0..12 {
        a.execute(append("s", S2, seq, by_bytes)).await.unwrap();
    }
    let got = batch(b.execute(read("s", S2, 0, 100)).await);
    assert_eq!(seqs(&got), vec![10, 11]);
    let kept: usize = got.events.iter().map(|e| e.frame.len()).sum();
    assert!(kept <= 50);
    // The newest event is kept even when alone it exceeds the bound.
    let big = StoredEvent {
        seq: 12,
        frame: Bytes::from(vec![b'x'; 200]),
        response: true,
    };
    a.execute(StoreCommand::AppendEvent {
        session: "s".into(),
        stream: S2,
        event: big.clone(),
        retention: by_bytes,
        ttl: TTL,
    })
    .await
    .unwrap();
    assert_eq!(
        batch(b.execute(read("s", S2, 11, 100)).await).events,
        vec![big]
    );
}

#[tokio::test]
async fn redis_11_delete_removes_every_key_of_the_session_and_only_those() {
    let Some(url) = support::redis_url("redis_11") else {
        return;
    };
    let (a, b, r) = two(&url);
    for sid in ["s", "keep"] {
        a.execute(put(sid)).await.unwrap();
        a.execute(append(sid, S1, 0, WIDE)).await.unwrap();
        a.execute(append(sid, S2, 0, WIDE)).await.unwrap();
    }
    a.execute(StoreCommand::EndStream {
        session: "s".into(),
        stream: S1,
    })
    .await
    .unwrap();
    let ns = r.namespace().to_owned();
    assert_eq!(keys(&r).await.len(), 6);
    for k in keys(&r).await {
        assert!(
            k.contains("{s}") || k.contains("{keep}"),
            "every key is tagged by its session: {k}"
        );
    }
    b.execute(StoreCommand::DeleteSession {
        session: "s".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        keys(&r).await,
        vec![
            format!("{ns}:ev:{{keep}}:0000000000000abc.1"),
            format!("{ns}:ev:{{keep}}:0000000000000def.1"),
            format!("{ns}:sess:{{keep}}"),
        ]
    );
    assert_eq!(
        b.execute(read("s", S1, 0, 10)).await,
        Ok(StoreReply::NoSuchStream)
    );
    // Stream keys outlive their session's TTL (so a live session never
    // loses its events) by a bounded margin.
    let sess = pttl(&r, &a.session_key("keep")).await;
    let ev = pttl(&r, &a.stream_key("keep", S1)).await;
    assert!(sess > 0 && ev >= sess && ev <= 2 * 60_000, "{sess} {ev}");
}

#[tokio::test]
async fn redis_12_a_tail_wakes_on_an_append_or_the_end_from_another_instance() {
    let Some(url) = support::redis_url("redis_12") else {
        return;
    };
    let (a, b, _) = two(&url);
    a.execute(put("s")).await.unwrap();
    a.execute(append("s", S1, 0, WIDE)).await.unwrap();
    let tail = |after| StoreCommand::TailEvents {
        session: "s".into(),
        stream: S1,
        after,
        max: 10,
        wait: Duration::from_secs(30),
    };
    a.execute(append("s", S1, 1, WIDE)).await.unwrap();
    // Something already there: answered at once.
    let got = batch(b.execute(tail(0)).await);
    assert_eq!(seqs(&got), vec![1]);
    let b2 = b.clone();
    let waiting = tokio::spawn(async move { b2.execute(tail(1)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the tail waits for something new");
    a.execute(append("s", S1, 2, WIDE)).await.unwrap();
    let got = batch(waiting.await.unwrap());
    assert_eq!(seqs(&got), vec![2]);
    assert!(!got.finished);
    // The end wakes a tail too, and reports the stream finished.
    let b2 = b.clone();
    let waiting = tokio::spawn(async move { b2.execute(tail(2)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    a.execute(StoreCommand::EndStream {
        session: "s".into(),
        stream: S1,
    })
    .await
    .unwrap();
    let got = batch(waiting.await.unwrap());
    assert!(got.events.is_empty() && got.finished);
    // A bounded wait with nothing new ends with an empty batch.
    a.execute(append("s", S2, 0, WIDE)).await.unwrap();
    let t0 = Instant::now();
    let got = batch(
        b.execute(StoreCommand::TailEvents {
            session: "s".into(),
            stream: S2,
            after: 0,
            max: 10,
            wait: Duration::from_millis(300),
        })
        .await,
    );
    assert!(got.events.is_empty() && !got.finished);
    assert!(t0.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn redis_13_a_session_holds_a_bounded_number_of_streams() {
    let Some(url) = support::redis_url("redis_13") else {
        return;
    };
    let ns = support::namespace();
    let r = support::open(&url, &ns);
    let a = RedisSharedStore::with_max_streams(r.clone(), 3);
    a.execute(put("s")).await.unwrap();
    let sk = |n| StreamKey {
        instance: 7,
        number: n,
    };
    for n in 1..=5 {
        a.execute(append("s", sk(n), 0, WIDE)).await.unwrap();
        a.execute(StoreCommand::EndStream {
            session: "s".into(),
            stream: sk(n),
        })
        .await
        .unwrap();
    }
    // The two oldest finished streams were dropped.
    for n in 1..=2 {
        assert_eq!(
            a.execute(read("s", sk(n), 0, 10)).await,
            Ok(StoreReply::NoSuchStream)
        );
    }
    let got = batch(
        a.execute(StoreCommand::ReadEvents {
            session: "s".into(),
            stream: sk(5),
            after: 0,
            max: 10,
        })
        .await,
    );
    assert!(got.finished && got.events.is_empty());
    assert_eq!(keys(&r).await.len(), 4, "three streams and the session");
}

#[tokio::test]
async fn redis_4_a_stalled_or_stopped_redis_fails_store_commands_within_the_bound() {
    let Some(url) = support::redis_url("redis_4_store") else {
        return;
    };
    let relay = Relay::start(support::host_port(&url)).await;
    let cfg = RedisConfig::new(relay.url())
        .namespace(support::namespace())
        .timeout(Duration::from_millis(300));
    let s = RedisSharedStore::new(Redis::open(&cfg).unwrap());
    s.execute(put("s")).await.unwrap();
    relay.set(Mode::Stall);
    let t0 = Instant::now();
    assert_eq!(s.execute(put("s")).await, Err(StoreFailure::TimedOut));
    assert!(t0.elapsed() >= Duration::from_millis(250));
    relay.set(Mode::Down);
    let r = s.execute(append("s", S1, 0, WIDE)).await;
    assert!(
        matches!(
            r,
            Err(StoreFailure::TimedOut | StoreFailure::Unavailable(_))
        ),
        "{r:?}"
    );
    relay.set(Mode::Up);
    let mut back = false;
    for _ in 0..50 {
        if s.execute(append("s", S1, 0, WIDE)).await == Ok(StoreReply::Appended) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "commands succeed again once Redis is back");
}
