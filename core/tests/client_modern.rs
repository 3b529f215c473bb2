//! The core client in the 2026-07-28 era and era detection (Part B of the
//! requirements). Tested at the core level: the modern server is not built yet.

mod client_support;

use client_support::*;
use serde_json::json;
use streamable_core::client::{Era, EraPreference, Event, Failure};

fn auto() -> C {
    let mut cfg = config();
    cfg.era = EraPreference::Auto;
    C::new(cfg)
}

fn modern() -> C {
    let mut cfg = config();
    cfg.era = EraPreference::Modern;
    let mut c = C::new(cfg);
    assert!(matches!(
        &c.events()[..],
        [Event::Ready {
            era: Era::Modern,
            ..
        }]
    ));
    c
}

#[test]
fn h_bc_1_probe_success_selects_the_modern_era() {
    let mut c = auto();
    let probe = c.sent().remove(0);
    assert_eq!(probe.rpc_method().as_deref(), Some("server/discover"));
    assert_eq!(probe.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(probe.header("mcp-method"), Some("server/discover"));
    assert_eq!(probe.header("mcp-session-id"), None);
    let meta = &probe.json()["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert!(meta["io.modelcontextprotocol/clientCapabilities"].is_object());
    assert!(meta["io.modelcontextprotocol/clientInfo"]["name"].is_string());
    c.json(
        probe.id,
        200,
        None,
        &result_body(
            &probe.rpc_id(),
            json!({"supportedVersions": ["2026-07-28"]}),
        ),
    );
    let ev = c.events();
    assert!(
        matches!(
            &ev[..],
            [Event::Ready {
                era: Era::Modern,
                ..
            }]
        ),
        "{ev:?}"
    );
    assert_eq!(c.c.era(), Some(Era::Modern));
    // No initialize, no initialized notification.
    assert!(c.sent().is_empty());
}

#[test]
fn h_bc_1_unrecognised_400_falls_back_to_initialize() {
    for (status, body) in [
        (
            400u16,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Server not initialized"}}"#,
        ),
        (400, ""),
        (400, "not json"),
        (404, ""),
        (405, ""),
    ] {
        let mut c = auto();
        let probe = c.sent().remove(0);
        c.json(probe.id, status, None, body);
        let sent = c.sent();
        assert_eq!(sent.len(), 1, "{status} {body}");
        assert_eq!(sent[0].rpc_method().as_deref(), Some("initialize"));
        assert_eq!(sent[0].header("mcp-protocol-version"), None);
        c.pushback_sent(sent);
        c.handshake("s", "2025-11-25");
        assert_eq!(c.c.era(), Some(Era::Legacy));
    }
}

#[test]
fn h_bc_1_x_30_recognised_modern_errors_keep_the_modern_era() {
    for (status, code) in [(400u16, -32020), (400, -32021), (404, -32601)] {
        let mut c = auto();
        let probe = c.sent().remove(0);
        let body = json!({"jsonrpc":"2.0","id":probe.rpc_id(),"error":{"code":code,"message":"m"}});
        c.json(probe.id, status, None, &body.to_string());
        let ev = c.events();
        assert!(
            matches!(
                &ev[..],
                [Event::Ready {
                    era: Era::Modern,
                    ..
                }]
            ),
            "{code}: {ev:?}"
        );
        assert!(c.sent().is_empty());
    }
}

#[test]
fn h_ver_4_unsupported_version_picks_from_supported() {
    // Only legacy versions in common: initialize.
    let mut c = auto();
    let probe = c.sent().remove(0);
    let body = json!({"jsonrpc":"2.0","id":probe.rpc_id(),"error":{"code":-32022,"message":"unsupported",
        "data":{"supported":["2025-06-18","2025-11-25"],"requested":"2026-07-28"}}});
    c.json(probe.id, 400, None, &body.to_string());
    assert_eq!(c.sent()[0].rpc_method().as_deref(), Some("initialize"));
    // Nothing in common: closed with a clear failure.
    let mut c = auto();
    let probe = c.sent().remove(0);
    let body = json!({"jsonrpc":"2.0","error":{"code":-32022,"message":"unsupported","data":{"supported":["2031-01-01"]}}});
    c.json(probe.id, 400, None, &body.to_string());
    assert!(c.c.is_closed());
    assert!(matches!(
        c.events().last(),
        Some(Event::Closed {
            failure: Some(Failure::Unsupported(_))
        })
    ));
}

#[test]
fn h_post_2_h_hdr_1_h_meta_1_every_request_carries_its_metadata() {
    let mut c = modern();
    c.c.request(
        c.t(),
        "tools/call",
        Some(raw(
            json!({"name": "wëather", "arguments": {}, "_meta": {"progressToken": 5}}),
        )),
    )
    .unwrap();
    c.c.request(
        c.t(),
        "resources/read",
        Some(raw(json!({"uri": "file:///a.txt"}))),
    )
    .unwrap();
    c.c.request(c.t(), "tools/list", None).unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 3);
    for s in &sent {
        assert_eq!(s.header("mcp-protocol-version"), Some("2026-07-28"));
        assert_eq!(s.header("mcp-session-id"), None);
        assert_eq!(
            s.header("accept"),
            Some("application/json, text/event-stream")
        );
        let meta = &s.json()["params"]["_meta"];
        assert_eq!(
            meta["io.modelcontextprotocol/protocolVersion"],
            "2026-07-28"
        );
    }
    assert_eq!(sent[0].header("mcp-method"), Some("tools/call"));
    assert_eq!(sent[0].header("mcp-name"), Some("=?base64?d8OrYXRoZXI=?="));
    // The application's own _meta fields survive the merge.
    assert_eq!(sent[0].json()["params"]["_meta"]["progressToken"], 5);
    assert_eq!(sent[1].header("mcp-name"), Some("file:///a.txt"));
    assert_eq!(sent[2].header("mcp-method"), Some("tools/list"));
    assert_eq!(sent[2].header("mcp-name"), None);
}

#[test]
fn h_hdr_3_h_hdr_4_tools_list_teaches_parameter_headers_and_drops_bad_tools() {
    let mut c = modern();
    let list = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    let tools = json!({"tools": [
        {"name": "deploy", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "replicas": {"type": "integer", "x-mcp-header": "Replicas"}}}},
        {"name": "bad", "inputSchema": {"type": "object", "properties": {
            "x": {"type": "number", "x-mcp-header": "X"}}}},
        {"name": "plain", "inputSchema": {"type": "object"}}
    ]});
    c.json(post.id, 200, None, &result_body(&post.rpc_id(), tools));
    let ev = c.events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("bad"))),
        "{ev:?}"
    );
    let Some(Event::Response {
        request,
        outcome: Ok(result),
    }) = ev.iter().find(|e| matches!(e, Event::Response { .. }))
    else {
        panic!()
    };
    assert_eq!(*request, list);
    let names: Vec<_> = result.to_value()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["deploy", "plain"]);
    c.c.request(
        c.t(),
        "tools/call",
        Some(raw(
            json!({"name": "deploy", "arguments": {"region": "eu-1", "replicas": 3}}),
        )),
    )
    .unwrap();
    c.c.request(
        c.t(),
        "tools/call",
        Some(raw(
            json!({"name": "deploy", "arguments": {"region": null}}),
        )),
    )
    .unwrap();
    let sent = c.sent();
    assert_eq!(sent[0].header("mcp-param-region"), Some("eu-1"));
    assert_eq!(sent[0].header("mcp-param-replicas"), Some("3"));
    assert_eq!(sent[1].header("mcp-param-region"), None, "null is omitted");
}

#[test]
fn h_can_1_h_can_3_modern_cancel_closes_the_stream_and_sends_nothing() {
    let mut c = modern();
    let r =
        c.c.request(c.t(), "tools/call", Some(raw(json!({"name": "slow"}))))
            .unwrap();
    let post = c.sent().remove(0);
    c.sse_head(post.id, None);
    c.c.cancel(c.t(), r, None).unwrap();
    let (sent, aborted) = c.sent_and_aborted();
    assert!(sent.is_empty(), "no notifications/cancelled on HTTP");
    assert_eq!(aborted, vec![post.id]);
    c.body(
        post.id,
        &sse_event(None, &result_body(&post.rpc_id(), json!({}))),
    );
    assert!(c.events().is_empty());
}

#[test]
fn h_can_4_h_sse_6_broken_stream_reissues_with_a_new_id() {
    let mut c = modern();
    let r =
        c.c.request(c.t(), "tools/call", Some(raw(json!({"name": "t"}))))
            .unwrap();
    let post = c.sent().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, "id: 1\ndata: \n\n");
    c.error(post.id);
    let again = c.sent();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].method(), "POST", "no GET resumption in 2026-07-28");
    assert_ne!(again[0].rpc_id(), post.rpc_id());
    // Once only: a second break fails the request.
    c.sse_head(again[0].id, None);
    c.error(again[0].id);
    assert_eq!(
        c.events(),
        vec![Event::Failed {
            request: r,
            failure: Failure::StreamLost
        }]
    );
    assert!(c.sent().is_empty());
}

#[test]
fn h_sse_1_h_gen_2_notifications_related_requests_ignored() {
    let mut c = modern();
    let r =
        c.c.request(c.t(), "tools/call", Some(raw(json!({"name": "t"}))))
            .unwrap();
    let post = c.sent().remove(0);
    c.sse_head(post.id, None);
    c.body(post.id, ": keep-alive\n\n");
    c.body(
        post.id,
        &sse_event(
            None,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#,
        ),
    );
    c.body(
        post.id,
        &sse_event(
            None,
            r#"{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}"#,
        ),
    );
    c.body(
        post.id,
        &sse_event(
            None,
            &result_body(&post.rpc_id(), json!({"resultType": "complete"})),
        ),
    );
    let ev = c.events();
    assert!(matches!(&ev[0], Event::Notification { related: Some(x), .. } if *x == r));
    assert!(matches!(&ev[1], Event::Warning(_)));
    assert!(matches!(&ev[2], Event::Response { request, .. } if *request == r));
    assert_eq!(ev.len(), 3);
    // Nothing was sent back: a modern client never answers server requests.
    assert!(c.sent().is_empty());
}

#[test]
fn modern_close_sends_no_delete() {
    let mut c = modern();
    c.c.close(c.t());
    assert!(c.c.is_closed());
    assert!(c.sent().is_empty());
}

fn error_body(id: &serde_json::Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// A modern client that has learnt `tools` from one `tools/list`.
fn modern_with_tools(tools: serde_json::Value) -> C {
    let mut c = modern();
    c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(post.id, 200, None, &result_body(&post.rpc_id(), tools));
    assert!(matches!(&c.events()[..], [Event::Response { .. }]));
    c
}

fn deploy_declaring(headers: &[(&str, &str)]) -> serde_json::Value {
    let mut props = serde_json::Map::new();
    for (param, header) in ["region", "zone"].iter().zip(["Region", "Zone"]) {
        let mut p = json!({"type": "string"});
        if headers.iter().any(|(n, _)| n == param) {
            p["x-mcp-header"] = json!(header);
        }
        props.insert((*param).to_owned(), p);
    }
    json!({"tools": [{"name": "deploy", "inputSchema": {"type": "object", "properties": props}}]})
}

fn call_deploy(c: &mut C) -> streamable_core::client::RequestHandle {
    c.c.request(
        c.t(),
        "tools/call",
        Some(raw(
            json!({"name": "deploy", "arguments": {"region": "eu-1", "zone": "z1"}}),
        )),
    )
    .unwrap()
}

#[test]
fn h_hdr_6_param_mismatch_refreshes_tools_list_and_retries_with_the_new_header() {
    let mut c = modern_with_tools(deploy_declaring(&[("region", "Region")]));
    let r = call_deploy(&mut c);
    let call = c.sent().remove(0);
    assert_eq!(call.header("mcp-param-region"), Some("eu-1"));
    assert_eq!(call.header("mcp-param-zone"), None);
    // The server has since annotated `zone` too: -32020 (H-HDR-5).
    c.json(
        call.id,
        400,
        None,
        &error_body(
            &call.rpc_id(),
            -32020,
            "Header mismatch: the Mcp-Param-Zone header is required",
        ),
    );
    assert!(c.events().is_empty(), "nothing delivered yet");
    let list = c.sent();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].rpc_method().as_deref(), Some("tools/list"));
    assert_eq!(list[0].header("mcp-method"), Some("tools/list"));
    c.json(
        list[0].id,
        200,
        None,
        &result_body(
            &list[0].rpc_id(),
            deploy_declaring(&[("region", "Region"), ("zone", "Zone")]),
        ),
    );
    // The refresh itself is the machine's: no event for it.
    assert!(c.events().is_empty());
    let retry = c.sent();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].rpc_method().as_deref(), Some("tools/call"));
    assert_ne!(retry[0].rpc_id(), call.rpc_id(), "a new id");
    assert_eq!(retry[0].header("mcp-param-region"), Some("eu-1"));
    assert_eq!(retry[0].header("mcp-param-zone"), Some("z1"));
    c.json(
        retry[0].id,
        200,
        None,
        &result_body(&retry[0].rpc_id(), json!({"content": []})),
    );
    assert!(matches!(
        &c.events()[..],
        [Event::Response { request, outcome: Ok(_) }] if *request == r
    ));
    assert_eq!(c.c.poll_timeout(), None, "nothing left pending");
}

#[test]
fn h_hdr_6_one_refresh_per_call_then_the_mismatch_is_delivered() {
    let mut c = modern_with_tools(deploy_declaring(&[("region", "Region")]));
    let r = call_deploy(&mut c);
    let call = c.sent().remove(0);
    // The first mismatch comes as a JSON-RPC error on a 200 stream.
    c.sse_head(call.id, None);
    c.body(
        call.id,
        &sse_event(
            None,
            &error_body(&call.rpc_id(), -32020, "Mcp-Param-Region does not match"),
        ),
    );
    assert!(c.events().is_empty());
    let list = c.sent().remove(0);
    assert_eq!(list.rpc_method().as_deref(), Some("tools/list"));
    // Nothing changed on the server's side.
    c.json(
        list.id,
        200,
        None,
        &result_body(&list.rpc_id(), deploy_declaring(&[("region", "Region")])),
    );
    let retry = c.sent().remove(0);
    assert_ne!(retry.rpc_id(), call.rpc_id());
    let body = error_body(&retry.rpc_id(), -32020, "Mcp-Param-Region does not match");
    c.json(retry.id, 400, None, &body);
    // The second mismatch is the answer: no second refresh, no loop.
    let ev = c.events();
    match &ev[..] {
        [
            Event::Failed {
                request,
                failure:
                    Failure::Http {
                        status: 400,
                        error: Some(e),
                    },
            },
        ] => {
            assert_eq!(*request, r);
            assert_eq!(e.code, -32020);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.sent().is_empty());
}

#[test]
fn h_hdr_6_other_mismatches_are_not_retried_and_a_failed_refresh_gives_the_original_error() {
    // A -32020 about Mcp-Name (or not about a parameter header) is the answer.
    let mut c = modern_with_tools(deploy_declaring(&[("region", "Region")]));
    let r = call_deploy(&mut c);
    let call = c.sent().remove(0);
    let body = error_body(&call.rpc_id(), -32020, "Header mismatch: Mcp-Name");
    c.json(call.id, 400, None, &body);
    assert!(matches!(&c.events()[..], [Event::Failed { request, .. }] if *request == r));
    assert!(c.sent().is_empty());
    // Nor is a -32020 to anything but tools/call.
    let p =
        c.c.request(c.t(), "prompts/get", Some(raw(json!({"name": "p"}))))
            .unwrap();
    let post = c.sent().remove(0);
    let body = error_body(&post.rpc_id(), -32020, "Mcp-Param-X mismatch");
    c.json(post.id, 400, None, &body);
    assert!(matches!(&c.events()[..], [Event::Failed { request, .. }] if *request == p));
    assert!(c.sent().is_empty());

    // The refresh fails (500): the call gets its original -32020.
    let r = call_deploy(&mut c);
    let call = c.sent().remove(0);
    let body = error_body(&call.rpc_id(), -32020, "Mcp-Param-Zone is required");
    c.json(call.id, 400, None, &body);
    let list = c.sent().remove(0);
    c.json(list.id, 500, None, "");
    match &c.events()[..] {
        [
            Event::Failed {
                request,
                failure:
                    Failure::Http {
                        status: 400,
                        error: Some(e),
                    },
            },
        ] => {
            assert_eq!(*request, r);
            assert_eq!(e.message, "Mcp-Param-Zone is required");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.sent().is_empty());
}

#[test]
fn h_hdr_6_refresh_follows_next_cursor_serves_every_waiting_call_and_respects_the_timeout() {
    let mut c = modern_with_tools(deploy_declaring(&[("region", "Region")]));
    let a = call_deploy(&mut c);
    let b = call_deploy(&mut c);
    let calls = c.sent();
    let mismatch = |id: &serde_json::Value| error_body(id, -32020, "Mcp-Param-Zone is required");
    c.json(calls[0].id, 400, None, &mismatch(&calls[0].rpc_id()));
    c.json(calls[1].id, 400, None, &mismatch(&calls[1].rpc_id()));
    // One refresh for both calls.
    let list = c.sent();
    assert_eq!(list.len(), 1);
    c.json(
        list[0].id,
        200,
        None,
        &result_body(
            &list[0].rpc_id(),
            json!({"tools": [{"name": "other", "inputSchema": {"type": "object"}}], "nextCursor": "p2"}),
        ),
    );
    // `deploy` is not on page 1: page 2 is fetched with the cursor.
    let page2 = c.sent();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].json()["params"]["cursor"], "p2");
    c.json(
        page2[0].id,
        200,
        None,
        &result_body(
            &page2[0].rpc_id(),
            deploy_declaring(&[("region", "Region"), ("zone", "Zone")]),
        ),
    );
    let retries = c.sent();
    assert_eq!(retries.len(), 2);
    for s in &retries {
        assert_eq!(s.header("mcp-param-zone"), Some("z1"));
    }
    for s in &retries {
        c.json(s.id, 200, None, &result_body(&s.rpc_id(), json!({})));
    }
    let answered: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { request, .. } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(answered, vec![a, b]);

    // A refresh that never answers: the call still times out at its own
    // deadline (30 s from the call) with Failure::Timeout.
    let r = call_deploy(&mut c);
    let call = c.sent().remove(0);
    c.json(call.id, 400, None, &mismatch(&call.rpc_id()));
    c.sent();
    c.advance(30_000);
    let ev = c.events();
    assert_eq!(
        ev,
        vec![Event::Failed {
            request: r,
            failure: Failure::Timeout
        }]
    );
    assert_eq!(c.c.poll_timeout(), None);
}

fn cached(era: Era) -> C {
    let mut cfg = config();
    cfg.era = EraPreference::Cached(era);
    C::new(cfg)
}

#[test]
fn h_bc_2_cached_modern_era_skips_the_probe() {
    let mut c = cached(Era::Modern);
    assert!(matches!(
        &c.events()[..],
        [Event::Ready {
            era: Era::Modern,
            ..
        }]
    ));
    assert!(c.sent().is_empty(), "no server/discover");
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    assert_eq!(post.header("mcp-protocol-version"), Some("2026-07-28"));
    c.json(
        post.id,
        200,
        None,
        &result_body(&post.rpc_id(), json!({"tools": []})),
    );
    assert!(matches!(&c.events()[..], [Event::Response { request, .. }] if *request == r));
    // Confirmed: a later non-modern 400 is an ordinary failure, no probe.
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(post.id, 400, None, "");
    assert!(matches!(&c.events()[..], [Event::Failed { request, .. }] if *request == r));
    assert!(c.sent().is_empty());
    assert_eq!(c.c.era(), Some(Era::Modern));
}

#[test]
fn h_bc_2_cached_modern_refused_probes_again_and_resends_in_the_legacy_era() {
    let mut c = cached(Era::Modern);
    c.events();
    let a = c.c.request(c.t(), "tools/list", None).unwrap();
    let b = c.c.request(c.t(), "prompts/list", None).unwrap();
    let sent = c.sent();
    assert_eq!(sent.len(), 2);
    // The server is legacy now: a session-less request is a 400.
    let legacy_400 = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: No valid session ID provided"}}"#;
    c.json(sent[0].id, 400, None, legacy_400);
    assert!(
        c.events()
            .iter()
            .any(|e| matches!(e, Event::Warning(w) if w.contains("cached"))),
    );
    let probe = c.sent().remove(0);
    assert_eq!(probe.rpc_method().as_deref(), Some("server/discover"));
    // The second request, sent under the same assumption, is refused too
    // while the probe runs: it waits as well, it is not failed.
    c.json(sent[1].id, 400, None, legacy_400);
    assert!(c.events().is_empty());
    c.json(probe.id, 400, None, legacy_400);
    let init = c.sent().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    c.pushback_sent(vec![init]);
    c.handshake("s", "2025-11-25");
    assert_eq!(c.c.era(), Some(Era::Legacy));
    let again = c.sent_all();
    let methods: Vec<_> = again.iter().map(|s| s.rpc_method()).collect();
    assert_eq!(
        methods,
        vec![Some("tools/list".into()), Some("prompts/list".into())]
    );
    for s in &again {
        assert_eq!(s.header("mcp-session-id"), Some("s"));
        assert!(s.json()["params"].get("_meta").is_none());
        c.json(s.id, 200, None, &result_body(&s.rpc_id(), json!({})));
    }
    let answered: Vec<_> = c
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { request, .. } => Some(request),
            _ => None,
        })
        .collect();
    assert_eq!(answered, vec![a, b]);
}

#[test]
fn h_bc_2_cached_modern_kept_on_a_recognised_modern_error() {
    let mut c = cached(Era::Modern);
    c.events();
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(
        post.id,
        400,
        None,
        &error_body(&post.rpc_id(), -32021, "missing capability"),
    );
    assert!(matches!(&c.events()[..], [Event::Failed { request, .. }] if *request == r));
    assert!(
        c.sent().is_empty(),
        "no probe: the server speaks 2026-07-28"
    );
    // And now it is confirmed: a bare 400 is an ordinary failure.
    c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(post.id, 400, None, "");
    assert!(c.sent().is_empty());
}

#[test]
fn h_bc_2_cached_legacy_era_initializes_at_once_and_probes_when_refused() {
    // The assumption holds: initialize straight away, no probe.
    let mut c = cached(Era::Legacy);
    c.handshake("s", "2025-11-25");
    assert_eq!(c.c.era(), Some(Era::Legacy));
    // The server became modern-only: initialize refused (H-BC-4).
    let mut c = cached(Era::Legacy);
    let init = c.sent().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    let body = json!({"jsonrpc":"2.0","id":init.rpc_id(),"error":{"code":-32022,
        "message":"unsupported","data":{"supported":["2026-07-28"]}}});
    c.json(init.id, 400, None, &body.to_string());
    let probe = c.sent().remove(0);
    assert_eq!(probe.rpc_method().as_deref(), Some("server/discover"));
    c.json(
        probe.id,
        200,
        None,
        &result_body(&probe.rpc_id(), json!({})),
    );
    let ev = c.events();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::Ready {
                era: Era::Modern,
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(c.c.era(), Some(Era::Modern));
    // A legacy server refusing the probe and then initialize closes the
    // client instead of looping.
    let mut c = cached(Era::Legacy);
    let init = c.sent().remove(0);
    c.json(init.id, 500, None, "");
    let probe = c.sent().remove(0);
    c.json(probe.id, 404, None, "");
    let init = c.sent().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    c.json(init.id, 500, None, "");
    assert!(c.c.is_closed());
    assert!(c.sent().is_empty());
}

#[test]
fn x_21_h_bc_2_only_the_initialize_head_names_the_session() {
    // A cached modern era proves wrong while a second request is still in
    // flight; that request's late success (echoing some session id) must
    // not name the session the legacy handshake is creating.
    let mut c = cached(Era::Modern);
    c.events();
    c.c.request(c.t(), "tools/list", None).unwrap();
    c.c.request(c.t(), "prompts/list", None).unwrap();
    let sent = c.sent();
    c.json(sent[0].id, 404, None, "");
    let probe = c.sent().remove(0);
    assert_eq!(probe.rpc_method().as_deref(), Some("server/discover"));
    c.json(probe.id, 404, None, "");
    let init = c.sent().remove(0);
    assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
    c.head(
        init.id,
        200,
        &[
            ("content-type", "application/json"),
            ("mcp-session-id", "sess-new"),
        ],
    );
    c.json(
        sent[1].id,
        200,
        Some("sess-other"),
        &result_body(&sent[1].rpc_id(), json!({"prompts": []})),
    );
    c.body(
        init.id,
        &result_body(&init.rpc_id(), json!({"protocolVersion": "2025-11-25"})),
    );
    c.end(init.id);
    assert_eq!(c.c.session_id(), Some("sess-new"));
}

#[test]
fn h_hdr_4_a_legacy_tools_list_is_passed_on_untouched() {
    // Header mirroring is a 2026-07-28 matter: a legacy server's tools
    // are the application's business, annotations or not.
    let mut c = C::new(config());
    c.handshake("s", "2025-11-25");
    let list = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent_all().remove(0);
    let tools = json!({"tools": [
        {"name": "bad", "inputSchema": {"type": "object", "properties": {
            "x": {"type": "number", "x-mcp-header": "X"}}}}]});
    c.json(
        post.id,
        200,
        None,
        &result_body(&post.rpc_id(), tools.clone()),
    );
    let ev = c.events();
    assert!(
        matches!(&ev[..], [Event::Response { request, outcome: Ok(r) }]
            if *request == list && r.to_value() == tools),
        "{ev:?}"
    );
}

#[test]
fn h_bc_1_method_not_found_in_status_200_is_a_legacy_server() {
    // -32601 marks the modern era only with a 404 (the 2026-07-28
    // answer to an unknown method); in a 200 it is a legacy server's
    // JSON-RPC error for `server/discover`.
    let mut c = auto();
    let probe = c.sent().remove(0);
    let body = json!({"jsonrpc":"2.0","id":probe.rpc_id(),"error":{"code":-32601,"message":"Method not found"}});
    c.json(probe.id, 200, None, &body.to_string());
    let sent = c.sent();
    assert_eq!(sent[0].rpc_method().as_deref(), Some("initialize"));
}

#[test]
fn h_bc_1_a_server_error_to_the_probe_closes_without_guessing_the_era() {
    let mut c = auto();
    let probe = c.sent().remove(0);
    c.json(probe.id, 500, None, "");
    assert!(c.sent().is_empty(), "no initialize");
    assert!(c.c.is_closed());
    assert!(matches!(
        c.events().last(),
        Some(Event::Closed {
            failure: Some(Failure::Http { status: 500, .. })
        })
    ));
}

#[test]
fn h_bc_2_a_cached_legacy_era_refused_by_an_error_in_status_200_probes_too() {
    // The refusal may come as a JSON-RPC error in a 200 (a server that
    // answers every request so).
    let mut c = cached(Era::Legacy);
    let init = c.sent().remove(0);
    let body =
        json!({"jsonrpc":"2.0","id":init.rpc_id(),"error":{"code":-32602,"message":"unsupported"}});
    c.json(init.id, 200, None, &body.to_string());
    let probe = c.sent().remove(0);
    assert_eq!(probe.rpc_method().as_deref(), Some("server/discover"));
    assert!(!c.c.is_closed());
}

#[test]
fn h_bc_2_a_server_error_in_the_assumed_modern_era_fails_the_request_only() {
    // A 500 says nothing about the era: the request fails, no probe.
    let mut c = cached(Era::Modern);
    c.events();
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(post.id, 500, None, "");
    assert!(c.sent().is_empty(), "no server/discover");
    assert!(matches!(
        &c.events()[..],
        [Event::Failed { request, failure: Failure::Http { status: 500, .. } }] if *request == r
    ));
    assert_eq!(c.c.era(), Some(Era::Modern));
}

#[test]
fn h_bc_2_after_redetection_a_plain_400_fails_the_request() {
    // The cached legacy era proved wrong and the probe found the modern
    // era: from now on nothing is assumed, so a 400 is an answer.
    let mut c = cached(Era::Legacy);
    let init = c.sent().remove(0);
    c.json(init.id, 400, None, "");
    let probe = c.sent().remove(0);
    c.json(
        probe.id,
        200,
        None,
        &result_body(&probe.rpc_id(), json!({})),
    );
    assert_eq!(c.c.era(), Some(Era::Modern));
    c.events();
    let r = c.c.request(c.t(), "tools/list", None).unwrap();
    let post = c.sent().remove(0);
    c.json(post.id, 400, None, "");
    assert!(matches!(
        &c.events()[..],
        [Event::Failed { request, .. }] if *request == r
    ));
    assert!(c.sent().is_empty(), "neither re-sent nor probed");
}

#[test]
fn h_hdr_6_a_refresh_reads_at_most_sixteen_pages() {
    let mut c = modern_with_tools(deploy_declaring(&[("region", "Region")]));
    call_deploy(&mut c);
    let call = c.sent().remove(0);
    c.json(
        call.id,
        400,
        None,
        &error_body(&call.rpc_id(), -32020, "Mcp-Param-Zone is required"),
    );
    // A server whose every page points to another and never lists `deploy`.
    let mut pages = 0;
    let last = loop {
        let sent = c.sent();
        let Some(list) = sent
            .iter()
            .find(|s| s.rpc_method().as_deref() == Some("tools/list"))
        else {
            break sent;
        };
        pages += 1;
        assert!(pages <= 40, "the refresh never stops");
        c.json(
            list.id,
            200,
            None,
            &result_body(
                &list.rpc_id(),
                json!({"tools": [], "nextCursor": format!("p{pages}")}),
            ),
        );
    };
    assert_eq!(pages, 16, "MAX_REFRESH_PAGES in all");
    // Then the call is retried with what is known.
    let methods: Vec<_> = last.iter().map(|s| s.rpc_method()).collect();
    assert_eq!(methods, vec![Some("tools/call".to_owned())]);
}
