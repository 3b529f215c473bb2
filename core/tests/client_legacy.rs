//! The core client in the legacy (session) era, one test per requirement.
//! Names start with the requirement or invariant they check.

mod client_support;

use client_support::*;
use serde_json::{Value, json};
use streamable_core::client::{Event, Failure};

const V: &str = "2025-11-25";

fn ready() -> C {
    let mut c = C::new(config());
    c.handshake("sess-1", V);
    c
}

#[test]
fn t_post_2_inv_s11_initialize_first_then_initialized_once() {
    let mut c = C::new(config());
    // A request made while connecting waits for the session (INV-S11).
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    let init = &sent[0];
    assert_eq!(init.method(), "POST");
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    assert_eq!(
        init.header("accept"),
        Some("application/json, text/event-stream")
    );
    assert_eq!(init.header("content-type"), Some("application/json"));
    assert_eq!(init.header("mcp-session-id"), None);
    assert_eq!(init.header("mcp-protocol-version"), None);
    assert_eq!(init.json()["params"]["protocolVersion"], V);
    let body = result_body(&init.rpc_id(), json!({"protocolVersion": "2025-06-18"}));
    c.json(init.id, 200, Some("abc"), &body);
    let sent = c.sent();
    let methods: Vec<_> = sent.iter().map(|s| s.rpc_method()).collect();
    assert_eq!(
        methods,
        vec![
            Some("notifications/initialized".into()),
            Some("tools/list".into())
        ]
    );
    // INV-S16, INV-S9: every later request carries the session and version.
    for s in &sent {
        assert_eq!(s.header("mcp-session-id"), Some("abc"));
        assert_eq!(s.header("mcp-protocol-version"), Some("2025-06-18"));
    }
    let ev = c.events();
    assert!(matches!(&ev[0], Event::Ready { version, .. } if version.as_str() == "2025-06-18"));
    c.accepted(sent[0].id);
    c.json(
        sent[1].id,
        200,
        None,
        &result_body(&sent[1].rpc_id(), json!({"tools": []})),
    );
    let ev = c.events();
    assert!(matches!(&ev[..], [Event::Response { request, outcome: Ok(_) }] if *request == r));
}

#[test]
fn x_21_session_id_never_taken_from_an_error_response() {
    // An HTTP error with a session header.
    let mut c = C::new(config());
    let init = c.sent().remove(0);
    c.json(
        init.id,
        400,
        Some("evil"),
        r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"no"}}"#,
    );
    assert_eq!(c.c.session_id(), None);
    assert!(c.c.is_closed());
    let ev = c.events();
    assert!(matches!(
        ev.last(),
        Some(Event::Closed {
            failure: Some(Failure::Http { status: 400, .. })
        })
    ));
    // A 200 carrying a JSON-RPC error and a session header.
    let mut c = C::new(config());
    let init = c.sent().remove(0);
    let body =
        json!({"jsonrpc":"2.0","id":init.rpc_id(),"error":{"code":-32602,"message":"bad version"}});
    c.json(init.id, 200, Some("evil"), &body.to_string());
    assert_eq!(c.c.session_id(), None);
    assert!(c.c.is_closed());
}

#[test]
fn l_ver_unsupported_version_in_initialize_result_closes() {
    let mut c = C::new(config());
    let init = c.sent().remove(0);
    c.json(
        init.id,
        200,
        Some("s"),
        &result_body(&init.rpc_id(), json!({"protocolVersion": "2024-11-05"})),
    );
    assert!(c.c.is_closed());
    assert!(matches!(
        c.events().last(),
        Some(Event::Closed {
            failure: Some(Failure::Unsupported(_))
        })
    ));
}

#[test]
fn t_ses_8_inv_s9_404_clears_the_session_and_reinitializes() {
    let mut c = ready();
    let r =
        c.c.request(c.t(), "tools/call", Some(raw(json!({"name": "x"}))))
            .unwrap();
    let post = c.sent_all().remove(0);
    assert_eq!(post.header("mcp-session-id"), Some("sess-1"));
    c.json(post.id, 404, None, "");
    let ev = c.events();
    // The request may have run before the session ended (X-27): it fails
    // once and is not sent again behind the application's back.
    assert_eq!(
        ev,
        vec![
            Event::Failed {
                request: r,
                failure: Failure::SessionExpired
            },
            Event::SessionExpired
        ]
    );
    assert_eq!(c.c.session_id(), None);
    // A request made now waits for the new session (INV-S11).
    let r2 = c.c.request(c.t(), "tools/list", None).unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 1, "only the new initialize: {sent:?}");
    assert_eq!(sent[0].rpc_method().as_deref(), Some("initialize"));
    assert_eq!(sent[0].header("mcp-session-id"), None);
    c.pushback_sent(sent);
    c.handshake("sess-2", V);
    let resent = c.sent_all();
    assert_eq!(resent.len(), 1);
    assert_eq!(resent[0].rpc_method().as_deref(), Some("tools/list"));
    assert_eq!(resent[0].header("mcp-session-id"), Some("sess-2"));
    c.json(
        resent[0].id,
        200,
        None,
        &result_body(&resent[0].rpc_id(), json!({"tools": []})),
    );
    let ev = c.events();
    assert!(matches!(&ev[..], [Event::Response { request, .. }] if *request == r2));
}

#[test]
fn x_27_requests_in_flight_when_the_session_expires_fail_once() {
    let mut c = ready();
    let a = c.c.request(c.t(), "tools/call", None).unwrap();
    let b = c.c.request(c.t(), "tools/call", None).unwrap();
    let sent = c.sent_all();
    // a is running on an SSE stream; b's POST gets the 404.
    c.sse_head(sent[0].id, None);
    c.json(sent[1].id, 404, None, "");
    let ev = c.events();
    assert!(
        ev.contains(&Event::Failed {
            request: a,
            failure: Failure::SessionExpired
        }),
        "{ev:?}"
    );
    assert!(
        ev.contains(&Event::Failed {
            request: b,
            failure: Failure::SessionExpired
        }),
        "{ev:?}"
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Failed { .. }))
            .count(),
        2
    );
    // A late 404 of the same old session does not start a second initialize.
    let a_post = sent[0].id;
    let (sent, aborted) = c.sent_and_aborted();
    assert!(aborted.contains(&a_post), "a's stream is dropped");
    assert_eq!(
        sent.iter()
            .filter(|s| s.rpc_method().as_deref() == Some("initialize"))
            .count(),
        1
    );
    // A late 404 of the same old session does not start a second initialize.
    c.json(a_post, 404, None, "");
    assert!(c.sent().is_empty());
}

#[test]
fn inv_l3_repeated_session_loss_gives_up() {
    let mut c = ready();
    for round in 0..10 {
        if c.c.is_closed() {
            assert!(round > 3);
            return;
        }
        c.c.request(c.t(), "tools/list", None).ok();
        let sent = c.sent_all();
        let post = sent
            .iter()
            .find(|s| s.rpc_method().as_deref() == Some("tools/list"))
            .unwrap();
        let pid = post.id;
        c.json(pid, 404, None, "");
        c.events();
        if c.c.is_closed() {
            continue;
        }
        let init = c.sent();
        c.pushback_sent(init);
        c.handshake(&format!("s{round}"), V);
    }
    panic!("never gave up");
}

#[test]
fn x_6_priming_event_is_not_parsed_but_its_id_is_the_cursor() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, "id: p-0\nretry: 250\ndata: \n\n");
    assert!(c.events().is_empty(), "a priming event delivers nothing");
    assert_eq!(c.c.cursor_of(r), Some("p-0"));
    c.end(post.id);
    // INV-S21: not before `retry`.
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(250));
    c.advance(249);
    assert!(c.sent().is_empty());
    c.advance(250);
    let get = c.sent().remove(0);
    assert_eq!(get.method(), "GET");
    assert_eq!(get.header("last-event-id"), Some("p-0"));
    assert_eq!(get.header("accept"), Some("text/event-stream"));
    assert_eq!(get.header("mcp-session-id"), Some("sess-1"));
    assert_eq!(get.header("mcp-protocol-version"), Some(V));
    c.sse_head(get.id, None);
    c.body(
        get.id,
        &sse_event(
            Some("p-1"),
            &result_body(&post.rpc_id(), json!({"done": 1})),
        ),
    );
    let ev = c.events();
    assert!(matches!(&ev[..], [Event::Response { request, .. }] if *request == r));
    // INV-L2: the stream owes nothing: its connection is dropped, no reconnect.
    c.end(get.id);
    assert_eq!(c.c.poll_timeout(), None);
    c.advance(100_000);
    assert!(c.sent().is_empty());
}

#[test]
fn x_23_inv_s7_one_cursor_per_stream() {
    let mut c = ready();
    let a = c.c.request(c.t(), "tools/call", None).unwrap();
    let b = c.c.request(c.t(), "tools/call", None).unwrap();
    let sent = c.sent_all();
    let (pa, pb) = (&sent[0], &sent[1]);
    c.sse_head(pa.id, None);
    c.sse_head(pb.id, None);
    c.body(pa.id, "id: a-1\ndata: \n\n");
    c.body(pb.id, "id: b-1\ndata: \n\n");
    c.body(
        pa.id,
        &sse_event(
            Some("a-2"),
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#,
        ),
    );
    assert_eq!(c.c.cursor_of(a), Some("a-2"));
    assert_eq!(c.c.cursor_of(b), Some("b-1"));
    // A partial block is discarded at the drop: the cursor stays at the last
    // complete event.
    c.body(pb.id, "id: b-9\ndata: {\"jsonrpc\"");
    c.error(pa.id);
    c.error(pb.id);
    c.advance(10_000);
    let gets = c.sent();
    let cursors: Vec<_> = gets
        .iter()
        .map(|g| g.header("last-event-id").unwrap().to_owned())
        .collect();
    assert_eq!(cursors, vec!["a-2".to_owned(), "b-1".to_owned()]);
    let ev = c.events();
    assert!(
        matches!(&ev[..], [Event::Notification { related: Some(r), .. }] if *r == a),
        "{ev:?}"
    );
}

#[test]
fn x_28_inv_l2_backoff_without_retry_then_give_up() {
    let mut cfg = config();
    cfg.max_reconnect_attempts = 3;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, "id: e1\ndata: \n\n");
    c.end(post.id);
    let mut times = Vec::new();
    for _ in 0..3 {
        let at = c.c.poll_timeout().unwrap().0;
        times.push(at - c.now);
        c.advance(at);
        let get = c.sent().remove(0);
        assert_eq!(get.header("last-event-id"), Some("e1"));
        // Accepted, then closed at once without an event: no progress.
        c.sse_head(get.id, None);
        c.end(get.id);
    }
    assert_eq!(times, vec![500, 1000, 2000]);
    let ev = c.events();
    assert_eq!(
        ev,
        vec![Event::Failed {
            request: r,
            failure: Failure::StreamLost
        }]
    );
    assert_eq!(c.c.poll_timeout(), None);
    c.advance(1_000_000);
    assert!(c.sent().is_empty());
}

#[test]
fn t_psse_5_inv_l4_polling_server_keeps_progressing() {
    // A server that closes the stream after every event (2025-11-25 polling)
    // never exhausts the reconnection budget while events keep coming.
    let mut cfg = config();
    cfg.max_reconnect_attempts = 2;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, "id: 0\nretry: 100\ndata: \n\n");
    c.end(post.id);
    for i in 1..=10 {
        let at = c.c.poll_timeout().unwrap().0;
        assert_eq!(at - c.now, 100, "retry persists (X-28)");
        c.advance(at);
        let get = c.sent().remove(0);
        assert_eq!(
            get.header("last-event-id"),
            Some((i - 1).to_string().as_str())
        );
        c.sse_head(get.id, None);
        let progress =
            json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progress": i}});
        c.body(
            get.id,
            &sse_event(Some(&i.to_string()), &progress.to_string()),
        );
        c.end(get.id);
    }
    let ev = c.events();
    assert_eq!(ev.len(), 10);
    assert!(!ev.iter().any(|e| matches!(e, Event::Failed { .. })));
    assert!(c.c.cursor_of(r).is_some());
}

#[test]
fn inv_s2_duplicate_responses_after_replay_are_delivered_once() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    let response = result_body(&post.rpc_id(), json!({"n": 1}));
    c.sse_head(post.id, None);
    c.body(post.id, "id: 1\ndata: \n\n");
    c.body(post.id, &sse_event(Some("2"), &response));
    // The same response again (a replay, or a buggy server) and a response
    // for an id the client never sent.
    c.body(post.id, &sse_event(Some("3"), &response));
    c.body(
        post.id,
        &sse_event(Some("4"), &result_body(&json!(999), json!({}))),
    );
    let ev = c.events();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Response { .. }))
            .count(),
        1
    );
    assert!(matches!(&ev[0], Event::Response { request, .. } if *request == r));
}

#[test]
fn inv_s25_x_12_server_request_answered_on_a_new_post_while_the_stream_is_open() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    let sampling = json!({"jsonrpc":"2.0","id":"srv-1","method":"sampling/createMessage","params":{"messages":[]}});
    c.body(post.id, &sse_event(Some("1"), &sampling.to_string()));
    let ev = c.events();
    let Some(Event::Request {
        key,
        method,
        related,
        ..
    }) = ev.into_iter().next()
    else {
        panic!()
    };
    assert_eq!(method, "sampling/createMessage");
    assert_eq!(related, Some(r));
    c.c.respond(c.t(), key, Ok(raw(json!({"role": "assistant"}))))
        .unwrap();
    let (sent, aborted) = c.sent_and_aborted();
    assert!(aborted.is_empty(), "the waiting stream stays open");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method(), "POST");
    assert_eq!(sent[0].json()["id"], "srv-1");
    assert_eq!(sent[0].json()["result"]["role"], "assistant");
    assert_eq!(sent[0].header("mcp-session-id"), Some("sess-1"));
    c.accepted(sent[0].id);
    // A key answers once.
    assert!(c.c.respond(c.t(), key, Ok(raw(json!({})))).is_err());
    c.body(
        post.id,
        &sse_event(Some("2"), &result_body(&post.rpc_id(), json!({"ok": 1}))),
    );
    assert!(matches!(&c.events()[..], [Event::Response { request, .. }] if *request == r));
}

#[test]
fn inv_l6_ping_is_answered_by_the_client() {
    let mut c = ready();
    c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(
        post.id,
        &sse_event(None, r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#),
    );
    assert!(c.events().is_empty());
    let reply = c.sent().remove(0);
    assert_eq!(reply.json(), json!({"jsonrpc":"2.0","id":7,"result":{}}));
}

#[test]
fn t_psse_13_inv_s14_cancel_sends_a_notification_and_suppresses_the_response() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.c.cancel(c.t(), r, Some("user")).unwrap();
    let (sent, aborted) = c.sent_and_aborted();
    assert_eq!(aborted, vec![post.id]);
    assert_eq!(
        sent[0].rpc_method().as_deref(),
        Some("notifications/cancelled")
    );
    assert_eq!(
        sent[0].json()["params"],
        json!({"requestId": post.rpc_id(), "reason": "user"})
    );
    // The response, if it still arrives, is not delivered.
    c.body(
        post.id,
        &sse_event(None, &result_body(&post.rpc_id(), json!({}))),
    );
    assert!(c.events().is_empty());
    assert!(c.c.cancel(c.t(), r, None).is_err());
}

#[test]
fn request_timeout_fails_and_cancels() {
    let mut cfg = config();
    cfg.request_timeout = Some(std::time::Duration::from_millis(1000));
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(1000));
    c.advance(999);
    assert!(c.events().is_empty());
    c.advance(1000);
    assert_eq!(
        c.events(),
        vec![Event::Failed {
            request: r,
            failure: Failure::Timeout
        }]
    );
    let (sent, aborted) = c.sent_and_aborted();
    assert_eq!(aborted, vec![post.id]);
    assert_eq!(
        sent[0].rpc_method().as_deref(),
        Some("notifications/cancelled")
    );
}

#[test]
fn t_ses_9_inv_s22_delete_on_close_and_every_answer_completes() {
    for status in [200u16, 204, 404, 405, 500] {
        let mut c = ready();
        let r = c.c.request(c.t(), "tools/list", None).unwrap();
        c.sent_all();
        c.c.close(c.t());
        let sent = c.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].method(), "DELETE");
        assert_eq!(sent[0].header("mcp-session-id"), Some("sess-1"));
        assert!(!c.c.is_closed());
        c.head(sent[0].id, status, &[]);
        assert!(c.c.is_closed(), "{status}");
        let ev = c.events();
        assert!(ev.contains(&Event::Failed {
            request: r,
            failure: Failure::Closed
        }));
        assert!(matches!(ev.last(), Some(Event::Closed { failure: None })));
        assert!(c.c.request(c.t(), "x", None).is_err());
    }
}

#[test]
fn t_get_1_t_get_3_standalone_stream_and_405() {
    let mut cfg = config();
    cfg.standalone_stream = true;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let get = c
        .sent_all()
        .into_iter()
        .find(|s| s.method() == "GET")
        .expect("standalone GET");
    assert_eq!(get.header("last-event-id"), None);
    assert!(c.events().is_empty(), "HC-GET-1: Ready waits for the GET");
    c.head(get.id, 405, &[]);
    assert!(
        matches!(&c.events()[..], [Event::Ready { .. }]),
        "405 releases Ready"
    );
    c.advance(1_000_000);
    assert!(c.sent().is_empty(), "405: no retry");
    // And a stream that works: notifications arrive unrelated; a drop reconnects with its cursor.
    let mut cfg = config();
    cfg.standalone_stream = true;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let get = c
        .sent_all()
        .into_iter()
        .find(|s| s.method() == "GET")
        .unwrap();
    c.sse_head(get.id, None);
    c.body(
        get.id,
        &sse_event(
            Some("g-1"),
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
        ),
    );
    assert!(matches!(
        &c.events()[..],
        [
            Event::Ready { .. },
            Event::Notification { related: None, .. }
        ]
    ));
    c.end(get.id);
    c.advance(500);
    let again = c.sent().remove(0);
    assert_eq!(again.header("last-event-id"), Some("g-1"));
}

/// HC-GET-1: a server that never answers the standalone GET delays Ready by
/// at most `READY_HOLD_MS`; a GET that fails before its head releases it at
/// once.
#[test]
fn hc_get_1_ready_waits_for_the_standalone_head_within_a_bound() {
    use streamable_core::client::READY_HOLD_MS;
    let mut cfg = config();
    cfg.standalone_stream = true;
    let mut c = C::new(cfg.clone());
    c.handshake("s", V);
    let get = c
        .sent_all()
        .into_iter()
        .find(|s| s.method() == "GET")
        .unwrap();
    c.advance(READY_HOLD_MS - 1);
    assert!(c.events().is_empty(), "held until the bound");
    c.advance(READY_HOLD_MS);
    assert!(matches!(&c.events()[..], [Event::Ready { .. }]));
    // The head arriving later does not report Ready twice.
    c.sse_head(get.id, None);
    assert!(c.events().is_empty());

    let mut c = C::new(cfg);
    c.handshake("s", V);
    let get = c
        .sent_all()
        .into_iter()
        .find(|s| s.method() == "GET")
        .unwrap();
    c.error(get.id);
    assert!(matches!(&c.events()[..], [Event::Ready { .. }]));
}

#[test]
fn inv_s12_202_to_a_request_fails_it() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent_all().remove(0);
    c.accepted(post.id);
    assert!(
        matches!(&c.events()[..], [Event::Failed { request, failure: Failure::Malformed(_) }] if *request == r)
    );
}

#[test]
fn json_body_limit_fails_the_request() {
    let mut cfg = config();
    cfg.max_body_bytes = 1024;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent_all().remove(0);
    c.head(post.id, 200, &[("content-type", "application/json")]);
    c.body(post.id, &"x".repeat(1000));
    c.body(post.id, &"x".repeat(25));
    let ev = c.events();
    assert!(
        matches!(&ev[..], [Event::Failed { request, failure: Failure::Malformed(_) }] if *request == r),
        "{ev:?}"
    );
    assert!(c.sent_and_aborted().1.contains(&post.id));
}

#[test]
fn http_error_body_is_reported() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent_all().remove(0);
    c.json(
        post.id,
        400,
        None,
        r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"nope"}}"#,
    );
    let ev = c.events();
    let [
        Event::Failed {
            request,
            failure:
                Failure::Http {
                    status: 400,
                    error: Some(e),
                },
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*request, r);
    assert_eq!(e.code, -32600);
}

#[test]
fn unresumable_stream_loss_fails_the_request() {
    let mut c = ready();
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(
        post.id,
        &sse_event(
            None,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#,
        ),
    );
    c.error(post.id);
    let ev = c.events();
    assert!(
        ev.contains(&Event::Failed {
            request: r,
            failure: Failure::StreamLost
        }),
        "{ev:?}"
    );
    assert_eq!(c.c.poll_timeout().map(|t| t.0), None);
}

#[test]
fn a_2_configured_headers_on_every_request() {
    let mut cfg = config();
    cfg.headers
        .push((http::header::AUTHORIZATION, "Bearer t".parse().unwrap()));
    let mut c = C::new(cfg);
    let init = c.sent().remove(0);
    assert_eq!(init.header("authorization"), Some("Bearer t"));
    let _: Value = init.json();
}

fn progress_event(token: Value, progress: u64) -> String {
    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
        "params": {"progressToken": token, "progress": progress}});
    sse_event(None, &note.to_string())
}

fn timed(timeout_ms: u64, max_ms: Option<u64>) -> C {
    let mut cfg = config();
    cfg.request_timeout = Some(std::time::Duration::from_millis(timeout_ms));
    cfg.max_request_time = max_ms.map(std::time::Duration::from_millis);
    let mut c = C::new(cfg);
    c.handshake("s", V);
    c
}

#[test]
fn l_to_3_progress_every_0_8_timeouts_survives_until_the_hard_maximum() {
    let mut c = timed(1000, Some(5000));
    let r =
        c.c.request(
            c.t(),
            "tools/call",
            Some(raw(
                json!({"name": "slow", "_meta": {"progressToken": "tok"}}),
            )),
        )
        .unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, Some("s"));
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(1000));
    let mut t = 0;
    let mut n = 0;
    while t + 800 < 5000 {
        t += 800;
        n += 1;
        c.advance(t);
        c.body(post.id, &progress_event(json!("tok"), n));
        // The timer restarts at each progress, capped by start + 5000.
        assert_eq!(
            c.c.poll_timeout().map(|t| t.0),
            Some((t + 1000).min(5000)),
            "after progress at {t}"
        );
        let ev = c.events();
        assert!(
            ev.iter().all(|e| !matches!(e, Event::Failed { .. })),
            "{t}: {ev:?}"
        );
    }
    // Well past the plain timeout (1000), alive; but the hard maximum holds
    // however much progress keeps coming.
    assert_eq!(t, 4800);
    c.advance(4999);
    c.body(post.id, &progress_event(json!("tok"), 99));
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(5000));
    c.events();
    c.advance(5000);
    assert_eq!(
        c.events(),
        vec![Event::Failed {
            request: r,
            failure: Failure::Timeout
        }]
    );
    let (sent, aborted) = c.sent_and_aborted();
    assert_eq!(aborted, vec![post.id]);
    assert_eq!(
        sent[0].rpc_method().as_deref(),
        Some("notifications/cancelled")
    );
    assert_eq!(c.c.poll_timeout(), None);
}

#[test]
fn l_to_3_progress_for_another_token_or_none_does_not_extend() {
    let mut c = timed(1000, Some(5000));
    let with_token = |t: Value| Some(raw(json!({"name": "x", "_meta": {"progressToken": t}})));
    let a =
        c.c.request(c.t(), "tools/call", with_token(json!("a")))
            .unwrap();
    let b = c.c.request(c.t(), "tools/call", None).unwrap();
    // Integer 7 and string "7" are different tokens.
    let n =
        c.c.request(c.t(), "tools/call", with_token(json!(7)))
            .unwrap();
    let sent = c.sent_all();
    assert_eq!(sent.len(), 3);
    c.sse_head(sent[0].id, Some("s"));
    c.advance(800);
    for token in [json!("b"), json!("A"), json!("7"), json!(null)] {
        c.body(sent[0].id, &progress_event(token, 1));
    }
    // Delivered to the application all the same, but no deadline moved.
    assert_eq!(c.events().len(), 4);
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(1000));
    c.advance(1000);
    let failed: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Failed {
                request,
                failure: Failure::Timeout,
            } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![a, b, n]);
}

#[test]
fn l_to_3_integer_token_extends_and_the_option_turns_it_off() {
    for resets in [true, false] {
        let mut cfg = config();
        cfg.request_timeout = Some(std::time::Duration::from_millis(1000));
        cfg.progress_resets_timeout = resets;
        let mut c = C::new(cfg);
        c.handshake("s", V);
        c.c.request(
            c.t(),
            "tools/call",
            Some(raw(json!({"name": "x", "_meta": {"progressToken": 7}}))),
        )
        .unwrap();
        let post = c.sent_all().remove(0);
        c.sse_head(post.id, Some("s"));
        c.advance(600);
        c.body(post.id, &progress_event(json!(7), 1));
        // Default hard maximum: 5 minutes, far away.
        let expected = if resets { 1600 } else { 1000 };
        assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(expected), "{resets}");
    }
}

#[test]
fn l_to_3_the_hard_maximum_applies_without_a_timeout_and_below_it() {
    // No per-request timeout: the hard maximum still ends the request.
    let mut cfg = config();
    cfg.request_timeout = None;
    cfg.max_request_time = Some(std::time::Duration::from_millis(3000));
    let mut c = C::new(cfg);
    c.handshake("s", V);
    c.c.request(c.t(), "tools/list", None).unwrap();
    c.sent_all();
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(3000));
    // A hard maximum shorter than the timeout wins from the start.
    let mut c = timed(1000, Some(400));
    c.c.request(c.t(), "tools/list", None).unwrap();
    c.sent_all();
    assert_eq!(c.c.poll_timeout().map(|t| t.0), Some(400));
}

/// A POST stream primed with `retry` and closed: the time to the first
/// reconnection.
fn first_reconnect_after(retry: &str) -> u64 {
    let mut c = ready();
    let _r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, &format!("id: e1\nretry: {retry}\ndata: \n\n"));
    c.end(post.id);
    c.c.poll_timeout().unwrap().0 - c.now
}

#[test]
fn hc_recon_1_retry_zero_or_tiny_is_clamped_up_to_the_floor() {
    use streamable_core::client::MIN_RETRY_MS;
    assert_eq!(first_reconnect_after("0"), MIN_RETRY_MS);
    assert_eq!(first_reconnect_after("1"), MIN_RETRY_MS);
    assert_eq!(first_reconnect_after("99"), MIN_RETRY_MS);
    assert_eq!(
        first_reconnect_after("250"),
        250,
        "a larger retry is honoured"
    );
}

/// The storm server of typescript-sdk #2682: every connection primed with a
/// new id and `retry: 0`, then closed at once. Returns the reconnections
/// the client made (each at least the floor after the close before it) and
/// what the application got.
fn storm(max_attempts: u32, replay_body: impl Fn(u32) -> String) -> (Vec<u64>, Vec<Event>) {
    let mut cfg = config();
    cfg.max_reconnect_attempts = max_attempts;
    cfg.request_timeout = None;
    cfg.max_request_time = None;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let _r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, "id: p0\nretry: 0\ndata: \n\n");
    c.end(post.id);
    let mut gaps = Vec::new();
    for n in 1..=100 {
        let closed = c.now;
        let Some(at) = c.c.poll_timeout() else {
            break;
        };
        c.advance(at.0);
        let Some(get) = c.sent().into_iter().next() else {
            break;
        };
        gaps.push(c.now - closed);
        c.sse_head(get.id, None);
        c.body(get.id, &replay_body(n));
        c.end(get.id);
    }
    (gaps, c.events())
}

#[test]
fn hc_recon_2_a_primed_empty_stream_that_closes_at_once_is_not_progress() {
    use streamable_core::client::MIN_RETRY_MS;
    cov_mark::check!(priming_is_not_progress);
    // A new id on every connection, but never a message: no progress.
    let (gaps, ev) = storm(4, |n| format!("id: p{n}\nretry: 0\ndata: \n\n"));
    assert_eq!(
        gaps,
        vec![MIN_RETRY_MS; 4],
        "bounded, and never faster than the floor"
    );
    assert!(
        matches!(
            &ev[..],
            [Event::Failed {
                failure: Failure::StreamLost,
                ..
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn hc_recon_2_an_event_repeating_the_cursor_is_not_progress() {
    // The server replays the event the client already has (same id, same
    // message) and closes: the budget goes on and runs out.
    cov_mark::check!(replayed_id_is_not_progress);
    let note = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}});
    let (gaps, ev) = storm(3, |_| format!("id: p0\ndata: {note}\n\n"));
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert!(
        matches!(
            ev.last(),
            Some(Event::Failed {
                failure: Failure::StreamLost,
                ..
            })
        ),
        "{ev:?}"
    );
}

#[test]
fn hc_recon_2_a_new_message_with_an_id_is_progress() {
    // The same storm, but each connection brings a new message: the budget
    // starts again each time (a polling server, T-PSSE-5), still never
    // faster than the floor.
    use streamable_core::client::MIN_RETRY_MS;
    let (gaps, ev) = storm(2, |n| {
        let note = json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":n}});
        format!("id: p{n}\nretry: 0\ndata: {note}\n\n")
    });
    assert_eq!(gaps.len(), 100, "never gave up while messages kept coming");
    assert!(gaps.iter().all(|g| *g == MIN_RETRY_MS), "{gaps:?}");
    assert!(!ev.iter().any(|e| matches!(e, Event::Failed { .. })));
}

/// The client's read-outs and `notify` follow its phase: nothing is known
/// while connecting and a notification waits (bounded by `max_pending`);
/// once ready the session, version and readiness are reported and a
/// notification is its own POST at once; after `close` it is refused.
#[test]
fn t_post_1_notify_and_read_outs_follow_the_phase() {
    let mut cfg = config();
    cfg.max_pending = 2;
    let mut c = C::new(cfg);
    assert!(!c.c.is_ready());
    assert_eq!(c.c.session_id(), None);
    assert_eq!(c.c.protocol_version(), None);
    // Connecting: queued, up to max_pending.
    c.c.notify(c.t(), "notifications/a", None).unwrap();
    c.c.notify(c.t(), "notifications/b", None).unwrap();
    assert!(matches!(
        c.c.notify(c.t(), "notifications/c", None),
        Err(streamable_core::client::ClientError::TooManyPending)
    ));
    c.handshake("sess-1", V);
    let queued: Vec<_> = c.sent_all().iter().filter_map(Sent::rpc_method).collect();
    assert_eq!(queued, ["notifications/a", "notifications/b"]);
    assert!(c.c.is_ready());
    assert_eq!(c.c.session_id(), Some("sess-1"));
    assert_eq!(
        c.c.protocol_version()
            .map(|v| v.as_str().to_owned())
            .as_deref(),
        Some(V)
    );
    // Ready: its own POST, at once, in the session.
    c.c.notify(c.t(), "notifications/d", None).unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].rpc_method().as_deref(), Some("notifications/d"));
    assert_eq!(sent[0].header("mcp-session-id"), Some("sess-1"));
    assert!(sent[0].json().get("id").is_none());
    // Closed: refused.
    c.c.close(c.t());
    assert!(!c.c.is_ready());
    assert!(matches!(
        c.c.notify(c.t(), "notifications/e", None),
        Err(streamable_core::client::ClientError::Closed)
    ));
}

/// INV-L2: a request answered on another exchange (the server routed its
/// response elsewhere) owes nothing on its own: when its POST is then
/// answered with an SSE head, that stream is dropped, not kept (found by
/// the `client` fuzz target, `fuzz/regressions/client/crash-cb68d1a6...`).
#[test]
fn inv_l2_a_stream_for_a_request_answered_elsewhere_is_dropped() {
    let mut c = ready();
    let a = c.c.request(c.t(), "tools/call", None).unwrap();
    let b = c.c.request(c.t(), "tools/call", None).unwrap();
    let sent = c.sent_all();
    let posts: Vec<_> = sent
        .iter()
        .filter(|s| s.rpc_method().as_deref() == Some("tools/call"))
        .collect();
    assert_eq!(posts.len(), 2);
    let (pa, pb) = (posts[0], posts[1]);
    // A's response arrives on B's exchange.
    c.json(
        pb.id,
        200,
        None,
        &result_body(&pa.rpc_id(), json!({"content": []})),
    );
    let ev = c.events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Response { request, outcome: Ok(_) } if *request == a)),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Failed { request, .. } if *request == b)),
        "{ev:?}"
    );
    // A's own POST now opens a stream: nothing is owed on it.
    c.sse_head(pa.id, None);
    let (_, aborted) = c.sent_and_aborted();
    assert_eq!(aborted, vec![pa.id]);
}

#[test]
fn t_ses_9_a_delete_answered_with_an_error_is_reported_as_a_warning() {
    // 2xx, 404 and 405 all mean "nothing left to end"; anything else is
    // worth telling the application, though the close completes either way.
    for (status, warned) in [(200u16, false), (404, false), (405, false), (500, true)] {
        let mut c = ready();
        c.c.close(c.t());
        let del = c.sent().remove(0);
        c.head(del.id, status, &[]);
        let warnings: Vec<_> = c
            .events()
            .into_iter()
            .filter(|e| matches!(e, Event::Warning(_)))
            .collect();
        assert_eq!(!warnings.is_empty(), warned, "{status}: {warnings:?}");
        assert!(c.c.is_closed());
    }
}

#[test]
fn t_ses_9_no_delete_without_a_session() {
    // A legacy server that issues no session id has nothing to end.
    let mut c = C::new(config());
    let init = c.sent().remove(0);
    c.json(
        init.id,
        200,
        None,
        &result_body(&init.rpc_id(), json!({"protocolVersion": V})),
    );
    c.sent();
    c.c.close(c.t());
    assert!(c.sent().is_empty());
    assert!(c.c.is_closed());
}

#[test]
fn t_ses_8_a_late_404_of_the_old_session_spares_the_new_one() {
    let mut c = ready();
    // A notification of session 1 is still unanswered when a request's
    // 404 ends the session.
    c.c.notify(c.t(), "notifications/progress", None).unwrap();
    c.c.request(c.t(), "tools/list", None).unwrap();
    let sent = c.sent_all();
    let note = sent
        .iter()
        .find(|s| s.rpc_method().as_deref() == Some("notifications/progress"))
        .unwrap()
        .id;
    let req = sent
        .iter()
        .find(|s| s.rpc_method().as_deref() == Some("tools/list"))
        .unwrap()
        .id;
    c.json(req, 404, None, "");
    c.events();
    c.handshake("sess-2", V);
    c.events();
    // Its 404 arrives now: it speaks of session 1, not of session 2.
    c.json(note, 404, None, "");
    assert_eq!(c.c.session_id(), Some("sess-2"));
    assert!(c.events().is_empty());
    assert!(c.sent().is_empty());
}

#[test]
fn l_to_1_the_handshake_times_out_at_its_deadline_not_before() {
    let mut cfg = config();
    cfg.request_timeout = Some(std::time::Duration::from_millis(1000));
    let mut c = C::new(cfg);
    c.sent();
    c.advance(999);
    assert!(!c.c.is_closed(), "one millisecond early");
    c.advance(1000);
    assert!(c.c.is_closed());
    assert!(matches!(
        c.events().last(),
        Some(Event::Closed {
            failure: Some(Failure::Timeout)
        })
    ));
}

#[test]
fn json_body_exactly_at_the_limit_is_accepted() {
    let mut cfg = config();
    cfg.max_body_bytes = 1024;
    let mut c = C::new(cfg);
    c.handshake("s", V);
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent_all().remove(0);
    let mut body = result_body(&post.rpc_id(), json!({}));
    body.push_str(&" ".repeat(1024 - body.len()));
    assert_eq!(body.len(), 1024);
    c.json(post.id, 200, None, &body);
    let ev = c.events();
    assert!(
        matches!(&ev[..], [Event::Response { request, outcome: Ok(_) }] if *request == r),
        "{ev:?}"
    );
}

#[test]
fn t_ses_9_an_unanswered_delete_completes_the_close_at_the_timeout() {
    let mut cfg = config();
    cfg.request_timeout = Some(std::time::Duration::from_millis(1000));
    let mut c = C::new(cfg);
    c.handshake("s", V);
    c.advance(10);
    c.c.close(c.t());
    assert_eq!(c.sent()[0].method(), "DELETE");
    c.advance(1009);
    assert!(!c.c.is_closed());
    c.advance(1010);
    assert!(c.c.is_closed());
    assert!(matches!(
        c.events().last(),
        Some(Event::Closed { failure: None })
    ));
}

#[test]
fn inv_s25_server_requests_get_their_own_keys_and_a_cancelled_one_is_forgotten() {
    let mut c = ready();
    c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    c.sse_head(post.id, None);
    for (n, id) in [(1, 5), (2, 6)] {
        let m = json!({"jsonrpc":"2.0","id":id,"method":"roots/list"});
        c.body(post.id, &sse_event(Some(&n.to_string()), &m.to_string()));
    }
    let keys: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    // The server cancels its request 5: its key is forgotten, 6's is not.
    let cancel =
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}});
    c.body(post.id, &sse_event(Some("3"), &cancel.to_string()));
    c.events();
    assert!(c.c.respond(c.t(), keys[0], Ok(raw(json!({})))).is_err());
    c.c.respond(c.t(), keys[1], Ok(raw(json!({"roots": []}))))
        .unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["id"], 6);
}

#[test]
fn a_notification_refused_by_the_server_is_a_warning() {
    for (status, warned) in [(202u16, false), (400, true)] {
        let mut c = ready();
        c.c.notify(c.t(), "notifications/roots/list_changed", None)
            .unwrap();
        let n = c.sent_all().remove(0);
        c.json(n.id, status, None, "");
        let ev = c.events();
        assert_eq!(
            ev.iter()
                .any(|e| matches!(e, Event::Warning(w) if w.contains("refused"))),
            warned,
            "{status}: {ev:?}"
        );
    }
}

#[test]
fn messages_in_a_json_body_are_related_to_its_request() {
    // A 2025-03-26 server may answer with an array: a notification, then
    // the response.
    let mut c = C::new(config());
    c.handshake("s", "2025-03-26");
    let r = c.c.request(c.t(), "tools/call", None).unwrap();
    let post = c.sent_all().remove(0);
    let body = format!(
        r#"[{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"x"}}}},{}]"#,
        result_body(&post.rpc_id(), json!({"content": []}))
    );
    c.json(post.id, 200, None, &body);
    let ev = c.events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Notification { related, .. } if *related == Some(r))),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Response { request, .. } if *request == r))
    );
}

#[test]
fn inv_s11_a_request_cancelled_while_queued_is_never_sent_and_the_others_are() {
    let mut c = C::new(config());
    let a = c.c.request(c.t(), "tools/list", None).unwrap();
    c.c.request(c.t(), "prompts/list", None).unwrap();
    c.c.cancel(c.t(), a, None).unwrap();
    c.handshake("s", V);
    let methods: Vec<_> = c.sent_all().iter().map(|s| s.rpc_method()).collect();
    assert_eq!(methods, vec![Some("prompts/list".to_owned())]);
}

#[test]
fn failures_and_errors_say_what_happened() {
    use streamable_core::ErrorObject;
    use streamable_core::client::ClientError;
    for (f, text) in [
        (Failure::Timeout, "request timed out".to_owned()),
        (
            Failure::SessionExpired,
            "session expired while the request was in flight".into(),
        ),
        (Failure::StreamLost, "response stream lost".into()),
        (Failure::Closed, "client closed".into()),
        (
            Failure::Http {
                status: 400,
                error: Some(ErrorObject::new(-32000, "no")),
            },
            "HTTP 400: no (-32000)".into(),
        ),
        (
            Failure::Http {
                status: 502,
                error: None,
            },
            "HTTP 502".into(),
        ),
        (Failure::Malformed("m".into()), "protocol error: m".into()),
        (Failure::Unsupported("u".into()), "unsupported: u".into()),
        (
            Failure::TooManyRounds(3),
            "the server asked for input more than 3 times".into(),
        ),
        (
            Failure::InputNotProvided {
                key: "k".into(),
                method: "roots/list".into(),
                error: ErrorObject::new(-1, "declined"),
            },
            r#"input request "k" (roots/list) not answered: declined (-1)"#.into(),
        ),
    ] {
        assert_eq!(f.to_string(), text);
    }
    assert_eq!(ClientError::Closed.to_string(), "client closed");
    assert_eq!(
        ClientError::TooManyPending.to_string(),
        "too many pending requests"
    );
    assert_eq!(
        ClientError::Unknown.to_string(),
        "unknown or expired request"
    );
}
