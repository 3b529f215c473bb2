use super::*;

fn decode_chunks(decoder: &mut Decoder, chunks: &[&[u8]]) -> Vec<Event> {
    for chunk in chunks {
        decoder.feed(chunk).expect("within limit");
    }
    std::iter::from_fn(|| decoder.next_event()).collect()
}

fn decode(input: &[u8]) -> Vec<Event> {
    decode_chunks(&mut Decoder::new(), &[input])
}

fn event(data: &str, id: Option<&str>, has_id: bool) -> Event {
    Event {
        event: "message".to_owned(),
        data: data.to_owned(),
        last_event_id: id.map(str::to_owned),
        has_id,
    }
}

fn encoded(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut out = BytesMut::new();
    f(&mut out);
    out.to_vec()
}

#[test]
fn encode_message_wire_format() {
    assert_eq!(
        encoded(|o| encode_message(o, Some("s1-7"), br#"{"jsonrpc":"2.0"}"#)),
        b"event: message\nid: s1-7\ndata: {\"jsonrpc\":\"2.0\"}\n\n"
    );
    assert_eq!(
        encoded(|o| encode_message(o, None, b"")),
        b"event: message\ndata: \n\n"
    );
}

#[test]
fn encode_message_splits_every_line_ending_and_round_trips_normalised() {
    let data = b"{\r\n  \"a\": 1,\r  \"b\": 2\n}\n";
    let wire = encoded(|o| encode_message(o, None, data));
    assert_eq!(
        wire,
        b"event: message\ndata: {\ndata:   \"a\": 1,\ndata:   \"b\": 2\ndata: }\ndata: \n\n"
    );
    assert_eq!(
        decode(&wire),
        [event("{\n  \"a\": 1,\n  \"b\": 2\n}\n", None, false)]
    );
}

#[test]
fn t_psse_1_encode_priming_wire_format() {
    assert_eq!(
        encoded(|o| encode_priming(o, "p0", None)),
        b"id: p0\ndata: \n\n"
    );
    assert_eq!(
        encoded(|o| encode_priming(o, "p0", Some(1500))),
        b"id: p0\nretry: 1500\ndata: \n\n"
    );
}

#[test]
fn t_psse_4_encode_retry_wire_format() {
    let wire = encoded(|o| encode_retry(o, 250));
    assert_eq!(wire, b"retry: 250\n\n");
    let mut decoder = Decoder::new();
    assert!(decode_chunks(&mut decoder, &[&wire]).is_empty());
    assert_eq!(decoder.retry(), Some(250));
}

#[test]
fn encode_comment_replaces_line_endings_with_spaces() {
    let wire = encoded(|o| encode_comment(o, "ping\r\ndata: x\ry\n"));
    assert_eq!(wire, b": ping  data: x y \n\n");
    assert!(decode(&wire).is_empty());
}

#[test]
fn encoder_ids_cannot_inject_fields() {
    let wire = encoded(|o| encode_message(o, Some("a\ndata: evil"), b"ok"));
    assert_eq!(decode(&wire), [event("ok", Some("a data: evil"), true)]);
}

#[test]
fn valid_event_ids_are_non_empty_visible_ascii() {
    assert!(is_valid_event_id("abc-123_~!"));
    assert!(is_valid_event_id("!"));
    assert!(!is_valid_event_id(""));
    assert!(!is_valid_event_id("a b"));
    assert!(!is_valid_event_id("a\nb"));
    assert!(!is_valid_event_id("a\0"));
    assert!(!is_valid_event_id("\x7f"));
    assert!(!is_valid_event_id("é"));
}

#[test]
fn x6_priming_event_is_dispatched_with_empty_data_and_sets_last_event_id() {
    let wire = encoded(|o| encode_priming(o, "prime-1", Some(3000)));
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[&wire]);
    assert_eq!(events, [event("", Some("prime-1"), true)]);
    assert_eq!(decoder.last_event_id(), Some("prime-1"));
    assert_eq!(decoder.retry(), Some(3000));
    // "data:" without the space decodes identically.
    assert_eq!(decode(b"id: prime-1\ndata:\n\n"), events);
}

#[test]
fn block_without_data_is_not_dispatched_but_updates_last_event_id() {
    let mut decoder = Decoder::new();
    assert!(decode_chunks(&mut decoder, &[b"id: 9\nevent: x\n\n"]).is_empty());
    assert_eq!(decoder.last_event_id(), Some("9"));
    // The discarded block's event type does not leak into the next event.
    assert_eq!(
        decode_chunks(&mut decoder, &[b"data: a\n\n"]),
        [event("a", Some("9"), false)]
    );
}

#[test]
fn x7_missing_or_empty_event_type_is_message() {
    assert_eq!(decode(b"data: a\n\n")[0].event, "message");
    assert_eq!(decode(b"event:\ndata: a\n\n")[0].event, "message");
    assert_eq!(decode(b"event: a\nevent: b\ndata: a\n\n")[0].event, "b");
    assert_eq!(
        decode(b"event: b\ndata: a\n\ndata: c\n\n")[1].event,
        "message"
    );
}

#[test]
fn x33_last_event_id_persists_across_id_less_events() {
    assert_eq!(
        decode(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"),
        [
            event("a", Some("1"), true),
            event("b", Some("1"), false),
            event("c", Some("2"), true),
        ]
    );
}

#[test]
fn empty_id_resets_last_event_id() {
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[b"id: 1\ndata: a\n\nid\ndata: b\n\n"]);
    assert_eq!(events[1], event("b", None, true));
    assert_eq!(decoder.last_event_id(), None);
    let events = decode(b"id: 1\n\nid:\ndata: b\n\n");
    assert_eq!(events, [event("b", None, true)]);
}

#[test]
fn id_containing_nul_is_ignored() {
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[b"id: 1\n\nid: a\0b\ndata: x\n\n"]);
    assert_eq!(events, [event("x", Some("1"), false)]);
    assert_eq!(decoder.last_event_id(), Some("1"));
}

#[test]
fn crlf_lf_and_cr_line_endings_are_equivalent() {
    let expected = [event("a\nb", Some("1"), true), event("c", Some("1"), false)];
    assert_eq!(decode(b"id: 1\ndata: a\ndata: b\n\ndata: c\n\n"), expected);
    assert_eq!(
        decode(b"id: 1\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"),
        expected
    );
    assert_eq!(decode(b"id: 1\rdata: a\rdata: b\r\rdata: c\r\r"), expected);
    assert_eq!(
        decode(b"id: 1\rdata: a\r\ndata: b\n\r\ndata: c\r\n\r"),
        expected
    );
}

#[test]
fn cr_and_lf_split_across_chunks_is_one_line_ending() {
    let mut decoder = Decoder::new();
    let events = decode_chunks(
        &mut decoder,
        &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"],
    );
    assert_eq!(events, [event("a\nb", None, false)]);
    // A lone CR at a chunk end followed by CR is two line endings.
    let events = decode_chunks(&mut decoder, &[b"data: c\r", b"\r"]);
    assert_eq!(events, [event("c", None, false)]);
}

#[test]
fn comment_lines_are_ignored() {
    assert_eq!(
        decode(b": hello\ndata: a\n:data: b\n:\n\n"),
        [event("a", None, false)]
    );
    assert!(decode(b": keep-alive\n\n").is_empty());
}

#[test]
fn multi_line_data_is_joined_with_lf() {
    assert_eq!(
        decode(b"data: a\ndata:\ndata:  b\ndata\n\n"),
        [event("a\n\n b\n", None, false)]
    );
}

#[test]
fn only_one_leading_space_is_stripped_and_colons_in_values_kept() {
    assert_eq!(
        decode(b"data:  two: spaces\n\n"),
        [event(" two: spaces", None, false)]
    );
    assert_eq!(decode(b"data:x\n\n"), [event("x", None, false)]);
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        decode(b"foo: bar\nData: no\ndata : no\ndata: yes\n\n"),
        [event("yes", None, false)]
    );
}

#[test]
fn one_leading_bom_is_stripped_even_when_split_across_chunks() {
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
    assert_eq!(events, [event("a", None, false)]);
    // A second BOM is content: it makes the field name unknown.
    assert!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n").is_empty());
    // A BOM prefix that is not a BOM is content too (replaced lossily).
    assert!(decode(b"\xEF\xBBdata: a\n\n").is_empty());
    assert_eq!(
        decode(b"\xEF\xBB\n\ndata: b\n\n"),
        [event("b", None, false)]
    );
    assert_eq!(
        decode(b"data: \xEF\xBB\xBF\n\n"),
        [event("\u{FEFF}", None, false)]
    );
}

#[test]
fn retry_accepts_only_ascii_digits_and_persists() {
    let mut decoder = Decoder::new();
    decode_chunks(&mut decoder, &[b"retry: 1000\n\n"]);
    assert_eq!(decoder.retry(), Some(1000));
    for bad in [
        &b"retry: 12a\n"[..],
        b"retry: -1\n",
        b"retry: +5\n",
        b"retry:  5\n",
        b"retry: 1.5\n",
        b"retry:\n",
        b"retry: 99999999999999999999999\n",
    ] {
        decode_chunks(&mut decoder, &[bad, b"data: x\n\n"]);
        assert_eq!(decoder.retry(), Some(1000), "{bad:?}");
    }
    decode_chunks(&mut decoder, &[b"retry:0\n"]);
    assert_eq!(decoder.retry(), Some(0));
}

#[test]
fn invalid_utf8_is_replaced_lossily() {
    assert_eq!(
        decode(b"data: a\xFFb\xE2\x82\n\n"),
        [event("a\u{FFFD}b\u{FFFD}", None, false)]
    );
    // A multi-byte character split across chunks is not damaged.
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[b"data: \xE2\x82", b"\xAC\n\n"]);
    assert_eq!(events, [event("\u{20AC}", None, false)]);
}

#[test]
fn finish_discards_unterminated_block_and_restores_committed_id() {
    let mut decoder = Decoder::new();
    let events = decode_chunks(&mut decoder, &[b"id: 1\ndata: a\n\nid: 2\ndata: b\n"]);
    assert_eq!(events, [event("a", Some("1"), true)]);
    assert_eq!(decoder.last_event_id(), Some("2"));
    decoder.finish();
    assert_eq!(decoder.next_event(), None);
    assert_eq!(decoder.last_event_id(), Some("1"));
    // A new stream continues with the id and a fresh BOM check.
    let events = decode_chunks(&mut decoder, &[b"\xEF\xBB\xBFdata: c\n\n"]);
    assert_eq!(events, [event("c", Some("1"), false)]);
}

#[test]
fn line_over_limit_is_too_large_and_sticky_until_finish() {
    let mut decoder = Decoder::with_limit(8);
    assert_eq!(decoder.feed(b"data: 12\n\n"), Ok(()));
    assert_eq!(decoder.feed(b"data: 1"), Ok(()));
    assert_eq!(decoder.feed(b"23"), Err(DecodeError::TooLarge { limit: 8 }));
    assert_eq!(
        decoder.feed(b"\n\n"),
        Err(DecodeError::TooLarge { limit: 8 })
    );
    assert_eq!(decoder.next_event(), Some(event("12", None, false)));
    assert_eq!(decoder.next_event(), None);
    decoder.finish();
    assert_eq!(decoder.feed(b"data: 3\n\n"), Ok(()));
    assert_eq!(decoder.next_event(), Some(event("3", None, false)));
}

#[test]
fn event_data_over_limit_is_too_large() {
    let mut decoder = Decoder::with_limit(8);
    // 4 lines of 1 byte each: 8 data bytes with the '\n's, at the limit.
    assert_eq!(decoder.feed(b"data:a\ndata:b\ndata:c\ndata:d\n\n"), Ok(()));
    assert_eq!(
        decoder.next_event().map(|e| e.data),
        Some("a\nb\nc\nd".into())
    );
    assert_eq!(
        decoder.feed(b"data:a\ndata:b\ndata:c\ndata:de\n\n"),
        Err(DecodeError::TooLarge { limit: 8 })
    );
    assert_eq!(decoder.next_event(), None);
}

#[test]
fn default_decoder_uses_default_limit() {
    assert_eq!(Decoder::default(), Decoder::new());
    let mut decoder = Decoder::default();
    let big = vec![b'x'; 64 * 1024];
    assert_eq!(decoder.feed(b"data: "), Ok(()));
    assert_eq!(decoder.feed(&big), Ok(()));
    assert_eq!(decoder.feed(b"\n\n"), Ok(()));
    assert_eq!(decoder.next_event().map(|e| e.data.len()), Some(big.len()));
}

#[test]
fn decode_error_names_the_limit() {
    assert_eq!(
        DecodeError::TooLarge { limit: 4096 }.to_string(),
        "SSE line or event data exceeds 4096 bytes"
    );
}
