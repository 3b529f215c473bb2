//! Tool argument validation with a real JSON Schema validator (SCHEMA-n).
//!
//! A tool's `inputSchema` is published exactly as the application gave it
//! (every keyword kept, SCHEMA-1) and compiled once, when the tool is
//! created, by the `jsonschema` crate: JSON Schema 2020-12 unless the
//! schema's `$schema` names another draft (SEP-2106, `tools.mdx`). The
//! validator resolves only references inside the schema itself (`#/$defs/..`,
//! `$anchor`s) and the drafts' meta-schemas it ships: it never reads a
//! remote `$ref` over the network or from files (the crate is built without
//! those features), so such a schema fails to compile, and that is reported
//! when the tool is registered (SCHEMA-3).

use std::fmt;

use serde_json::Value;

/// A tool's input schema, compiled once.
pub(super) struct Schema {
    compiled: Result<jsonschema::Validator, String>,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.compiled {
            Ok(_) => f.write_str("Schema(compiled)"),
            Err(e) => write!(f, "Schema(error: {e})"),
        }
    }
}

/// Why a call's arguments were not checked or did not pass.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Invalid {
    /// The arguments do not satisfy the schema: a tool error the model can
    /// correct (`isError: true`, `tools.mdx` "Tool Execution Errors").
    Arguments(String),
    /// The schema itself does not compile: the server's fault (-32603).
    Schema(String),
}

impl Schema {
    /// Compile `schema` (draft from `$schema`, 2020-12 when absent).
    pub(super) fn compile(schema: &Value) -> Schema {
        let compiled = jsonschema::validator_for(schema).map_err(|e| {
            let at = e.schema_path().as_str().to_owned();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{e} (at {at})")
            }
        });
        Schema { compiled }
    }

    /// The compile error, if the schema does not compile.
    pub(super) fn error(&self) -> Option<&str> {
        self.compiled.as_ref().err().map(String::as_str)
    }

    /// Check a call's `arguments`; the error names where they fail.
    pub(super) fn validate(&self, arguments: &Value) -> Result<(), Invalid> {
        let validator = self
            .compiled
            .as_ref()
            .map_err(|e| Invalid::Schema(e.clone()))?;
        // The common case, valid arguments, takes the validator's fast
        // path; the first error is looked for only when there is one.
        if validator.is_valid(arguments) {
            return Ok(());
        }
        validator.validate(arguments).map_err(|e| {
            let at = e.instance_path().as_str();
            Invalid::Arguments(if at.is_empty() {
                format!("arguments: {e}")
            } else {
                format!("arguments{at}: {e}")
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invalid(schema: &Value, args: Value) -> String {
        match Schema::compile(schema).validate(&args) {
            Err(Invalid::Arguments(m)) => m,
            other => panic!("expected invalid arguments, got {other:?}"),
        }
    }

    #[test]
    fn schema_2_the_basics_still_hold() {
        let s = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]});
        let c = Schema::compile(&s);
        assert!(c.validate(&json!({"n": 3})).is_ok());
        assert!(c.validate(&json!({})).is_err());
        assert!(c.validate(&json!({"n": 0})).is_err());
        assert!(c.validate(&json!({"n": "x"})).is_err());
        assert!(c.validate(&json!([1])).is_err());
        assert!(invalid(&s, json!({"n": 0})).starts_with("arguments/n: "));
    }

    /// The keywords the old subset ignored are enforced now: composition,
    /// conditionals, `$ref` into `$defs`, `$anchor`, `const`, `pattern`.
    #[test]
    fn schema_2_full_2020_12_vocabulary_is_enforced() {
        let s = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                "properties": {"city": {"type": "string", "pattern": "^[A-Z]"}}}},
            "properties": {
                "address": {"$ref": "#/$defs/address"},
                "home": {"$ref": "#addressDef"},
                "contactMethod": {"enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"}
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": false
        });
        let c = Schema::compile(&s);
        assert_eq!(c.error(), None);
        assert!(c.validate(&json!({"email": "a@b"})).is_ok());
        assert!(
            c.validate(&json!({"contactMethod": "phone", "phone": "1"}))
                .is_ok()
        );
        // anyOf: neither phone nor email.
        assert!(c.validate(&json!({})).is_err());
        // if/then: phone chosen but only an email given.
        assert!(
            c.validate(&json!({"contactMethod": "phone", "email": "a@b"}))
                .is_err()
        );
        // $ref and $anchor reach the definition.
        assert!(
            c.validate(&json!({"email": "e", "address": {"city": "lyon"}}))
                .is_err()
        );
        assert!(
            c.validate(&json!({"email": "e", "home": {"city": "lyon"}}))
                .is_err()
        );
        assert!(
            c.validate(&json!({"email": "e", "home": {"city": "Lyon"}}))
                .is_ok()
        );
        // additionalProperties: false.
        assert!(c.validate(&json!({"email": "e", "extra": 1})).is_err());
    }

    #[test]
    fn schema_2_an_explicit_older_draft_is_honoured() {
        // draft-07: `exclusiveMinimum` as a number, `definitions`.
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "definitions": {"pos": {"type": "number", "exclusiveMinimum": 0}},
            "properties": {"x": {"$ref": "#/definitions/pos"}}
        });
        let c = Schema::compile(&s);
        assert_eq!(c.error(), None);
        assert!(c.validate(&json!({"x": 1})).is_ok());
        assert!(c.validate(&json!({"x": 0})).is_err());
    }

    #[test]
    fn schema_3_a_schema_that_does_not_compile_is_reported_and_never_passes() {
        for bad in [
            json!({"type": "object", "properties": {"x": {"type": 12}}}),
            json!({"$ref": "https://example.com/remote.json"}),
            json!({"type": "object", "properties": {"x": {"pattern": "(unclosed"}}}),
        ] {
            let c = Schema::compile(&bad);
            assert!(c.error().is_some(), "{bad} should not compile");
            assert!(
                matches!(c.validate(&json!({})), Err(Invalid::Schema(_))),
                "{bad}"
            );
        }
    }
}
