//! Request metadata headers of the 2026-07-28 era: body fields mirrored into
//! `Mcp-Method`, `Mcp-Name` and `Mcp-Param-{Name}` so intermediaries can
//! route without parsing the body (H-HDR-1..8).
//!
//! Both sides use this module: a client encodes values with
//! [`encode_value`] and finds the parameters to mirror with
//! [`param_headers`]; the server decodes with [`decode_value`] and refuses a
//! request whose headers disagree with its body (INV-S24).
//!
//! ```
//! use streamable_core::mirror::{decode_value, encode_value};
//!
//! assert_eq!(encode_value("us-west1"), "us-west1");
//! assert_eq!(encode_value("Hello, 世界"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
//! assert_eq!(decode_value("=?base64?IHBhZGRlZCA=?=").unwrap(), " padded ");
//! // A plain value that looks like the sentinel is encoded too (H-HDR-2).
//! let tricky = encode_value("=?base64?literal?=");
//! assert_eq!(decode_value(&tricky).unwrap(), "=?base64?literal?=");
//! ```

use serde_json::Value;

/// `Mcp-Method` (H-HDR-1).
pub const METHOD_HEADER: &str = "mcp-method";
/// `Mcp-Name` (H-HDR-1).
pub const NAME_HEADER: &str = "mcp-name";
/// The prefix of `Mcp-Param-{Name}` headers (H-HDR-3), lower-case as the
/// `http` crate stores names.
pub const PARAM_HEADER_PREFIX: &str = "mcp-param-";

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// The largest JSON integer a mirrored parameter may carry (2^53 - 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The body field an `Mcp-Name` header mirrors for `method`: `params.name`
/// for `tools/call` and `prompts/get`, `params.uri` for `resources/read`,
/// `params.taskId` for the tasks extension's `tasks/get`, `tasks/update` and
/// `tasks/cancel` (SEP-2663 §Routing Headers, TASK-8).
pub fn name_field(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    }
}

/// Whether `value` can travel as a plain header value: visible ASCII and
/// inner spaces/tabs, no leading or trailing whitespace, and not shaped like
/// the sentinel.
pub fn is_plain_safe(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge_ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    !edge_ws(bytes.first())
        && !edge_ws(bytes.last())
        && bytes
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) || b == b' ' || b == b'\t')
        && !looks_encoded(value)
}

fn looks_encoded(value: &str) -> bool {
    value.len() >= SENTINEL_PREFIX.len() + SENTINEL_SUFFIX.len()
        && value.starts_with(SENTINEL_PREFIX)
        && value.ends_with(SENTINEL_SUFFIX)
}

/// The header form of `value` (H-HDR-2): as is when safe, otherwise
/// `=?base64?{base64 of UTF-8}?=`.
pub fn encode_value(value: &str) -> String {
    if is_plain_safe(value) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(SENTINEL_PREFIX.len() + value.len() * 4 / 3 + 6);
    out.push_str(SENTINEL_PREFIX);
    base64_encode(value.as_bytes(), &mut out);
    out.push_str(SENTINEL_SUFFIX);
    out
}

/// Why a mirrored header value is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Bytes outside visible ASCII, space and tab, or edge whitespace.
    InvalidCharacters,
    /// A sentinel whose payload is not base64.
    InvalidBase64,
    /// A sentinel whose payload is not UTF-8.
    InvalidUtf8,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecodeError::InvalidCharacters => "the header value contains invalid characters",
            DecodeError::InvalidBase64 => "the =?base64?...?= value is not valid base64",
            DecodeError::InvalidUtf8 => "the =?base64?...?= value is not UTF-8",
        })
    }
}

impl std::error::Error for DecodeError {}

/// The body value a header carries: the sentinel decoded, a plain value as
/// is (markers are exact and lower-case, H-HDR-2).
pub fn decode_value(header: &str) -> Result<String, DecodeError> {
    let bytes = header.as_bytes();
    let visible = bytes
        .iter()
        .all(|&b| (0x21..=0x7e).contains(&b) || b == b' ' || b == b'\t');
    if !visible {
        return Err(DecodeError::InvalidCharacters);
    }
    if looks_encoded(header) {
        let payload = &header[SENTINEL_PREFIX.len()..header.len() - SENTINEL_SUFFIX.len()];
        let raw = base64_decode(payload).ok_or(DecodeError::InvalidBase64)?;
        return String::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8);
    }
    // HTTP strips surrounding whitespace from field values, so a plain value
    // with edge whitespace cannot have been sent on purpose.
    let trimmed = header.trim_matches([' ', '\t']);
    if trimmed.len() != header.len() {
        return Err(DecodeError::InvalidCharacters);
    }
    Ok(header.to_owned())
}

/// The JSON type of a mirrored parameter (H-HDR-3: `number` is not allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// `"type": "string"`: the value as is.
    String,
    /// `"type": "integer"`: decimal, compared numerically (H-HDR-5).
    Integer,
    /// `"type": "boolean"`: `true` / `false`.
    Boolean,
}

/// One `x-mcp-header` annotation of a tool's `inputSchema`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParamHeader {
    /// The `{Name}` of `Mcp-Param-{Name}`, as annotated.
    pub name: String,
    /// The chain of `properties` keys from the arguments object to the value.
    pub path: Vec<String>,
    /// The parameter's type.
    pub kind: ParamKind,
}

impl ParamHeader {
    /// The header name, lower-cased (header names compare
    /// case-insensitively, H-HDR-8).
    pub fn header_name(&self) -> String {
        let mut h = String::with_capacity(PARAM_HEADER_PREFIX.len() + self.name.len());
        h.push_str(PARAM_HEADER_PREFIX);
        h.push_str(&self.name.to_ascii_lowercase());
        h
    }

    /// The value at this parameter's path in `arguments`; `None` when absent
    /// or null (then no header is sent or expected).
    pub fn value_in<'a>(&self, arguments: &'a Value) -> Option<&'a Value> {
        let mut v = arguments;
        for key in &self.path {
            v = v.as_object()?.get(key)?;
        }
        (!v.is_null()).then_some(v)
    }

    /// The header text for `value` (already encoded per H-HDR-2), or `None`
    /// when the value does not have this parameter's type.
    pub fn header_value(&self, value: &Value) -> Option<String> {
        match (self.kind, value) {
            (ParamKind::String, Value::String(s)) => Some(encode_value(s)),
            (ParamKind::Integer, Value::Number(n)) => integer_of(n).map(|i| i.to_string()),
            (ParamKind::Boolean, Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Whether a (decoded) header value agrees with the body value
    /// (integers compared numerically: `42.0` equals `42`).
    pub fn matches(&self, decoded: &str, value: &Value) -> bool {
        match (self.kind, value) {
            (ParamKind::String, Value::String(s)) => decoded == s,
            (ParamKind::Integer, Value::Number(n)) => {
                match (integer_of(n), parse_integer(decoded)) {
                    (Some(a), Some(b)) => a == b,
                    _ => false,
                }
            }
            (ParamKind::Boolean, Value::Bool(b)) => decoded == if *b { "true" } else { "false" },
            _ => false,
        }
    }
}

fn integer_of(n: &serde_json::Number) -> Option<i64> {
    let i = match n.as_i64() {
        Some(i) => i,
        None => {
            let f = n.as_f64()?;
            if f.fract() != 0.0 || f.abs() > MAX_SAFE_INTEGER as f64 {
                return None;
            }
            f as i64
        }
    };
    (i.abs() <= MAX_SAFE_INTEGER).then_some(i)
}

fn parse_integer(text: &str) -> Option<i64> {
    if let Ok(i) = text.parse::<i64>() {
        return (i.abs() <= MAX_SAFE_INTEGER).then_some(i);
    }
    let f: f64 = text.parse().ok()?;
    if !f.is_finite() || f.fract() != 0.0 || f.abs() > MAX_SAFE_INTEGER as f64 {
        return None;
    }
    Some(f as i64)
}

/// Why a tool's `x-mcp-header` annotations are invalid (H-HDR-4); a client
/// drops such a tool from `tools/list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAnnotation(pub String);

impl std::fmt::Display for InvalidAnnotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid x-mcp-header annotation: {}", self.0)
    }
}

impl std::error::Error for InvalidAnnotation {}

/// Every `x-mcp-header` annotation of `input_schema`, validated (H-HDR-4):
/// non-empty RFC 9110 tokens, unique case-insensitively, on `string`,
/// `integer` or `boolean` properties reachable from the root through
/// `properties` keys only. An annotation anywhere else is an error.
pub fn param_headers(input_schema: &Value) -> Result<Vec<ParamHeader>, InvalidAnnotation> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk(input_schema, &mut path, true, &mut out)?;
    let mut seen = std::collections::BTreeSet::new();
    for p in &out {
        if !seen.insert(p.name.to_ascii_lowercase()) {
            return Err(InvalidAnnotation(format!(
                "{:?} is used twice (names are case-insensitive)",
                p.name
            )));
        }
    }
    Ok(out)
}

/// Walk a schema. `reachable` says whether `node` is reached from the root
/// through `properties` keys only; annotations elsewhere are errors.
fn walk(
    node: &Value,
    path: &mut Vec<String>,
    reachable: bool,
    out: &mut Vec<ParamHeader>,
) -> Result<(), InvalidAnnotation> {
    let Some(obj) = node.as_object() else {
        if let Some(items) = node.as_array() {
            for item in items {
                walk(item, path, false, out)?;
            }
        }
        return Ok(());
    };
    if let Some(annotation) = obj.get("x-mcp-header") {
        if !reachable || path.is_empty() {
            return Err(InvalidAnnotation(
                "only properties reachable through `properties` keys may be mirrored".into(),
            ));
        }
        let Some(name) = annotation.as_str() else {
            return Err(InvalidAnnotation("the value must be a string".into()));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(InvalidAnnotation(format!(
                "{name:?} is not an HTTP field-name token"
            )));
        }
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("string") => ParamKind::String,
            Some("integer") => ParamKind::Integer,
            Some("boolean") => ParamKind::Boolean,
            other => {
                return Err(InvalidAnnotation(format!(
                    "{name:?} is on a property of type {other:?}; only string, integer and boolean are allowed"
                )));
            }
        };
        out.push(ParamHeader {
            name: name.to_owned(),
            path: path.clone(),
            kind,
        });
    }
    for (key, child) in obj {
        match key.as_str() {
            "properties" => {
                if let Some(props) = child.as_object() {
                    for (prop, schema) in props {
                        path.push(prop.clone());
                        walk(schema, path, reachable, out)?;
                        path.pop();
                    }
                }
            }
            "x-mcp-header" | "type" | "enum" | "const" | "default" | "examples" => {}
            _ => walk(child, path, false, out)?,
        }
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 §4), as the sentinel uses it;
/// public because MCP carries binary content (images, audio, blobs) the
/// same way.
pub fn base64(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    base64_encode(input, &mut out);
    out
}

fn base64_encode(input: &[u8], out: &mut String) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// Standard base64 with padding; `None` on anything else.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (q, chunk) in bytes.chunks(4).enumerate() {
        let last = q + 1 == quads;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            n = (n << 6) | u32::from(v);
        }
        n <<= 6 * pad as u32;
        let produced = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&produced[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_encoding_examples() {
        // The table of the 2026-07-28 transport page, "Value Encoding".
        for (plain, encoded) in [
            ("us-west1", "us-west1"),
            ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            (" padded ", "=?base64?IHBhZGRlZCA=?="),
            ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
            ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        ] {
            assert_eq!(encode_value(plain), encoded, "{plain:?}");
            assert_eq!(decode_value(encoded).unwrap(), plain);
        }
    }

    #[test]
    fn markers_are_exact_and_lower_case() {
        // Upper-case markers are a plain value, not a sentinel.
        assert_eq!(decode_value("=?BASE64?eA==?=").unwrap(), "=?BASE64?eA==?=");
        assert_eq!(
            decode_value("=?base64?!!!?="),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            decode_value("=?base64?/w==?="),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(decode_value("a\u{1}b"), Err(DecodeError::InvalidCharacters));
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..40usize {
            let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            let mut s = String::new();
            base64_encode(&data, &mut s);
            assert_eq!(base64_decode(&s).unwrap(), data);
        }
        assert!(base64_decode("abc").is_none());
        assert!(base64_decode("a===").is_none());
        assert!(base64_decode("ab==cd==").is_none());
    }

    #[test]
    fn annotations_are_found_and_validated() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {
                "limit": {"type": "integer", "x-mcp-header": "Limit"}}},
            "query": {"type": "string"}}});
        let found = param_headers(&schema).unwrap();
        assert_eq!(found.len(), 2);
        let limit = found.iter().find(|p| p.name == "Limit").unwrap();
        assert_eq!(limit.path, ["opts", "limit"]);
        assert_eq!(limit.header_name(), "mcp-param-limit");
        let args = json!({"opts": {"limit": 42}});
        assert_eq!(limit.value_in(&args), Some(&json!(42)));
        assert!(limit.matches("42", &json!(42)));
        assert!(limit.matches("42.0", &json!(42)));
        assert!(!limit.matches("43", &json!(42)));

        for bad in [
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "X"},
                                  "b": {"type": "string", "x-mcp-header": "x"}}}),
            json!({"properties": {"a": {"type": "array", "items":
                {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"oneOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]}),
        ] {
            assert!(param_headers(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn h_hdr_5_integers_are_exact_and_within_the_safe_range() {
        assert_eq!(MAX_SAFE_INTEGER, 9_007_199_254_740_991);
        let p = ParamHeader {
            name: "N".into(),
            path: vec!["n".into()],
            kind: ParamKind::Integer,
        };
        // The header form of a body value.
        assert_eq!(p.header_value(&json!(42)).as_deref(), Some("42"));
        assert_eq!(p.header_value(&json!(42.0)).as_deref(), Some("42"));
        assert_eq!(p.header_value(&json!(-7.0)).as_deref(), Some("-7"));
        assert_eq!(p.header_value(&json!(1.5)), None);
        assert_eq!(
            p.header_value(&json!(MAX_SAFE_INTEGER)).as_deref(),
            Some("9007199254740991")
        );
        assert_eq!(p.header_value(&json!(MAX_SAFE_INTEGER + 1)), None);
        assert_eq!(
            p.header_value(&json!(9_007_199_254_740_991.0)).as_deref(),
            Some("9007199254740991")
        );
        assert_eq!(p.header_value(&json!(9_007_199_254_740_992.0)), None);
        assert_eq!(p.header_value(&json!(-9_007_199_254_740_992.0)), None);
        assert_eq!(p.header_value(&json!("42")), None);
        // A header compared with a body value.
        assert!(p.matches("-7", &json!(-7)));
        assert!(p.matches("9007199254740991", &json!(MAX_SAFE_INTEGER)));
        assert!(p.matches("9007199254740991.0", &json!(MAX_SAFE_INTEGER)));
        assert!(p.matches("1e3", &json!(1000)));
        assert!(!p.matches("9007199254740992", &json!(MAX_SAFE_INTEGER)));
        assert!(!p.matches("9007199254740992.0", &json!(MAX_SAFE_INTEGER)));
        assert!(!p.matches("0.5", &json!(0)));
        assert!(!p.matches("inf", &json!(0)));
        assert!(!p.matches("NaN", &json!(0)));
        assert!(!p.matches("x", &json!(0)));
    }

    #[test]
    fn h_hdr_3_booleans_and_strings_have_their_own_header_form() {
        let b = ParamHeader {
            name: "B".into(),
            path: vec!["b".into()],
            kind: ParamKind::Boolean,
        };
        assert_eq!(b.header_value(&json!(true)).as_deref(), Some("true"));
        assert_eq!(b.header_value(&json!(false)).as_deref(), Some("false"));
        assert_eq!(b.header_value(&json!("true")), None);
        assert!(b.matches("false", &json!(false)));
        assert!(!b.matches("true", &json!(false)));
        let s = ParamHeader {
            name: "S".into(),
            path: vec!["s".into()],
            kind: ParamKind::String,
        };
        assert_eq!(s.header_value(&json!("a b")).as_deref(), Some("a b"));
        assert_eq!(s.header_value(&json!(1)), None);
    }

    #[test]
    fn h_hdr_2_inner_space_and_tab_stay_plain_and_a_bare_sentinel_shape_is_plain() {
        assert!(is_plain_safe("a b"));
        assert!(is_plain_safe("a\tb"));
        assert!(!is_plain_safe("a\nb"));
        // Too short to hold a payload between the markers: no sentinel.
        assert!(is_plain_safe("=?base64?="));
        assert_eq!(encode_value("=?base64?="), "=?base64?=");
        assert!(!is_plain_safe("=?base64??="));
    }

    #[test]
    fn tasks_requests_mirror_the_task_id() {
        for m in ["tasks/get", "tasks/update", "tasks/cancel"] {
            assert_eq!(name_field(m), Some("taskId"), "{m}");
        }
        assert_eq!(name_field("tasks/list"), None);
        assert_eq!(name_field("resources/read"), Some("uri"));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            DecodeError::InvalidCharacters.to_string(),
            "the header value contains invalid characters"
        );
        assert!(DecodeError::InvalidBase64.to_string().contains("base64"));
        assert!(DecodeError::InvalidUtf8.to_string().contains("UTF-8"));
        assert_eq!(
            InvalidAnnotation("x".into()).to_string(),
            "invalid x-mcp-header annotation: x"
        );
    }

    #[test]
    fn h_hdr_4_values_inside_keywords_are_data_not_schema() {
        // `default`, `examples`, `enum` and `const` hold instance values: an
        // object in them with an `x-mcp-header` key is not an annotation.
        let schema = json!({"properties": {"a": {
            "type": "object",
            "default": {"x-mcp-header": "A"},
            "examples": [{"x-mcp-header": "B"}],
            "enum": [{"x-mcp-header": "C"}],
            "const": {"x-mcp-header": "D"}}}});
        assert_eq!(param_headers(&schema), Ok(Vec::new()));
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }
}
