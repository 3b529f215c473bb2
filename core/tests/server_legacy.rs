//! Server behaviour of the legacy (session) era, one test per requirement
//! (IDs from `docs/requirements.md` Part A and its traps).

mod common;

use std::time::Duration;

use common::*;
use streamable_core::{
    CloseReason, Config, Delivery, Output, RawJson, ResponseMode, SendError, Target, Timestamp,
};

fn sse() -> Config {
    Config {
        response_mode: ResponseMode::Sse,
        ..Config::default()
    }
}

fn delivered_request(h: &H) -> streamable_core::RequestKey {
    h.requests().last().expect("a request was delivered").0
}

#[test]
fn l_init_3_t_ses_1_initialize_answered_with_session_header_and_negotiated_version() {
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2025-06-18"));
    let rk = delivered_request(&h);
    h.take();
    h.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    let (status, sid, body) = reply(&h.take(), ex);
    assert_eq!(status, 200);
    let sid = sid.expect("T-SES-1: session id on the InitializeResult response");
    // T-SES-3: visible ASCII only; 128 bits as 32 hex digits.
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(body.contains(r#""protocolVersion":"2025-06-18""#), "{body}");
    assert!(body.contains(r#""id":0"#));
}

#[test]
fn l_ver_2_unsupported_proposal_gets_newest_supported_version() {
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2024-11-05"));
    let rk = delivered_request(&h);
    h.take();
    // The application echoes the client's version, which we do not support.
    h.respond(rk, serde_json::json!({"protocolVersion":"2024-11-05","capabilities":{},"serverInfo":{"name":"s","version":"1"}}));
    let (_, _, body) = reply(&h.take(), ex);
    assert!(body.contains(r#""protocolVersion":"2025-11-25""#), "{body}");
}

#[test]
fn l_ver_2_application_choice_of_a_supported_version_is_kept() {
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2025-11-25"));
    let rk = delivered_request(&h);
    h.take();
    h.respond(rk, serde_json::json!({"protocolVersion":"2025-03-26","capabilities":{},"serverInfo":{"name":"s","version":"1"}}));
    let (_, _, body) = reply(&h.take(), ex);
    assert!(body.contains(r#""protocolVersion":"2025-03-26""#), "{body}");
    let sk =
        h.s.session_wire_id(streamable_core::SessionKey(1))
            .map(str::to_owned);
    assert!(sk.is_some());
    assert_eq!(
        h.s.session_version(streamable_core::SessionKey(1)),
        Some(streamable_core::ProtocolVersion::V2025_03_26)
    );
}

#[test]
fn x2_x3_version_header_is_not_validated_on_initialize() {
    let mut h = H::new(Config::default());
    h.post_with(
        None,
        &init_body("2025-06-18"),
        &[("mcp-protocol-version", "1999-01-01")],
    );
    assert_eq!(
        h.requests().len(),
        1,
        "initialize must be delivered despite the header"
    );
}

#[test]
fn x21_failed_initialize_has_no_session_header_and_no_session() {
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2025-06-18"));
    let rk = delivered_request(&h);
    h.take();
    h.s.respond(
        h.t(),
        rk,
        Err(streamable_core::ErrorObject::new(-32602, "unsupported")),
    )
    .unwrap();
    h.drain();
    let out = h.take();
    let (status, sid, body) = reply(&out, ex);
    assert_eq!(status, 200);
    assert!(sid.is_none(), "X-21: no session id on a failed initialize");
    assert!(body.contains("-32602"));
    assert_eq!(h.s.session_count(), 0);
}

#[test]
fn t_post_6_x14_notification_gets_202_and_empty_body() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let ex = h.post(Some(&wire), &notif_body("notifications/roots/list_changed"));
    let out = h.take();
    let (status, _, body) = reply(&out, ex);
    assert_eq!((status, body.as_str()), (202, ""));
    // B-MSG-7 / INV-S13: delivered, never answered.
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::Notification { method, .. }) if method == "notifications/roots/list_changed")));
}

#[test]
fn t_post_8_request_answered_with_json_in_auto_mode() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let ex = h.post(Some(&wire), &req_body(5, "tools/list"));
    let rk = delivered_request(&h);
    h.take();
    h.respond(rk, serde_json::json!({"tools":[]}));
    let out = h.take();
    let (status, sid, body) = reply(&out, ex);
    assert_eq!(status, 200);
    assert_eq!(sid.as_deref(), Some(wire.as_str()), "X-21: same id echoed");
    assert_eq!(body, r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[]}}"#);
}

#[test]
fn t_psse_1_priming_event_at_2025_11_25_only() {
    for (version, primed) in [
        ("2025-11-25", true),
        ("2025-06-18", false),
        ("2025-03-26", false),
    ] {
        let mut h = H::new(sse());
        let (_, wire) = h.init(version);
        let ex = h.post(Some(&wire), &req_body(1, "tools/call"));
        let out = h.take();
        assert!(has_head(&out, ex));
        let f = frames(&out, ex);
        assert_eq!(!f.is_empty(), primed, "{version}: {f:?}");
        if primed {
            assert!(
                f[0].contains("data: \n") || f[0].contains("data:\n"),
                "{}",
                f[0]
            );
            assert!(frame_id(&f[0]).is_some());
            assert!(f[0].contains("retry: 1000"));
        }
    }
}

#[test]
fn t_psse_2_t_psse_4_end_connection_polls_and_the_resume_gets_the_response() {
    let mut h = H::new(Config::default());
    let (sk, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(3, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    // A pending (auto-mode) head is turned into SSE and primed, then closed.
    h.s.end_connection(h.t(), Target::Request(rk)).unwrap();
    h.drain();
    let out = h.take();
    assert!(has_head(&out, ex));
    let f = frames(&out, ex);
    assert_eq!(f.len(), 1, "just the priming event: {f:?}");
    assert!(
        f[0].contains("retry: 1000"),
        "T-PSSE-4: retry before the close"
    );
    let cursor = frame_id(&f[0]).expect("an id to resume from");
    assert!(closed(&out, ex));
    // The request goes on; its response waits in the stream's log.
    h.respond(rk, serde_json::json!({"content": []}));
    assert!(h.take().is_empty(), "no connection, nothing written");
    h.s.check_invariants().expect("server invariants");
    // T-PSSE-3: the client polls with its cursor and gets the response.
    let g = h.get(Some(&wire), Some(&cursor));
    let out = h.take();
    let f = frames(&out, g);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].contains(r#""id":3"#) && f[0].contains("result"));
    assert!(closed(&out, g), "the stream is finished now");
    // An attached stream gets `retry` then its close; the GET stream too.
    let g2 = h.get(Some(&wire), None);
    h.take();
    h.s.end_connection(h.t(), Target::Session(sk)).unwrap();
    h.drain();
    let out = h.take();
    assert!(frames(&out, g2).iter().any(|f| f.contains("retry: 1000")));
    assert!(closed(&out, g2));
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn t_psse_2_end_connection_is_refused_where_polling_cannot_work() {
    // Before 2025-11-25 streams carry no priming id: no resume is possible.
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    assert_eq!(
        h.s.end_connection(h.t(), Target::Request(rk)),
        Err(SendError::NotAllowed)
    );
    // JSON mode has no stream to poll.
    let mut h = H::new(Config {
        response_mode: ResponseMode::Json,
        ..Config::default()
    });
    let (_, wire) = h.init("2025-11-25");
    h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    assert_eq!(
        h.s.end_connection(h.t(), Target::Request(rk)),
        Err(SendError::JsonMode)
    );
}

#[test]
fn t_psse_7_t_psse_11_sse_stream_carries_notifications_then_response_then_ends() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(7, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    let p = RawJson::from_value(&serde_json::json!({"progressToken":1,"progress":1}));
    h.s.notify(
        h.t(),
        Target::Request(rk),
        "notifications/progress",
        Some(&p),
    )
    .unwrap();
    h.drain();
    h.respond(rk, serde_json::json!({"content":[]}));
    let out = h.take();
    assert!(
        has_head(&out, ex),
        "auto mode upgrades to SSE on the first notification"
    );
    let f = frames(&out, ex);
    assert_eq!(f.len(), 3, "priming, progress, response: {f:?}");
    assert!(f[1].contains("notifications/progress"));
    assert!(f[2].contains(r#""id":7"#) && f[2].contains("result"));
    // X-7: every message event is typed `message`.
    assert!(f[1].starts_with("event: message\n") && f[2].starts_with("event: message\n"));
    assert!(closed(&out, ex), "T-PSSE-11: closed after the response");
}

#[test]
fn t_res_5_t_res_6_resume_replays_exactly_the_missing_events_of_that_stream() {
    let mut h = H::new(sse());
    let (sk, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    let get = h.get(Some(&wire), None);
    let out = h.take();
    let prime = frames(&out, ex)[0].clone();
    let cursor = frame_id(&prime).unwrap();
    // T-PSSE-12: the client goes away; that is not a cancellation.
    h.s.handle_disconnect(h.t(), ex);
    h.drain();
    assert!(
        h.take()
            .iter()
            .all(|o| !matches!(o, Output::Deliver(Delivery::Cancelled { .. })))
    );
    for i in 1..=3 {
        let p = RawJson::from_value(&serde_json::json!({"progressToken":1,"progress":i}));
        h.s.notify(
            h.t(),
            Target::Request(rk),
            "notifications/progress",
            Some(&p),
        )
        .unwrap();
    }
    // Traffic on another stream must not be replayed (T-RES-6).
    h.s.notify(
        h.t(),
        Target::Session(sk),
        "notifications/tools/list_changed",
        None,
    )
    .unwrap();
    h.respond(rk, serde_json::json!({"content":[]}));
    let out = h.take();
    assert_eq!(
        frames(&out, ex).len(),
        0,
        "nothing written to a gone connection"
    );
    assert_eq!(
        frames(&out, get).len(),
        1,
        "the GET stream got its notification live"
    );
    let resumed = h.get(Some(&wire), Some(&cursor));
    let out = h.take();
    let f = frames(&out, resumed);
    assert_eq!(f.len(), 4, "3 progress + the response: {f:?}");
    assert!(f.iter().all(|x| !x.contains("list_changed")));
    assert!(f[3].contains("result"));
    assert!(
        closed(&out, resumed),
        "the finished stream ends after replay"
    );
    // Replay again from the middle: exactly the events after that id.
    let mid = frame_id(&f[1]).unwrap();
    let again = h.get(Some(&wire), Some(&mid));
    let f2 = frames(&h.take(), again);
    assert_eq!(
        f2,
        f[2..].to_vec(),
        "INV-S6: replayed events keep ids and bytes"
    );
    // Fully consumed finished stream: 204, do not reconnect (X-8).
    let last = frame_id(&f[3]).unwrap();
    let done = h.get(Some(&wire), Some(&last));
    assert_eq!(reply(&h.take(), done).0, 204);
}

#[test]
fn t_res_2_event_ids_are_unique_across_the_sessions_streams() {
    let mut h = H::new(sse());
    let (sk, wire) = h.init("2025-11-25");
    let mut ids = std::collections::BTreeSet::new();
    let get = h.get(Some(&wire), None);
    for i in 1..=3 {
        h.post(Some(&wire), &req_body(i, "tools/call"));
    }
    for (rk, _) in h.requests() {
        let _ =
            h.s.notify(h.t(), Target::Request(rk), "notifications/message", None);
    }
    h.s.notify(h.t(), Target::Session(sk), "notifications/message", None)
        .unwrap();
    h.drain();
    let out = h.take();
    let mut n = 0;
    for o in &out {
        if let Output::Event { frame, .. } = o {
            let id = frame_id(std::str::from_utf8(frame).unwrap()).unwrap();
            assert!(ids.insert(id), "duplicate event id");
            n += 1;
        }
    }
    assert!(n >= 8);
    let _ = get;
}

#[test]
fn x22_foreign_forged_and_malformed_event_ids_are_refused_with_400() {
    let mut h = H::new(sse());
    let (_, a) = h.init("2025-11-25");
    let ex = h.post(Some(&a), &req_body(1, "tools/call"));
    let foreign = frame_id(&frames(&h.take(), ex)[0]).unwrap();
    let (_, b) = h.init("2025-11-25");
    for bad in [
        foreign.as_str(),
        "1-999999",
        "garbage",
        "",
        "-",
        "1-",
        "99999999999999999999999-1",
    ] {
        let g = h.get(Some(&b), Some(bad));
        let (status, _, body) = reply(&h.take(), g);
        assert_eq!(status, 400, "{bad:?}");
        assert!(body.contains("-32600"));
    }
}

#[test]
fn inv_s5_resume_from_an_evicted_event_is_refused_not_skipped() {
    let mut h = H::new(Config {
        response_mode: ResponseMode::Sse,
        max_events_per_stream: 4,
        ..Config::default()
    });
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    let first = frame_id(&frames(&h.take(), ex)[0]).unwrap();
    h.s.handle_disconnect(h.t(), ex);
    for _ in 0..10 {
        h.s.notify(h.t(), Target::Request(rk), "notifications/message", None)
            .unwrap();
    }
    h.drain();
    let g = h.get(Some(&wire), Some(&first));
    assert_eq!(reply(&h.take(), g).0, 410);
}

#[test]
fn t_get_3_get_opens_sse_or_405_when_disabled() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let g = h.get(Some(&wire), None);
    assert!(has_head(&h.take(), g));
    let mut h = H::new(Config {
        get_stream: false,
        ..Config::default()
    });
    let (_, wire) = h.init("2025-06-18");
    let g = h.get(Some(&wire), None);
    let out = h.take();
    assert_eq!(reply(&out, g).0, 405);
    assert!(matches!(&out[0], Output::Reply { head, .. } if head.allow.is_some()));
}

#[test]
fn x9_inv_s20_a_second_get_replaces_the_first_connection() {
    let mut h = H::new(Config::default());
    let (sk, wire) = h.init("2025-11-25");
    let g1 = h.get(Some(&wire), None);
    let g2 = h.get(Some(&wire), None);
    let out = h.take();
    assert!(closed(&out, g1), "the old connection is closed, not 409");
    assert!(has_head(&out, g2));
    h.s.notify(h.t(), Target::Session(sk), "notifications/message", None)
        .unwrap();
    h.drain();
    let out = h.take();
    assert_eq!(frames(&out, g2).len(), 1);
    assert_eq!(frames(&out, g1).len(), 0, "T-MULTI-2: never broadcast");
}

#[test]
fn x11_messages_with_nowhere_to_go_are_reported_not_dropped() {
    let mut h = H::new(Config {
        response_mode: ResponseMode::Json,
        ..Config::default()
    });
    let (sk, wire) = h.init("2025-06-18");
    assert_eq!(
        h.s.notify(h.t(), Target::Session(sk), "notifications/message", None),
        Err(SendError::NoStream)
    );
    h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    assert_eq!(
        h.s.notify(h.t(), Target::Request(rk), "notifications/progress", None),
        Err(SendError::JsonMode),
        "X-31: JSON mode carries only the response"
    );
    // Pending-head exchange whose client left: the answer has no stream.
    let ex = h.post(Some(&wire), &req_body(2, "tools/call"));
    let rk2 = delivered_request(&h);
    h.s.handle_disconnect(h.t(), ex);
    assert_eq!(
        h.s.respond(h.t(), rk2, Ok(RawJson::empty_object())),
        Err(SendError::NoStream)
    );
    h.drain();
}

#[test]
fn u_ping_1_ping_is_answered_by_the_core() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let ex = h.post(Some(&wire), &req_body(9, "ping"));
    let out = h.take();
    assert!(out.iter().all(|o| !matches!(o, Output::Deliver(_))));
    assert_eq!(reply(&out, ex).2, r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
}

#[test]
fn u_can_5_cancelled_request_gets_no_response_but_its_stream_ends() {
    let mut h = H::new(sse());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(3, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    let c = h.post(
        Some(&wire),
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user"}}"#,
    );
    let out = h.take();
    assert_eq!(reply(&out, c).0, 202);
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::Cancelled { request, reason, .. }) if *request == rk && reason.as_deref() == Some("user"))));
    h.respond(rk, serde_json::json!({}));
    let out = h.take();
    assert!(
        frames(&out, ex).is_empty(),
        "no response after cancellation"
    );
    assert!(closed(&out, ex), "the stream still ends");
}

#[test]
fn u_can_3_initialize_cannot_be_cancelled_and_unknown_cancels_are_ignored() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let c = h.post(
        Some(&wire),
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}}"#,
    );
    let out = h.take();
    assert_eq!(reply(&out, c).0, 202);
    assert!(
        out.iter()
            .all(|o| !matches!(o, Output::Deliver(Delivery::Cancelled { .. })))
    );
}

#[test]
fn abandoned_requests_still_end_their_exchange() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let ex = h.post(Some(&wire), &req_body(4, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    h.s.abandon(h.t(), rk).unwrap();
    h.drain();
    let (status, _, body) = reply(&h.take(), ex);
    assert_eq!(status, 200);
    assert!(body.contains("-32603") && body.contains(r#""id":4"#));
    // SSE: the stream just closes.
    let mut h = H::new(sse());
    let (_, wire) = h.init("2025-06-18");
    let ex = h.post(Some(&wire), &req_body(4, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    h.s.abandon(h.t(), rk).unwrap();
    h.drain();
    let out = h.take();
    assert!(closed(&out, ex) && frames(&out, ex).is_empty());
    assert_eq!(h.s.abandon(h.t(), rk), Err(SendError::Gone));
}

#[test]
fn server_to_client_request_goes_on_the_originating_stream_and_its_answer_comes_back() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    let ok =
        h.s.request_client(h.t(), Target::Request(rk), "sampling/createMessage", None)
            .unwrap();
    h.drain();
    let out = h.take();
    assert!(
        has_head(&out, ex),
        "X-10: upgraded to SSE on the POST stream"
    );
    let f = frames(&out, ex);
    assert!(
        f.last()
            .unwrap()
            .contains(r#""method":"sampling/createMessage""#)
    );
    assert!(
        f.last()
            .unwrap()
            .contains(&format!(r#""id":{}"#, ok.wire_id))
    );
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":{{"role":"assistant"}}}}"#,
        ok.wire_id
    );
    let a = h.post(Some(&wire), &answer);
    let out = h.take();
    assert_eq!(reply(&out, a).0, 202);
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::Response { outgoing, outcome: Ok(_) }) if *outgoing == ok)));
    // A second answer to the same id is ignored.
    h.post(Some(&wire), &answer);
    assert!(h.take().iter().all(|o| !matches!(o, Output::Deliver(_))));
    // B-MSG-3: the next requests get ids never used before, and each answer
    // reaches the request it names.
    let two: Vec<_> = (0..2)
        .map(|_| {
            h.s.request_client(h.t(), Target::Request(rk), "roots/list", None)
                .unwrap()
        })
        .collect();
    assert!(two[0].wire_id != two[1].wire_id && two[0] != ok && two[1] != ok);
    h.drain();
    h.take();
    for k in two.iter().rev() {
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, k.wire_id);
        h.post(Some(&wire), &answer);
        let out = h.take();
        assert!(out.iter().any(
            |o| matches!(o, Output::Deliver(Delivery::Response { outgoing, .. }) if outgoing == k)
        ));
    }
    // A forgotten request's answer is ignored.
    let gone =
        h.s.request_client(h.t(), Target::Request(rk), "roots/list", None)
            .unwrap();
    h.s.forget_outgoing(gone);
    let answer = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, gone.wire_id);
    h.post(Some(&wire), &answer);
    assert!(h.take().iter().all(|o| !matches!(o, Output::Deliver(_))));
    // L-INIT-6: no requests before the session is ready.
    let mut h = H::new(Config::default());
    h.post(None, &init_body("2025-06-18"));
    let rk = delivered_request(&h);
    assert_eq!(
        h.s.request_client(h.t(), Target::Request(rk), "roots/list", None),
        Err(SendError::NotAllowed)
    );
}

#[test]
fn x4_requests_before_the_initialized_notification_are_accepted() {
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2025-06-18"));
    let rk = delivered_request(&h);
    let sk = h
        .out
        .iter()
        .find_map(|o| match o {
            Output::Deliver(Delivery::Request { session, .. }) => *session,
            _ => None,
        })
        .unwrap();
    h.take();
    h.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    let wire = reply(&h.take(), ex).1.unwrap();
    // L-INIT-6: a notification other than `initialized` does not make the
    // client ready for server-to-client requests...
    h.get(Some(&wire), None);
    h.post(Some(&wire), &notif_body("notifications/roots/list_changed"));
    h.take();
    assert_eq!(
        h.s.request_client(h.t(), Target::Session(sk), "roots/list", None),
        Err(SendError::NotAllowed)
    );
    // ... a request does (X-4: the client evidently considers itself
    // initialized).
    h.post(Some(&wire), &req_body(1, "tools/list"));
    assert_eq!(h.requests().len(), 1);
    let rk = delivered_request(&h);
    assert!(
        h.s.request_client(h.t(), Target::Request(rk), "roots/list", None)
            .is_ok()
    );
}

#[test]
fn x_18_b_batch_2_initialize_inside_a_session_is_refused_in_every_form() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-03-26");
    for body in [
        r#"{"jsonrpc":"2.0","method":"initialize"}"#.to_owned(),
        init_body("2025-03-26"),
        r#"[{"jsonrpc":"2.0","id":7,"method":"tools/list"},{"jsonrpc":"2.0","id":7,"method":"ping"}]"#
            .to_owned(),
    ] {
        let ex = h.post(Some(&wire), &body);
        let (status, _, reply_body) = reply(&h.take(), ex);
        assert_eq!(status, 400, "{body}: {reply_body}");
    }
    assert!(h.requests().is_empty());
}

#[test]
fn t_ses_6_x16_missing_session_is_400_unknown_is_404_h_bc_3_get_delete_405() {
    let mut h = H::new(Config::default());
    h.init("2025-06-18");
    let a = h.post(None, &req_body(1, "tools/list"));
    let b = h.post(Some("deadbeef"), &req_body(1, "tools/list"));
    let c = h.get(None, None);
    let d = h.get(Some("nope"), None);
    let e = h.delete(None);
    let f = h.delete(Some("nope"));
    let out = h.take();
    // H-BC-3: a dual-era server answers GET/DELETE without a session with
    // 405 (the modern era has neither); with an unknown session, 404.
    for (ex, want) in [(a, 400), (b, 404), (c, 405), (d, 404), (e, 405), (f, 404)] {
        assert_eq!(reply(&out, ex).0, want);
    }
}

#[test]
fn t_ses_7_x17_delete_answers_204_and_the_session_is_gone() {
    let mut h = H::new(Config::default());
    let (sk, wire) = h.init("2025-06-18");
    let g = h.get(Some(&wire), None);
    let p = h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    let d = h.delete(Some(&wire));
    let out = h.take();
    assert_eq!(reply(&out, d).0, 204);
    assert!(closed(&out, g));
    assert_eq!(
        reply(&out, p).0,
        404,
        "a waiting head learns the session ended"
    );
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::SessionClosed { session, reason: CloseReason::Deleted }) if *session == sk)));
    // INV-S8: everything after is 404, and nothing reaches the application.
    let x = h.post(Some(&wire), &req_body(2, "tools/list"));
    let out = h.take();
    assert_eq!(reply(&out, x).0, 404);
    assert!(out.iter().all(|o| !matches!(o, Output::Deliver(_))));
    assert_eq!(
        h.s.respond(h.t(), rk, Ok(RawJson::empty_object())),
        Err(SendError::Gone)
    );
}

#[test]
fn t_ses_10_delete_405_when_configured_off() {
    let mut h = H::new(Config {
        allow_delete: false,
        ..Config::default()
    });
    let (_, wire) = h.init("2025-06-18");
    let d = h.delete(Some(&wire));
    assert_eq!(reply(&h.take(), d).0, 405);
    assert_eq!(h.s.session_count(), 1, "INV-S22: unchanged after 405");
}

#[test]
fn t_ver_3_t_ver_4_version_header_absent_ok_invalid_400() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    let ok = h.post(Some(&wire), &notif_body("notifications/x"));
    let ok2 = h.post_with(
        Some(&wire),
        &notif_body("notifications/x"),
        &[("mcp-protocol-version", "2025-06-18")],
    );
    let bad = h.post_with(
        Some(&wire),
        &notif_body("notifications/x"),
        &[("mcp-protocol-version", "2025-13-01")],
    );
    let bad2 = h.get_with_version(&wire, "banana");
    let out = h.take();
    assert_eq!(reply(&out, ok).0, 202);
    assert_eq!(reply(&out, ok2).0, 202);
    assert_eq!(reply(&out, bad).0, 400);
    assert_eq!(reply(&out, bad2).0, 400);
}

trait GetWithVersion {
    fn get_with_version(&mut self, wire: &str, v: &str) -> streamable_core::ExchangeId;
}
impl GetWithVersion for H {
    fn get_with_version(&mut self, wire: &str, v: &str) -> streamable_core::ExchangeId {
        let req = http::Request::get("/mcp")
            .header("host", "localhost")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", wire)
            .header("mcp-protocol-version", v)
            .body(bytes::Bytes::new())
            .unwrap();
        self.request(req)
    }
}

#[test]
fn b_batch_1_batches_accepted_at_2025_03_26_and_answered_with_an_array() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-03-26");
    let ex = h.post(
        Some(&wire),
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#,
    );
    let rk = delivered_request(&h);
    h.take();
    h.respond(rk, serde_json::json!({"tools":[]}));
    let (status, _, body) = reply(&h.take(), ex);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "T-POST-10: {body}");
    // T-POST-10: a batch of one is still a batch: its answer is an array.
    let one = h.post(Some(&wire), r#"[{"jsonrpc":"2.0","id":3,"method":"ping"}]"#);
    let (status, _, body) = reply(&h.take(), one);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(1),
        "T-POST-10, batch of one: {body}"
    );
    // T-POST-5: a batch of notifications only gets 202.
    let n = h.post(Some(&wire), r#"[{"jsonrpc":"2.0","method":"notifications/a"},{"jsonrpc":"2.0","method":"notifications/b"}]"#);
    assert_eq!(reply(&h.take(), n).0, 202);
}

#[test]
fn x18_b_batch_2_t_post_3_refused_batches() {
    let mut h = H::new(Config::default());
    let (_, old) = h.init("2025-03-26");
    let (_, new) = h.init("2025-06-18");
    let cases = [
        (
            Some(new.as_str()),
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            "batch at 2025-06-18",
        ),
        (Some(old.as_str()), "[]", "empty batch"),
        (
            Some(old.as_str()),
            r#"[{"jsonrpc":"2.0","id":1,"method":"initialize"}]"#,
            "initialize in a batch",
        ),
        (
            Some(old.as_str()),
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":9,"result":{}}]"#,
            "requests with responses",
        ),
        (
            None,
            r#"[{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}]"#,
            "batched initialize without session",
        ),
    ];
    for (session, body, what) in cases {
        let ex = h.post(session, body);
        let (status, _, _) = reply(&h.take(), ex);
        assert_eq!(status, 400, "{what}");
    }
}

#[test]
fn b_msg_2_b_msg_3_bad_ids_and_duplicate_in_flight_ids_are_refused() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-06-18");
    for body in [
        r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":{},"method":"tools/list"}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"tools/list"}"#,
        r#"{"id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"m"}}"#,
        r#"{"jsonrpc":"2.0"}"#,
        r#"42"#,
    ] {
        let ex = h.post(Some(&wire), body);
        let (status, _, reply_body) = reply(&h.take(), ex);
        assert_eq!(status, 400, "{body}");
        assert!(reply_body.contains("-32600"), "{body}: {reply_body}");
        assert!(!reply_body.contains(r#""id""#), "X-19: id-less error body");
    }
    h.post(Some(&wire), &req_body(1, "tools/call"));
    let dup = h.post(Some(&wire), &req_body(1, "tools/call"));
    assert_eq!(reply(&h.take(), dup).0, 400);
}

#[test]
fn edge_refusals_have_their_documented_status() {
    let mut h = H::new(Config {
        max_body_bytes: 1024,
        ..Config::default()
    });
    assert_eq!(h.s.config().max_body_bytes, 1024);
    let (_, wire) = h.init("2025-06-18");
    let w = Some(wire.as_str());
    let n = notif_body("notifications/x");
    let cases: Vec<(http::Request<bytes::Bytes>, u16, &str)> = vec![
        (
            build("POST", w, &n, &[("origin", "https://evil.example")]),
            403,
            "T-SEC-2 bad Origin",
        ),
        (
            build("POST", w, &n, &[("origin", "http://localhost:3000")]),
            202,
            "loopback Origin ok",
        ),
        (
            build("POST", w, &n, &[("origin", "http://127.0.0.1:8080")]),
            202,
            "loopback IPv4 Origin ok",
        ),
        (
            build("POST", w, &n, &[("origin", "http://[::1]:3000")]),
            202,
            "loopback IPv6 Origin ok",
        ),
        (
            build("POST", w, &n, &[("origin", "http://[0:0:0:0:0:0:0:1]")]),
            202,
            "loopback IPv6 Origin, long form",
        ),
        (
            build("POST", w, &n, &[("origin", "http://127.0.0.2")]),
            403,
            "another address is not the loopback name",
        ),
        (
            build("POST", w, &n, &[("host", "evil.example")]),
            403,
            "X-24 bad Host",
        ),
        (
            build("POST", w, &n, &[("accept", "text/html")]),
            406,
            "X-15 Accept",
        ),
        (
            build(
                "POST",
                w,
                &n,
                &[("accept", "application/json;q=0, text/event-stream")],
            ),
            406,
            "X-15 q=0 refuses a type",
        ),
        (
            build(
                "POST",
                w,
                &n,
                &[("accept", "application/json;q=0.5, text/event-stream")],
            ),
            202,
            "X-15 any other weight accepts it",
        ),
        (
            build("POST", w, &n, &[("accept", "*/*")]),
            202,
            "X-15 lenient on */*",
        ),
        (
            build("POST", w, &n, &[("content-type", "text/plain")]),
            415,
            "Content-Type",
        ),
        (build("POST", w, &"x".repeat(2000), &[]), 413, "body limit"),
        (
            build("POST", w, &format!("{n:<1024}"), &[]),
            202,
            "a body of exactly the limit is served",
        ),
        (
            build("POST", w, &format!("{n:<1025}"), &[]),
            413,
            "one byte over the limit",
        ),
        (build("POST", w, "{not json", &[]), 400, "parse error"),
        (build("PUT", w, &n, &[]), 405, "method"),
        (
            build("POST", w, &n, &[("mcp-session-id", "second")]),
            400,
            "X-20 repeated session header",
        ),
        (
            build("GET", w, "", &[("accept", "application/json")]),
            406,
            "GET without text/event-stream",
        ),
    ];
    for (req, want, what) in cases {
        let ex = h.request(req);
        let out = h.take();
        let (status, _, body) = reply(&out, ex);
        assert_eq!(status, want, "{what}: {body}");
        if status >= 400 && status != 405 {
            assert!(body.contains(r#""error""#), "{what}: JSON-RPC error body");
        }
    }
    let parse = h.post(w, "{not json");
    assert!(reply(&h.take(), parse).2.contains("-32700"));
    // The server keeps serving.
    let ok = h.post(w, &req_body(77, "ping"));
    assert_eq!(reply(&h.take(), ok).0, 200);
}

fn build(
    method: &str,
    session: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> http::Request<bytes::Bytes> {
    let mut b = http::Request::builder().method(method).uri("/mcp");
    let overrides = |k: &str| extra.iter().any(|(n, _)| *n == k);
    if !overrides("accept") {
        b = b.header(
            "accept",
            if method == "GET" {
                "text/event-stream"
            } else {
                ACCEPT_BOTH
            },
        );
    }
    if !overrides("content-type") {
        b = b.header("content-type", "application/json");
    }
    if !overrides("host") {
        b = b.header("host", "localhost:8000");
    }
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(bytes::Bytes::from(body.to_owned())).unwrap()
}

#[test]
fn limits_max_sessions_503_and_in_flight_429() {
    let mut h = H::new(Config {
        max_sessions: 2,
        max_in_flight_per_session: 2,
        ..Config::default()
    });
    let (_, wire) = h.init("2025-06-18");
    h.init("2025-06-18");
    let third = h.post(None, &init_body("2025-06-18"));
    assert_eq!(reply(&h.take(), third).0, 503);
    h.post(Some(&wire), &req_body(1, "tools/call"));
    h.post(Some(&wire), &req_body(2, "tools/call"));
    assert_eq!(h.requests().len(), 2, "the limit itself is allowed");
    let over = h.post(Some(&wire), &req_body(3, "tools/call"));
    assert_eq!(reply(&h.take(), over).0, 429);
}

#[test]
fn u_can_1_a_request_is_cancelled_once() {
    let mut h = H::new(sse());
    let (_, wire) = h.init("2025-11-25");
    h.post(Some(&wire), &req_body(3, "tools/call"));
    h.take();
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#;
    h.post(Some(&wire), cancel);
    h.post(Some(&wire), cancel);
    let cancelled = h
        .take()
        .iter()
        .filter(|o| matches!(o, Output::Deliver(Delivery::Cancelled { .. })))
        .count();
    assert_eq!(cancelled, 1);
}

#[test]
fn t_res_5_a_resume_at_the_head_of_a_live_stream_waits_for_more() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(3, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    h.s.end_connection(h.t(), Target::Request(rk)).unwrap();
    h.drain();
    let cursor = frame_id(&frames(&h.take(), ex)[0]).unwrap();
    // Nothing after the cursor yet, and the request is still running: the
    // resume is attached (204 is only for a finished stream).
    let g = h.get(Some(&wire), Some(&cursor));
    let out = h.take();
    assert!(has_head(&out, g), "{out:?}");
    assert!(!closed(&out, g));
    h.respond(rk, serde_json::json!({"content": []}));
    let out = h.take();
    assert!(frames(&out, g).iter().any(|f| f.contains(r#""id":3"#)));
}

#[test]
fn t_ver_4_a_modern_version_header_inside_a_session_is_refused() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post_with(
        Some(&wire),
        &req_body(1, "ping"),
        &[("mcp-protocol-version", "2026-07-28")],
    );
    assert_eq!(reply(&h.take(), ex).0, 400);
    let ok = h.post_with(
        Some(&wire),
        &req_body(2, "ping"),
        &[("mcp-protocol-version", "2025-06-18")],
    );
    assert_eq!(reply(&h.take(), ok).0, 200);
    // A GET naming a modern version belongs to the 2026-07-28 era, which
    // has no GET: 405, session or not.
    let get = h.request(
        http::Request::get("/mcp")
            .header("accept", "text/event-stream")
            .header("host", "127.0.0.1:8000")
            .header("mcp-session-id", wire.as_str())
            .header("mcp-protocol-version", "2026-07-28")
            .body(bytes::Bytes::new())
            .unwrap(),
    );
    assert_eq!(reply(&h.take(), get).0, 405);
}

#[test]
fn idle_timeout_ends_idle_sessions_but_not_busy_ones() {
    let cfg = Config {
        idle_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let mut h = H::new(cfg);
    let (idle, _) = h.init("2025-06-18");
    let (busy, busy_wire) = h.init("2025-06-18");
    h.get(Some(&busy_wire), None);
    h.take();
    let deadline = h.s.poll_timeout().expect("a deadline is armed");
    assert!(deadline <= Timestamp(10_000));
    h.now = 10_000;
    h.s.handle_timeout(h.t());
    h.drain();
    let out = h.take();
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::SessionClosed { session, reason: CloseReason::IdleTimeout }) if *session == idle)));
    assert!(
        h.s.session_wire_id(busy).is_some(),
        "an open stream counts as activity"
    );
    h.now = 1_000_000;
    h.s.handle_timeout(h.t());
    h.drain();
    assert!(h.s.session_wire_id(busy).is_some());
}

#[test]
fn init_timeout_ends_sessions_that_never_become_ready() {
    let mut h = H::new(Config {
        init_timeout: Duration::from_secs(5),
        ..Config::default()
    });
    h.post(None, &init_body("2025-06-18"));
    h.take();
    assert_eq!(h.s.poll_timeout(), Some(Timestamp(5_000)));
    h.now = 4_999;
    h.s.handle_timeout(h.t());
    h.drain();
    assert_eq!(h.s.session_count(), 1, "not before the deadline");
    h.now = 5_000;
    h.s.handle_timeout(h.t());
    h.drain();
    assert_eq!(h.s.session_count(), 0);
    assert!(h.take().iter().any(|o| matches!(
        o,
        Output::Deliver(Delivery::SessionClosed {
            reason: CloseReason::InitTimeout,
            ..
        })
    )));
}

#[test]
fn poll_timeout_reports_now_while_outputs_are_queued() {
    let mut s = streamable_core::Server::new(Config::default(), streamable_core::SeededIds(3));
    let req = http::Request::post("/mcp")
        .header("host", "localhost")
        .header("accept", ACCEPT_BOTH)
        .body(bytes::Bytes::from(init_body("2025-06-18")))
        .unwrap();
    s.handle_request(Timestamp(42), req);
    assert_eq!(s.poll_timeout(), Some(Timestamp(42)));
    while s.poll_output().is_some() {}
    assert_eq!(s.poll_timeout(), Some(Timestamp(60_042)));
}

/// A request as the adapter passes it on: `version` and the URI as hyper
/// gave them, with or without a `Host` header.
fn request_as(
    version: http::Version,
    uri: &str,
    host: Option<&str>,
) -> http::Request<bytes::Bytes> {
    let mut b = http::Request::post(uri)
        .version(version)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH);
    if let Some(host) = host {
        b = b.header("host", host);
    }
    b.body(bytes::Bytes::from(init_body("2025-06-18"))).unwrap()
}

#[test]
fn r_host_1_http11_without_host_is_400() {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered with 400,
    // whatever its method, before anything else about it is looked at.
    let mut h = H::new(Config::default());
    let ex = h.request(request_as(http::Version::HTTP_11, "/mcp", None));
    let (status, session, body) = reply(&h.take(), ex);
    assert_eq!(status, 400);
    assert!(session.is_none());
    assert!(body.contains("Host"), "{body}");
    assert!(!body.contains(r#""id""#), "X-19: id-less error body");
    assert_eq!(h.s.session_count(), 0);
    let get = http::Request::get("/mcp")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "x")
        .body(bytes::Bytes::new())
        .unwrap();
    let ex = h.request(get);
    assert_eq!(reply(&h.take(), ex).0, 400);
    // The absolute form carries an authority, but HTTP/1.1 still needs Host.
    let ex = h.request(request_as(
        http::Version::HTTP_11,
        "http://localhost/mcp",
        None,
    ));
    assert_eq!(reply(&h.take(), ex).0, 400);
    // HTTP/1.0 has no Host requirement, and HTTP/2 carries :authority in the
    // URI (hyper puts it there): both are served.
    for (version, uri) in [
        (http::Version::HTTP_10, "/mcp"),
        (http::Version::HTTP_2, "http://localhost:8000/mcp"),
    ] {
        h.request(request_as(version, uri, None));
        assert_eq!(h.requests().len(), 1, "{version:?} is served");
        h.take();
    }
    // With Host, HTTP/1.1 is served as always.
    h.request(request_as(
        http::Version::HTTP_11,
        "/mcp",
        Some("localhost"),
    ));
    assert_eq!(h.requests().len(), 1);
}

#[test]
fn t_ses_7_initialize_with_unknown_session_is_404() {
    let mut h = H::new(Config::default());
    // A client whose session ended re-sends initialize with the dead id:
    // 404 tells it the session is gone (X-16), and no session is created.
    let ex = h.post(
        Some("0123456789abcdef0123456789abcdef"),
        &init_body("2025-06-18"),
    );
    let (status, session, body) = reply(&h.take(), ex);
    assert_eq!(status, 404);
    assert!(session.is_none());
    assert!(body.contains("-32000"), "{body}");
    assert_eq!(h.s.session_count(), 0);
    // The same after a DELETE ended a real session.
    let (_, wire) = h.init("2025-06-18");
    h.delete(Some(&wire));
    h.take();
    let ex = h.post(Some(&wire), &init_body("2025-06-18"));
    assert_eq!(reply(&h.take(), ex).0, 404);
    // Unchanged: initialize naming a live session is refused with 400, and
    // initialize without a session starts one (never 404: that is the
    // legacy-transport probe signal, X-1).
    let (_, live) = h.init("2025-06-18");
    let ex = h.post(Some(&live), &init_body("2025-06-18"));
    assert_eq!(reply(&h.take(), ex).0, 400);
    let before = h.s.session_count();
    h.post(None, &init_body("2025-06-18"));
    assert_eq!(
        h.requests().last().map(|r| r.1.as_str()),
        Some("initialize")
    );
    assert_eq!(h.s.session_count(), before + 1);
}

/// An entropy source that fails its first `failures` draws (the OS
/// generator erroring), then counts.
struct FlakyEntropy {
    failures: usize,
    next: u128,
}

impl streamable_core::IdSource for FlakyEntropy {
    fn session_id(&mut self) -> Result<u128, streamable_core::EntropyUnavailable> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(streamable_core::EntropyUnavailable);
        }
        self.next += 1;
        Ok(self.next)
    }
}

#[test]
fn sbp_2_failed_entropy_answers_503_and_creates_no_session() {
    let mut s = streamable_core::Server::new(
        Config::default(),
        FlakyEntropy {
            failures: 1,
            next: 0,
        },
    );
    let init = || {
        http::Request::post("/mcp")
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .body(bytes::Bytes::from(init_body("2025-06-18")))
            .unwrap()
    };
    let ex = s.handle_request(Timestamp(0), init());
    let mut out = Vec::new();
    while let Some(o) = s.poll_output() {
        out.push(o);
    }
    s.check_invariants().expect("server invariants");
    // One answer: 503 with Retry-After and a JSON-RPC error; nothing is
    // delivered, no session exists, no timer is armed.
    let [
        Output::Reply {
            exchange,
            head,
            body,
        },
    ] = out.as_slice()
    else {
        panic!("one reply, nothing else: {out:?}");
    };
    assert_eq!(*exchange, ex);
    assert_eq!(head.status, 503);
    assert!(head.session_id.is_none());
    let headers = head.headers();
    let retry = headers
        .iter()
        .find(|(n, _)| *n == http::header::RETRY_AFTER)
        .map(|(_, v)| v.to_str().unwrap().to_owned())
        .expect("Retry-After");
    assert!(retry.parse::<u32>().is_ok_and(|n| n > 0), "{retry}");
    let body = std::str::from_utf8(body).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["jsonrpc"], "2.0");
    assert!(v["error"]["code"].is_i64(), "{body}");
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.poll_timeout(), None);
    // Once the source recovers, initialize works again.
    s.handle_request(Timestamp(1), init());
    assert!(std::iter::from_fn(|| s.poll_output()).any(|o| matches!(
        o,
        Output::Deliver(Delivery::Request { method, .. }) if method == "initialize"
    )));
    assert_eq!(s.session_count(), 1);
}

#[test]
fn t_ses_7_the_application_ends_a_session() {
    let mut h = H::new(Config::default());
    let (sk, wire) = h.init("2025-11-25");
    let get = h.get(Some(&wire), None);
    h.take();
    h.s.close_session(h.t(), sk).unwrap();
    h.drain();
    let out = h.take();
    assert!(closed(&out, get), "its standalone stream closes");
    assert_eq!(h.s.session_count(), 0);
    let later = h.post(Some(&wire), &req_body(2, "ping"));
    assert_eq!(reply(&h.take(), later).0, 404);
    assert_eq!(h.s.close_session(h.t(), sk), Err(SendError::Gone));
}

#[test]
fn idle_timeout_counts_from_the_last_activity() {
    let cfg = Config {
        idle_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let mut h = H::new(cfg);
    let (sk, wire) = h.init("2025-06-18");
    h.now = 5_000;
    let ping = h.post(Some(&wire), &req_body(1, "ping"));
    assert_eq!(reply(&h.take(), ping).0, 200);
    h.now = 10_000;
    h.s.handle_timeout(h.t());
    h.drain();
    assert!(h.s.session_wire_id(sk).is_some(), "touched at 5 s");
    h.now = 15_000;
    h.s.handle_timeout(h.t());
    h.drain();
    assert!(h.s.session_wire_id(sk).is_none());
}

#[test]
fn x_6_the_initialize_stream_is_not_primed_and_cannot_be_polled() {
    let mut h = H::new(sse());
    let ex = h.post(None, &init_body("2025-11-25"));
    let rk = delivered_request(&h);
    h.take();
    assert_eq!(
        h.s.end_connection(h.t(), Target::Request(rk)),
        Err(SendError::NotAllowed)
    );
    // A log message while initializing upgrades the exchange to SSE; the
    // stream still gets no priming event (nothing to resume before the
    // session exists).
    let log = RawJson::from_value(&serde_json::json!({"level": "info", "data": "x"}));
    h.s.notify(
        h.t(),
        Target::Request(rk),
        "notifications/message",
        Some(&log),
    )
    .unwrap();
    h.respond(
        rk,
        serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
    );
    let out = h.take();
    let f = frames(&out, ex);
    assert_eq!(f.len(), 2, "{out:?}");
    assert!(
        f.iter().all(|f| !f.contains("retry:")),
        "no priming event: {f:?}"
    );
}

#[test]
fn h_bc_5_the_era_of_a_post_is_told_by_its_session_header_and_body() {
    let mut h = H::new(Config::default());
    let (_, wire) = h.init("2025-11-25");
    let unknown = [("mcp-protocol-version", "2099-01-01")];
    // No session, no version header, no modern `_meta`: a legacy client
    // that forgot its session.
    let ex = h.post(None, &req_body(1, "tools/list"));
    let (status, _, body) = reply(&h.take(), ex);
    assert_eq!(status, 400);
    assert!(body.contains("Mcp-Session-Id"), "{body}");
    // An unknown version without a session: the modern era validates it
    // (here its missing `_meta` first).
    let ex = h.post_with(None, &req_body(2, "tools/list"), &unknown);
    let (status, _, body) = reply(&h.take(), ex);
    assert_eq!(status, 400);
    assert!(
        body.contains("io.modelcontextprotocol/protocolVersion"),
        "{body}"
    );
    // The same inside a session: the legacy era's refusal (T-VER-4).
    let ex = h.post_with(Some(&wire), &req_body(3, "tools/list"), &unknown);
    let (status, _, body) = reply(&h.take(), ex);
    assert_eq!(status, 400);
    assert!(body.contains("unsupported MCP-Protocol-Version"), "{body}");
    // Modern `_meta` inside a session does not make it modern.
    let meta = r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let ex = h.post(Some(&wire), meta);
    let (status, sid, _) = reply(&h.take(), ex);
    assert_eq!(status, 200);
    assert_eq!(
        sid.as_deref(),
        Some(wire.as_str()),
        "a legacy session answer"
    );
}

#[test]
fn t_psse_4_x_9_a_replaced_connection_is_told_when_to_come_back_only_where_streams_poll() {
    for (version, told) in [("2025-11-25", true), ("2025-06-18", false)] {
        let mut h = H::new(Config::default());
        let (sk, wire) = h.init(version);
        let g1 = h.get(Some(&wire), None);
        h.take();
        let msg = RawJson::from_value(&serde_json::json!({"level": "info", "data": "x"}));
        h.s.notify(
            h.t(),
            Target::Session(sk),
            "notifications/message",
            Some(&msg),
        )
        .unwrap();
        h.drain();
        let out = h.take();
        let cursor = frame_id(frames(&out, g1).last().unwrap()).unwrap();
        // The client reconnects with its cursor: the new connection
        // replaces the old one.
        let g2 = h.get(Some(&wire), Some(&cursor));
        let out = h.take();
        assert!(has_head(&out, g2) && closed(&out, g1), "{version}: {out:?}");
        let retry = frames(&out, g1).iter().any(|f| f.contains("retry:"));
        assert_eq!(retry, told, "{version}");
    }
}

#[test]
fn an_error_answer_carries_its_data() {
    let mut h = H::new(sse());
    let (_, wire) = h.init("2025-11-25");
    let ex = h.post(Some(&wire), &req_body(1, "tools/call"));
    let rk = delivered_request(&h);
    h.take();
    let data = RawJson::from_value(&serde_json::json!({"detail": "x".repeat(200)}));
    h.s.respond(
        h.t(),
        rk,
        Err(streamable_core::ErrorObject::new(-32602, "bad").with_data(data)),
    )
    .unwrap();
    h.drain();
    let f = frames(&h.take(), ex);
    assert!(
        f.iter()
            .any(|f| f.contains(r#""code":-32602"#) && f.contains(&"x".repeat(200))),
        "{f:?}"
    );
}

#[test]
fn t_res_5_exactly_the_configured_number_of_finished_streams_is_kept() {
    let mut h = H::new(Config {
        max_finished_streams_per_session: 2,
        ..sse()
    });
    let (_, wire) = h.init("2025-11-25");
    let mut last_ids = Vec::new();
    for id in 1..=3 {
        let ex = h.post(Some(&wire), &req_body(id, "tools/call"));
        let rk = delivered_request(&h);
        h.take();
        h.respond(rk, serde_json::json!({"content": []}));
        let f = frames(&h.take(), ex);
        last_ids.push(frame_id(f.last().unwrap()).unwrap());
    }
    // The two newest are kept: a resume at their end finds them finished.
    for cursor in &last_ids[1..] {
        let g = h.get(Some(&wire), Some(cursor));
        assert_eq!(reply(&h.take(), g).0, 204, "{cursor}");
    }
    // The oldest is forgotten.
    let g = h.get(Some(&wire), Some(&last_ids[0]));
    assert_ne!(reply(&h.take(), g).0, 204);
}
