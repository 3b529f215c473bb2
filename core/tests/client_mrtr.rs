//! The core client and the whole 2026-07-28 revision beyond the transport
//! (Part B, "client rows added for the whole 2026-07-28 revision"): multi
//! round-trip requests (HC-MRTR-*), result types (H-RES-1), the probe's
//! version retry (HC-VER-1), caching hints (HC-CACHE-1) and tool schemas
//! delivered verbatim (HC-SCH-1). Simulated time throughout.

mod client_support;

use client_support::*;
use serde_json::{Value, json};
use streamable_core::client::{
    ClientConfig, ClientError, Era, EraPreference, Event, Failure, MAX_INPUT_REQUESTS,
    RequestHandle, ServerRequestKey,
};
use streamable_core::{ErrorObject, RawJson};

fn modern_with(cfg: ClientConfig) -> C {
    let mut cfg = cfg;
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

fn modern() -> C {
    modern_with(config())
}

fn call(c: &mut C, tool: &str) -> RequestHandle {
    c.c.request(
        c.t(),
        "tools/call",
        Some(raw(json!({"name": tool, "arguments": {"q": "x"}}))),
    )
    .unwrap()
}

fn params(s: &Sent) -> Value {
    s.json()["params"].clone()
}

/// The state a server might send: JSON inside a string, escapes, non-ASCII,
/// padding. Echoed as this exact string or the test fails.
const STATE: &str = "{\"nonce\":\"ab\\u00e9\",\"originalId\":1}  é\t";

fn input_required(requests: Value, state: Option<&str>) -> Value {
    let mut r = json!({"resultType": "input_required"});
    if !requests.is_null() {
        r["inputRequests"] = requests;
    }
    if let Some(s) = state {
        r["requestState"] = json!(s);
    }
    r
}

fn two_requests() -> Value {
    json!({
        "login": {"method": "elicitation/create", "params": {"message": "who?",
            "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
        "capital": {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}
    })
}

/// The input requests of one round, as the application sees them.
fn input_events(c: &mut C, h: RequestHandle) -> Vec<(ServerRequestKey, String, Value)> {
    c.events()
        .into_iter()
        .map(|e| match e {
            Event::Request {
                key,
                method,
                params,
                related,
            } => {
                assert_eq!(related, Some(h), "an input request names its call");
                (key, method, params.map_or(Value::Null, |p| p.to_value()))
            }
            other => panic!("expected input requests, got {other:?}"),
        })
        .collect()
}

fn answer(c: &mut C, key: ServerRequestKey, v: Value) {
    c.c.respond(c.t(), key, Ok(raw(v))).unwrap();
    c.check();
}

#[test]
fn hc_mrtr_1_hc_mrtr_2_h_id_1_input_is_gathered_then_the_call_is_retried_with_a_new_id_and_the_exact_state()
 {
    let mut c = modern();
    let h = call(&mut c, "deploy");
    let first = c.sent().remove(0);
    let body = result_body(&first.rpc_id(), input_required(two_requests(), Some(STATE)));
    c.json(first.id, 200, None, &body);
    // Each input request goes to the application; nothing is sent yet.
    let asked = input_events(&mut c, h);
    assert_eq!(asked.len(), 2);
    let methods: Vec<&str> = asked.iter().map(|(_, m, _)| m.as_str()).collect();
    assert!(methods.contains(&"elicitation/create") && methods.contains(&"sampling/createMessage"));
    let elicit = asked
        .iter()
        .find(|(_, m, _)| m == "elicitation/create")
        .unwrap();
    assert_eq!(elicit.2["message"], "who?");
    let sample = asked
        .iter()
        .find(|(_, m, _)| m == "sampling/createMessage")
        .unwrap();
    answer(
        &mut c,
        elicit.0,
        json!({"action": "accept", "content": {"name": "octocat"}}),
    );
    assert!(c.sent().is_empty(), "the round is not complete yet");
    answer(
        &mut c,
        sample.0,
        json!({"role": "assistant", "model": "m", "content": {"type": "text", "text": "Paris"}}),
    );
    // The retry: same request, a new id, the answers, the state verbatim.
    let sent = c.sent();
    assert_eq!(sent.len(), 1);
    let retry = &sent[0];
    assert_ne!(retry.rpc_id(), first.rpc_id(), "H-ID-1: a new id");
    assert_eq!(retry.rpc_method().as_deref(), Some("tools/call"));
    assert_eq!(retry.header("mcp-method"), Some("tools/call"));
    assert_eq!(retry.header("mcp-name"), Some("deploy"));
    let p = params(retry);
    assert_eq!(p["name"], "deploy");
    assert_eq!(p["arguments"], json!({"q": "x"}));
    assert_eq!(p["requestState"], json!(STATE));
    assert_eq!(
        p["inputResponses"],
        json!({"login": {"action": "accept", "content": {"name": "octocat"}},
               "capital": {"role": "assistant", "model": "m", "content": {"type": "text", "text": "Paris"}}})
    );
    assert_eq!(
        p["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    // The final result is the one outcome the application sees.
    let done = json!({"resultType": "complete", "content": [{"type": "text", "text": "ok"}]});
    c.json(
        retry.id,
        200,
        None,
        &result_body(&retry.rpc_id(), done.clone()),
    );
    match &c.events()[..] {
        [
            Event::Response {
                request,
                outcome: Ok(r),
            },
        ] => {
            assert_eq!(*request, h);
            assert_eq!(r.to_value(), done);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.sent().is_empty());
}

#[test]
fn hc_mrtr_2_hc_mrtr_1_several_rounds_each_with_its_own_answers_and_state_absent_stays_absent() {
    let mut c = modern();
    let h = call(&mut c, "deploy");
    let first = c.sent().remove(0);
    // Round 1: no requestState.
    let r1 = json!({"a": {"method": "roots/list"}});
    c.json(
        first.id,
        200,
        None,
        &result_body(&first.rpc_id(), input_required(r1, None)),
    );
    let asked = input_events(&mut c, h);
    assert_eq!(asked[0].1, "roots/list");
    assert_eq!(asked[0].2, Value::Null, "no params stays no params");
    answer(&mut c, asked[0].0, json!({"roots": []}));
    let second = c.sent().remove(0);
    let p = params(&second);
    assert!(
        p.get("requestState").is_none(),
        "no state sent, none echoed"
    );
    assert_eq!(p["inputResponses"], json!({"a": {"roots": []}}));
    // Round 2: a state and another key; round 1's answer is not repeated.
    let r2 = json!({"b": {"method": "elicitation/create", "params": {"message": "sure?"}}});
    c.json(
        second.id,
        200,
        None,
        &result_body(&second.rpc_id(), input_required(r2, Some("s2"))),
    );
    let asked = input_events(&mut c, h);
    answer(&mut c, asked[0].0, json!({"action": "decline"}));
    let third = c.sent().remove(0);
    let p = params(&third);
    assert_eq!(p["requestState"], "s2");
    assert_eq!(p["inputResponses"], json!({"b": {"action": "decline"}}));
    let ids = [first.rpc_id(), second.rpc_id(), third.rpc_id()];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    // Round 3: state only (load shedding): retried at once, no inputResponses.
    c.json(
        third.id,
        200,
        None,
        &result_body(&third.rpc_id(), input_required(Value::Null, Some("s3"))),
    );
    assert!(c.events().is_empty());
    let fourth = c.sent().remove(0);
    let p = params(&fourth);
    assert_eq!(p["requestState"], "s3");
    assert!(p.get("inputResponses").is_none());
    c.json(
        fourth.id,
        200,
        None,
        &result_body(&fourth.rpc_id(), json!({"content": []})),
    );
    assert!(
        matches!(&c.events()[..], [Event::Response { request, outcome: Ok(_) }] if *request == h)
    );
}

#[test]
fn hc_mrtr_3_input_and_state_belong_to_their_request_alone() {
    let mut c = modern();
    let a = call(&mut c, "a");
    let first = c.sent().remove(0);
    c.json(
        first.id,
        200,
        None,
        &result_body(
            &first.rpc_id(),
            input_required(json!({"k": {"method": "roots/list"}}), Some("sa")),
        ),
    );
    let asked = input_events(&mut c, a);
    // While `a` gathers, other requests go out clean.
    let b = call(&mut c, "b");
    c.c.request(c.t(), "tools/list", None).unwrap();
    let others = c.sent();
    assert_eq!(others.len(), 2);
    for s in &others {
        let p = params(s);
        assert!(p.get("inputResponses").is_none() && p.get("requestState").is_none());
    }
    answer(&mut c, asked[0].0, json!({"roots": []}));
    let retry = c.sent().remove(0);
    assert_eq!(params(&retry)["name"], "a");
    assert_eq!(params(&retry)["requestState"], "sa");
    // `b` answered normally; a later call of the same tool starts clean.
    let b_post = others
        .iter()
        .find(|s| s.rpc_method().as_deref() == Some("tools/call"))
        .unwrap();
    c.json(
        b_post.id,
        200,
        None,
        &result_body(&b_post.rpc_id(), json!({"content": []})),
    );
    assert!(matches!(&c.events()[..], [Event::Response { request, .. }] if *request == b));
    call(&mut c, "a");
    let again = c.sent().remove(0);
    let p = params(&again);
    assert!(p.get("inputResponses").is_none() && p.get("requestState").is_none());
}

#[test]
fn hc_mrtr_4_h_res_1_result_types_and_malformed_rounds() {
    // No resultType: complete (a server of an older revision).
    let mut c = modern();
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), json!({"content": []})),
    );
    assert!(
        matches!(&c.events()[..], [Event::Response { request, outcome: Ok(_) }] if *request == h)
    );
    // An unknown resultType makes the result invalid.
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), json!({"resultType": "later"})),
    );
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::Malformed(m) }] if *request == h && m.contains("later")));
    // input_required on a request that cannot have it.
    let h = c.c.request(c.t(), "tools/list", None).unwrap();
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), input_required(Value::Null, Some("x"))),
    );
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::Malformed(m) }] if *request == h && m.contains("tools/list")));
    // Malformed rounds: neither field, a non-string state, a request
    // without a method, more than MAX_INPUT_REQUESTS entries.
    let mut many = serde_json::Map::new();
    for i in 0..=MAX_INPUT_REQUESTS {
        many.insert(format!("k{i}"), json!({"method": "roots/list"}));
    }
    for bad in [
        json!({"resultType": "input_required"}),
        json!({"resultType": "input_required", "requestState": 7}),
        json!({"resultType": "input_required", "inputRequests": {"k": {"params": {}}}}),
        json!({"resultType": "input_required", "inputRequests": Value::Object(many)}),
    ] {
        let h = call(&mut c, "t");
        let s = c.sent().remove(0);
        c.json(s.id, 200, None, &result_body(&s.rpc_id(), bad.clone()));
        let ev = c.events();
        assert!(
            matches!(&ev[..], [Event::Failed { request, failure: Failure::Malformed(_) }] if *request == h),
            "{bad}: {ev:?}"
        );
        assert!(c.sent().is_empty(), "{bad}: nothing retried");
    }
}

#[test]
fn hc_mrtr_5_rounds_are_bounded() {
    let mut cfg = config();
    cfg.max_input_rounds = 2;
    let mut c = modern_with(cfg);
    let h = call(&mut c, "t");
    let mut posts = 0;
    loop {
        let sent = c.sent();
        if sent.is_empty() {
            break;
        }
        posts += 1;
        let s = &sent[0];
        c.json(
            s.id,
            200,
            None,
            &result_body(&s.rpc_id(), input_required(Value::Null, Some("again"))),
        );
        assert!(posts <= 3, "the client keeps retrying");
    }
    assert_eq!(posts, 3, "the call and two retries");
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::TooManyRounds(2) }] if *request == h));
}

#[test]
fn hc_mrtr_6_an_unanswerable_input_request_fails_the_call_and_cancel_drops_the_round() {
    let mut c = modern();
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), input_required(two_requests(), Some("s"))),
    );
    let asked = input_events(&mut c, h);
    let error = ErrorObject::new(-32601, "client does not handle sampling/createMessage");
    c.c.respond(c.t(), asked[1].0, Err(error.clone())).unwrap();
    c.check();
    match &c.events()[..] {
        [
            Event::Failed {
                request,
                failure:
                    Failure::InputNotProvided {
                        key,
                        method,
                        error: e,
                    },
            },
        ] => {
            assert_eq!(*request, h);
            assert_eq!(
                (key.as_str(), method.as_str()),
                if asked[1].1 == "elicitation/create" {
                    ("login", "elicitation/create")
                } else {
                    ("capital", "sampling/createMessage")
                }
            );
            assert_eq!(*e, error);
        }
        other => panic!("{other:?}"),
    }
    assert!(c.sent().is_empty(), "not retried");
    // The other answer, arriving late, is refused.
    assert_eq!(
        c.c.respond(c.t(), asked[0].0, Ok(RawJson::empty_object())),
        Err(ClientError::Unknown)
    );
    // Cancel while gathering: nothing is sent, answers are refused.
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), input_required(two_requests(), None)),
    );
    let asked = input_events(&mut c, h);
    c.c.cancel(c.t(), h, None).unwrap();
    c.check();
    assert_eq!(
        c.c.respond(c.t(), asked[0].0, Ok(RawJson::empty_object())),
        Err(ClientError::Unknown)
    );
    assert!(c.sent().is_empty());
    assert!(c.events().is_empty());
}

#[test]
fn hc_mrtr_7_the_timeout_waits_for_the_user_and_restarts_with_the_retry() {
    let mut c = modern(); // 30 s timeout, 300 s hard maximum
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(
            &s.rpc_id(),
            input_required(json!({"k": {"method": "roots/list"}}), None),
        ),
    );
    let asked = input_events(&mut c, h);
    // A person takes two minutes to answer: no timeout while gathering.
    c.advance(120_000);
    assert!(c.events().is_empty());
    answer(&mut c, asked[0].0, json!({"roots": []}));
    let retry = c.sent().remove(0);
    // The retry has its own 30 s.
    c.advance(149_000);
    assert!(c.events().is_empty());
    c.advance(150_000);
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::Timeout }] if *request == h));
    let _ = retry;
    // The hard maximum still bounds a round nobody answers.
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        200,
        None,
        &result_body(
            &s.rpc_id(),
            input_required(json!({"k": {"method": "roots/list"}}), None),
        ),
    );
    let asked = input_events(&mut c, h);
    c.advance(150_000 + 299_000);
    assert!(c.events().is_empty());
    c.advance(150_000 + 300_000);
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::Timeout }] if *request == h));
    assert_eq!(
        c.c.respond(c.t(), asked[0].0, Ok(raw(json!({"roots": []})))),
        Err(ClientError::Unknown)
    );
}

#[test]
fn hc_mrtr_1_legacy_results_are_never_rounds() {
    let mut c = C::new(config());
    c.handshake("s1", "2025-11-25");
    let h = call(&mut c, "t");
    let s = c.sent_all().remove(0);
    let odd = input_required(json!({"k": {"method": "roots/list"}}), Some("s"));
    c.json(
        s.id,
        200,
        Some("s1"),
        &result_body(&s.rpc_id(), odd.clone()),
    );
    match &c.events()[..] {
        [
            Event::Response {
                request,
                outcome: Ok(r),
            },
        ] => {
            assert_eq!(*request, h);
            assert_eq!(r.to_value(), odd);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn hc_ver_1_probe_refused_with_our_version_listed_is_retried_once() {
    let mut cfg = config();
    cfg.era = EraPreference::Auto;
    let mut c = C::new(cfg);
    let refusal = |id: &Value| {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32022, "message": "unsupported",
            "data": {"supported": ["2026-07-28"], "requested": "2026-07-28"}}})
        .to_string()
    };
    let probe = c.sent().remove(0);
    c.json(probe.id, 400, None, &refusal(&probe.rpc_id()));
    let again = c.sent().remove(0);
    assert_eq!(again.rpc_method().as_deref(), Some("server/discover"));
    assert_ne!(again.rpc_id(), probe.rpc_id());
    assert_eq!(again.header("mcp-protocol-version"), Some("2026-07-28"));
    assert_eq!(
        params(&again)["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    // Accepted the second time: modern.
    let discover = json!({"resultType": "complete", "supportedVersions": ["2026-07-28"],
        "capabilities": {}, "ttlMs": 0, "cacheScope": "private"});
    c.json(again.id, 200, None, &result_body(&again.rpc_id(), discover));
    assert!(matches!(
        &c.events()[..],
        [Event::Ready {
            era: Era::Modern,
            ..
        }]
    ));
    // Refused twice: closed, no loop.
    let mut cfg = config();
    cfg.era = EraPreference::Auto;
    let mut c = C::new(cfg);
    for _ in 0..2 {
        let probe = c.sent().remove(0);
        c.json(probe.id, 400, None, &refusal(&probe.rpc_id()));
    }
    assert!(c.sent().is_empty());
    assert!(c.c.is_closed());
}

#[test]
fn hc_cache_1_caching_hints_are_delivered_verbatim_and_nothing_is_served_from_a_cache() {
    let mut c = modern();
    let list = json!({"resultType": "complete", "ttlMs": 600000, "cacheScope": "public",
        "tools": [{"name": "t", "inputSchema": {"type": "object"}}]});
    for _ in 0..2 {
        let h = c.c.request(c.t(), "tools/list", None).unwrap();
        let sent = c.sent();
        assert_eq!(sent.len(), 1, "each call goes to the server");
        c.json(
            sent[0].id,
            200,
            None,
            &result_body(&sent[0].rpc_id(), list.clone()),
        );
        match &c.events()[..] {
            [
                Event::Response {
                    request,
                    outcome: Ok(r),
                },
            ] => {
                assert_eq!(*request, h);
                assert_eq!(r.to_value(), list);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// A 2020-12 schema with every keyword a careless client loses.
fn rich_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"addr": {"$anchor": "addr", "type": "object", "properties": {"city": {"type": "string"}}}},
        "properties": {
            "home": {"$ref": "#/$defs/addr"},
            "user": {"$ref": "https://example.invalid/user.json"},
            "kind": {"anyOf": [{"const": "a"}, {"const": "b"}]},
            "n": {"allOf": [{"type": "integer"}, {"minimum": 0}]}
        },
        "if": {"properties": {"kind": {"const": "a"}}},
        "then": {"required": ["home"]},
        "else": {"required": ["user"]},
        "additionalProperties": false
    })
}

#[test]
fn hc_sch_1_tool_schemas_reach_the_application_verbatim() {
    let mut c = modern();
    let tools = json!({"tools": [
        {"name": "rich", "inputSchema": rich_schema()},
        {"name": "bad", "inputSchema": {"type": "object", "properties": {"v": {"type": "object", "x-mcp-header": "V"}}}}
    ]});
    c.c.request(c.t(), "tools/list", None).unwrap();
    let s = c.sent().remove(0);
    c.json(s.id, 200, None, &result_body(&s.rpc_id(), tools));
    let ev = c.events();
    let result = ev
        .iter()
        .find_map(|e| match e {
            Event::Response { outcome: Ok(r), .. } => Some(r.to_value()),
            _ => None,
        })
        .expect("response");
    // The invalid tool is dropped (H-HDR-4); the other keeps every keyword.
    assert_eq!(result["tools"].as_array().map(Vec::len), Some(1));
    assert_eq!(result["tools"][0]["inputSchema"], rich_schema());
    assert!(c.sent().is_empty(), "no $ref is fetched");
}

#[test]
fn hc_ver_1_a_request_refused_with_our_version_listed_is_sent_once_more() {
    let mut c = modern();
    let refusal = |id: &Value, supported: Value| {
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32022, "message": "unsupported",
            "data": {"supported": supported, "requested": "2026-07-28"}}})
        .to_string()
    };
    let h = call(&mut c, "t");
    let first = c.sent().remove(0);
    c.json(
        first.id,
        400,
        None,
        &refusal(&first.rpc_id(), json!(["2026-07-28"])),
    );
    assert!(c.events().is_empty());
    let again = c.sent().remove(0);
    assert_ne!(again.rpc_id(), first.rpc_id());
    assert_eq!(params(&again)["name"], "t");
    // Refused again: the refusal is the outcome.
    c.json(
        again.id,
        400,
        None,
        &refusal(&again.rpc_id(), json!(["2026-07-28"])),
    );
    assert!(matches!(&c.events()[..],
        [Event::Failed { request, failure: Failure::Http { status: 400, error: Some(e) } }]
            if *request == h && e.code == -32022));
    assert!(c.sent().is_empty());
    // A list without our version: no retry.
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    c.json(
        s.id,
        400,
        None,
        &refusal(&s.rpc_id(), json!(["2031-01-01"])),
    );
    assert!(matches!(&c.events()[..], [Event::Failed { request, .. }] if *request == h));
    assert!(c.sent().is_empty());
}

#[test]
fn hc_mrtr_1_a_round_of_exactly_the_limit_is_served() {
    let mut c = modern();
    let h = call(&mut c, "t");
    let s = c.sent().remove(0);
    let mut many = serde_json::Map::new();
    for i in 0..MAX_INPUT_REQUESTS {
        many.insert(format!("k{i}"), json!({"method": "roots/list"}));
    }
    c.json(
        s.id,
        200,
        None,
        &result_body(&s.rpc_id(), input_required(Value::Object(many), None)),
    );
    let ev = c.events();
    let inputs = ev
        .iter()
        .filter(|e| matches!(e, Event::Request { related, .. } if *related == Some(h)))
        .count();
    assert_eq!(inputs, MAX_INPUT_REQUESTS, "{ev:?}");
}
