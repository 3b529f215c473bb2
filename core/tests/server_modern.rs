//! The 2026-07-28 era on the dual-era endpoint, one test per requirement of
//! `docs/requirements.md` Part B (H-*), plus the era product (H-BC-5).

mod common;

use common::*;
use serde_json::{Value, json};
use streamable_core::{
    Config, Delivery, ErrorObject, ExchangeId, Output, RawJson, RequestKey, ResponseMode,
    SendError, SubscriptionSupport, Target, code, mirror,
};

const V: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
    })
}

fn body(id: i64, method: &str, mut params: Value) -> String {
    params["_meta"] = meta();
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A well-formed modern POST: version header, `Mcp-Method`, `Mcp-Name`
/// where the method needs one (encoded per H-HDR-2).
fn modern(h: &mut H, id: i64, method: &str, params: Value) -> ExchangeId {
    modern_with(h, id, method, params, &[])
}

fn modern_with(
    h: &mut H,
    id: i64,
    method: &str,
    params: Value,
    extra: &[(&str, &str)],
) -> ExchangeId {
    let name = mirror::name_field(method)
        .and_then(|f| params.get(f))
        .and_then(Value::as_str)
        .map(mirror::encode_value);
    let mut headers: Vec<(&str, &str)> = vec![("mcp-protocol-version", V), ("mcp-method", method)];
    if let Some(n) = &name {
        headers.push(("mcp-name", n));
    }
    headers.extend_from_slice(extra);
    h.post_with(None, &body(id, method, params), &headers)
}

fn error_of(body: &str) -> (i64, Value) {
    let v: Value = serde_json::from_str(body).unwrap();
    (
        v["error"]["code"].as_i64().expect("an error body"),
        v["error"].clone(),
    )
}

fn only_request(h: &H) -> RequestKey {
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1, "one request delivered: {:?}", h.out);
    reqs[0].0
}

fn json_of_frame(frame: &str) -> Value {
    let data: String = frame
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    serde_json::from_str(&data).unwrap()
}

#[test]
fn h_post_5_request_answered_with_json_and_result_type_h_res_1() {
    let mut h = H::new(Config::default());
    let ex = modern(&mut h, 1, "tools/list", json!({}));
    let out = h.take();
    let Some(Output::Deliver(Delivery::Request {
        session, method, ..
    })) = out.first()
    else {
        panic!("{out:?}")
    };
    assert_eq!((session, method.as_str()), (&None, "tools/list"));
    let rk = h.requests().first().map(|r| r.0);
    let rk = rk.unwrap_or_else(|| match &out[0] {
        Output::Deliver(Delivery::Request { request, .. }) => *request,
        _ => unreachable!(),
    });
    h.respond(rk, json!({"tools": []}));
    let out = h.take();
    let (status, session, body) = reply(&out, ex);
    assert_eq!(status, 200);
    assert_eq!(session, None, "H-BC-3: no session id is minted");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["tools"], json!([]));
    assert_eq!(h.s.session_count(), 0);
}

#[test]
fn h_post_4_notification_gets_202_and_is_delivered_without_session() {
    let mut h = H::new(Config::default());
    let b = json!({"jsonrpc":"2.0","method":"notifications/something","params":{"_meta": meta()}})
        .to_string();
    let ex = h.post_with(None, &b, &[("mcp-protocol-version", V)]);
    let out = h.take();
    assert_eq!(reply(&out, ex), (202, None, String::new()));
    assert!(out.iter().any(|o| matches!(o, Output::Deliver(Delivery::Notification { session: None, method, .. }) if method == "notifications/something")));
}

#[test]
fn h_gen_2_h_post_3_responses_and_batches_are_refused() {
    let mut h = H::new(Config::default());
    let resp = h.post_with(
        None,
        r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
        &[("mcp-protocol-version", V)],
    );
    let batch = h.post_with(
        None,
        &format!("[{}]", body(1, "tools/list", json!({}))),
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
    );
    let out = h.take();
    for ex in [resp, batch] {
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 400);
        assert_eq!(error_of(&b).0, code::INVALID_REQUEST);
    }
    assert!(h.requests().is_empty());
}

#[test]
fn h_ver_6_missing_version_header_with_modern_meta_is_400_header_mismatch() {
    let mut h = H::new(Config::default());
    let ex = h.post_with(
        None,
        &body(1, "tools/list", json!({})),
        &[("mcp-method", "tools/list")],
    );
    let out = h.take();
    let (status, _, b) = reply(&out, ex);
    assert_eq!(status, 400);
    let (c, e) = error_of(&b);
    assert_eq!(c, code::HEADER_MISMATCH);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("MCP-Protocol-Version")
    );
    assert!(h.requests().is_empty());
}

#[test]
fn h_ver_2_header_and_meta_must_agree() {
    let mut h = H::new(Config::default());
    let mut p = json!({});
    p["_meta"] = meta();
    p["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2025-11-25");
    let b = json!({"jsonrpc":"2.0","id":7,"method":"tools/list","params":p}).to_string();
    let ex = h.post_with(
        None,
        &b,
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
    );
    let out = h.take();
    let (status, _, b) = reply(&out, ex);
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["error"]["code"], code::HEADER_MISMATCH);
    assert_eq!(
        v["id"], 7,
        "the error names the request when it is readable"
    );
    assert!(h.requests().is_empty());
}

#[test]
fn h_ver_3_unsupported_version_is_400_with_supported_and_requested() {
    let mut h = H::new(Config::default());
    let mut p = json!({});
    p["_meta"] = meta();
    p["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let b = json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":p}).to_string();
    let ex = h.post_with(
        None,
        &b,
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
    );
    let out = h.take();
    let (status, _, b) = reply(&out, ex);
    assert_eq!(status, 400);
    let (c, e) = error_of(&b);
    assert_eq!(c, code::UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(e["data"]["requested"], "2099-01-01");
    let supported: Vec<&str> = e["data"]["supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        supported,
        ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]
    );
}

#[test]
fn h_meta_1_missing_meta_fields_are_400_invalid_params() {
    let mut h = H::new(Config::default());
    let b = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    let ex = h.post_with(
        None,
        b,
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
    );
    let none = h.post_with(
        None,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        &[("mcp-protocol-version", V), ("mcp-method", "tools/list")],
    );
    let out = h.take();
    for ex in [ex, none] {
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 400);
        let (c, e) = error_of(&b);
        assert_eq!(c, code::INVALID_PARAMS);
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("clientCapabilities")
        );
    }
    assert!(h.requests().is_empty());
}

#[test]
fn h_hdr_1_mcp_method_is_required_and_must_match() {
    let mut h = H::new(Config::default());
    let missing = h.post_with(
        None,
        &body(1, "tools/list", json!({})),
        &[("mcp-protocol-version", V)],
    );
    let wrong = h.post_with(
        None,
        &body(2, "tools/list", json!({})),
        &[("mcp-protocol-version", V), ("mcp-method", "Tools/List")],
    );
    let twice = h.post_with(
        None,
        &body(3, "tools/list", json!({})),
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "tools/list"),
            ("mcp-method", "tools/list"),
        ],
    );
    let out = h.take();
    for ex in [missing, wrong, twice] {
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 400);
        assert_eq!(
            error_of(&b).0,
            code::HEADER_MISMATCH,
            "H-HDR-8: values are case-sensitive"
        );
    }
    assert!(h.requests().is_empty());
}

#[test]
fn h_hdr_1_h_hdr_2_mcp_name_is_decoded_and_compared() {
    let mut h = H::new(Config::default());
    // Plain and sentinel-encoded names both pass.
    modern(
        &mut h,
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {}}),
    );
    modern(&mut h, 2, "prompts/get", json!({"name": "Grüße"}));
    modern(&mut h, 3, "resources/read", json!({"uri": "file:///a b"}));
    assert_eq!(h.requests().len(), 3);
    h.take();
    let bad = [
        // missing
        h.post_with(
            None,
            &body(4, "tools/call", json!({"name": "echo"})),
            &[("mcp-protocol-version", V), ("mcp-method", "tools/call")],
        ),
        // mismatch
        h.post_with(
            None,
            &body(5, "tools/call", json!({"name": "echo"})),
            &[
                ("mcp-protocol-version", V),
                ("mcp-method", "tools/call"),
                ("mcp-name", "rm"),
            ],
        ),
        // the sentinel decoded differs from the body
        h.post_with(
            None,
            &body(6, "tools/call", json!({"name": "echo"})),
            &[
                ("mcp-protocol-version", V),
                ("mcp-method", "tools/call"),
                ("mcp-name", &mirror::encode_value("ech\u{f6}")),
            ],
        ),
        // broken base64
        h.post_with(
            None,
            &body(7, "resources/read", json!({"uri": "x"})),
            &[
                ("mcp-protocol-version", V),
                ("mcp-method", "resources/read"),
                ("mcp-name", "=?base64?***?="),
            ],
        ),
    ];
    let out = h.take();
    for ex in bad {
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 400, "{b}");
        assert_eq!(error_of(&b).0, code::HEADER_MISMATCH);
    }
    assert!(
        h.requests().is_empty(),
        "INV-S24: nothing mismatched is dispatched"
    );
}

#[test]
fn h_hdr_3_h_hdr_5_mirrored_tool_parameters_are_checked() {
    let mut h = H::new(Config::default());
    let schema = json!({"type":"object","properties":{
        "region": {"type":"string","x-mcp-header":"Region"},
        "limit": {"type":"integer","x-mcp-header":"Limit"},
        "dry": {"type":"boolean","x-mcp-header":"Dry"}}});
    h.s.set_tool_param_headers("sql", mirror::param_headers(&schema).unwrap());
    let args = |a: Value| json!({"name": "sql", "arguments": a});
    // Agreeing headers (case-insensitive names, numeric integer compare).
    modern_with(
        &mut h,
        1,
        "tools/call",
        args(json!({"region": "us-west1", "limit": 42, "dry": true})),
        &[
            ("MCP-PARAM-REGION", "us-west1"),
            ("mcp-param-limit", "42.0"),
            ("mcp-param-dry", "true"),
        ],
    );
    // Absent and null values need no header.
    modern_with(&mut h, 2, "tools/call", args(json!({"region": null})), &[]);
    assert_eq!(h.requests().len(), 2);
    h.take();
    let cases: [(Value, Vec<(&str, &str)>); 5] = [
        // value present, header missing
        (json!({"region": "eu"}), vec![]),
        // header differs
        (json!({"region": "eu"}), vec![("mcp-param-region", "us")]),
        // integer differs
        (json!({"limit": 1}), vec![("mcp-param-limit", "2")]),
        // header without a value
        (json!({}), vec![("mcp-param-dry", "false")]),
        // invalid characters in a recognised header
        (
            json!({"region": "é"}),
            vec![("mcp-param-region", "=?base64?%%?=")],
        ),
    ];
    let mut exs = Vec::new();
    for (i, (a, hs)) in cases.into_iter().enumerate() {
        exs.push(modern_with(
            &mut h,
            10 + i as i64,
            "tools/call",
            args(a),
            &hs,
        ));
    }
    let out = h.take();
    for ex in exs {
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 400, "{b}");
        assert_eq!(error_of(&b).0, code::HEADER_MISMATCH);
    }
    assert!(h.requests().is_empty());
    // Unrecognised Mcp-Param headers are ignored (H-HDR-7).
    modern_with(
        &mut h,
        20,
        "tools/call",
        json!({"name": "other", "arguments": {}}),
        &[("mcp-param-whatever", "x")],
    );
    assert_eq!(h.requests().len(), 1);
}

#[test]
fn h_ver_5_unknown_method_is_404_with_method_not_found() {
    for mode in [ResponseMode::Auto, ResponseMode::Json, ResponseMode::Sse] {
        let mut h = H::new(Config {
            response_mode: mode,
            ..Config::default()
        });
        let ex = modern(&mut h, 1, "nope/nothing", json!({}));
        let rk = only_request(&h);
        h.take();
        h.s.respond(
            h.t(),
            rk,
            Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
        )
        .unwrap();
        h.drain();
        let out = h.take();
        let (status, _, b) = reply(&out, ex);
        assert_eq!(status, 404, "{mode:?}");
        assert_eq!(error_of(&b).0, code::METHOD_NOT_FOUND);
    }
}

#[test]
fn h_ver_7_discover_gets_the_transports_supported_versions() {
    let mut h = H::new(Config::default());
    let ex = modern(&mut h, 1, "server/discover", json!({}));
    let rk = only_request(&h);
    h.take();
    h.respond(
        rk,
        json!({"capabilities": {"tools": {}}, "supportedVersions": ["bogus"]}),
    );
    let out = h.take();
    let v: Value = serde_json::from_str(&reply(&out, ex).2).unwrap();
    assert_eq!(
        v["result"]["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(v["result"]["capabilities"], json!({"tools": {}}));
}

#[test]
fn h_sse_1_h_sse_3_h_sse_4_notifications_then_response_end_the_stream() {
    let mut h = H::new(Config::default());
    let ex = modern(&mut h, 1, "tools/call", json!({"name": "slow"}));
    let rk = only_request(&h);
    h.take();
    assert_eq!(h.s.stateless_in_flight(), 1);
    let progress = RawJson::from_value(&json!({"progressToken": 1, "progress": 1}));
    h.s.notify(
        h.t(),
        Target::Request(rk),
        "notifications/progress",
        Some(&progress),
    )
    .unwrap();
    h.drain();
    h.respond(rk, json!({"content": []}));
    let out = h.take();
    let head = out
        .iter()
        .find_map(|o| match o {
            Output::StreamHead { exchange, head } if *exchange == ex => Some(head.clone()),
            _ => None,
        })
        .expect("an SSE head");
    assert!(head.session_id.is_none());
    let headers = head.headers();
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "x-accel-buffering" && v == "no"),
        "H-SSE-4"
    );
    let fs = frames(&out, ex);
    assert_eq!(fs.len(), 2);
    assert!(
        fs.iter().all(|f| frame_id(f).is_none()),
        "H-SSE-6: no resumable ids"
    );
    assert_eq!(json_of_frame(&fs[0])["method"], "notifications/progress");
    assert_eq!(json_of_frame(&fs[1])["result"]["resultType"], "complete");
    assert!(closed(&out, ex));
    h.s.check_invariants().expect("server invariants");
    assert_eq!(h.s.stateless_in_flight(), 0);
}

#[test]
fn x31_json_mode_carries_only_the_response() {
    let mut h = H::new(Config {
        response_mode: ResponseMode::Json,
        ..Config::default()
    });
    modern(&mut h, 1, "tools/call", json!({"name": "x"}));
    let rk = only_request(&h);
    assert_eq!(
        h.s.notify(h.t(), Target::Request(rk), "notifications/progress", None),
        Err(SendError::JsonMode)
    );
}

#[test]
fn h_can_1_h_can_2_closing_the_stream_cancels_and_nothing_more_is_sent() {
    let mut h = H::new(Config::default());
    let ex = modern(&mut h, 1, "tools/call", json!({"name": "slow"}));
    let rk = only_request(&h);
    h.s.notify(h.t(), Target::Request(rk), "notifications/progress", None)
        .unwrap();
    h.drain();
    h.take();
    h.s.handle_disconnect(h.t(), ex);
    h.drain();
    let out = h.take();
    assert!(
        matches!(out.as_slice(), [Output::Deliver(Delivery::Cancelled { session: None, request, .. })] if *request == rk),
        "{out:?}"
    );
    // INV-S23: after the close nothing is emitted for the request.
    assert_eq!(
        h.s.notify(h.t(), Target::Request(rk), "notifications/progress", None),
        Err(SendError::Gone)
    );
    assert_eq!(
        h.s.respond(h.t(), rk, Ok(RawJson::empty_object())),
        Err(SendError::Gone)
    );
    h.drain();
    assert!(h.take().is_empty());
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn h_sse_2_no_server_to_client_requests_in_the_modern_era() {
    let mut h = H::new(Config::default());
    modern(&mut h, 1, "tools/call", json!({"name": "needs-input"}));
    let rk = only_request(&h);
    assert_eq!(
        h.s.request_client(h.t(), Target::Request(rk), "sampling/createMessage", None),
        Err(SendError::Stateless)
    );
    // Closing a modern stream is a cancellation, so the server cannot poll.
    assert_eq!(
        h.s.end_connection(h.t(), Target::Request(rk)),
        Err(SendError::Stateless)
    );
    // An InputRequiredResult passes through as an ordinary result (MRTR).
    h.take();
    let ex = ExchangeId(1);
    h.respond(
        rk,
        json!({"resultType": "input_required", "inputRequests": {"a": {"method": "roots/list"}}}),
    );
    let out = h.take();
    let v: Value = serde_json::from_str(&reply(&out, ex).2).unwrap();
    assert_eq!(v["result"]["resultType"], "input_required");
}

#[test]
fn h_bc_3_session_id_and_last_event_id_are_ignored_and_get_delete_are_405() {
    let mut h = H::new(Config::default());
    let (_sk, wire) = h.init("2025-11-25");
    h.take();
    // A modern request naming a live session is still stateless.
    let ex = h.post_with(
        Some(&wire),
        &body(1, "tools/list", json!({})),
        &[
            ("mcp-protocol-version", V),
            ("mcp-method", "tools/list"),
            ("last-event-id", "1-0"),
        ],
    );
    let out = h.take();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Deliver(Delivery::Request { session: None, .. })))
    );
    let rk = h.requests().pop().map(|r| r.0);
    let _ = rk;
    let rk = match out.iter().find_map(|o| match o {
        Output::Deliver(Delivery::Request { request, .. }) => Some(*request),
        _ => None,
    }) {
        Some(r) => r,
        None => panic!(),
    };
    h.respond(rk, json!({"tools": []}));
    let out = h.take();
    assert_eq!(reply(&out, ex).1, None, "no session id echoed");
    // GET and DELETE in the modern era: 405 even with a live session id.
    let g = h.request(
        http::Request::get("/mcp")
            .header("host", "localhost")
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &wire)
            .header("mcp-protocol-version", V)
            .body(bytes::Bytes::new())
            .unwrap(),
    );
    let d = h.request(
        http::Request::delete("/mcp")
            .header("host", "localhost")
            .header("mcp-session-id", &wire)
            .header("mcp-protocol-version", V)
            .body(bytes::Bytes::new())
            .unwrap(),
    );
    let out = h.take();
    assert_eq!(reply(&out, g).0, 405);
    assert_eq!(reply(&out, d).0, 405);
    assert_eq!(h.s.session_count(), 1, "the legacy session is untouched");
}

#[test]
fn h_bc_5_both_eras_interleave_on_one_server() {
    let mut h = H::new(Config::default());
    let (sk, wire) = h.init("2025-06-18");
    h.take();
    let legacy = h.post(Some(&wire), &req_body(1, "tools/call"));
    let modern_ex = modern(&mut h, 1, "tools/call", json!({"name": "x"}));
    let out = h.take();
    let mut reqs = out.iter().filter_map(|o| match o {
        Output::Deliver(Delivery::Request {
            session, request, ..
        }) => Some((*session, *request)),
        _ => None,
    });
    let (s1, r1) = reqs.next().unwrap();
    let (s2, r2) = reqs.next().unwrap();
    assert_eq!((s1, s2), (Some(sk), None));
    // Same JSON-RPC id in both eras; each answer goes to its own exchange
    // (INV-S18).
    h.respond(r2, json!({"who": "modern"}));
    h.respond(r1, json!({"who": "legacy"}));
    let out = h.take();
    let l: Value = serde_json::from_str(&reply(&out, legacy).2).unwrap();
    let m: Value = serde_json::from_str(&reply(&out, modern_ex).2).unwrap();
    assert_eq!(l["result"]["who"], "legacy");
    assert!(
        l["result"].get("resultType").is_none(),
        "legacy results are untouched"
    );
    assert_eq!(m["result"]["who"], "modern");
    // Legacy disconnect is not a cancellation (X-13); modern is.
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn x13_legacy_disconnect_is_not_cancellation_modern_is() {
    let mut h = H::new(Config::default());
    let (_sk, wire) = h.init("2025-06-18");
    h.take();
    let legacy = h.post(Some(&wire), &req_body(1, "tools/call"));
    let m = modern(&mut h, 1, "tools/call", json!({"name": "x"}));
    h.take();
    h.s.handle_disconnect(h.t(), legacy);
    h.s.handle_disconnect(h.t(), m);
    h.drain();
    let out = h.take();
    let cancelled: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Deliver(Delivery::Cancelled { session, .. }) => Some(*session),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, [None], "only the modern request is cancelled");
}

fn listen(h: &mut H, id: i64, notifications: Value) -> ExchangeId {
    modern(
        h,
        id,
        "subscriptions/listen",
        json!({"notifications": notifications}),
    )
}

#[test]
fn h_sub_1_h_sub_2_h_sub_3_listen_acknowledges_filters_and_tags() {
    let mut h = H::new(Config {
        subscriptions: SubscriptionSupport {
            prompts_list_changed: false,
            ..SubscriptionSupport::default()
        },
        ..Config::default()
    });
    let a = listen(
        &mut h,
        1,
        json!({"toolsListChanged": true, "promptsListChanged": true,
               "resourceSubscriptions": ["file:///a"]}),
    );
    let b = listen(&mut h, 2, json!({"resourcesListChanged": true}));
    let out = h.take();
    assert!(h.requests().is_empty(), "listen is owned by the core");
    for (ex, id) in [(a, 1), (b, 2)] {
        assert!(has_head(&out, ex));
        let fs = frames(&out, ex);
        assert_eq!(fs.len(), 1, "the acknowledgement and nothing else");
        let ack = json_of_frame(&fs[0]);
        assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
        assert_eq!(
            ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            id
        );
    }
    let ack_a = json_of_frame(&frames(&out, a)[0]);
    assert_eq!(
        ack_a["params"]["notifications"],
        json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a"]}),
        "the honoured subset: prompts are not supported here"
    );
    assert_eq!(h.s.listener_count(), 2);
    let t = h.t();
    assert_eq!(h.s.publish(t, "notifications/tools/list_changed", None), 1);
    assert_eq!(
        h.s.publish(t, "notifications/prompts/list_changed", None),
        0
    );
    let upd = RawJson::from_value(&json!({"uri": "file:///a"}));
    assert_eq!(
        h.s.publish(t, "notifications/resources/updated", Some(&upd)),
        1
    );
    let other = RawJson::from_value(&json!({"uri": "file:///b"}));
    assert_eq!(
        h.s.publish(t, "notifications/resources/updated", Some(&other)),
        0
    );
    assert_eq!(
        h.s.publish(t, "notifications/resources/list_changed", None),
        1
    );
    // H-SUB-4: request-scoped notifications never travel on listen streams.
    assert_eq!(h.s.publish(t, "notifications/progress", None), 0);
    assert_eq!(h.s.publish(t, "notifications/message", None), 0);
    h.drain();
    let out = h.take();
    let fa: Vec<Value> = frames(&out, a).iter().map(|f| json_of_frame(f)).collect();
    let fb: Vec<Value> = frames(&out, b).iter().map(|f| json_of_frame(f)).collect();
    assert_eq!(fa.len(), 2);
    assert_eq!(fa[0]["method"], "notifications/tools/list_changed");
    assert_eq!(fa[1]["params"]["uri"], "file:///a");
    assert_eq!(fb.len(), 1);
    for (f, id) in fa.iter().map(|f| (f, 1)).chain(fb.iter().map(|f| (f, 2))) {
        assert_eq!(
            f["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
            id
        );
    }
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn h_sub_5_x29_server_ends_subscriptions_with_a_result_then_close() {
    let mut h = H::new(Config::default());
    let a = listen(&mut h, 5, json!({"toolsListChanged": true}));
    let b = listen(&mut h, 6, json!({}));
    h.take();
    // The client closing one is the end of it; nothing more goes there.
    h.s.handle_disconnect(h.t(), b);
    h.drain();
    assert!(
        h.take().is_empty(),
        "no application delivery for a listen close"
    );
    assert_eq!(h.s.end_subscriptions(h.t()), 1);
    h.drain();
    let out = h.take();
    let fs = frames(&out, a);
    assert_eq!(fs.len(), 1);
    let v = json_of_frame(&fs[0]);
    assert_eq!(v["id"], 5);
    assert_eq!(v["result"]["resultType"], "complete");
    assert_eq!(
        v["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        5
    );
    assert!(closed(&out, a));
    assert!(frames(&out, b).is_empty());
    assert_eq!(h.s.listener_count(), 0);
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn limits_stateless_requests_and_listeners_are_bounded() {
    let mut h = H::new(Config {
        max_stateless_in_flight: 2,
        max_listeners: 1,
        max_resource_subscriptions: 1,
        ..Config::default()
    });
    modern(&mut h, 1, "tools/list", json!({}));
    modern(&mut h, 2, "tools/list", json!({}));
    let third = modern(&mut h, 3, "tools/list", json!({}));
    listen(&mut h, 4, json!({}));
    let second_listen = listen(&mut h, 5, json!({}));
    let too_many_uris = listen(&mut h, 6, json!({"resourceSubscriptions": ["a", "b"]}));
    let out = h.take();
    assert_eq!(reply(&out, third).0, 429);
    assert_eq!(reply(&out, second_listen).0, 429);
    assert_eq!(reply(&out, too_many_uris).0, 400);
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn abandon_and_unknown_version_without_meta_never_hang() {
    let mut h = H::new(Config::default());
    let ex = modern(&mut h, 1, "tools/list", json!({}));
    let rk = only_request(&h);
    h.take();
    h.s.abandon(h.t(), rk).unwrap();
    h.drain();
    let out = h.take();
    let (status, _, b) = reply(&out, ex);
    assert_eq!(status, 200);
    assert_eq!(error_of(&b).0, code::INTERNAL_ERROR);
    // A future version header on a session-less request is answered as the
    // modern era would, so a dual-era client can retry (H-BC-1).
    let fut = h.post_with(
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        &[
            ("mcp-protocol-version", "2030-01-01"),
            ("mcp-method", "tools/list"),
        ],
    );
    let out = h.take();
    assert_eq!(reply(&out, fut).0, 400);
}

/// TASK-14: `notifications/tasks` reach the listeners that asked for that
/// task id (and declared the tasks extension); without the extension a
/// listen asking for task ids is refused with -32021.
#[test]
fn task_14_listen_task_ids_need_the_extension_and_filter_task_notifications() {
    let mut h = H::new(Config::default());
    let listen_with = |h: &mut H, id: i64, caps: Value, ids: Value| {
        let mut m = meta();
        m["io.modelcontextprotocol/clientCapabilities"] = caps;
        let b = json!({"jsonrpc": "2.0", "id": id, "method": "subscriptions/listen",
                       "params": {"notifications": {"taskIds": ids}, "_meta": m}});
        h.post_with(
            None,
            &b.to_string(),
            &[
                ("mcp-protocol-version", V),
                ("mcp-method", "subscriptions/listen"),
            ],
        )
    };
    let ext = json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});
    let refused = listen_with(&mut h, 1, json!({}), json!(["t1"]));
    let a = listen_with(&mut h, 2, ext.clone(), json!(["t1", "t2"]));
    let b = listen_with(&mut h, 3, ext, json!(["t3"]));
    let out = h.take();
    let (status, _, text) = reply(&out, refused);
    assert_eq!(status, 400);
    let (code, err) = error_of(&text);
    assert_eq!(code, -32021);
    assert!(
        err["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"]
            .is_object()
    );
    let ack = json_of_frame(&frames(&out, a)[0]);
    assert_eq!(
        ack["params"]["notifications"]["taskIds"],
        json!(["t1", "t2"])
    );

    let t = h.t();
    let note = |id: &str| RawJson::from_value(&json!({"taskId": id, "status": "completed"}));
    assert_eq!(h.s.publish(t, "notifications/tasks", Some(&note("t2"))), 1);
    assert_eq!(h.s.publish(t, "notifications/tasks", Some(&note("t9"))), 0);
    h.drain();
    let out = h.take();
    let fa = frames(&out, a);
    assert_eq!(fa.len(), 1);
    assert_eq!(json_of_frame(&fa[0])["params"]["taskId"], "t2");
    assert!(frames(&out, b).is_empty());
    h.s.check_invariants().expect("server invariants");
}

#[test]
fn h_sub_1_listen_limits_are_inclusive() {
    let mut h = H::new(Config {
        max_resource_subscriptions: 2,
        ..Config::default()
    });
    let ok = listen(&mut h, 1, json!({"resourceSubscriptions": ["a:1", "a:2"]}));
    let over = listen(
        &mut h,
        2,
        json!({"resourceSubscriptions": ["a:1", "a:2", "a:3"]}),
    );
    let out = h.take();
    assert!(has_head(&out, ok));
    assert_eq!(reply(&out, over).0, 400);
    // Task ids: the limit itself is accepted (the tasks extension declared).
    let max = streamable_core::task::MAX_LISTEN_TASK_IDS;
    for (n, want_ok) in [(max, true), (max + 1, false)] {
        let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let mut m = meta();
        m["io.modelcontextprotocol/clientCapabilities"] =
            json!({"extensions": {"io.modelcontextprotocol/tasks": {}}});
        let b = json!({"jsonrpc": "2.0", "id": 10, "method": "subscriptions/listen",
                       "params": {"notifications": {"taskIds": ids}, "_meta": m}});
        let ex = h.post_with(
            None,
            &b.to_string(),
            &[
                ("mcp-protocol-version", V),
                ("mcp-method", "subscriptions/listen"),
            ],
        );
        let out = h.take();
        assert_eq!(has_head(&out, ex), want_ok, "{n}");
    }
}
