//! The JSON documents of the flow, parsed into what the flow uses:
//! protected resource metadata (RFC 9728), authorization server metadata
//! (RFC 8414 / OpenID Connect discovery), a registration response
//! (RFC 7591) and a token response (RFC 6749 §5).
//!
//! Every parser takes the raw body and returns `None` (or an error text) on
//! anything unusable; strings and lists are bounded.

use serde_json::Value;

use super::uri::{MAX_URL_LEN, Url};

/// The largest response body the flow reads (metadata, registration, token).
pub const MAX_AUTH_BODY: usize = 64 * 1024;
/// The most scopes kept from any list (`scopes_supported`, a challenge, a grant).
pub const MAX_SCOPES: usize = 64;
/// The longest token, client id or secret accepted.
pub const MAX_SECRET_LEN: usize = 16 * 1024;

fn object(body: &[u8]) -> Option<serde_json::Map<String, Value>> {
    if body.len() > MAX_AUTH_BODY {
        return None;
    }
    match serde_json::from_slice(body).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn url_field(m: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    let s = m.get(k)?.as_str()?;
    Url::parse(s).map(|_| s.to_owned())
}

fn short_str(m: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    let s = m.get(k)?.as_str()?;
    (!s.is_empty() && s.len() <= MAX_SECRET_LEN).then(|| s.to_owned())
}

fn strings(m: &serde_json::Map<String, Value>, k: &str) -> Option<Vec<String>> {
    let list = m.get(k)?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .take(MAX_SCOPES)
            .map(str::to_owned)
            .collect(),
    )
}

/// Split a space-separated scope string into at most [`MAX_SCOPES`] scopes.
pub(crate) fn split_scopes(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .take(MAX_SCOPES)
        .map(str::to_owned)
        .collect()
}

/// Protected resource metadata (RFC 9728 §2), the fields the flow uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourceMetadata {
    pub(crate) resource: String,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: Option<Vec<String>>,
}

pub(crate) fn resource_metadata(body: &[u8]) -> Option<ResourceMetadata> {
    let m = object(body)?;
    let resource = m.get("resource")?.as_str()?;
    if resource.is_empty() || resource.len() > MAX_URL_LEN {
        return None;
    }
    let authorization_servers: Vec<String> = m
        .get("authorization_servers")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter(|s| Url::parse(s).is_some())
        .take(8)
        .map(str::to_owned)
        .collect();
    if authorization_servers.is_empty() {
        return None;
    }
    Some(ResourceMetadata {
        resource: resource.to_owned(),
        authorization_servers,
        scopes_supported: strings(&m, "scopes_supported"),
    })
}

/// Authorization server metadata (RFC 8414 §2), the fields the flow uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerMetadata {
    /// `issuer`, checked equal to the issuer the metadata was looked up for.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `registration_endpoint` (RFC 7591), if any.
    pub registration_endpoint: Option<String>,
    /// `scopes_supported`, if listed.
    pub scopes_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`, if listed.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported`, if listed.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub iss_parameter_supported: bool,
    /// `client_id_metadata_document_supported`.
    pub client_id_metadata_document_supported: bool,
    /// `grant_types_supported`, if listed.
    pub grant_types_supported: Option<Vec<String>>,
}

/// What is wrong with an authorization server metadata document.
pub(crate) enum MetadataProblem {
    /// Not a usable document (try the next well-known URL).
    Unusable,
    /// A document for another issuer (RFC 8414 §3.3): refuse.
    IssuerMismatch(String),
}

pub(crate) fn server_metadata(
    body: &[u8],
    expected_issuer: &str,
) -> Result<ServerMetadata, MetadataProblem> {
    let m = object(body).ok_or(MetadataProblem::Unusable)?;
    let issuer = m
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or(MetadataProblem::Unusable)?;
    if issuer != expected_issuer {
        return Err(MetadataProblem::IssuerMismatch(
            issuer.chars().take(256).collect(),
        ));
    }
    let authorization_endpoint =
        url_field(&m, "authorization_endpoint").ok_or(MetadataProblem::Unusable)?;
    let token_endpoint = url_field(&m, "token_endpoint").ok_or(MetadataProblem::Unusable)?;
    Ok(ServerMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint,
        token_endpoint,
        registration_endpoint: url_field(&m, "registration_endpoint"),
        scopes_supported: strings(&m, "scopes_supported"),
        token_endpoint_auth_methods_supported: strings(&m, "token_endpoint_auth_methods_supported"),
        code_challenge_methods_supported: strings(&m, "code_challenge_methods_supported"),
        iss_parameter_supported: m
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        client_id_metadata_document_supported: m
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        grant_types_supported: strings(&m, "grant_types_supported"),
    })
}

/// A registration response (RFC 7591 §3.2.1).
pub(crate) struct Registered {
    pub(crate) client_id: String,
    pub(crate) client_secret: Option<String>,
    pub(crate) token_endpoint_auth_method: Option<String>,
}

pub(crate) fn registered(body: &[u8]) -> Option<Registered> {
    let m = object(body)?;
    Some(Registered {
        client_id: short_str(&m, "client_id")?,
        client_secret: short_str(&m, "client_secret"),
        token_endpoint_auth_method: short_str(&m, "token_endpoint_auth_method"),
    })
}

/// A successful token response (RFC 6749 §5.1).
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) token_type: String,
    pub(crate) expires_in: Option<u64>,
    pub(crate) refresh_token: Option<String>,
}

pub(crate) fn tokens(body: &[u8]) -> Option<Tokens> {
    let m = object(body)?;
    let access_token = short_str(&m, "access_token")?;
    // RFC 6750 §2.1 b64token characters only: it goes into a header.
    if !access_token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    {
        return None;
    }
    Some(Tokens {
        access_token,
        token_type: short_str(&m, "token_type").unwrap_or_else(|| "Bearer".into()),
        expires_in: m.get("expires_in").and_then(Value::as_u64),
        refresh_token: short_str(&m, "refresh_token"),
    })
}

/// The `error` of an OAuth error response (RFC 6749 §5.2), bounded.
pub(crate) fn oauth_error(body: &[u8]) -> String {
    object(body)
        .and_then(|m| m.get("error").and_then(Value::as_str).map(str::to_owned))
        .map(|e| e.chars().take(128).collect())
        .unwrap_or_else(|| "no OAuth error code".into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn auth_c_10_bounds_are_exact() {
        assert_eq!((MAX_AUTH_BODY, MAX_SECRET_LEN), (65_536, 16_384));
        // A body of exactly the limit is read; one byte more is not.
        let head = r#"{"a":""#;
        let at = format!("{head}{}\"}}", "x".repeat(MAX_AUTH_BODY - head.len() - 2));
        assert_eq!(at.len(), MAX_AUTH_BODY);
        assert!(object(at.as_bytes()).is_some());
        let over = format!("{head}{}\"}}", "x".repeat(MAX_AUTH_BODY - head.len() - 1));
        assert!(object(over.as_bytes()).is_none());
        // Secrets: not empty, at most the limit.
        let m = |v: String| json!({ "k": v }).as_object().unwrap().clone();
        assert_eq!(short_str(&m(String::new()), "k"), None);
        let longest = "s".repeat(MAX_SECRET_LEN);
        assert_eq!(short_str(&m(longest.clone()), "k"), Some(longest));
        assert_eq!(short_str(&m("s".repeat(MAX_SECRET_LEN + 1)), "k"), None);
        // List entries: not empty, at most 256 bytes.
        let list = json!({"k": ["", "a", "b".repeat(256), "c".repeat(257), 7]});
        assert_eq!(
            strings(list.as_object().unwrap(), "k"),
            Some(vec!["a".to_owned(), "b".repeat(256)])
        );
        let scopes = format!("a  {} {}", "b".repeat(256), "c".repeat(257));
        assert_eq!(split_scopes(&scopes), vec!["a".to_owned(), "b".repeat(256)]);
    }

    #[test]
    fn auth_c_1_the_resource_is_a_bounded_non_empty_string() {
        let doc = |resource: &str| {
            json!({"resource": resource, "authorization_servers": ["http://as.test"]}).to_string()
        };
        assert!(resource_metadata(doc("").as_bytes()).is_none());
        let longest = format!("http://r.test/{}", "p".repeat(MAX_URL_LEN - 14));
        assert_eq!(longest.len(), MAX_URL_LEN);
        assert!(resource_metadata(doc(&longest).as_bytes()).is_some());
        assert!(resource_metadata(doc(&format!("{longest}p")).as_bytes()).is_none());
    }
}
