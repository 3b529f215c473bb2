//! Multi-round-trip requests (SEP-2322, MRTR-1..MRTR-10): the same handler
//! code asks the client for input in both eras.
//!
//! In a 2025-x session, [`RequestContext::elicit`] and its siblings send a
//! server-to-client request on the request's stream and await the answer.
//! In a stateless 2026-07-28 `tools/call`, `prompts/get` or `resources/read`
//! run through [`with_input_rounds`] (as [`McpServer`](crate::McpServer)
//! does), the handler runs once per *round*: each input it asks for is
//! either found among the answers the client sent back (`inputResponses`,
//! plus the answers of earlier rounds carried in `requestState`) and
//! returned at once, or registered as pending and refused with
//! [`ContextError::InputRequired`], so that `?` ends the handler. When the
//! handler ends with inputs pending, whatever it returned, the request is
//! answered with an `InputRequiredResult`: every input asked for in that
//! run (so `join!` of two elicitations asks both in one round) under a key,
//! and a new `requestState` sealed with the server's key ring
//! ([`streamable_core::request_state`]) that carries the answers used so
//! far, bound to the method, the tool or prompt name or resource URI, a
//! digest of the arguments and a principal (empty until authorization
//! exists), with an expiry. The client retries with the answers and the
//! state; the handler runs again from the start and this time finds them.
//!
//! Keys are deterministic across runs: the one the handler names
//! ([`RequestContext::input`]), or `{kind}-{digest}` of the request's method
//! and params (a second identical request in one run gets `-2`, and so on),
//! so a handler that asks the same questions in the same order finds its
//! answers, and an answer is never given to a different question.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use streamable_core::request_state::{self, Binding, KeyRing, RequestState};
use streamable_core::{ErrorObject, RawJson, code};

use super::RequestContext;
use super::error::ContextError;
use super::session::SessionData;
use crate::handler::Outcome;

/// The most inputs asked in one round; a handler asking more gets the rest
/// asked in the next round (they are still unanswered then).
pub const MAX_INPUTS_PER_ROUND: usize = 16;

/// The requests that may be answered with an `InputRequiredResult`.
pub const INPUT_METHODS: [&str; 3] = ["tools/call", "prompts/get", "resources/read"];

/// The server-to-client requests an input can be, with the client
/// capability each needs and the prefix of its derived keys.
const INPUT_KINDS: [(&str, &str, &str); 3] = [
    ("elicitation/create", "elicitation", "elicitation"),
    ("sampling/createMessage", "sampling", "sampling"),
    ("roots/list", "roots", "roots"),
];

/// The adapter's `requestState` settings ([`Builder::request_state_keys`],
/// [`Builder::request_state_ttl`](crate::Builder::request_state_ttl)).
///
/// [`Builder::request_state_keys`]: crate::Builder::request_state_keys
#[derive(Clone, Debug)]
pub(crate) struct InputSettings {
    /// `None` when no key could be drawn from the OS: rounds are refused.
    pub(crate) keys: Option<KeyRing>,
    pub(crate) ttl: Duration,
}

/// One run of a handler within a multi-round-trip request.
#[derive(Debug)]
pub(crate) struct InputRound {
    answers: BTreeMap<String, Value>,
    /// Whether the request carried a `requestState` (verified by now).
    pub(crate) carried_state: bool,
    state: Mutex<RoundState>,
}

#[derive(Debug, Default)]
struct RoundState {
    /// Answers the handler used in this run (carried to the next round).
    used: BTreeMap<String, Value>,
    /// Inputs asked and not answered: key → `{method, params}`.
    pending: BTreeMap<String, Value>,
    /// How often each derived key was asked in this run.
    seen: BTreeMap<String, u32>,
}

impl InputRound {
    /// Whether an input asked in this run is still unanswered.
    pub(crate) fn has_pending(&self) -> bool {
        self.state.lock().map_or(true, |st| !st.pending.is_empty())
    }

    /// Ask for one input (see the module docs).
    pub(crate) fn ask(
        &self,
        data: &SessionData,
        key: Option<&str>,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        let Some(&(_, capability, prefix)) = INPUT_KINDS.iter().find(|k| k.0 == method) else {
            return Err(ContextError::NotSent(
                streamable_core::SendError::NotAllowed,
            ));
        };
        if !data.client_supports(capability) {
            return Err(ContextError::MissingCapability(capability));
        }
        let params = params.unwrap_or_else(|| Value::Object(Map::new()));
        let mut st = self.state.lock().map_err(|_| ContextError::Stopped)?;
        let key = match key {
            Some(k) => k.to_owned(),
            None => {
                let digest =
                    request_state::json_digest(&json!({"method": method, "params": params}));
                let base = format!("{prefix}-{}", request_state::hex(&digest[..8]));
                let n = st.seen.entry(base.clone()).or_insert(0);
                *n += 1;
                if *n == 1 { base } else { format!("{base}-{n}") }
            }
        };
        if let Some(answer) = self.answers.get(&key) {
            check_answer(method, &key, answer)?;
            st.used.insert(key, answer.clone());
            return Ok(RawJson::from_value(answer));
        }
        if st.pending.len() < MAX_INPUTS_PER_ROUND || st.pending.contains_key(&key) {
            st.pending
                .insert(key, json!({"method": method, "params": params}));
        }
        Err(ContextError::InputRequired)
    }
}

/// Whether an answer has the shape of the result it answers (MRTR-9).
fn check_answer(method: &str, key: &str, v: &Value) -> Result<(), ContextError> {
    let ok = match method {
        "elicitation/create" => {
            matches!(v["action"].as_str(), Some("accept" | "decline" | "cancel"))
                && v.get("content").is_none_or(Value::is_object)
        }
        "sampling/createMessage" => v["role"].is_string() && v.get("content").is_some(),
        _ => v["roots"].is_array(),
    };
    if ok {
        Ok(())
    } else {
        Err(ContextError::BadInputResponse(format!(
            "inputResponses[{key:?}] is not a valid result of {method}"
        )))
    }
}

/// Run `handler` as one round of a multi-round-trip request when the
/// request allows it (a stateless 2026-07-28 `tools/call`, `prompts/get` or
/// `resources/read`), else simply run it.
///
/// Before the handler runs, `inputResponses` must be an object of objects
/// and `requestState`, when present, must verify (integrity, expiry, this
/// method, name or URI and arguments); otherwise the request is answered
/// `-32602` and the handler never runs. If the handler ends with inputs
/// pending, the answer is an `InputRequiredResult`.
///
/// [`McpServer`](crate::McpServer) does this for you. A plain
/// [`Handler`](crate::Handler) wraps its own dispatch:
///
/// ```
/// use streamable_hyper::{Handler, Outcome, RequestContext, with_input_rounds};
/// use streamable_core::{ErrorObject, RawJson, code};
///
/// struct Greeter;
/// impl Greeter {
///     async fn route(&self, ctx: RequestContext, method: String, _p: Option<RawJson>) -> Outcome {
///         match method.as_str() {
///             "tools/call" => {
///                 // Legacy session: a server-to-client request. 2026-07-28:
///                 // the first run ends here with an InputRequiredResult.
///                 let answer = ctx.elicit(serde_json::json!({
///                     "message": "Your name?",
///                     "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}
///                 })).await?;
///                 let name = answer.to_value()["content"]["name"].as_str().unwrap_or("?").to_owned();
///                 Ok(RawJson::from_value(&serde_json::json!({
///                     "content": [{"type": "text", "text": format!("Hello, {name}!")}]
///                 })))
///             }
///             _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
///         }
///     }
/// }
/// impl Handler for Greeter {
///     async fn request(&self, ctx: RequestContext, method: String, params: Option<RawJson>) -> Outcome {
///         with_input_rounds(ctx, method, params, |ctx, m, p| self.route(ctx, m, p)).await
///     }
/// }
/// ```
pub async fn with_input_rounds<F, Fut>(
    mut ctx: RequestContext,
    method: String,
    params: Option<RawJson>,
    handler: F,
) -> Outcome
where
    F: FnOnce(RequestContext, String, Option<RawJson>) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let settings = match &ctx.input_settings {
        Some(s) if INPUT_METHODS.contains(&method.as_str()) && ctx.input.is_none() => s.clone(),
        _ => return handler(ctx, method, params).await,
    };
    let Some(keys) = &settings.keys else {
        return Err(ErrorObject::new(
            code::INTERNAL_ERROR,
            "Internal error: no requestState key (the OS random source failed)",
        ));
    };
    let now = now_ms();
    // AUTH-RS-12: the state is bound to the principal it is issued to.
    let principal = ctx.auth().map_or("", crate::AuthInfo::principal);
    let (binding, answers, carried_state) = begin(keys, &method, params.as_ref(), principal, now)?;
    let round = Arc::new(InputRound {
        answers,
        carried_state,
        state: Mutex::new(RoundState::default()),
    });
    ctx.input = Some(round.clone());
    let outcome = handler(ctx, method, params).await;
    finish(&round, keys, &settings, binding, now, outcome)
}

/// Read and check what the client sent back (MRTR-5, MRTR-9).
fn begin(
    keys: &KeyRing,
    method: &str,
    params: Option<&RawJson>,
    principal: &str,
    now: u64,
) -> Result<(Binding, BTreeMap<String, Value>, bool), ErrorObject> {
    let params = params.map_or(Value::Null, RawJson::to_value);
    let (name, args) = if method == "resources/read" {
        (params["uri"].as_str().unwrap_or(""), None)
    } else {
        (
            params["name"].as_str().unwrap_or(""),
            params.get("arguments"),
        )
    };
    // The principal (empty without authorization): a state replayed by
    // another principal fails like a tampered one (AUTH-RS-12).
    let binding = Binding::new(method, name, args, principal);
    let invalid = |m: String| ErrorObject::new(code::INVALID_PARAMS, m);
    let mut answers = match params.get("requestState") {
        None => BTreeMap::new(),
        Some(Value::String(token)) => {
            request_state::open(keys, token, &binding, now)
                .map_err(|e| invalid(format!("Invalid requestState: {e}")))?
                .answers
        }
        Some(_) => return Err(invalid("requestState must be a string".into())),
    };
    match params.get("inputResponses") {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_object() {
                    return Err(invalid(format!(
                        "inputResponses[{k:?}] must be a result object"
                    )));
                }
                // An answer carried in the state was what earlier rounds
                // saw; the client cannot change it.
                answers.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        Some(_) => return Err(invalid("inputResponses must be an object".into())),
    }
    let carried = params.get("requestState").is_some();
    Ok((binding, answers, carried))
}

/// The handler's outcome, or an `InputRequiredResult` when inputs are
/// pending.
fn finish(
    round: &InputRound,
    keys: &KeyRing,
    settings: &InputSettings,
    binding: Binding,
    now: u64,
    outcome: Outcome,
) -> Outcome {
    let st = round.state.lock().map_err(|_| {
        ErrorObject::new(code::INTERNAL_ERROR, "Internal error: input round poisoned")
    })?;
    if st.pending.is_empty() {
        return outcome;
    }
    // A deferred tool that went async answers with its task, never with an
    // input round: the task's `CreateTaskResult` carries no `requestState`
    // (SEP-2663), and later inputs go through the task.
    if let Ok(raw) = &outcome
        && raw.to_value()["resultType"] == "task"
    {
        return outcome;
    }
    let state = RequestState {
        binding,
        expires_ms: now.saturating_add(u64::try_from(settings.ttl.as_millis()).unwrap_or(u64::MAX)),
        answers: st.used.clone(),
    };
    let token = request_state::seal(keys, &state).map_err(|e| {
        ErrorObject::new(
            code::INTERNAL_ERROR,
            format!("Internal error: the answers gathered do not fit a requestState: {e}"),
        )
    })?;
    Ok(RawJson::from_value(&json!({
        "resultType": "input_required",
        "inputRequests": st.pending,
        "requestState": token,
    })))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A key ring with one key drawn from the OS (the default when the builder
/// is given none); `None` when the OS random source fails.
pub(crate) fn random_keys() -> Option<KeyRing> {
    let mut secret = [0u8; 32];
    let mut id = [0u8; 4];
    getrandom::fill(&mut secret).ok()?;
    getrandom::fill(&mut id).ok()?;
    request_state::StateKey::new(u32::from_be_bytes(id), &secret).map(KeyRing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(answers: BTreeMap<String, Value>) -> InputRound {
        InputRound {
            answers,
            carried_state: false,
            state: Mutex::new(RoundState::default()),
        }
    }

    fn caps() -> SessionData {
        let d = SessionData::default();
        d.set_client(json!({"capabilities": {"elicitation": {}, "sampling": {}, "roots": {}}}));
        d
    }

    #[test]
    fn mrtr_12_derived_keys_are_stable_and_numbered_when_repeated() {
        let (r1, r2) = (round(BTreeMap::new()), round(BTreeMap::new()));
        let data = caps();
        for r in [&r1, &r2] {
            for _ in 0..2 {
                let e = r.ask(
                    &data,
                    None,
                    "elicitation/create",
                    Some(json!({"message": "a"})),
                );
                assert_eq!(e, Err(ContextError::InputRequired));
            }
            let e = r.ask(&data, None, "roots/list", None);
            assert_eq!(e, Err(ContextError::InputRequired));
        }
        let keys = |r: &InputRound| -> Vec<String> {
            r.state.lock().unwrap().pending.keys().cloned().collect()
        };
        assert_eq!(keys(&r1), keys(&r2));
        let k = keys(&r1);
        assert_eq!(k.len(), 3, "{k:?}");
        assert!(
            k[0].starts_with("elicitation-") && k[1] == format!("{}-2", k[0]),
            "{k:?}"
        );
        assert!(k[2].starts_with("roots-"));
    }

    #[test]
    fn mrtr_2_mrtr_11_at_most_sixteen_inputs_per_round() {
        let r = round(BTreeMap::new());
        let data = caps();
        for i in 0..(MAX_INPUTS_PER_ROUND + 4) {
            let key = format!("k{i}");
            let _ = r.ask(&data, Some(&key), "roots/list", None);
        }
        assert_eq!(r.state.lock().unwrap().pending.len(), MAX_INPUTS_PER_ROUND);
    }

    #[test]
    fn mrtr_8_mrtr_9_capabilities_and_answer_shapes() {
        let answers = BTreeMap::from([
            ("ok".to_owned(), json!({"action": "decline"})),
            ("bad".to_owned(), json!({"action": "maybe"})),
            (
                "s".to_owned(),
                json!({"role": "assistant", "content": {"type": "text", "text": "x"}}),
            ),
            ("r".to_owned(), json!({"roots": "none"})),
        ]);
        let r = round(answers);
        let data = caps();
        assert!(r.ask(&data, Some("ok"), "elicitation/create", None).is_ok());
        assert!(matches!(
            r.ask(&data, Some("bad"), "elicitation/create", None),
            Err(ContextError::BadInputResponse(_))
        ));
        assert!(
            r.ask(&data, Some("s"), "sampling/createMessage", None)
                .is_ok()
        );
        assert!(matches!(
            r.ask(&data, Some("r"), "roots/list", None),
            Err(ContextError::BadInputResponse(_))
        ));
        assert_eq!(
            r.ask(&data, Some("x"), "tools/call", None),
            Err(ContextError::NotSent(
                streamable_core::SendError::NotAllowed
            ))
        );
        let none = SessionData::default();
        assert_eq!(
            r.ask(&none, Some("ok"), "elicitation/create", None),
            Err(ContextError::MissingCapability("elicitation"))
        );
        // Used answers are what the next state carries.
        let used: Vec<String> = r.state.lock().unwrap().used.keys().cloned().collect();
        assert_eq!(used, ["ok", "s"]);
    }
}
