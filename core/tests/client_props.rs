//! Property tests of the core client: SSE byte splits do not matter, and a
//! resumable stream broken at random points with random `retry` values is
//! resumed with the right cursor, never early, and delivers everything once.

mod client_support;

use client_support::*;
use proptest::prelude::*;
use serde_json::json;
use streamable_core::client::{Event, Failure};

const V: &str = "2025-11-25";

/// One event of a POST stream as the server emits it.
#[derive(Clone, Debug)]
enum Ev {
    Priming(Option<u64>),
    Progress(u64),
    Ping,
    Comment,
    Response,
}

fn ev_strategy() -> impl Strategy<Value = Ev> {
    prop_oneof![
        proptest::option::of(1u64..5000).prop_map(Ev::Priming),
        (0u64..1000).prop_map(Ev::Progress),
        Just(Ev::Ping),
        Just(Ev::Comment),
    ]
}

fn render(ev: &Ev, seq: usize, wire: &serde_json::Value, crlf: bool) -> String {
    let s = match ev {
        Ev::Priming(retry) => match retry {
            Some(r) => format!("id: s-{seq}\nretry: {r}\ndata: \n\n"),
            None => format!("id: s-{seq}\ndata:\n\n"),
        },
        Ev::Progress(p) => sse_event(
            Some(&format!("s-{seq}")),
            &json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":p}})
                .to_string(),
        ),
        Ev::Ping => sse_event(
            Some(&format!("s-{seq}")),
            r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#,
        ),
        Ev::Comment => ": keep-alive\n\n".to_owned(),
        Ev::Response => sse_event(
            Some(&format!("s-{seq}")),
            &result_body(
                wire,
                json!({"content": [{"type": "text", "text": "multi\nline"}]}),
            ),
        ),
    };
    if crlf { s.replace('\n', "\r\n") } else { s }
}

/// Feed a whole stream to a fresh, ready client in the given chunks and
/// return what it delivered, what it sent back, and its cursor.
fn run_stream(
    events: &[Ev],
    splits: &[usize],
    crlf: bool,
) -> (Vec<Event>, Vec<String>, Option<String>) {
    let mut c = C::new(config());
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    let mut bytes = String::new();
    for (i, ev) in events.iter().enumerate() {
        bytes.push_str(&render(ev, i, &post.rpc_id(), crlf));
    }
    let bytes = bytes.into_bytes();
    c.sse_head(post.id, None);
    let mut cuts: Vec<usize> = splits.iter().map(|s| s % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    let mut cursor = None;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        c.c.handle_body(c.t(), post.id, &bytes[at..cut]);
        c.check();
        at = cut;
        if let Some(cur) = c.c.cursor_of(r) {
            cursor = Some(cur.to_owned());
        }
    }
    let replies = c.sent().iter().map(|s| s.json().to_string()).collect();
    (c.events(), replies, cursor)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// X-6, X-7, INV-S2: whatever the split of the bytes (LF or CRLF), the
    /// same messages are delivered, priming events deliver nothing, pings are
    /// answered, and the response arrives once.
    #[test]
    fn sse_any_split_same_deliveries(
        mut events in proptest::collection::vec(ev_strategy(), 0..12),
        splits in proptest::collection::vec(0usize..4096, 0..24),
        crlf in any::<bool>(),
    ) {
        events.push(Ev::Response);
        let (whole, whole_replies, whole_cursor) = run_stream(&events, &[], crlf);
        let (split, split_replies, split_cursor) = run_stream(&events, &splits, crlf);
        prop_assert_eq!(&whole, &split);
        prop_assert_eq!(&whole_replies, &split_replies);
        // The cursor seen after the last chunk (the stream is gone once answered).
        if splits.is_empty() { prop_assert!(whole_cursor.is_none()); }
        let _ = split_cursor;
        let progress = events.iter().filter(|e| matches!(e, Ev::Progress(_))).count();
        let pings = events.iter().filter(|e| matches!(e, Ev::Ping)).count();
        prop_assert_eq!(whole.iter().filter(|e| matches!(e, Event::Notification { .. })).count(), progress);
        prop_assert_eq!(whole.iter().filter(|e| matches!(e, Event::Response { .. })).count(), 1);
        prop_assert_eq!(whole_replies.len(), pings);
        if let Some(Event::Response { outcome: Ok(result), .. }) = whole.last() {
            let value = result.to_value();
            prop_assert_eq!(value["content"][0]["text"].as_str(), Some("multi\nline"));
        } else {
            prop_assert!(false, "the response comes last: {:?}", whole);
        }
    }

    /// INV-S7, INV-S21, X-28, INV-L2, INV-L4, INV-S2: a stream of `n`
    /// progress events then the response, broken after a random number of
    /// events (sometimes mid-event, sometimes before the head), each
    /// connection optionally carrying `retry`. The client reconnects with the
    /// id of the last complete event, never earlier than the last `retry`
    /// (or the back-off), and delivers every message once, in order.
    #[test]
    fn resume_schedule_with_simulated_time(
        n in 1usize..12,
        plan in proptest::collection::vec((0usize..4, proptest::option::of(1u64..3000), any::<bool>(), any::<bool>(), 0u64..200), 1..40),
        duplicate_response in any::<bool>(),
    ) {
        let mut cfg = config();
        cfg.request_timeout = None;
        // No hard maximum either: back-offs may add up past 5 minutes.
        cfg.max_request_time = None;
        cfg.max_reconnect_attempts = 4;
        let mut c = C::new(cfg);
        c.handshake("s", V);
        let r = c.c.request(c.t(), "tools/call", None).unwrap();
        let post = c.sent_all().remove(0);
        let wire = post.rpc_id();
        // The server's log for this stream: a priming event, n progress, the response.
        let mut log: Vec<String> = vec!["id: s-0\ndata: \n\n".to_owned()];
        for i in 1..=n {
            log.push(render(&Ev::Progress(i as u64), i, &wire, false));
        }
        log.push(render(&Ev::Response, n + 1, &wire, false));
        let mut conn = post.id;
        let mut next; // the first log index this connection sends
        let mut retry: Option<u64> = None;
        let mut no_progress = 0u32;
        let mut gave_up = false;
        c.sse_head(conn, None);
        // The priming event makes the stream resumable from the start (T-PSSE-1).
        c.body(conn, &log[0]);
        next = 1;
        for (step, (k, new_retry, partial, before_head, lag)) in plan.iter().cloned().enumerate() {
            let _ = step;
            // Send up to k events of the log.
            let end = (next + k).min(log.len());
            let mut chunk = String::new();
            if let Some(rt) = new_retry {
                chunk.push_str(&format!("retry: {rt}\n\n"));
                retry = Some(rt);
            }
            for e in &log[next..end] {
                chunk.push_str(e);
            }
            if duplicate_response && end == log.len() {
                chunk.push_str(&log[log.len() - 1]);
            }
            if partial && end < log.len() {
                // Half of the next event: must not move the cursor.
                let half = &log[end][..log[end].len() / 2];
                chunk.push_str(half);
            }
            c.c.handle_body(c.t(), conn, chunk.as_bytes());
            c.check();
            // Drops since the last complete event: the client's budget
            // starts again with every event that carries an id.
            let progressed = end > next;
            next = end;
            if next == log.len() {
                break;
            }
            // Drop the connection.
            c.c.handle_error(c.t(), conn);
            c.check();
            no_progress = if progressed { 1 } else { no_progress + 1 };
            if no_progress > 4 {
                gave_up = true;
                break;
            }
            let dropped_at = c.now;
            let Some(at) = c.c.poll_timeout() else {
                prop_assert!(false, "no reconnection scheduled");
                unreachable!();
            };
            let wait = at.0 - dropped_at;
            match retry {
                Some(rt) => prop_assert_eq!(wait, rt.max(streamable_core::client::MIN_RETRY_MS), "retry honoured exactly, above the floor (INV-S21, HC-RECON-1)"),
                None => prop_assert!((500..=30_000).contains(&wait), "back-off {}", wait),
            }
            // Nothing before the deadline.
            c.advance(at.0 - 1);
            prop_assert!(c.sent().is_empty());
            c.advance(at.0 + lag);
            let get = c.sent().remove(0);
            prop_assert_eq!(get.method(), "GET");
            // INV-S7: the cursor is the last complete event's id on this stream.
            let expected = format!("s-{}", next - 1);
            prop_assert_eq!(get.header("last-event-id"), Some(expected.as_str()));
            conn = get.id;
            if before_head {
                // The resumption itself fails before any byte: try again later.
                c.c.handle_error(c.t(), conn);
                c.check();
                no_progress += 1;
                if no_progress > 4 {
                    gave_up = true;
                    break;
                }
                let at = c.c.poll_timeout().unwrap();
                c.advance(at.0);
                let get = c.sent().remove(0);
                prop_assert_eq!(get.header("last-event-id"), Some(expected.as_str()));
                conn = get.id;
            }
            c.sse_head(conn, None);
        }
        let ev = c.events();
        let responses = ev.iter().filter(|e| matches!(e, Event::Response { .. })).count();
        let progress: Vec<u64> = ev.iter().filter_map(|e| match e {
            Event::Notification { params: Some(p), .. } => p.to_value()["progress"].as_u64(),
            _ => None,
        }).collect();
        // Delivered in order, each once.
        let expected: Vec<u64> = (1..=progress.len() as u64).collect();
        prop_assert_eq!(&progress, &expected);
        if next == log.len() {
            prop_assert_eq!(responses, 1);
            prop_assert_eq!(progress.len(), n);
            // INV-L2: nothing more is scheduled for a finished stream.
            prop_assert_eq!(c.c.poll_timeout(), None);
        } else if gave_up {
            prop_assert_eq!(responses, 0);
            prop_assert!(ev.contains(&Event::Failed { request: r, failure: Failure::StreamLost }), "{:?}", ev);
        } else {
            prop_assert_eq!(responses, 0);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// L-TO-1, L-TO-3: progress at random times (for the request's token or
    /// another one). The request fails exactly when the model says: the
    /// first moment with no own progress for `timeout`, or `max` after the
    /// request, whichever comes first; `poll_timeout` never lies beyond the
    /// hard maximum.
    #[test]
    fn progress_timeout_matches_the_model(
        timeout in 100u64..2000,
        max in proptest::option::of(100u64..8000),
        notes in proptest::collection::vec((1u64..2500, any::<bool>()), 0..20),
    ) {
        let mut cfg = config();
        cfg.request_timeout = Some(std::time::Duration::from_millis(timeout));
        cfg.max_request_time = max.map(std::time::Duration::from_millis);
        let mut c = C::new(cfg);
        c.handshake("s", V);
        let r = c.c.request(
            c.t(),
            "tools/call",
            Some(raw(json!({"name": "t", "_meta": {"progressToken": "mine"}}))),
        ).unwrap();
        let post = c.sent_all().remove(0);
        c.sse_head(post.id, Some("s"));
        c.events();
        // The model.
        let hard = max.unwrap_or(u64::MAX);
        let mut expected = timeout.min(hard);
        let mut t = 0;
        let mut failed_at = None;
        for (gap, own) in &notes {
            t += gap;
            if t >= expected { break; }
            if *own { expected = expected.max((t + timeout).min(hard)); }
        }
        // The machine, woken as a driver would: at poll_timeout or the next note.
        let mut t = 0;
        let mut notes = notes.iter();
        let mut next = notes.next().map(|(g, own)| (t + g, *own));
        for _ in 0..100 {
            let wake = c.c.poll_timeout().map(|w| w.0);
            if let Some(w) = wake { prop_assert!(w <= hard, "{} past {}", w, hard); }
            match (wake, next) {
                (Some(w), Some((at, _))) if w <= at => c.advance(w),
                (Some(w), None) => c.advance(w),
                (_, Some((at, own))) => {
                    c.advance(at);
                    t = at;
                    let token = if own { "mine" } else { "theirs" };
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                        "params": {"progressToken": token, "progress": t}});
                    c.body(post.id, &sse_event(None, &note.to_string()));
                    next = notes.next().map(|(g, own)| (t + g, *own));
                }
                (None, None) => break,
            }
            if c.events().iter().any(|e| *e == Event::Failed { request: r, failure: Failure::Timeout }) {
                failed_at = Some(c.now);
                break;
            }
        }
        prop_assert_eq!(failed_at, Some(expected));
    }
}
