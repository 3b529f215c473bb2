//! The argument check of tools: a practical subset of JSON Schema,
//! compiled once per tool.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// Where a value sits in the arguments, for error messages. Built on the
/// stack as validation descends and printed only when a check fails, so a
/// valid call allocates nothing here.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, n) => write!(f, "{parent}[{n}]"),
        }
    }
}

/// A JSON Schema compiled once, when the tool is registered, into what the
/// checks need: a call then reads fields instead of looking keywords up in
/// JSON maps at every level of its arguments. The practical subset:
/// `type`, `enum`, `minimum`, `maximum`, `properties`, `required`,
/// `additionalProperties: false`, `items`; a schema that is not an object
/// accepts everything.
#[derive(Debug, Default)]
pub(super) struct Schema {
    /// `None`: not an object schema, nothing to check.
    checks: Option<Box<Checks>>,
}

#[derive(Debug)]
struct Checks {
    /// The string entries of `type` (none: no type check).
    types: Vec<String>,
    /// `enum`, when it is an array.
    options: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    /// `properties`, when it is an object.
    properties: Option<BTreeMap<String, Schema>>,
    /// The string entries of `required`.
    required: Vec<String>,
    /// `additionalProperties: false`.
    closed: bool,
    items: Option<Schema>,
}

impl Schema {
    pub(super) fn compile(schema: &Value) -> Schema {
        let Some(s) = schema.as_object() else {
            return Schema::default();
        };
        let strings = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Array(many)) => many
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            }
        };
        Schema {
            checks: Some(Box::new(Checks {
                types: strings(s.get("type")),
                options: s.get("enum").and_then(Value::as_array).cloned(),
                minimum: s.get("minimum").and_then(Value::as_f64),
                maximum: s.get("maximum").and_then(Value::as_f64),
                properties: s.get("properties").and_then(Value::as_object).map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), Schema::compile(v)))
                        .collect()
                }),
                // `required` must be an array; a lone string is ignored.
                required: match s.get("required") {
                    Some(r @ Value::Array(_)) => strings(Some(r)),
                    _ => Vec::new(),
                },
                closed: s.get("additionalProperties") == Some(&Value::Bool(false)),
                items: s.get("items").map(Schema::compile),
            })),
        }
    }

    /// Check `v`; the error names where it failed.
    pub(super) fn validate(&self, v: &Value, path: Path<'_>) -> Result<(), String> {
        let Some(c) = &self.checks else {
            return Ok(());
        };
        if !c.types.is_empty() && !c.types.iter().any(|t| type_matches(t, v)) {
            return Err(format!("{path} must be {}", c.types.join(" or ")));
        }
        if let Some(options) = &c.options
            && !options.contains(v)
        {
            return Err(format!(
                "{path} must be one of {}",
                Value::Array(options.clone())
            ));
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = c.minimum
                && n < min
            {
                return Err(format!("{path} must be >= {min}"));
            }
            if let Some(max) = c.maximum
                && n > max
            {
                return Err(format!("{path} must be <= {max}"));
            }
        }
        if let Some(obj) = v.as_object() {
            for r in &c.required {
                if !obj.contains_key(r) {
                    return Err(format!("{path}.{r} is required"));
                }
            }
            for (k, val) in obj {
                match c.properties.as_ref().and_then(|p| p.get(k)) {
                    Some(ps) => ps.validate(val, Path::Key(&path, k))?,
                    None if c.closed => return Err(format!("{path}.{k} is not allowed")),
                    None => {}
                }
            }
        }
        if let (Some(items), Some(arr)) = (&c.items, v.as_array()) {
            for (n, item) in arr.iter().enumerate() {
                items.validate(item, Path::Index(&path, n))?;
            }
        }
        Ok(())
    }
}

/// Check `v` against `schema` (compiled on the spot; tools compile theirs
/// once).
#[cfg(test)]
fn validate(schema: &Value, v: &Value, path: Path<'_>) -> Result<(), String> {
    Schema::compile(schema).validate(v, path)
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_subset() {
        let s = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]});
        assert!(validate(&s, &json!({"n": 3}), Path::Root("a")).is_ok());
        assert!(validate(&s, &json!({}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!({"n": 0}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!({"n": "x"}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!([1]), Path::Root("a")).is_err());
    }

    #[test]
    fn schema_errors_name_the_path() {
        let s = json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1},
            "list": {"type": "array", "items": {"type": ["string", "null"]}},
            "inner": {"type": "object", "additionalProperties": false, "properties": {}}
        }});
        let err = |v| validate(&s, &v, Path::Root("arguments")).unwrap_err();
        assert_eq!(err(json!({"n": 0})), "arguments.n must be >= 1");
        assert_eq!(
            err(json!({"list": ["a", 2]})),
            "arguments.list[1] must be string or null"
        );
        assert_eq!(
            err(json!({"inner": {"x": 1}})),
            "arguments.inner.x is not allowed"
        );
        assert!(validate(&s, &json!({"list": ["a", null]}), Path::Root("arguments")).is_ok());
    }
}
