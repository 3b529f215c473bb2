//! 2026-07-28 results and multi round-trip requests (MRTR, SEP-2322,
//! `basic/patterns/mrtr.mdx`): what a result's `resultType` means (H-RES-1),
//! and the rounds of an `InputRequiredResult`.
//!
//! A round: the server answers `tools/call`, `prompts/get` or
//! `resources/read` with `resultType: "input_required"`. Each entry of its
//! `inputRequests` becomes an [`Event::Request`] related to the request,
//! answered by the application with [`Client::respond`] exactly as a legacy
//! server request is (HC-MRTR-1). Once every entry is answered the machine
//! sends the same request again under a new JSON-RPC id (H-ID-1) with
//! `inputResponses` and the `requestState` echoed exactly, or without one
//! when the server sent none (HC-MRTR-2); both belong to that request alone
//! (HC-MRTR-3). A round without `inputRequests` is retried at once. The
//! application sees one request and one final outcome; rounds are bounded
//! by [`ClientConfig::max_input_rounds`](super::ClientConfig::max_input_rounds)
//! (HC-MRTR-5), an unanswerable input request fails the request
//! (HC-MRTR-6).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Client;
use super::requests::deadline;
use super::state::{Gathering, InputKey};
use super::types::{Era, Event, Failure, RequestHandle, ServerRequestKey};
use crate::jsonrpc::{ErrorObject, RawJson, code};

/// The requests a server may answer with an `InputRequiredResult`
/// (`basic/patterns/mrtr.mdx`, "Supported Requests").
const MRTR_METHODS: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// Entries of one `inputRequests` map the client accepts; a larger round
/// fails the request (every entry becomes an event and an answer held in
/// memory, so the map is bounded like every other buffer).
pub const MAX_INPUT_REQUESTS: usize = 64;

/// What a result says it is (H-RES-1).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ResultKind {
    /// `"complete"`, or no `resultType` (a server of an older revision).
    Complete,
    /// `"input_required"`.
    InputRequired,
    /// Anything else: the result is invalid.
    Unknown(String),
}

/// Reads `resultType` without building the result's tree.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "resultType", borrow, default)]
    result_type: Option<std::borrow::Cow<'a, str>>,
}

/// H-RES-1: the kind of a 2026-07-28 result. A result that is not an
/// object, or whose `resultType` is not a string, is `Unknown`.
pub(super) fn result_kind(result: &RawJson) -> ResultKind {
    match result.deserialize::<Peek<'_>>() {
        Ok(Peek { result_type: None }) => ResultKind::Complete,
        Ok(Peek {
            result_type: Some(t),
        }) => match t.as_ref() {
            "complete" => ResultKind::Complete,
            "input_required" => ResultKind::InputRequired,
            other => ResultKind::Unknown(other.to_owned()),
        },
        Err(_) => ResultKind::Unknown("(not an object with a string resultType)".into()),
    }
}

/// One validated round: the `requestState` and each input request.
struct Round {
    state: Option<String>,
    requests: Vec<(String, String, Option<RawJson>)>,
}

/// Validates an `InputRequiredResult` (`basic/patterns/mrtr.mdx`, server
/// requirements): `requestState` a string, `inputRequests` an object of
/// request objects with a string `method`, at least one of the two.
fn parse_round(result: &RawJson) -> Result<Round, String> {
    let value = result.to_value();
    let state = match value.get("requestState") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("requestState is not a string".into()),
    };
    let map = match value.get("inputRequests") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("inputRequests is not an object".into()),
    };
    if map.len() > MAX_INPUT_REQUESTS {
        return Err(format!(
            "{} input requests in one round (at most {MAX_INPUT_REQUESTS})",
            map.len()
        ));
    }
    if map.is_empty() && state.is_none() {
        return Err("an InputRequiredResult with neither inputRequests nor requestState".into());
    }
    let mut requests = Vec::with_capacity(map.len());
    for (key, request) in map {
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return Err(format!("input request {key:?} has no method"));
        };
        let params = match request.get("params") {
            None | Some(Value::Null) => None,
            Some(p @ Value::Object(_)) => Some(RawJson::from_value(p)),
            Some(_) => return Err(format!("input request {key:?} has non-object params")),
        };
        requests.push((key, method.to_owned(), params));
    }
    Ok(Round { state, requests })
}

impl Client {
    /// A successful result to application request `h` in the 2026-07-28
    /// era that is not `"complete"`: an `InputRequiredResult` starts a
    /// round; any other `resultType` makes the result invalid (H-RES-1).
    /// `true` when the result was taken care of here.
    pub(super) fn modern_result(&mut self, h: RequestHandle, result: &RawJson) -> bool {
        if self.era != Some(Era::Modern) {
            return false;
        }
        match result_kind(result) {
            ResultKind::Complete => false,
            ResultKind::Unknown(t) => {
                self.fail_request(h, Failure::Malformed(format!("unknown resultType {t:?}")));
                true
            }
            ResultKind::InputRequired => {
                self.input_required(h, result);
                true
            }
        }
    }

    /// HC-VER-1: request `h`, sent in the 2026-07-28 era, was refused with
    /// -32022 whose `supported` list includes 2026-07-28, and has not been
    /// re-sent for that yet.
    pub(super) fn wants_version_retry(&self, h: RequestHandle, e: &ErrorObject) -> bool {
        let listed = || {
            e.data
                .as_ref()
                .map(RawJson::to_value)
                .and_then(|d| d.get("supported").cloned())
                .and_then(|s| s.as_array().cloned())
                .is_some_and(|s| s.iter().any(|v| v.as_str() == Some("2026-07-28")))
        };
        self.era == Some(Era::Modern)
            && e.code == code::UNSUPPORTED_PROTOCOL_VERSION
            && self.requests.get(&h).is_some_and(|r| !r.version_retried)
            && listed()
    }

    /// End request `h` with `failure`.
    fn fail_request(&mut self, h: RequestHandle, failure: Failure) {
        if let Some(r) = self.requests.remove(&h) {
            if r.gathering.is_some() {
                self.inputs.retain(|_, i| i.request != h);
            }
            self.failed(h, r.hidden, failure);
        }
    }

    /// HC-MRTR-1: an `InputRequiredResult` for request `h` (no longer in
    /// flight): check it, then hand each input request to the application,
    /// or retry at once when there is none.
    fn input_required(&mut self, h: RequestHandle, result: &RawJson) {
        let Some(r) = self.requests.get(&h) else {
            return;
        };
        if !MRTR_METHODS.contains(&r.method.as_str()) {
            let why = format!(
                "an InputRequiredResult to {}, which cannot have one",
                r.method
            );
            return self.fail_request(h, Failure::Malformed(why));
        }
        if r.rounds >= self.config.max_input_rounds {
            return self.fail_request(h, Failure::TooManyRounds(self.config.max_input_rounds));
        }
        let round = match parse_round(result) {
            Ok(round) => round,
            Err(why) => return self.fail_request(h, Failure::Malformed(why)),
        };
        let Some(r) = self.requests.get_mut(&h) else {
            return;
        };
        r.rounds += 1;
        r.wire = None;
        r.input = None;
        if round.requests.is_empty() {
            // Nothing to ask: retry at once with the state (the server
            // shedding load, say).
            let mut input = Map::new();
            if let Some(state) = round.state {
                input.insert("requestState".into(), Value::String(state));
            }
            r.input = Some(input);
            r.deadline = deadline(&self.config, r.started, self.now);
            return self.requeue(h);
        }
        // While the application answers (a person may be asked), only the
        // hard maximum runs (L-TO-3); the timeout restarts with the retry.
        let started = r.started;
        r.deadline = self
            .config
            .max_request_time
            .map(|max| started.saturating_add(max));
        r.gathering = Some(Gathering {
            state: round.state,
            outstanding: round.requests.len(),
            answers: Map::new(),
        });
        for (key, method, params) in round.requests {
            let k = ServerRequestKey(self.next_server_request);
            self.next_server_request += 1;
            self.inputs.insert(
                k,
                InputKey {
                    request: h,
                    key,
                    method: method.clone(),
                },
            );
            self.events.push_back(Event::Request {
                key: k,
                method,
                params,
                related: Some(h),
            });
        }
    }

    /// HC-MRTR-1, HC-MRTR-6: the application answered one input request.
    /// An error fails the request; the last answer of the round sends the
    /// retry (new id, `inputResponses`, the exact `requestState`).
    pub(super) fn input_answered(
        &mut self,
        input: InputKey,
        outcome: Result<RawJson, ErrorObject>,
    ) {
        let h = input.request;
        let answer = match outcome {
            Ok(answer) => answer,
            Err(error) => {
                let failure = Failure::InputNotProvided {
                    key: input.key,
                    method: input.method,
                    error,
                };
                return self.fail_request(h, failure);
            }
        };
        let now = self.now;
        let Some(r) = self.requests.get_mut(&h) else {
            return;
        };
        let Some(g) = r.gathering.as_mut() else {
            return;
        };
        g.answers.insert(input.key, answer.to_value());
        g.outstanding = g.outstanding.saturating_sub(1);
        if g.outstanding > 0 {
            return;
        }
        let Some(g) = r.gathering.take() else {
            return;
        };
        let mut extra = Map::new();
        extra.insert("inputResponses".into(), Value::Object(g.answers));
        if let Some(state) = g.state {
            extra.insert("requestState".into(), Value::String(state));
        }
        r.input = Some(extra);
        r.deadline = deadline(&self.config, r.started, now);
        self.requeue(h);
    }
}
