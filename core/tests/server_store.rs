//! The shared-store port (issue 17, `docs/store.md`; STORE-n in
//! `docs/requirements.md`): write-through, the gate (restore before use),
//! failures, replay and tail from the store, global event ids, and two
//! servers sharing one in-test store.

mod common;
mod store_support;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use proptest::prelude::*;
use store_support::{Store, tail_is_quiet};
use streamable_core::store::{
    SessionPhase, StoreCommand, StoreConfig, StoreFailure, StoreReply, StoreToken,
};
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, ResponseMode, SeededIds, Server,
    SessionKey, Target, Timestamp,
};

// ------------------------------------------------------------------ harness

/// A server whose store commands are held until the test completes them.
struct Node {
    s: Server<SeededIds>,
    now: u64,
    out: Vec<Output>,
    pending: VecDeque<(StoreToken, StoreCommand)>,
    /// Every command emitted, in order.
    emitted: Vec<StoreCommand>,
}

fn store_config() -> Config {
    Config {
        response_mode: ResponseMode::Sse,
        store: Some(StoreConfig::default()),
        ..Config::default()
    }
}

impl Node {
    fn new(config: Config, seed: u64) -> Self {
        Node {
            s: Server::new(config, SeededIds(seed)),
            now: 0,
            out: Vec::new(),
            pending: VecDeque::new(),
            emitted: Vec::new(),
        }
    }

    fn t(&self) -> Timestamp {
        Timestamp(self.now)
    }

    fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            match o {
                Output::Store { token, command } => {
                    self.emitted.push(command.clone());
                    self.pending.push_back((token, command));
                }
                o => self.out.push(o),
            }
        }
        self.s.check_invariants().expect("server invariants");
    }

    fn request(&mut self, req: http::Request<Bytes>) -> ExchangeId {
        let ex = self.s.handle_request(self.t(), req);
        self.drain();
        ex
    }

    fn post(&mut self, session: Option<&str>, body: &str) -> ExchangeId {
        let mut b = http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("host", "localhost");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        self.request(b.body(Bytes::from(body.to_owned())).unwrap())
    }

    fn get(&mut self, session: &str, last_event_id: Option<&str>) -> ExchangeId {
        let mut b = http::Request::get("/mcp")
            .header("accept", "text/event-stream")
            .header("host", "localhost")
            .header("mcp-session-id", session);
        if let Some(l) = last_event_id {
            b = b.header("last-event-id", l);
        }
        self.request(b.body(Bytes::new()).unwrap())
    }

    fn delete(&mut self, session: &str) -> ExchangeId {
        let b = http::Request::delete("/mcp")
            .header("host", "localhost")
            .header("mcp-session-id", session);
        self.request(b.body(Bytes::new()).unwrap())
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Complete the oldest pending command with `result`.
    fn complete(&mut self, result: Result<StoreReply, StoreFailure>) -> StoreCommand {
        let (token, command) = self.pending.pop_front().expect("a pending store command");
        self.s.handle_store(self.t(), token, result);
        self.drain();
        command
    }

    /// Run pending commands against `store` until a stream read is next
    /// (the gate passed), leaving the read for the test to answer.
    fn run_until_read(&mut self, store: &mut Store) {
        while !matches!(
            self.pending.front(),
            Some((_, StoreCommand::ReadEvents { .. }))
        ) {
            let (token, command) = self.pending.pop_front().expect("a read to come");
            let r = store.exec(&command);
            self.s.handle_store(self.t(), token, Ok(r));
            self.drain();
        }
    }

    /// Run pending commands against `store` until none is left but quiet
    /// tails (a tail with nothing new stays pending, as a blocked read).
    fn pump(&mut self, store: &mut Store) {
        let mut quiet = VecDeque::new();
        while let Some((token, command)) = self.pending.pop_front() {
            let reply = store.exec(&command);
            let is_quiet = matches!(&command, StoreCommand::TailEvents { .. })
                && tail_is_quiet(&command, &reply);
            if is_quiet {
                quiet.push_back((token, command));
                continue;
            }
            self.s.handle_store(self.t(), token, Ok(reply));
            self.drain();
        }
        self.pending = quiet;
    }

    /// Quiet tails reach their wait: they complete with what the store has.
    fn expire_tails(&mut self, store: &mut Store) {
        while let Some((token, command)) = self.pending.pop_front() {
            let reply = store.exec(&command);
            self.s.handle_store(self.t(), token, Ok(reply));
            self.drain();
        }
    }

    fn delivered(&self) -> Vec<(RequestKey, String, Option<SessionKey>)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Deliver(Delivery::Request {
                    request,
                    method,
                    session,
                    ..
                }) => Some((*request, method.clone(), *session)),
                _ => None,
            })
            .collect()
    }

    fn respond(&mut self, rk: RequestKey, v: serde_json::Value) {
        self.s
            .respond(self.t(), rk, Ok(RawJson::from_value(&v)))
            .unwrap();
        self.drain();
    }

    /// initialize + initialized through `store`; the wire id.
    fn init(&mut self, store: &mut Store, version: &str) -> String {
        let ex = self.post(None, &init_body(version));
        self.pump(store);
        let (rk, _, _) = self.delivered()[0].clone();
        self.take();
        self.respond(
            rk,
            serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
        );
        self.pump(store);
        let (status, wire, _) = reply(&self.take(), ex);
        assert_eq!(status, 200);
        let wire = wire.expect("session id");
        let ex = self.post(Some(&wire), &notif_body("notifications/initialized"));
        self.pump(store);
        let (status, _, _) = reply(&self.take(), ex);
        assert_eq!(status, 202);
        wire
    }
}

fn kind(c: &StoreCommand) -> &'static str {
    match c {
        StoreCommand::PutSession { .. } => "put",
        StoreCommand::TouchSession { .. } => "touch",
        StoreCommand::LoadSession { .. } => "load",
        StoreCommand::DeleteSession { .. } => "delete",
        StoreCommand::AppendEvent { .. } => "append",
        StoreCommand::EndStream { .. } => "end",
        StoreCommand::ReadEvents { .. } => "read",
        StoreCommand::TailEvents { .. } => "tail",
        _ => "other",
    }
}

fn call_body(id: i64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"countdown","arguments":{{}}}}}}"#
    )
}

fn retry_after(out: &[Output], ex: ExchangeId) -> Option<u32> {
    out.iter().find_map(|o| match o {
        Output::Reply { exchange, head, .. } if *exchange == ex => head.retry_after,
        _ => None,
    })
}

// -------------------------------------------------------------------- tests

#[test]
fn store_2_write_through_commands_in_order() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let ex = a.post(None, &init_body("2025-11-25"));
    // The initialize waits for its record.
    assert!(a.delivered().is_empty(), "STORE-3: delivered before stored");
    assert_eq!(
        a.emitted.iter().map(kind).collect::<Vec<_>>(),
        ["put"],
        "{:?}",
        a.emitted
    );
    assert!(
        matches!(&a.emitted[0], StoreCommand::PutSession { ttl, .. } if *ttl == Config::default().init_timeout)
    );
    a.pump(&mut store);
    let (rk, method, _) = a.delivered()[0].clone();
    assert_eq!(method, "initialize");
    a.take();
    a.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    a.pump(&mut store);
    let out = a.take();
    let (status, wire, _) = reply(&out, ex);
    assert_eq!(status, 200);
    let wire = wire.expect("the session id");
    let rec = &store.sessions[wire.as_str()].0;
    assert_eq!(rec.phase, SessionPhase::AwaitingInitialized);
    assert_eq!(rec.version.as_str(), "2025-11-25");
    assert!(rec.init_params.is_some());
    a.emitted.clear();
    let ex = a.post(Some(&wire), &notif_body("notifications/initialized"));
    a.pump(&mut store);
    assert_eq!(reply(&a.take(), ex).0, 202);
    assert_eq!(store.sessions[wire.as_str()].0.phase, SessionPhase::Ready);
    let ex = a.post(Some(&wire), &call_body(5));
    a.pump(&mut store);
    let (rk, _, _) = a.delivered()[0].clone();
    a.s.notify(a.t(), Target::Request(rk), "notifications/progress", None)
        .unwrap();
    a.drain();
    a.respond(rk, serde_json::json!({"content":[]}));
    a.pump(&mut store);
    let out = a.take();
    assert!(closed(&out, ex));
    assert_eq!(
        a.emitted.iter().map(kind).collect::<Vec<_>>(),
        // touch+put (ready), touch, priming, progress, response, end
        ["touch", "put", "touch", "append", "append", "append", "end"],
    );
    // A ready session's record lives for the idle timeout (before, for the
    // initialize timeout).
    let ttls: Vec<_> = a
        .emitted
        .iter()
        .filter_map(|c| match c {
            StoreCommand::PutSession { ttl, .. } => Some(*ttl),
            _ => None,
        })
        .collect();
    assert_eq!(ttls, [Config::default().idle_timeout]);
    // The stored frames are the ones written, in order.
    let written = frames(&out, ex);
    let log = store.sessions[wire.as_str()].1.values().next().unwrap();
    let stored: Vec<String> = log
        .events
        .iter()
        .map(|e| String::from_utf8(e.frame.to_vec()).unwrap())
        .collect();
    assert_eq!(written, stored);
    assert!(log.finished);
}

#[test]
fn store_3_initialize_whose_record_is_not_stored_is_503_and_leaves_nothing() {
    let mut a = Node::new(store_config(), 1);
    let ex = a.post(None, &init_body("2025-06-18"));
    a.complete(Err(StoreFailure::Unavailable("down".into())));
    let out = a.take();
    assert_eq!(reply(&out, ex).0, 503);
    assert_eq!(retry_after(&out, ex), Some(1));
    assert!(
        a.delivered().is_empty(),
        "the application saw a session nobody can use"
    );
    assert_eq!(a.s.session_count(), 0);
}

#[test]
fn store_4_restore_queue_answers_in_order_after_the_load() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let mut b = Node::new(store_config(), 2);
    assert_eq!(b.s.session_count(), 0);
    let ex1 = b.post(Some(&wire), &call_body(1));
    let ex2 = b.post(Some(&wire), &call_body(2));
    // One touch for both; nothing served before it completed.
    assert_eq!(b.pending.len(), 1);
    assert!(
        b.out.is_empty(),
        "STORE-4: served before restored: {:?}",
        b.out
    );
    assert_eq!(b.s.session_count(), 0, "STORE-4: visible before restored");
    b.pump(&mut store);
    let d = b.delivered();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].1, "tools/call");
    assert!(has_head(&b.out, ex1) && has_head(&b.out, ex2));
    // In arrival order.
    let pos = |ex| {
        b.out
            .iter()
            .position(|o| matches!(o, Output::StreamHead { exchange, .. } if *exchange == ex))
            .unwrap()
    };
    assert!(pos(ex1) < pos(ex2));
    assert_eq!(b.s.session_count(), 1);
    assert_eq!(
        b.s.session_version(d[0].2.unwrap()).unwrap().as_str(),
        "2025-06-18"
    );
    assert_eq!(b.s.session_wire_id(d[0].2.unwrap()), Some(wire.as_str()));
    assert!(b.s.session_init_params(d[0].2.unwrap()).is_some());
}

/// MI-2: the initialize result goes out only once the record that says so
/// is stored, so no client holds the id of a session recorded as
/// `Initializing`; and another instance does not restore such a session
/// (a guessed id): 503 with `Retry-After`, nothing entered (found by the
/// multi-instance simulation, seed 469: a creator that crashed between the
/// result and the write left the session served unprimed elsewhere, with
/// `notifications/initialized` lost).
#[test]
fn mi_2_a_session_still_initializing_is_not_restored_elsewhere() {
    let mut store = Store::default();
    let mut a = Node::new(store_config(), 1);
    let ex = a.post(None, &init_body("2025-11-25"));
    a.pump(&mut store);
    let (rk, _, _) = a.delivered()[0].clone();
    a.take();
    // Its record says Initializing: another instance does not restore it
    // (only a client that guessed the id could ask; the defence holds).
    let wire: String = store.sessions.keys().next().expect("created").to_string();
    let mut b = Node::new(store_config(), 2);
    let early = b.post(Some(&wire), &notif_body("notifications/initialized"));
    b.pump(&mut store);
    let out = b.take();
    assert_eq!(
        reply(&out, early).0,
        503,
        "MI-2: restored while initializing"
    );
    assert_eq!(retry_after(&out, early), Some(1));
    assert_eq!(b.s.session_count(), 0, "MI-2: entered while initializing");
    a.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    // The result waits for the record that says it was sent.
    assert!(
        a.take()
            .iter()
            .all(|o| !matches!(o, Output::Reply { exchange, .. } | Output::StreamHead { exchange, .. } if *exchange == ex)),
        "MI-2: the result went out before its record was stored"
    );
    assert!(
        matches!(&a.pending.back(), Some((_, StoreCommand::PutSession { record, .. })) if record.phase == SessionPhase::AwaitingInitialized)
    );
    a.pump(&mut store);
    let (status, sent, _) = reply(&a.take(), ex);
    assert_eq!(status, 200);
    assert_eq!(sent.as_deref(), Some(wire.as_str()));
    // So whichever instance the client reaches next serves it.
    let ex = b.post(Some(&wire), &notif_body("notifications/initialized"));
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 202);
    assert_eq!(b.s.session_count(), 1);
}

/// MI-2: when the record of a ready initialize result cannot be stored,
/// the initialize fails (no session id) and the session is ended, never
/// left half made for other instances.
#[test]
fn mi_2_an_initialize_result_whose_record_fails_is_an_error_without_a_session() {
    let mut store = Store::default();
    let mut a = Node::new(store_config(), 1);
    let ex = a.post(None, &init_body("2025-11-25"));
    a.pump(&mut store);
    let (rk, _, _) = a.delivered()[0].clone();
    a.take();
    a.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    a.complete(Err(StoreFailure::TimedOut));
    let out = a.take();
    let (status, session, body) = reply(&out, ex);
    assert_eq!(status, 200);
    assert_eq!(session, None, "X-21: no session id on a failed initialize");
    assert!(body.contains("-32603"), "{body}");
    assert_eq!(a.s.session_count(), 0);
    // The record is deleted in the store.
    assert!(
        a.pending
            .iter()
            .any(|(_, c)| matches!(c, StoreCommand::DeleteSession { .. }))
    );
}

#[test]
fn store_5_load_none_is_404_and_foreign_ids_never_reach_the_store() {
    let mut store = Store::new(true);
    let mut b = Node::new(store_config(), 2);
    let ex = b.post(Some("0123456789abcdef0123456789abcdef"), &call_body(1));
    assert_eq!(b.pending.len(), 1);
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 404);
    assert_eq!(b.s.session_count(), 0);
    // Only 32 lower-case hex digits are ids this library mints.
    for foreign in [
        "not-one-of-ours",
        "0123456789abcdef",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789ABCDEF0123456789ABCDEF",
    ] {
        let ex = b.post(Some(foreign), &call_body(1));
        assert!(b.pending.is_empty(), "{foreign} went to the store");
        assert_eq!(reply(&b.take(), ex).0, 404);
    }
}

#[test]
fn store_6_load_failure_and_timeout_are_503_and_a_later_request_retries() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let mut b = Node::new(store_config(), 2);
    // Failure.
    let ex = b.post(Some(&wire), &call_body(1));
    b.complete(Err(StoreFailure::Unavailable("down".into())));
    let out = b.take();
    assert_eq!(reply(&out, ex).0, 503);
    assert_eq!(retry_after(&out, ex), Some(1));
    assert_eq!(b.s.session_count(), 0, "STORE-6: half-created session");
    // Timeout: no completion within the deadline.
    let ex = b.post(Some(&wire), &call_body(1));
    assert_eq!(b.pending.len(), 1);
    let deadline = b.s.poll_timeout().expect("a deadline for the command");
    assert!(deadline.0 <= b.now + 2000);
    b.now = deadline.0 - 1;
    b.s.handle_timeout(b.t());
    b.drain();
    assert!(b.take().is_empty(), "given up before its deadline");
    b.now = deadline.0;
    b.s.handle_timeout(b.t());
    b.drain();
    let out = b.take();
    assert_eq!(reply(&out, ex).0, 503);
    assert_eq!(retry_after(&out, ex), Some(1));
    assert_eq!(b.s.session_count(), 0);
    // The late completion changes nothing.
    b.complete(Ok(StoreReply::Session(Some(
        store.sessions[wire.as_str()].0.clone(),
    ))));
    assert!(b.take().is_empty());
    assert_eq!(b.s.session_count(), 0);
    // A later request loads again and is served.
    let ex = b.post(Some(&wire), &call_body(1));
    b.pump(&mut store);
    assert!(has_head(&b.take(), ex));
    assert_eq!(b.s.session_count(), 1);
}

#[test]
fn store_4_queue_is_bounded() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let mut config = store_config();
    config.store.as_mut().unwrap().max_waiting_per_session = 2;
    let mut b = Node::new(config, 2);
    b.post(Some(&wire), &call_body(1));
    b.post(Some(&wire), &call_body(2));
    let ex = b.post(Some(&wire), &call_body(3));
    let out = b.take();
    assert_eq!(reply(&out, ex).0, 503);
    assert_eq!(retry_after(&out, ex), Some(1));
    b.pump(&mut store);
    assert_eq!(b.delivered().len(), 2);
}

/// A countdown on A: priming, three progress events; the client keeps the
/// first progress event's id and leaves.
fn countdown_on_a(
    a: &mut Node,
    store: &mut Store,
    wire: &str,
) -> (RequestKey, ExchangeId, Vec<String>) {
    let ex = a.post(Some(wire), &call_body(7));
    a.pump(store);
    let (rk, _, _) = a.delivered()[0].clone();
    for i in 0..3 {
        let p = RawJson::from_value(&serde_json::json!({"progress": i, "progressToken": 1}));
        a.s.notify(
            a.t(),
            Target::Request(rk),
            "notifications/progress",
            Some(&p),
        )
        .unwrap();
        a.drain();
    }
    a.pump(store);
    let written = frames(&a.take(), ex);
    assert_eq!(written.len(), 4, "{written:?}");
    (rk, ex, written)
}

/// [`countdown_on_a`], then the client leaves A's stream (the request goes
/// on); the frames it saw are returned.
fn countdown_then_leave(a: &mut Node, store: &mut Store, wire: &str) -> (RequestKey, Vec<String>) {
    let (rk, ex, written) = countdown_on_a(a, store, wire);
    a.s.handle_disconnect(a.t(), ex);
    a.drain();
    (rk, written)
}

#[test]
fn store_7_resume_on_another_instance_replays_exactly_once_then_tails() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    // The client saw priming and the first progress, then lost A.
    let (rk, written) = countdown_then_leave(&mut a, &mut store, &wire);
    let cursor = frame_id(&written[1]).unwrap();
    let mut b = Node::new(store_config(), 2);
    let ex = b.get(&wire, Some(&cursor));
    b.pump(&mut store);
    let out = b.take();
    assert!(has_head(&out, ex));
    assert_eq!(frames(&out, ex), written[2..].to_vec(), "STORE-7: replay");
    assert!(!closed(&out, ex));
    // A tail waits for more.
    assert!(matches!(
        b.pending.front(),
        Some((_, StoreCommand::TailEvents { .. }))
    ));
    // A answers; B delivers the response from the store and ends.
    a.respond(
        rk,
        serde_json::json!({"content":[{"type":"text","text":"done"}]}),
    );
    a.pump(&mut store);
    b.pump(&mut store);
    let out = b.take();
    let f = frames(&out, ex);
    assert_eq!(f.len(), 1, "exactly once: {f:?}");
    assert!(f[0].contains(r#""id":7"#) && f[0].contains("done"));
    assert!(closed(&out, ex));
    assert!(b.pending.is_empty());
    // Resuming again after the end: 204, nothing twice.
    let last = frame_id(&f[0]).unwrap();
    let ex = b.get(&wire, Some(&last));
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 204);
}

#[test]
fn store_7_evicted_gap_is_410_and_forged_ids_400() {
    let mut store = Store::new(true);
    let mut config = store_config();
    config.max_events_per_stream = 2;
    let mut a = Node::new(config, 1);
    let wire = a.init(&mut store, "2025-11-25");
    let (_, _, written) = countdown_on_a(&mut a, &mut store, &wire);
    let first = frame_id(&written[0]).unwrap();
    let mut b = Node::new(store_config(), 2);
    let ex = b.get(&wire, Some(&first));
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 410);
    // A cursor beyond the stream's end names no event.
    let (stream, _) = first.rsplit_once('-').unwrap();
    // It may not have reached the store yet: one wait, then 400.
    let ex = b.get(&wire, Some(&format!("{stream}-99")));
    b.pump(&mut store);
    assert!(b.take().is_empty());
    assert!(matches!(
        b.pending.front(),
        Some((_, StoreCommand::TailEvents { after: 99, .. }))
    ));
    b.expire_tails(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 400);
    // A stream the session never had.
    let ex = b.get(&wire, Some("00000000000000ff.9-0"));
    b.pump(&mut store);
    b.expire_tails(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 400);
}

#[test]
fn store_7_a_batch_that_skips_the_cursor_is_a_gap_never_skipped_over() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    let (_, _, written) = countdown_on_a(&mut a, &mut store, &wire);
    let first = frame_id(&written[0]).unwrap();
    let mut b = Node::new(store_config(), 2);
    let ex = b.get(&wire, Some(&first));
    let touch = b.pending[0].1.clone();
    b.complete(Ok(store.exec(&touch)));
    // A backend that lost event 1 but kept 2 and 3 (and does not say so).
    let read = b.pending[0].1.clone();
    let StoreReply::Events(mut batch) = store.exec(&read) else {
        panic!("a batch")
    };
    batch.events.remove(0);
    batch.evicted = false;
    b.complete(Ok(StoreReply::Events(batch)));
    let out = b.take();
    assert_eq!(reply(&out, ex).0, 410, "{out:?}");
    assert!(frames(&out, ex).is_empty());
}

#[test]
fn store_9_malformed_instance_ids_are_400_without_a_store_read() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    for bad in [
        "0000000000000000.1-0",   // instance 0 has no dotted form
        "00000000000000FF.1-0",   // upper-case hex
        "00000000000000f.1-0",    // 15 digits
        "000000000000000ff.1-0",  // 17 digits
        "00000000000000ff.-0",    // no stream number
        "00000000000000ff.1.2-0", // two dots
        "00000000000000ff.1-",    // no sequence
        &format!("00000000000000ff.{}-0", "1".repeat(21)),
    ] {
        a.emitted.clear();
        let ex = a.get(&wire, Some(bad));
        a.pump(&mut store);
        assert_eq!(reply(&a.take(), ex).0, 400, "{bad}");
        assert!(
            !a.emitted.iter().any(|c| kind(c) == "read"),
            "{bad} reached the store"
        );
    }
}

#[test]
fn store_8_delete_on_one_instance_is_404_everywhere() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let mut b = Node::new(store_config(), 2);
    let ex = b.delete(&wire);
    b.complete(Ok(store.exec(&b.pending[0].1.clone())));
    // The 204 waits for the store's delete.
    assert!(
        b.out
            .iter()
            .all(|o| !matches!(o, Output::Reply { exchange, .. } if *exchange == ex))
    );
    assert!(store.sessions.contains_key(wire.as_str()));
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 204);
    assert!(!store.sessions.contains_key(wire.as_str()));
    // A still held the session: its next request finds it gone.
    assert_eq!(a.s.session_count(), 1);
    let ex = a.post(Some(&wire), &call_body(3));
    a.pump(&mut store);
    let out = a.take();
    assert_eq!(reply(&out, ex).0, 404);
    assert_eq!(a.s.session_count(), 0);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Deliver(Delivery::SessionClosed { .. })))
    );
}

/// STORE-11: with `recheck_interval`, a held session the store confirmed
/// less than that long ago is served without a touch; after it, the next
/// request asks the store again (and sees a DELETE made elsewhere); a
/// DELETE always asks the store.
#[test]
fn store_11_recheck_interval_skips_the_touch_of_a_fresh_held_session() {
    let config = || Config {
        store: Some(StoreConfig {
            recheck_interval: Duration::from_millis(1000),
            ..StoreConfig::default()
        }),
        ..store_config()
    };
    let touches = |n: &Node| n.emitted.iter().filter(|c| kind(c) == "touch").count();
    let mut store = Store::new(true);
    let mut a = Node::new(config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let before = touches(&a);
    assert!(before >= 1, "the initialized notification passed the gate");
    // Within the interval: served at once, no touch.
    a.now += 400;
    let ex = a.post(Some(&wire), &call_body(3));
    assert_eq!(touches(&a), before);
    let (rk, _, _) = a.delivered().last().cloned().expect("delivered at once");
    a.respond(rk, serde_json::json!({"content":[]}));
    a.pump(&mut store);
    assert!(a.take().iter().any(|o| matches!(o,
        Output::Event { exchange, frame } if *exchange == ex
            && String::from_utf8_lossy(frame).contains(r#""result""#))));
    // Another instance deletes it; within the interval A still serves it
    // (the stated price of the interval).
    let mut b = Node::new(config(), 2);
    let ex = b.delete(&wire);
    b.pump(&mut store);
    assert_eq!(reply(&b.take(), ex).0, 204);
    a.now += 400;
    a.post(Some(&wire), &call_body(4));
    assert_eq!(touches(&a), before);
    assert_eq!(a.s.session_count(), 1);
    // Past the interval: the store is asked, the session is gone.
    a.now += 1000;
    let ex = a.post(Some(&wire), &call_body(5));
    assert_eq!(touches(&a), before + 1);
    a.pump(&mut store);
    assert_eq!(reply(&a.take(), ex).0, 404);
    // Confirmed exactly the interval ago: asked again.
    let mut d = Node::new(config(), 4);
    let wire_d = d.init(&mut store, "2025-06-18");
    let before = touches(&d);
    d.now += 1000;
    d.post(Some(&wire_d), &call_body(6));
    assert_eq!(touches(&d), before + 1, "the interval is exclusive");
    d.pump(&mut store);
    // A DELETE is never served from the interval.
    let mut c = Node::new(config(), 3);
    let wire = c.init(&mut store, "2025-06-18");
    let before = touches(&c);
    c.now += 10;
    let ex = c.delete(&wire);
    assert_eq!(touches(&c), before + 1);
    c.pump(&mut store);
    assert_eq!(reply(&c.take(), ex).0, 204);
}

#[test]
fn store_8_a_failed_delete_is_503() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let ex = a.delete(&wire);
    let touch = a.pending[0].1.clone();
    a.complete(Ok(store.exec(&touch)));
    assert_eq!(kind(&a.pending[0].1), "delete");
    a.complete(Err(StoreFailure::TimedOut));
    let out = a.take();
    assert_eq!(reply(&out, ex).0, 503);
    assert!(store.sessions.contains_key(wire.as_str()));
}

#[test]
fn store_9_two_servers_serve_one_session_alike_and_ids_never_collide() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let mut b = Node::new(store_config(), 2);
    let wire = a.init(&mut store, "2025-11-25");
    let mut ids = Vec::new();
    for round in 0..3 {
        for node in [&mut a, &mut b] {
            node.take();
            let ex = node.post(Some(&wire), &call_body(100 + round));
            node.pump(&mut store);
            let (rk, method, _) = node.delivered()[0].clone();
            assert_eq!(method, "tools/call");
            node.respond(rk, serde_json::json!({"content":[]}));
            node.pump(&mut store);
            let out = node.take();
            let head = out
                .iter()
                .find_map(|o| match o {
                    Output::StreamHead { exchange, head } if *exchange == ex => Some(head.clone()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(head.status, 200);
            assert_eq!(head.session_id.as_deref(), Some(wire.as_str()));
            let f = frames(&out, ex);
            assert_eq!(f.len(), 2, "priming and the response");
            assert!(f[1].contains(&format!(r#""id":{}"#, 100 + round)));
            ids.extend(f.iter().filter_map(|f| frame_id(f)));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "STORE-9: event ids collide: {ids:?}"
    );
    // Every id names its instance.
    assert!(ids.iter().all(|i| i.len() > 18 && i.as_bytes()[16] == b'.'));
    // And the same streams on both: both wrote to the store under distinct keys.
    assert_eq!(store.sessions[wire.as_str()].1.len(), 6);
}

#[test]
fn store_10_local_idle_expiry_only_evicts() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    a.now += Duration::from_secs(31 * 60).as_millis() as u64;
    a.s.handle_timeout(a.t());
    a.drain();
    assert_eq!(a.s.session_count(), 0);
    assert!(a.pending.is_empty(), "an eviction deleted the session");
    assert!(store.sessions.contains_key(wire.as_str()));
    // And the next request restores it.
    let ex = a.post(Some(&wire), &call_body(1));
    a.pump(&mut store);
    assert!(has_head(&a.take(), ex));
}

// ------------------------------------------------------------- no store

#[derive(Clone, Debug)]
enum Op {
    Init,
    Call(u8),
    Notify,
    Get(Option<u8>),
    Delete,
    Answer(u8),
    Advance(u16),
    Drop(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Init),
        any::<u8>().prop_map(Op::Call),
        Just(Op::Notify),
        proptest::option::of(any::<u8>()).prop_map(Op::Get),
        Just(Op::Delete),
        any::<u8>().prop_map(Op::Answer),
        any::<u16>().prop_map(Op::Advance),
        any::<u8>().prop_map(Op::Drop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// STORE-1: without a store configured, no store command ever goes out.
    #[test]
    fn store_1_no_store_no_store_command(ops in proptest::collection::vec(op(), 1..40), sse in any::<bool>()) {
        let mut h = H::new(Config {
            response_mode: if sse { ResponseMode::Sse } else { ResponseMode::Auto },
            ..Config::default()
        });
        let mut wire: Option<String> = None;
        let mut ids: Vec<String> = Vec::new();
        let mut exchanges = Vec::new();
        let mut all = Vec::new();
        for o in ops {
            match o {
                Op::Init => {
                    let (_, w) = h.init("2025-11-25");
                    wire = Some(w);
                }
                Op::Call(n) => {
                    exchanges.push(h.post(wire.as_deref(), &req_body(i64::from(n), "tools/call")));
                }
                Op::Notify => {
                    exchanges.push(h.post(wire.as_deref(), &notif_body("notifications/x")));
                }
                Op::Get(l) => {
                    let l = l.and_then(|i| ids.get(usize::from(i) % ids.len().max(1)).cloned());
                    exchanges.push(h.get(wire.as_deref(), l.as_deref()));
                }
                Op::Delete => {
                    exchanges.push(h.delete(wire.as_deref()));
                }
                Op::Answer(i) => {
                    let rs = h.requests();
                    if !rs.is_empty() {
                        let rk = rs[usize::from(i) % rs.len()].0;
                        let _ = h.s.respond(h.t(), rk, Ok(RawJson::empty_object()));
                        h.drain();
                    }
                }
                Op::Advance(ms) => {
                    h.now += u64::from(ms) * 100;
                    h.s.handle_timeout(h.t());
                    h.drain();
                }
                Op::Drop(i) => {
                    if !exchanges.is_empty() {
                        let ex = exchanges[usize::from(i) % exchanges.len()];
                        h.s.handle_disconnect(h.t(), ex);
                        h.drain();
                    }
                }
            }
            for o in &h.out {
                if let Output::Event { frame, .. } = o
                    && let Some(id) = frame_id(std::str::from_utf8(frame).unwrap())
                {
                    ids.push(id);
                }
            }
            all.extend(h.out.iter().cloned());
        }
        let stores = all.iter().filter(|o| matches!(o, Output::Store { .. })).count();
        prop_assert_eq!(stores, 0, "STORE-1: a store command without a store");
        // Event ids keep their single-instance form.
        prop_assert!(ids.iter().all(|i| !i.contains('.')));
    }
}

/// STORE-3: the level a client set with `logging/setLevel` is in the record,
/// so an instance that restores the session knows it (an over-long level is
/// not recorded).
#[test]
fn store_3_the_log_level_travels_with_the_session() {
    let mut store = Store::default();
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let set = |level: &str| {
        serde_json::json!({"jsonrpc": "2.0", "id": level.len(), "method": "logging/setLevel",
            "params": {"level": level}})
        .to_string()
    };
    a.post(Some(&wire), &set(&"x".repeat(17)));
    a.pump(&mut store);
    let sk = a.delivered()[0].2.unwrap();
    assert_eq!(a.s.session_log_level(sk), None);
    a.post(Some(&wire), &set("debug"));
    a.pump(&mut store);
    assert_eq!(a.s.session_log_level(sk), Some("debug"));
    let mut b = Node::new(store_config(), 2);
    b.post(Some(&wire), &call_body(1));
    b.pump(&mut store);
    let restored = b.delivered()[0].2.unwrap();
    assert_eq!(b.s.session_log_level(restored), Some("debug"));
}

/// An id source that only ever yields zero bits.
struct Zeros;

impl streamable_core::IdSource for Zeros {
    fn session_id(&mut self) -> Result<u128, streamable_core::EntropyUnavailable> {
        Ok(0)
    }
}

/// STORE-9: the instance id is never 0 (0 means "no store" in event ids),
/// even from a source of zero bits.
#[test]
fn store_9_the_instance_id_is_never_zero() {
    let mut store = Store::new(true);
    let mut s = Server::new(store_config(), Zeros);
    let mut instances = Vec::new();
    let mut run = |s: &mut Server<Zeros>, req: http::Request<Bytes>| {
        let mut rk = None;
        let _ = s.handle_request(Timestamp(0), req);
        for _ in 0..20 {
            let mut done = Vec::new();
            while let Some(o) = s.poll_output() {
                match o {
                    Output::Store { token, command } => {
                        if let StoreCommand::AppendEvent { stream, .. } = &command {
                            instances.push(stream.instance);
                        }
                        done.push((token, store.exec(&command)));
                    }
                    Output::Deliver(Delivery::Request { request, .. }) => rk = Some(request),
                    _ => {}
                }
            }
            for (token, reply) in done {
                s.handle_store(Timestamp(0), token, Ok(reply));
            }
        }
        rk
    };
    let post = |session: Option<&str>, body: String| {
        let mut b = http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("host", "localhost");
        if let Some(w) = session {
            b = b.header("mcp-session-id", w);
        }
        b.body(Bytes::from(body)).unwrap()
    };
    let rk = run(&mut s, post(None, init_body("2025-11-25")));
    s.respond(
        Timestamp(0),
        rk.unwrap(),
        Ok(RawJson::from_value(
            &serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
        )),
    )
    .unwrap();
    let wire = "0".repeat(32);
    run(
        &mut s,
        post(Some(&wire), notif_body("notifications/initialized")),
    );
    // A request answered on an SSE stream: its events are appended.
    run(&mut s, post(Some(&wire), call_body(1)));
    assert!(!instances.is_empty(), "events were appended");
    assert!(instances.iter().all(|&i| i == 1), "{instances:?}");
}

/// STORE-4: a parked request whose client left is forgotten; the others
/// parked with it are served.
#[test]
fn store_4_a_parked_request_whose_client_left_is_forgotten() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let mut b = Node::new(store_config(), 2);
    let gone = b.post(Some(&wire), &call_body(1));
    let stays = b.post(Some(&wire), &call_body(2));
    assert_eq!(b.pending.len(), 1);
    b.s.handle_disconnect(b.t(), gone);
    b.drain();
    b.pump(&mut store);
    assert_eq!(b.delivered().len(), 1);
    let out = b.take();
    assert!(!has_head(&out, gone) && has_head(&out, stays), "{out:?}");
}

/// T-PSSE-12 with a store: a client that leaves a stream is detached from
/// it; the request goes on and nothing is written to the gone client.
#[test]
fn t_psse_12_with_a_store_a_disconnect_detaches_the_stream() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-06-18");
    let ex = a.post(Some(&wire), &call_body(1));
    a.pump(&mut store);
    let (rk, _, _) = a.delivered().last().cloned().unwrap();
    a.take();
    a.s.handle_disconnect(a.t(), ex);
    a.drain();
    a.respond(rk, serde_json::json!({"content": []}));
    a.pump(&mut store);
    let out = a.take();
    assert!(frames(&out, ex).is_empty(), "{out:?}");
}

/// STORE-5: a store that answers with another session's record restores
/// nothing (a reply that answers something else changes nothing).
#[test]
fn store_5_a_record_of_another_session_is_not_restored() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let w1 = a.init(&mut store, "2025-06-18");
    let w2 = a.init(&mut store, "2025-06-18");
    let mut b = Node::new(store_config(), 2);
    let ex = b.post(Some(&w1), &call_body(1));
    let other = store.sessions[w2.as_str()].0.clone();
    b.complete(Ok(StoreReply::Session(Some(other))));
    assert_eq!(reply(&b.take(), ex).0, 503);
    assert!(b.delivered().is_empty());
    assert_eq!(b.s.session_count(), 0);
}

/// STORE-7: a finished remote read frees its place (`max_reads` bounds the
/// reads open now, not the reads ever made), and an open one keeps its
/// session from idling out here.
#[test]
fn store_7_remote_reads_are_counted_while_open_only() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    let (rk, written) = countdown_then_leave(&mut a, &mut store, &wire);
    a.respond(rk, serde_json::json!({"content": []}));
    a.pump(&mut store);
    let mut config = store_config();
    config.store.as_mut().unwrap().max_reads = 1;
    config.idle_timeout = Duration::from_secs(10);
    let mut b = Node::new(config, 2);
    // Three reads one after the other, each to the end of the stream.
    let cursor = frame_id(&written[1]).unwrap();
    for _ in 0..3 {
        let ex = b.get(&wire, Some(&cursor));
        b.pump(&mut store);
        let out = b.take();
        assert!(has_head(&out, ex) && closed(&out, ex), "{out:?}");
    }
    // A read left open on a live stream: B keeps the session past its idle
    // timeout while the reader waits.
    let (_, written2) = countdown_then_leave(&mut a, &mut store, &wire);
    let cursor = frame_id(&written2[3]).unwrap();
    let ex = b.get(&wire, Some(&cursor));
    b.pump(&mut store);
    assert!(has_head(&b.take(), ex));
    assert_eq!(b.s.session_count(), 1);
    b.now += 11_000;
    b.s.handle_timeout(b.t());
    b.drain();
    assert_eq!(b.s.session_count(), 1, "evicted under an open read");
    assert!(!closed(&b.take(), ex));
}

/// STORE-7: what a remote read does with a failing store depends on
/// whether the client has its head yet: before, a refusal (503, or 400 for
/// a stream the store does not know); after, the connection ends and the
/// client resumes.
#[test]
fn store_7_a_failing_read_is_refused_before_the_head_and_closed_after() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    let (_, written) = countdown_then_leave(&mut a, &mut store, &wire);
    let cursor = frame_id(&written[1]).unwrap();
    let mut b = Node::new(store_config(), 2);
    b.post(Some(&wire), &call_body(1));
    b.pump(&mut store);
    b.take();
    // Before the head: the gate passes, the read fails.
    let ex = b.get(&wire, Some(&cursor));
    b.run_until_read(&mut store);
    b.complete(Err(StoreFailure::Unavailable("down".into())));
    assert_eq!(reply(&b.take(), ex).0, 503);
    // After the head: the tail fails, or the stream is gone.
    for failure in [
        Err(StoreFailure::Unavailable("down".into())),
        Ok(StoreReply::NoSuchStream),
    ] {
        let ex = b.get(&wire, Some(&cursor));
        // The gate, then the read, answered by the store.
        b.run_until_read(&mut store);
        let (token, read) = b.pending.pop_front().unwrap();
        let r = store.exec(&read);
        b.s.handle_store(b.t(), token, Ok(r));
        b.drain();
        let out = b.take();
        assert!(has_head(&out, ex) && !closed(&out, ex), "{out:?}");
        assert!(matches!(
            b.pending.front(),
            Some((_, StoreCommand::TailEvents { .. }))
        ));
        b.complete(failure.clone());
        let out = b.take();
        assert!(closed(&out, ex), "{failure:?}: {out:?}");
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Reply { exchange, .. } if *exchange == ex)),
            "{failure:?}: a refusal after the head"
        );
    }
}

/// STORE-7: a backend batch that repeats the cursor's own event is not a
/// gap: the events after it are served, exactly once.
#[test]
fn store_7_a_batch_that_repeats_the_cursor_event_is_not_a_gap() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let wire = a.init(&mut store, "2025-11-25");
    let (_, written) = countdown_then_leave(&mut a, &mut store, &wire);
    let cursor = frame_id(&written[1]).unwrap();
    let mut b = Node::new(store_config(), 2);
    let ex = b.get(&wire, Some(&cursor));
    // Run the gate, then answer the read with one event more than asked.
    b.run_until_read(&mut store);
    let (token, command) = b.pending.pop_front().unwrap();
    let StoreCommand::ReadEvents {
        session,
        stream,
        after,
        max,
    } = command.clone()
    else {
        unreachable!()
    };
    let StoreReply::Events(mut batch) = store.exec(&StoreCommand::ReadEvents {
        session,
        stream,
        after: after - 1,
        max,
    }) else {
        panic!("a batch")
    };
    assert_eq!(batch.events[0].seq, after);
    batch.evicted = false;
    b.s.handle_store(b.t(), token, Ok(StoreReply::Events(batch)));
    b.drain();
    let out = b.take();
    assert!(has_head(&out, ex), "{out:?}");
    assert_eq!(frames(&out, ex), written[2..].to_vec());
}

/// STORE-8: ending a session ends the remote reads of that session only.
#[test]
fn store_8_ending_a_session_ends_its_own_remote_reads_only() {
    let mut store = Store::new(true);
    let mut a = Node::new(store_config(), 1);
    let mut cursors = Vec::new();
    let mut wires = Vec::new();
    for _ in 0..2 {
        let w = a.init(&mut store, "2025-11-25");
        let (_, ex, written) = countdown_on_a(&mut a, &mut store, &w);
        a.s.handle_disconnect(a.t(), ex);
        a.drain();
        a.take();
        cursors.push(frame_id(&written[3]).unwrap());
        wires.push(w);
    }
    let mut b = Node::new(store_config(), 2);
    let r1 = b.get(&wires[0], Some(&cursors[0]));
    let r2 = b.get(&wires[1], Some(&cursors[1]));
    b.pump(&mut store);
    let out = b.take();
    assert!(has_head(&out, r1) && has_head(&out, r2), "{out:?}");
    let d = b.delete(&wires[0]);
    b.pump(&mut store);
    let out = b.take();
    assert_eq!(reply(&out, d).0, 204);
    assert!(closed(&out, r1));
    assert!(!closed(&out, r2), "{out:?}");
}

/// STORE-3: a session that ended while its record was being written (its
/// initialize timed out) is not initialized when the write completes.
#[test]
fn store_3_a_session_gone_before_its_record_is_stored_is_not_served() {
    let mut config = store_config();
    config.init_timeout = Duration::from_millis(500);
    config.store.as_mut().unwrap().deadline = Duration::from_secs(10);
    let mut a = Node::new(config, 1);
    let ex = a.post(None, &init_body("2025-11-25"));
    assert_eq!(a.pending.len(), 1, "the record's put");
    a.now = 600;
    a.s.handle_timeout(a.t());
    a.drain();
    assert_eq!(a.s.session_count(), 0);
    a.complete(Ok(StoreReply::Done));
    assert!(a.delivered().is_empty());
    assert_eq!(reply(&a.take(), ex).0, 503);
}
