//! Property tests of the SSE codec: chunking independence, encode/decode
//! round trip, and robustness on arbitrary bytes.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use streamable_core::sse::*;

/// One frame the server may emit.
#[derive(Clone, Debug)]
enum Item {
    Message { id: Option<String>, data: String },
    Priming { id: String, retry: Option<u64> },
    Retry(u64),
    Comment(String),
}

/// Text with plenty of line endings, colons and non-ASCII characters.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<char>().prop_map(String::from),
            3 => "[a-z{}\":, ]{1,6}",
            1 => Just("\r\n".to_owned()),
            1 => Just("\n".to_owned()),
            1 => Just("\r".to_owned()),
            1 => Just(":".to_owned()),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

/// Ids as the server mints them: visible ASCII only.
fn event_id() -> impl Strategy<Value = String> {
    "[!-~]{1,16}"
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (proptest::option::of(event_id()), text())
            .prop_map(|(id, data)| Item::Message { id, data }),
        1 => (event_id(), proptest::option::of(any::<u64>()))
            .prop_map(|(id, retry)| Item::Priming { id, retry }),
        1 => any::<u64>().prop_map(Item::Retry),
        1 => text().prop_map(Item::Comment),
    ]
}

fn encode(items: &[Item], bom: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    for item in items {
        match item {
            Item::Message { id, data } => encode_message(&mut out, id.as_deref(), data.as_bytes()),
            Item::Priming { id, retry } => encode_priming(&mut out, id, *retry),
            Item::Retry(ms) => encode_retry(&mut out, *ms),
            Item::Comment(text) => encode_comment(&mut out, text),
        }
    }
    out.to_vec()
}

/// Rewrites every line ending (LF, the only one the encoder emits) as LF, CRLF
/// or CR, cycling through `styles`, as another server might send it. A CR is
/// never followed by an LF ending: CR LF would be read as one line ending.
fn restyle(bytes: &[u8], styles: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    let mut styles = styles.iter().cycle();
    let mut last_was_cr = false;
    for &b in bytes {
        if b != b'\n' {
            out.push(b);
            last_was_cr = false;
            continue;
        }
        let ending: &[u8] = match (styles.next(), last_was_cr) {
            (Some(1), _) => b"\r\n",
            (Some(2), _) => b"\r",
            (_, true) => b"\r\n",
            _ => b"\n",
        };
        out.extend_from_slice(ending);
        last_was_cr = ending == b"\r";
    }
    out
}

/// What a decoder ends up with after a whole stream.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<DecodeError>,
    /// Full decoder state after the last chunk (queue drained).
    state: Decoder,
}

/// Feeds `bytes` cut at `cuts`, draining events after every chunk, and checks
/// that a failure is sticky.
fn run(limit: usize, bytes: &[u8], cuts: &[Index]) -> Outcome {
    let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    positions.push(0);
    positions.push(bytes.len());
    positions.sort_unstable();
    let mut decoder = Decoder::with_limit(limit);
    let mut events = Vec::new();
    let mut error = None;
    for pair in positions.windows(2) {
        let result = decoder.feed(&bytes[pair[0]..pair[1]]);
        if let Some(err) = error {
            assert_eq!(result, Err(err), "a decode error must be sticky");
        } else {
            error = result.err();
        }
        events.extend(std::iter::from_fn(|| decoder.next_event()));
    }
    Outcome {
        events,
        error,
        state: decoder,
    }
}

fn normalise_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// The events, final last-event-id and retry the items must decode to.
fn model(items: &[Item]) -> (Vec<Event>, Option<String>, Option<u64>) {
    let mut events = Vec::new();
    let mut last_id = None;
    let mut retry = None;
    for item in items {
        match item {
            Item::Message { id, data } => {
                if id.is_some() {
                    last_id.clone_from(id);
                }
                events.push(Event {
                    event: "message".to_owned(),
                    data: normalise_line_endings(data),
                    last_event_id: last_id.clone(),
                    has_id: id.is_some(),
                });
            }
            Item::Priming { id, retry: ms } => {
                last_id = Some(id.clone());
                retry = ms.or(retry);
                events.push(Event {
                    event: "message".to_owned(),
                    data: String::new(),
                    last_event_id: last_id.clone(),
                    has_id: true,
                });
            }
            Item::Retry(ms) => retry = Some(*ms),
            Item::Comment(_) => {}
        }
    }
    (events, last_id, retry)
}

/// Bytes biased towards field names, line endings, BOMs and NULs.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 1..4),
            2 => prop::sample::select(vec![
                &b"data:"[..], b"data: ", b"id:", b"id: 7", b"retry:", b"retry: 42",
                b"event:", b"event: x", b":", b" ", b"\0", b"\xEF\xBB\xBF", b"\xEF\xBB",
            ])
            .prop_map(<[u8]>::to_vec),
            2 => prop::sample::select(vec![&b"\r\n"[..], b"\n", b"\r"]).prop_map(<[u8]>::to_vec),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// (a) Encoded streams decode identically however they are chunked, and
    /// whichever line endings (LF, CRLF, CR) carry them.
    #[test]
    fn encoded_stream_decodes_the_same_in_any_split(
        items in prop::collection::vec(item(), 0..8),
        bom in any::<bool>(),
        styles in prop::collection::vec(0u8..3, 0..16),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let bytes = encode(&items, bom);
        let whole = run(1 << 20, &bytes, &[]);
        prop_assert_eq!(&whole.error, &None);
        prop_assert_eq!(&run(1 << 20, &bytes, &cuts), &whole);
        let restyled = restyle(&bytes, &styles);
        let restyled_whole = run(1 << 20, &restyled, &[]);
        prop_assert_eq!(&run(1 << 20, &restyled, &cuts), &restyled_whole);
        prop_assert_eq!(&restyled_whole.events, &whole.events);
        prop_assert_eq!(restyled_whole.error, None);
        prop_assert_eq!(restyled_whole.state.last_event_id(), whole.state.last_event_id());
        prop_assert_eq!(restyled_whole.state.retry(), whole.state.retry());
    }

    /// (c) Arbitrary bytes never panic, and the outcome (events, error, state
    /// before and after `finish`) does not depend on the chunking.
    #[test]
    fn arbitrary_bytes_never_panic_and_are_chunking_independent(
        bytes in noisy_bytes(),
        limit in prop_oneof![0usize..48, Just(1usize << 20)],
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut whole = run(limit, &bytes, &[]);
        let mut split = run(limit, &bytes, &cuts);
        prop_assert_eq!(&split, &whole);
        whole.state.finish();
        split.state.finish();
        prop_assert_eq!(split.state, whole.state);
    }
}

proptest! {
    /// (b) Round trip: data comes back with line endings normalised to '\n',
    /// ids as given (persisting across id-less events), type "message".
    #[test]
    fn encode_then_decode_round_trips(
        items in prop::collection::vec(item(), 0..8),
        bom in any::<bool>(),
    ) {
        let bytes = encode(&items, bom);
        let mut outcome = run(1 << 20, &bytes, &[]);
        let (events, last_id, retry) = model(&items);
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.events, events);
        prop_assert_eq!(outcome.state.last_event_id(), last_id.as_deref());
        prop_assert_eq!(outcome.state.retry(), retry);
        // Every frame is complete, so finishing the stream loses nothing.
        outcome.state.finish();
        prop_assert_eq!(outcome.state.last_event_id(), last_id.as_deref());
    }
}
