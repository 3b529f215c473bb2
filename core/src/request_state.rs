//! `requestState` of multi-round-trip requests (SEP-2322, MRTR-4..MRTR-7):
//! an opaque, integrity-protected token that carries what a request has
//! gathered so far (the answers of earlier rounds) from one round to the
//! next, through the client.
//!
//! Pure: no IO, no clock, no randomness. The caller passes the keys
//! ([`KeyRing`]) and the time (`now_ms`, milliseconds since the Unix epoch:
//! a token must stay valid across server instances, so this is wall-clock
//! time, not the core's [`Timestamp`](crate::Timestamp)).
//!
//! # The token
//!
//! `base64url(version ‖ key id ‖ payload) "." base64url(HMAC-SHA256)`, where
//! `version` is one byte (1), the key id four bytes (big-endian) naming the
//! key of the [`KeyRing`] that signed it, and the payload JSON text holding
//! the [`Binding`] (method, tool or prompt name or resource URI, a digest of
//! the arguments, the principal), the expiry and the answers. The MAC covers
//! everything before it, so changing any byte (the key id too) is refused.
//! The payload is not encrypted: it holds only what the client itself sent.
//!
//! # Limits
//!
//! A token is at most [`MAX_STATE_BYTES`] characters (longer ones are
//! refused before decoding, and [`seal`] refuses to make one) and carries at
//! most [`MAX_ANSWERS`] answers; a key ring holds at most
//! [`MAX_PREVIOUS_KEYS`] previous keys.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The longest `requestState` accepted or produced, in characters (64 KiB).
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// The most answers one token carries.
pub const MAX_ANSWERS: usize = 64;

/// The most previous keys a [`KeyRing`] keeps for verification.
pub const MAX_PREVIOUS_KEYS: usize = 8;

/// Format version, the first byte of the signed part.
const VERSION: u8 = 1;

/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// One signing key: an id (carried in tokens, so a rotated ring still finds
/// the key that signed one) and a secret of at least 32 bytes.
#[derive(Clone)]
pub struct StateKey {
    id: u32,
    secret: Vec<u8>,
}

impl StateKey {
    /// A key with this id and secret; `None` when the secret is shorter
    /// than 32 bytes (HMAC-SHA256's strength needs 256 bits of key).
    pub fn new(id: u32, secret: &[u8]) -> Option<StateKey> {
        (secret.len() >= 32).then(|| StateKey {
            id,
            secret: secret.to_vec(),
        })
    }

    /// The key's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length, so this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

impl fmt::Debug for StateKey {
    /// Never shows the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The keys of `requestState`: the current one signs, it and the previous
/// ones verify (rotation: add a new current key, keep the old one as
/// previous until the tokens it signed have expired). Share one ring (or the
/// same secrets) between server instances behind one endpoint, so that a
/// retry reaching another instance is accepted.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: StateKey,
    previous: Vec<StateKey>,
}

impl KeyRing {
    /// A ring with one key.
    pub fn new(current: StateKey) -> KeyRing {
        KeyRing {
            current,
            previous: Vec::new(),
        }
    }

    /// Rotate: `key` becomes the current key and the old current key the
    /// newest previous one; beyond [`MAX_PREVIOUS_KEYS`] the oldest is
    /// dropped. A previous key with `key`'s id is dropped too.
    #[must_use]
    pub fn rotate(mut self, key: StateKey) -> KeyRing {
        let old = std::mem::replace(&mut self.current, key);
        self.previous.insert(0, old);
        let id = self.current.id;
        self.previous.retain(|k| k.id != id);
        self.previous.truncate(MAX_PREVIOUS_KEYS);
        self
    }

    /// Add a key that only verifies (kept after a rotation done elsewhere).
    #[must_use]
    pub fn with_previous(mut self, key: StateKey) -> KeyRing {
        if key.id != self.current.id && self.previous.len() < MAX_PREVIOUS_KEYS {
            self.previous.retain(|k| k.id != key.id);
            self.previous.push(key);
        }
        self
    }

    /// The id of the key that signs.
    pub fn current_id(&self) -> u32 {
        self.current.id
    }

    fn find(&self, id: u32) -> Option<&StateKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }
}

/// What a token belongs to: it is accepted only on a request with the same
/// binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The request's method (`tools/call`, `prompts/get`, `resources/read`).
    #[serde(rename = "m")]
    pub method: String,
    /// The tool or prompt name, or the resource URI.
    #[serde(rename = "n")]
    pub name: String,
    /// [`json_digest`] of the arguments (hex), empty when there are none.
    #[serde(rename = "a")]
    pub args: String,
    /// Who the request was made for; empty until authorization exists.
    #[serde(rename = "p")]
    pub principal: String,
}

impl Binding {
    /// The binding of a request: `args` is digested (canonical JSON, so key
    /// order does not matter; `None` and `null` digest to nothing).
    pub fn new(method: &str, name: &str, args: Option<&Value>, principal: &str) -> Binding {
        Binding {
            method: method.to_owned(),
            name: name.to_owned(),
            args: match args {
                None | Some(Value::Null) => String::new(),
                Some(v) => hex(&json_digest(v)),
            },
            principal: principal.to_owned(),
        }
    }
}

/// The signed content of a token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestState {
    /// What the token belongs to.
    #[serde(rename = "b")]
    pub binding: Binding,
    /// Expiry, in milliseconds since the Unix epoch: refused at or after it.
    #[serde(rename = "e")]
    pub expires_ms: u64,
    /// The answers gathered so far, by input key.
    #[serde(rename = "r")]
    pub answers: BTreeMap<String, Value>,
}

/// Why a token was refused (or could not be made).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Longer than [`MAX_STATE_BYTES`], or more than [`MAX_ANSWERS`] answers.
    TooLarge,
    /// Not a token of this format (bad base64, too short, unknown version,
    /// a payload that is not the expected JSON).
    Malformed,
    /// Signed with a key the ring does not have.
    UnknownKey,
    /// The MAC does not match: the token was changed.
    BadSignature,
    /// Its expiry has passed.
    Expired,
    /// It belongs to another request (method, name, arguments or principal
    /// differ).
    WrongRequest,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateError::TooLarge => "requestState is too large",
            StateError::Malformed => "requestState is malformed",
            StateError::UnknownKey => "requestState was signed with an unknown key",
            StateError::BadSignature => "requestState failed its integrity check",
            StateError::Expired => "requestState has expired",
            StateError::WrongRequest => "requestState belongs to another request",
        })
    }
}

impl std::error::Error for StateError {}

/// Sign `state` with the ring's current key.
pub fn seal(keys: &KeyRing, state: &RequestState) -> Result<String, StateError> {
    if state.answers.len() > MAX_ANSWERS {
        return Err(StateError::TooLarge);
    }
    let payload = serde_json::to_vec(state).map_err(|_| StateError::Malformed)?;
    let mut signed = Vec::with_capacity(5 + payload.len());
    signed.push(VERSION);
    signed.extend_from_slice(&keys.current.id.to_be_bytes());
    signed.extend_from_slice(&payload);
    let mut mac = keys.current.mac();
    mac.update(&signed);
    let tag = mac.finalize().into_bytes();
    let mut out = URL_SAFE_NO_PAD.encode(&signed);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(tag));
    if out.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge);
    }
    Ok(out)
}

/// Verify `token` and return its state if it is intact, signed by a key of
/// the ring, unexpired at `now_ms`, and bound to `expected`. Checks run in
/// that order; the payload is parsed only after the MAC matched.
pub fn open(
    keys: &KeyRing,
    token: &str,
    expected: &Binding,
    now_ms: u64,
) -> Result<RequestState, StateError> {
    if token.len() > MAX_STATE_BYTES {
        return Err(StateError::TooLarge);
    }
    let (signed, tag) = token.split_once('.').ok_or(StateError::Malformed)?;
    let signed = URL_SAFE_NO_PAD
        .decode(signed)
        .map_err(|_| StateError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| StateError::Malformed)?;
    if signed.len() < 5 || signed[0] != VERSION || tag.len() != TAG_LEN {
        return Err(StateError::Malformed);
    }
    let id = u32::from_be_bytes([signed[1], signed[2], signed[3], signed[4]]);
    let key = keys.find(id).ok_or(StateError::UnknownKey)?;
    let mut mac = key.mac();
    mac.update(&signed);
    mac.verify_slice(&tag)
        .map_err(|_| StateError::BadSignature)?;
    let state: RequestState =
        serde_json::from_slice(&signed[5..]).map_err(|_| StateError::Malformed)?;
    if state.answers.len() > MAX_ANSWERS {
        return Err(StateError::TooLarge);
    }
    if now_ms >= state.expires_ms {
        return Err(StateError::Expired);
    }
    if state.binding != *expected {
        return Err(StateError::WrongRequest);
    }
    Ok(state)
}

/// SHA-256 of `v`'s canonical JSON text (object members sorted by key, no
/// white space), so two equal values digest alike whatever their member
/// order on the wire.
pub fn json_digest(v: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    canonical(v, &mut h);
    let mut out = [0; 32];
    out.copy_from_slice(&h.finalize());
    out
}

fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Object(m) => {
            let mut members: Vec<(&String, &Value)> = m.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                h.update(Value::String(k.clone()).to_string().as_bytes());
                h.update(b":");
                canonical(v, h);
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(v, h);
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(id: u32, byte: u8) -> StateKey {
        StateKey::new(id, &[byte; 32]).unwrap()
    }

    fn binding() -> Binding {
        Binding::new(
            "tools/call",
            "greet",
            Some(&json!({"a": 1, "b": [true]})),
            "",
        )
    }

    fn state() -> RequestState {
        RequestState {
            binding: binding(),
            expires_ms: 10_000,
            answers: BTreeMap::from([("name".to_owned(), json!({"action": "accept"}))]),
        }
    }

    #[test]
    fn mrtr_4_a_sealed_state_opens_with_its_binding() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &state()).unwrap();
        assert_eq!(open(&ring, &t, &binding(), 9_999), Ok(state()));
    }

    #[test]
    fn mrtr_5_tampering_with_any_byte_is_refused() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &state()).unwrap();
        let bytes = t.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'_', b'.'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                let r = open(&ring, &changed, &binding(), 0);
                // A change in the last character's padding bits can decode
                // to the same bytes; anything else must be refused.
                if let Ok(s) = r {
                    let again = seal(&ring, &s).unwrap();
                    assert_eq!(again, t, "byte {i} changed and still accepted");
                }
            }
        }
        assert_eq!(
            open(&ring, &format!("{t}-TAMPERED"), &binding(), 0),
            Err(StateError::Malformed)
        );
        assert!(open(&ring, &format!("{t}A"), &binding(), 0).is_err());
        assert!(open(&ring, "", &binding(), 0).is_err());
        assert!(open(&ring, ".", &binding(), 0).is_err());
    }

    #[test]
    fn mrtr_5_a_forged_payload_under_the_old_tag_is_refused() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &state()).unwrap();
        let (_, tag) = t.split_once('.').unwrap();
        let mut forged = state();
        forged.answers.insert("admin".into(), json!(true));
        let other = seal(&ring, &forged).unwrap();
        let (payload, _) = other.split_once('.').unwrap();
        assert_eq!(
            open(&ring, &format!("{payload}.{tag}"), &binding(), 0),
            Err(StateError::BadSignature)
        );
    }

    #[test]
    fn mrtr_6_an_expired_state_is_refused() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &state()).unwrap();
        assert_eq!(
            open(&ring, &t, &binding(), 10_000),
            Err(StateError::Expired)
        );
        assert_eq!(
            open(&ring, &t, &binding(), u64::MAX),
            Err(StateError::Expired)
        );
    }

    #[test]
    fn mrtr_6_a_state_of_another_request_is_refused() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &state()).unwrap();
        let args = json!({"a": 1, "b": [true]});
        for other in [
            Binding::new("prompts/get", "greet", Some(&args), ""),
            Binding::new("tools/call", "other", Some(&args), ""),
            Binding::new(
                "tools/call",
                "greet",
                Some(&json!({"a": 2, "b": [true]})),
                "",
            ),
            Binding::new("tools/call", "greet", None, ""),
            Binding::new("tools/call", "greet", Some(&args), "mallory"),
        ] {
            assert_eq!(open(&ring, &t, &other, 0), Err(StateError::WrongRequest));
        }
        // Member order does not change the digest.
        let reordered = Binding::new(
            "tools/call",
            "greet",
            Some(&json!({"b": [true], "a": 1})),
            "",
        );
        assert!(open(&ring, &t, &reordered, 0).is_ok());
    }

    #[test]
    fn mrtr_7_rotation_keeps_previous_keys_verifying() {
        let old = KeyRing::new(key(1, 7));
        let t_old = seal(&old, &state()).unwrap();
        let rotated = old.clone().rotate(key(2, 9));
        assert_eq!(rotated.current_id(), 2);
        assert!(open(&rotated, &t_old, &binding(), 0).is_ok());
        let t_new = seal(&rotated, &state()).unwrap();
        assert_eq!(
            open(&old, &t_new, &binding(), 0),
            Err(StateError::UnknownKey)
        );
        // A foreign key with the same id: the MAC does not match.
        let foreign = KeyRing::new(key(2, 8));
        assert_eq!(
            open(&foreign, &t_new, &binding(), 0),
            Err(StateError::BadSignature)
        );
        // Dropped after MAX_PREVIOUS_KEYS rotations.
        let mut ring = rotated;
        for id in 3..(3 + MAX_PREVIOUS_KEYS as u32) {
            ring = ring.rotate(key(id, id as u8));
        }
        assert_eq!(
            open(&ring, &t_old, &binding(), 0),
            Err(StateError::UnknownKey)
        );
        let verifying = KeyRing::new(key(5, 1)).with_previous(key(1, 7));
        assert!(open(&verifying, &t_old, &binding(), 0).is_ok());
    }

    #[test]
    fn mrtr_7_keys_are_at_least_32_bytes_and_never_printed() {
        assert!(StateKey::new(1, &[0; 31]).is_none());
        let k = key(1, 0xab);
        assert!(!format!("{k:?}").contains("171"));
    }

    #[test]
    fn mrtr_11_size_limits_hold_both_ways() {
        let ring = KeyRing::new(key(1, 7));
        let mut big = state();
        big.answers = (0..=MAX_ANSWERS)
            .map(|i| (i.to_string(), json!(i)))
            .collect();
        assert_eq!(seal(&ring, &big), Err(StateError::TooLarge));
        let mut huge = state();
        huge.answers
            .insert("x".into(), json!("y".repeat(MAX_STATE_BYTES)));
        assert_eq!(seal(&ring, &huge), Err(StateError::TooLarge));
        let long = "A".repeat(MAX_STATE_BYTES + 1);
        assert_eq!(open(&ring, &long, &binding(), 0), Err(StateError::TooLarge));
    }

    #[test]
    fn json_digest_is_canonical() {
        assert_eq!(
            json_digest(&json!({"x": {"b": 1, "a": [1, "2"]}})),
            json_digest(&json!({"x": {"a": [1, "2"], "b": 1}}))
        );
        assert_ne!(json_digest(&json!({"a": 1})), json_digest(&json!({"a": 2})));
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    /// A token over `payload` exactly as `seal` frames it, without its
    /// checks (to present `open` with what `seal` would refuse to make).
    fn sign_raw(key: &StateKey, payload: &[u8]) -> String {
        let mut signed = vec![VERSION];
        signed.extend_from_slice(&key.id.to_be_bytes());
        signed.extend_from_slice(payload);
        let mut mac = key.mac();
        mac.update(&signed);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&signed),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    fn with_answers(n: usize) -> RequestState {
        let mut s = state();
        s.answers = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
        s
    }

    #[test]
    fn mrtr_8_the_answer_limit_is_inclusive_on_both_sides() {
        let ring = KeyRing::new(key(1, 7));
        let t = seal(&ring, &with_answers(MAX_ANSWERS)).unwrap();
        assert_eq!(
            open(&ring, &t, &binding(), 0).map(|s| s.answers.len()),
            Ok(MAX_ANSWERS)
        );
        assert_eq!(
            seal(&ring, &with_answers(MAX_ANSWERS + 1)),
            Err(StateError::TooLarge)
        );
        // A token carrying one answer too many (not made by `seal`).
        let payload = serde_json::to_vec(&with_answers(MAX_ANSWERS + 1)).unwrap();
        let t = sign_raw(&ring.current, &payload);
        assert_eq!(open(&ring, &t, &binding(), 0), Err(StateError::TooLarge));
    }

    #[test]
    fn mrtr_8_a_token_of_exactly_the_byte_limit_is_made_and_accepted() {
        assert_eq!((MAX_STATE_BYTES, MAX_ANSWERS), (65_536, 64));
        let ring = KeyRing::new(key(1, 7));
        let mut exact = None;
        for n in (MAX_STATE_BYTES * 3 / 4 - 400)..(MAX_STATE_BYTES * 3 / 4) {
            let mut s = state();
            s.answers.insert("pad".into(), json!("x".repeat(n)));
            match seal(&ring, &s) {
                Ok(t) if t.len() == MAX_STATE_BYTES => {
                    exact = Some((t, s));
                    break;
                }
                Ok(_) => {}
                Err(e) => panic!("{n}: {e:?}"),
            }
        }
        let (t, s) = exact.expect("a padding that reaches the limit exactly");
        assert_eq!(open(&ring, &t, &binding(), 0), Ok(s.clone()));
        let mut over = s;
        over.answers.insert("pad2".into(), json!(""));
        assert_eq!(seal(&ring, &over), Err(StateError::TooLarge));
        assert_eq!(
            open(&ring, &format!("{t}A"), &binding(), 0),
            Err(StateError::TooLarge)
        );
    }

    #[test]
    fn mrtr_5_checks_run_in_order_key_before_payload() {
        // A header and no payload, under a key the ring lacks: the key is
        // the first thing found wrong.
        let ring = KeyRing::new(key(1, 7));
        let t = sign_raw(&key(9, 3), b"");
        assert_eq!(open(&ring, &t, &binding(), 0), Err(StateError::UnknownKey));
        // Under a key it has: the MAC matches, the payload is not a state.
        let t = sign_raw(&ring.current, b"");
        assert_eq!(open(&ring, &t, &binding(), 0), Err(StateError::Malformed));
    }

    #[test]
    fn mrtr_7_verifying_keys_are_bounded_and_replaced_by_id() {
        let ids: Vec<u32> = (10..10 + MAX_PREVIOUS_KEYS as u32).collect();
        let mut ring = KeyRing::new(key(1, 7));
        for &id in &ids {
            ring = ring.with_previous(key(id, id as u8));
        }
        let token_of = |id: u32, byte: u8| seal(&KeyRing::new(key(id, byte)), &state()).unwrap();
        for &id in &ids {
            assert!(open(&ring, &token_of(id, id as u8), &binding(), 0).is_ok());
        }
        // Full: one more is not kept.
        let ring_full = ring.clone().with_previous(key(99, 99));
        assert_eq!(
            open(&ring_full, &token_of(99, 99), &binding(), 0),
            Err(StateError::UnknownKey)
        );
        // A key with the current key's id never shadows it or takes a slot.
        let ring2 = KeyRing::new(key(1, 7)).with_previous(key(1, 8));
        assert_eq!(ring2.current_id(), 1);
        assert_eq!(ring2.previous.len(), 0);
        // A verifying key with a known id replaces the older one, and the
        // others stay.
        let replaced = KeyRing::new(key(1, 7))
            .with_previous(key(3, 30))
            .with_previous(key(4, 40))
            .with_previous(key(3, 31));
        assert!(open(&replaced, &token_of(3, 31), &binding(), 0).is_ok());
        assert_eq!(
            open(&replaced, &token_of(3, 30), &binding(), 0),
            Err(StateError::BadSignature)
        );
        assert!(open(&replaced, &token_of(4, 40), &binding(), 0).is_ok());
    }

    #[test]
    fn keys_show_their_id_and_never_their_secret() {
        let k = key(42, 0xab);
        assert_eq!(k.id(), 42);
        let shown = format!("{k:?}");
        assert!(shown.contains("42"), "{shown}");
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
        assert_eq!(shown, "StateKey { id: 42, .. }");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (e, text) in [
            (StateError::TooLarge, "requestState is too large"),
            (StateError::Malformed, "requestState is malformed"),
            (
                StateError::UnknownKey,
                "requestState was signed with an unknown key",
            ),
            (
                StateError::BadSignature,
                "requestState failed its integrity check",
            ),
            (StateError::Expired, "requestState has expired"),
            (
                StateError::WrongRequest,
                "requestState belongs to another request",
            ),
        ] {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn the_digest_is_sha256_of_the_canonical_text() {
        let v = json!({"b": [1, 2, {"d": null, "c": "x"}], "a": {"y": 1, "x": 2}});
        let text = r#"{"a":{"x":2,"y":1},"b":[1,2,{"c":"x","d":null}]}"#;
        let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(json_digest(&v), expected);
    }
}
