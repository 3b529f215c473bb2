//! 2026-07-28 server results the core itself owns: removed methods (REM-n)
//! and the HTTP status of era errors (ERR-n), whatever the application does.

mod common;

use common::*;
use serde_json::{Value, json};
use streamable_core::{
    Config, Delivery, ErrorObject, ExchangeId, Output, RawJson, ResponseMode, Target, code, mirror,
};

const V: &str = "2026-07-28";

fn post(h: &mut H, id: i64, method: &str, params: Value, meta_extra: Value) -> ExchangeId {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), meta_extra.as_object()) {
        m.extend(extra.clone());
    }
    let mut params = params;
    params["_meta"] = meta;
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    let name = mirror::name_field(method)
        .and_then(|f| params.get(f))
        .and_then(Value::as_str)
        .map(mirror::encode_value);
    let mut headers: Vec<(&str, &str)> = vec![("mcp-protocol-version", V), ("mcp-method", method)];
    if let Some(n) = &name {
        headers.push(("mcp-name", n));
    }
    h.post_with(None, &body, &headers)
}

fn error_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap();
    v["error"]["code"].as_i64().expect("an error body")
}

#[test]
fn rem_1_removed_methods_are_404_method_not_found_without_reaching_the_app() {
    for mode in [ResponseMode::Auto, ResponseMode::Json, ResponseMode::Sse] {
        for (n, method) in streamable_core::REMOVED_METHODS.iter().enumerate() {
            let mut h = H::new(Config {
                response_mode: mode,
                ..Config::default()
            });
            let id = 500 + n as i64;
            let params = json!({"uri": "test://x", "level": "info", "protocolVersion": V});
            let ex = post(&mut h, id, method, params, json!({}));
            let out = h.take();
            assert!(
                !out.iter()
                    .any(|o| matches!(o, Output::Deliver(Delivery::Request { .. }))),
                "{method} must not reach the application"
            );
            let (status, _, body) = reply(&out, ex);
            assert_eq!(status, 404, "{method} {mode:?}");
            assert_eq!(error_code(&body), code::METHOD_NOT_FOUND, "{method}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["id"], json!(id), "the error keeps the request id");
            h.s.check_invariants().expect("server invariants");
        }
    }
}

#[test]
fn rem_2_initialize_is_legacy_without_a_modern_header_and_removed_with_one() {
    // A legacy client's initialize (no version header) opens a session.
    let mut h = H::new(Config::default());
    let ex = h.post(None, &init_body("2025-11-25"));
    let out = h.take();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Deliver(Delivery::Request { method, .. }) if method == "initialize")),
        "legacy initialize is delivered: {out:?}"
    );
    let _ = ex;
    // The same method under the modern header is a removed method.
    let mut h = H::new(Config::default());
    let ex = post(
        &mut h,
        7,
        "initialize",
        json!({"protocolVersion": V, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}),
        json!({}),
    );
    let out = h.take();
    let (status, _, body) = reply(&out, ex);
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), code::METHOD_NOT_FOUND);
}

fn log_params(level: &str) -> RawJson {
    RawJson::from_value(&json!({"level": level, "data": "hello"}))
}

fn log_frames(meta_extra: Value, levels: &[&str]) -> Vec<String> {
    let mut h = H::new(Config::default());
    let ex = post(&mut h, 1, "tools/call", json!({"name": "t"}), meta_extra);
    let rk = h.requests()[0].0;
    h.take();
    for level in levels {
        h.s.notify(
            h.t(),
            Target::Request(rk),
            "notifications/message",
            Some(&log_params(level)),
        )
        .unwrap();
    }
    h.drain();
    h.respond(rk, json!({"content": []}));
    let out = h.take();
    h.s.check_invariants().expect("server invariants");
    frames(&out, ex)
        .into_iter()
        .filter(|f| f.contains("notifications/message"))
        .collect()
}

#[test]
fn rem_3_no_log_message_without_a_requested_level_and_none_below_it() {
    assert!(
        log_frames(json!({}), &["debug", "error"]).is_empty(),
        "no logLevel in _meta: no notifications/message"
    );
    let sent = log_frames(
        json!({"io.modelcontextprotocol/logLevel": "warning"}),
        &["info", "warning", "error"],
    );
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].contains("\"warning\"") && sent[1].contains("\"error\""));
}

#[test]
fn rem_3_an_unknown_log_level_is_invalid_params() {
    let mut h = H::new(Config::default());
    let ex = post(
        &mut h,
        3,
        "tools/list",
        json!({}),
        json!({"io.modelcontextprotocol/logLevel": "loud"}),
    );
    let out = h.take();
    let (status, _, body) = reply(&out, ex);
    assert_eq!(status, 400);
    assert_eq!(error_code(&body), code::INVALID_PARAMS);
}

#[test]
fn err_2_missing_capability_is_a_bad_request_json_reply_in_every_mode() {
    for mode in [ResponseMode::Auto, ResponseMode::Json, ResponseMode::Sse] {
        let mut h = H::new(Config {
            response_mode: mode,
            ..Config::default()
        });
        let ex = post(&mut h, 401, "tools/call", json!({"name": "t"}), json!({}));
        let rk = h.requests()[0].0;
        h.take();
        let data = RawJson::from_value(&json!({"requiredCapabilities": {"sampling": {}}}));
        h.s.respond(
            h.t(),
            rk,
            Err(ErrorObject::new(code::MISSING_CAPABILITY, "Missing capability").with_data(data)),
        )
        .unwrap();
        h.drain();
        let out = h.take();
        let (status, _, body) = reply(&out, ex);
        assert_eq!(status, 400, "{mode:?}");
        assert_eq!(error_code(&body), code::MISSING_CAPABILITY);
        h.s.check_invariants().expect("server invariants");
    }
}

#[test]
fn err_2_other_errors_keep_status_200() {
    let mut h = H::new(Config::default());
    let ex = post(
        &mut h,
        9,
        "resources/read",
        json!({"uri": "x://y"}),
        json!({}),
    );
    let rk = h.requests()[0].0;
    h.take();
    h.s.respond(
        h.t(),
        rk,
        Err(ErrorObject::new(code::INVALID_PARAMS, "Resource not found")),
    )
    .unwrap();
    h.drain();
    let out = h.take();
    let (status, _, body) = reply(&out, ex);
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), code::INVALID_PARAMS);
}
