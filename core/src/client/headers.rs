//! 2026-07-28 request-metadata headers (H-HDR-1..4): `Mcp-Method`,
//! `Mcp-Name`, `Mcp-Param-{Name}` and the `=?base64?...?=` sentinel.
//!
//! The server compares every mirrored header with the body (H-HDR-5), so the
//! client must produce exactly what a decoder expects: a value that is not a
//! safe plain header value travels base64-encoded inside the sentinel, and a
//! plain value that merely looks like the sentinel is encoded too, so that a
//! decoder never has to guess.

use std::collections::BTreeMap;

use serde_json::Value;

/// The sentinel prefix (lower-case and exact, H-HDR-2).
pub const SENTINEL_PREFIX: &str = "=?base64?";
/// The sentinel suffix.
pub const SENTINEL_SUFFIX: &str = "?=";

/// The largest integer a mirrored header may carry: ±(2^53 − 1) (H-HDR-4).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Whether `value` can travel as-is: visible ASCII or space only, no
/// leading or trailing whitespace, and not shaped like the sentinel.
pub fn is_plain(value: &str) -> bool {
    let bytes = value.as_bytes();
    let safe = bytes.iter().all(|&b| (0x20..=0x7e).contains(&b));
    let trimmed = bytes.first() != Some(&b' ') && bytes.last() != Some(&b' ');
    safe && trimmed && !looks_like_sentinel(value)
}

fn looks_like_sentinel(value: &str) -> bool {
    value.len() >= SENTINEL_PREFIX.len() + SENTINEL_SUFFIX.len()
        && value.starts_with(SENTINEL_PREFIX)
        && value.ends_with(SENTINEL_SUFFIX)
}

/// The header value for `value` (H-HDR-2): as-is when plain, otherwise
/// `=?base64?<base64 of the UTF-8 bytes>?=`.
pub fn encode_value(value: &str) -> String {
    if is_plain(value) {
        value.to_owned()
    } else {
        let mut out = String::with_capacity(SENTINEL_PREFIX.len() + value.len() * 4 / 3 + 6);
        out.push_str(SENTINEL_PREFIX);
        base64_encode(value.as_bytes(), &mut out);
        out.push_str(SENTINEL_SUFFIX);
        out
    }
}

/// Reverses [`encode_value`]: a sentinel value is decoded (`None` when its
/// base64 or UTF-8 is invalid), any other value is returned unchanged.
pub fn decode_value(value: &str) -> Option<String> {
    if looks_like_sentinel(value) {
        let inner = &value[SENTINEL_PREFIX.len()..value.len() - SENTINEL_SUFFIX.len()];
        String::from_utf8(base64_decode(inner)?).ok()
    } else {
        Some(value.to_owned())
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648 section 4).
fn base64_encode(input: &[u8], out: &mut String) {
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 63) as usize;
                out.push(char::from(ALPHABET[idx]));
            } else {
                out.push('=');
            }
        }
    }
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (ci, chunk) in bytes.chunks(4).enumerate() {
        let last = ci + 1 == bytes.len() / 4;
        let mut n = 0u32;
        let mut pad = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                // Padding only at the end of the last quantum.
                b'=' if last && i >= 2 => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            if pad > 0 && c != b'=' {
                return None;
            }
            n = (n << 6) | u32::from(v);
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

/// How a mirrored parameter is written (H-HDR-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A string, as-is (sentinel-encoded when needed).
    String,
    /// An integer, in decimal.
    Integer,
    /// `true` or `false`.
    Boolean,
}

/// One `x-mcp-header` annotation of a tool's input schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderParam {
    /// The property path from the arguments object (through `properties` keys).
    pub path: Vec<String>,
    /// The `{Name}` of `Mcp-Param-{Name}`.
    pub name: String,
    /// The declared type.
    pub kind: ParamKind,
}

/// RFC 9110 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn count_annotations(v: &Value) -> usize {
    match v {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| usize::from(k == "x-mcp-header") + count_annotations(v))
            .sum(),
        Value::Array(items) => items.iter().map(count_annotations).sum(),
        _ => 0,
    }
}

/// The header parameters of one tool's input schema, or why the tool must be
/// dropped from `tools/list` (H-HDR-4).
pub fn header_params(input_schema: &Value) -> Result<Vec<HeaderParam>, String> {
    let mut found = Vec::new();
    collect(input_schema, &mut Vec::new(), &mut found)?;
    // Annotations anywhere else (items, $defs, anyOf...) are not reachable
    // through `properties` keys only.
    if count_annotations(input_schema) != found.len() {
        return Err("x-mcp-header outside a chain of `properties` keys".into());
    }
    let mut seen = BTreeMap::new();
    for p in &found {
        if seen.insert(p.name.to_ascii_lowercase(), ()).is_some() {
            return Err(format!("duplicate x-mcp-header {:?}", p.name));
        }
    }
    Ok(found)
}

fn collect(
    schema: &Value,
    path: &mut Vec<String>,
    found: &mut Vec<HeaderParam>,
) -> Result<(), String> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, prop) in props {
        path.push(key.clone());
        if let Some(annotation) = prop.get("x-mcp-header") {
            let name = annotation
                .as_str()
                .ok_or_else(|| format!("x-mcp-header of {key:?} is not a string"))?;
            if !is_token(name) {
                return Err(format!("x-mcp-header {name:?} is not an HTTP token"));
            }
            let kind = match prop.get("type").and_then(Value::as_str) {
                Some("string") => ParamKind::String,
                Some("integer") => ParamKind::Integer,
                Some("boolean") => ParamKind::Boolean,
                other => return Err(format!("x-mcp-header {name:?} on type {other:?}")),
            };
            if kind == ParamKind::Integer {
                for bound in ["minimum", "maximum"] {
                    if let Some(b) = prop.get(bound).and_then(Value::as_f64)
                        && b.abs() > MAX_SAFE_INTEGER as f64
                    {
                        return Err(format!("x-mcp-header {name:?}: {bound} outside ±(2^53-1)"));
                    }
                }
            }
            found.push(HeaderParam {
                path: path.clone(),
                name: name.to_owned(),
                kind,
            });
        }
        collect(prop, path, found)?;
        path.pop();
    }
    Ok(())
}

/// `Mcp-Name` for a request (H-HDR-1): `params.name` for `tools/call` and
/// `prompts/get`, `params.uri` for `resources/read`.
pub fn name_of(method: &str, params: Option<&Value>) -> Option<String> {
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    params?.get(field).and_then(Value::as_str).map(encode_value)
}

/// The `Mcp-Param-*` headers (name, encoded value) of a `tools/call`
/// (H-HDR-3); absent, null or mistyped values are omitted.
pub fn param_headers(params: &[HeaderParam], arguments: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(arguments) = arguments else {
        return out;
    };
    for p in params {
        let mut v = arguments;
        let mut present = true;
        for key in &p.path {
            match v.get(key) {
                Some(next) => v = next,
                None => {
                    present = false;
                    break;
                }
            }
        }
        if !present {
            continue;
        }
        let text = match (p.kind, v) {
            (ParamKind::String, Value::String(s)) => encode_value(s),
            (ParamKind::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            (ParamKind::Boolean, Value::Bool(b)) => b.to_string(),
            _ => continue,
        };
        out.push((format!("Mcp-Param-{}", p.name), text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn h_hdr_2_plain_and_sentinel() {
        assert_eq!(encode_value("get_weather"), "get_weather");
        assert_eq!(encode_value("a b"), "a b");
        assert_eq!(encode_value(" lead"), "=?base64?IGxlYWQ=?=");
        assert_eq!(encode_value("héllo"), "=?base64?aMOpbGxv?=");
        assert_eq!(encode_value("a\nb"), "=?base64?YQpi?=");
        // A plain value shaped like the sentinel is encoded too.
        let tricky = "=?base64?abc?=";
        let enc = encode_value(tricky);
        assert_ne!(enc, tricky);
        assert_eq!(decode_value(&enc).as_deref(), Some(tricky));
        for s in ["", "x", "xy", "xyz", "日本語", "\t", "=?base64??="] {
            assert_eq!(decode_value(&encode_value(s)).as_deref(), Some(s), "{s:?}");
        }
        assert_eq!(decode_value("=?base64?***?="), None);
    }

    #[test]
    fn h_hdr_3_mirrors_annotated_parameters() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "count": {"type": "integer", "x-mcp-header": "Count"},
            "dry": {"type": "boolean", "x-mcp-header": "Dry"},
            "opts": {"type": "object", "properties": {"tier": {"type": "string", "x-mcp-header": "Tier"}}},
            "free": {"type": "string"}
        }});
        let params = header_params(&schema).unwrap();
        assert_eq!(params.len(), 4);
        let args = json!({"region": "eu west", "count": 3, "dry": false, "opts": {"tier": "ü"}, "free": "x"});
        let mut headers = param_headers(&params, Some(&args));
        headers.sort();
        assert_eq!(
            headers,
            vec![
                ("Mcp-Param-Count".into(), "3".into()),
                ("Mcp-Param-Dry".into(), "false".into()),
                ("Mcp-Param-Region".into(), "eu west".into()),
                ("Mcp-Param-Tier".into(), "=?base64?w7w=?=".into()),
            ]
        );
        // Absent and null values are omitted.
        let none = param_headers(&params, Some(&json!({"region": null})));
        assert!(none.is_empty());
    }

    #[test]
    fn h_hdr_4_rejects_invalid_annotations() {
        let bad = [
            json!({"properties": {"a": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "a b"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A\r\n"}}}),
            json!({"properties": {"a": {"type": "number", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "object", "x-mcp-header": "A"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "A"}, "b": {"type": "string", "x-mcp-header": "a"}}}),
            json!({"properties": {"a": {"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}}}),
            json!({"properties": {"a": {"type": "integer", "maximum": 1e300, "x-mcp-header": "A"}}}),
        ];
        for schema in bad {
            assert!(header_params(&schema).is_err(), "{schema}");
        }
    }

    #[test]
    fn h_hdr_1_name_header() {
        assert_eq!(
            name_of("tools/call", Some(&json!({"name": "t"}))).as_deref(),
            Some("t")
        );
        assert_eq!(
            name_of("resources/read", Some(&json!({"uri": "file:///ä"}))).as_deref(),
            Some("=?base64?ZmlsZTovLy/DpA==?=")
        );
        assert_eq!(name_of("tools/list", Some(&json!({}))), None);
    }
}
