use super::*;
use proptest::prelude::*;

/// The two-pass reading every single-object body used to get (whole body
/// as a raw value, then the envelope): the one-pass fast path must give
/// exactly the same answer, errors included.
fn two_pass(body: &Bytes) -> Result<Body, ParseError> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(|e| classify(&e))?;
    parse_one(body, raw).map(Body::Single)
}

const CASES: &[&[u8]] = &[
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
    br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    br#"{"jsonrpc":"2.0","id":"a\"b","result":{"x":[1,2]}}"#,
    br#"{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"m","data":null}}"#,
    // B-MSG-2: a null id is invalid, not a notification.
    br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
    br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
    br#"{"id":1,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
    // Ids at the edges: read by the fast path or sent down the careful one.
    br#"{"jsonrpc":"2.0","id":-0,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":1e3,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":1.0,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":9223372036854775807,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":"a
bA","method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"x","result":1}"#,
    br#"{"jsonrpc":"2.0","id":1}"#,
    br#"{"jsonrpc":"2.0"}"#,
    // A member of the wrong type, then broken JSON: -32700 wins.
    br#"{"jsonrpc":5,"id":1,"method":"x", oops}"#,
    br#"{"jsonrpc":5,"id":1,"method":"x"}"#,
    // Repeated members.
    br#"{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}"#,
    // Unknown members are ignored, whatever they hold.
    br#"{"jsonrpc":"2.0","id":1,"method":"x","extra":{"deep":[true,null,"\u00e9"]}}"#,
    // Invalid UTF-8 inside an unknown member: not JSON.
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"extra\":\"\xff\"}",
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"} trailing",
    b"  {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}\n",
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"",
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}",
    b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tab\tinside\"}",
];

#[test]
fn one_pass_agrees_with_two_passes() {
    for case in CASES {
        let body = Bytes::from_static(case);
        assert_eq!(
            parse_body(&body),
            two_pass(&body),
            "{}",
            String::from_utf8_lossy(case)
        );
    }
}

#[test]
fn params_are_a_slice_of_the_body() {
    let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1}}"#);
    let Ok(Body::Single(Message::Request {
        params: Some(p), ..
    })) = parse_body(&body)
    else {
        panic!("a request with params");
    };
    assert_eq!(p.as_str(), r#"{"a":1}"#);
    let start = p.as_bytes().as_ptr() as usize - body.as_ptr() as usize;
    assert_eq!(&body[start..start + p.as_bytes().len()], br#"{"a":1}"#);
}

proptest! {
    /// Mutated messages (bytes replaced, inserted, cut) get the same
    /// answer from both readings.
    #[test]
    fn one_pass_agrees_on_mutations(
        case in 0..CASES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..4),
    ) {
        let mut bytes = CASES[case].to_vec();
        for (at, byte, op) in edits {
            let at = at % (bytes.len() + 1);
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => bytes.truncate(at.max(1)),
            }
        }
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let body = Bytes::from(bytes);
            prop_assert_eq!(parse_body(&body), two_pass(&body));
        }
    }
}

#[test]
fn b_err_1_codes_are_the_specification_numbers() {
    assert_eq!(
        [
            code::PARSE_ERROR,
            code::INVALID_REQUEST,
            code::METHOD_NOT_FOUND,
            code::INVALID_PARAMS,
            code::INTERNAL_ERROR,
            code::SERVER_ERROR,
            code::HEADER_MISMATCH,
            code::MISSING_CAPABILITY,
            code::UNSUPPORTED_PROTOCOL_VERSION,
        ],
        [
            -32700, -32600, -32601, -32602, -32603, -32000, -32020, -32021, -32022
        ]
    );
}

#[test]
fn ids_and_raw_json_print_as_on_the_wire() {
    assert_eq!(Id::Int(-7).to_string(), "-7");
    assert_eq!(Id::Str("a\"b".into()).to_string(), r#""a\"b""#);
    let raw = RawJson::parse(Bytes::from_static(br#"{"a":[1]}"#)).unwrap();
    assert_eq!(raw.to_string(), r#"{"a":[1]}"#);
    assert_eq!(format!("{raw:?}"), r#"{"a":[1]}"#);
    // What a malformed id was expected to be.
    let err = serde_json::from_str::<WireId>("1.5").err().unwrap();
    assert!(err.to_string().contains("a string or an integer"), "{err}");
}

#[test]
fn b_msg_a_method_with_a_result_or_an_error_is_invalid() {
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"x","error":{"code":1,"message":"m"}}"#,
    ] {
        assert!(
            matches!(parse_body(&Bytes::from(body)), Err(ParseError::Invalid(_))),
            "{body}"
        );
    }
}

#[test]
fn a_data_error_is_a_bad_message_and_a_syntax_error_bad_json() {
    let data = serde_json::from_str::<u8>(r#""x""#).unwrap_err();
    assert!(matches!(classify(&data), ParseError::Invalid(_)));
    let syntax = serde_json::from_str::<serde_json::Value>("{x").unwrap_err();
    assert!(matches!(classify(&syntax), ParseError::NotJson(_)));
}

#[test]
fn strings_are_escaped_exactly_when_they_must_be() {
    for s in [
        "\n",
        "\u{1f}",
        "\"",
        "\\",
        "a\"b",
        "plain",
        "with space",
        "",
    ] {
        let mut out = BytesMut::new();
        write_json_string(&mut out, s);
        let back: String = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(back, s);
        assert_eq!(&out[..], serde_json::to_string(s).unwrap().as_bytes());
    }
}

#[test]
fn t_post_7_an_id_less_error_body_has_no_id() {
    let body = ErrorObject::new(code::SERVER_ERROR, "gone").to_id_less_body();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"jsonrpc": "2.0", "error": {"code": -32000, "message": "gone"}})
    );
}
