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
