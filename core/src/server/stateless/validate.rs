//! The checks of a 2026-07-28 request, in a fixed order so that one
//! request has exactly one answer: the version header and `_meta` agree and
//! name a supported version, and the mirrored headers (`Mcp-Method`,
//! `Mcp-Name`, `Mcp-Param-*`) equal what the body says (INV-S24).

use http::StatusCode;
use serde_json::Value;

use super::{META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, supported_versions};
use crate::edge::{Mirrored, VersionHeader};
use crate::jsonrpc::{ErrorObject, RawJson, code};
use crate::mirror;
use crate::server::{IdSource, Server};

fn mismatch(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(
        code::HEADER_MISMATCH,
        format!("Header mismatch: {}", message.into()),
    )
}

impl<I: IdSource> Server<I> {
    /// The checks of the modern era, in order: version header present,
    /// `_meta` fields present (-32602), header equals `_meta` (-32020),
    /// version supported (-32022), `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`
    /// (-32020). All answered with 400.
    pub(super) fn validate_modern(
        &self,
        is_request: bool,
        version: &VersionHeader,
        mirrored: &Mirrored,
        method: &str,
        params: Option<&Value>,
    ) -> Result<(), (StatusCode, ErrorObject)> {
        let bad = StatusCode::BAD_REQUEST;
        if let Some(name) = mirrored.repeated {
            return Err((bad, mismatch(format!("repeated {name} header"))));
        }
        let header_version = match version {
            VersionHeader::Absent => {
                return Err((bad, mismatch("the MCP-Protocol-Version header is required")));
            }
            VersionHeader::Known(v) => v.as_str(),
            VersionHeader::Unknown(s) => s.as_str(),
        };
        let meta = params
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        let meta_version = meta
            .and_then(|m| m.get(META_PROTOCOL_VERSION))
            .and_then(Value::as_str);
        if is_request {
            let caps = meta
                .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
                .is_some_and(Value::is_object);
            let mut missing = Vec::new();
            if meta_version.is_none() {
                missing.push(META_PROTOCOL_VERSION);
            }
            if !caps {
                missing.push(META_CLIENT_CAPABILITIES);
            }
            if !missing.is_empty() {
                return Err((
                    bad,
                    ErrorObject::new(
                        code::INVALID_PARAMS,
                        format!("Invalid params: _meta must carry {}", missing.join(" and ")),
                    ),
                ));
            }
        }
        if let Some(mv) = meta_version
            && mv != header_version
        {
            return Err((
                bad,
                mismatch(format!(
                    "MCP-Protocol-Version header value '{header_version}' does not match body value '{mv}'"
                )),
            ));
        }
        if !matches!(version, VersionHeader::Known(v) if !v.is_legacy()) {
            let data = serde_json::json!({
                "supported": supported_versions(),
                "requested": header_version,
            });
            return Err((
                bad,
                ErrorObject::new(
                    code::UNSUPPORTED_PROTOCOL_VERSION,
                    "Unsupported protocol version",
                )
                .with_data(RawJson::from_value(&data)),
            ));
        }
        match &mirrored.method {
            None if is_request => {
                return Err((bad, mismatch("the Mcp-Method header is required")));
            }
            Some(h) if h != method => {
                return Err((
                    bad,
                    mismatch(format!(
                        "Mcp-Method header value '{h}' does not match body value '{method}'"
                    )),
                ));
            }
            _ => {}
        }
        if let Some(field) = mirror::name_field(method) {
            let body_name = params.and_then(|p| p.get(field)).and_then(Value::as_str);
            let Some(raw) = &mirrored.name else {
                return Err((
                    bad,
                    mismatch(format!("the Mcp-Name header is required for {method}")),
                ));
            };
            let decoded =
                mirror::decode_value(raw).map_err(|e| (bad, mismatch(format!("Mcp-Name: {e}"))))?;
            if body_name != Some(decoded.as_str()) {
                return Err((
                    bad,
                    mismatch(format!(
                        "Mcp-Name header value '{decoded}' does not match body value '{}'",
                        body_name.unwrap_or("")
                    )),
                ));
            }
            if method == "tools/call" {
                self.check_params(&decoded, params, mirrored)
                    .map_err(|m| (bad, mismatch(m)))?;
            }
        }
        Ok(())
    }

    /// `Mcp-Param-*` of a `tools/call` against the tool's declared
    /// annotations (H-HDR-5): present iff the value is, equal after decoding.
    fn check_params(
        &self,
        tool: &str,
        params: Option<&Value>,
        mirrored: &Mirrored,
    ) -> Result<(), String> {
        let Some(declared) = self.stateless.tool_params.get(tool) else {
            return Ok(());
        };
        let null = Value::Null;
        let arguments = params.and_then(|p| p.get("arguments")).unwrap_or(&null);
        for p in declared {
            let name = p.header_name();
            let header = mirrored
                .params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v);
            match (p.value_in(arguments), header) {
                (None, None) => {}
                (Some(_), None) => {
                    return Err(format!("the Mcp-Param-{} header is required", p.name));
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "Mcp-Param-{} is sent but the argument is absent",
                        p.name
                    ));
                }
                (Some(value), Some(raw)) => {
                    let decoded = mirror::decode_value(raw)
                        .map_err(|e| format!("Mcp-Param-{}: {e}", p.name))?;
                    if !p.matches(&decoded, value) {
                        return Err(format!(
                            "Mcp-Param-{} header value '{decoded}' does not match body value '{value}'",
                            p.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
