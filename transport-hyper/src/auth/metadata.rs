//! The protected resource metadata document (RFC 9728, AUTH-RS-8) and the
//! well-known paths it is served at.

use serde_json::{Value, json};

/// The well-known prefix of protected resource metadata (RFC 9728 §3).
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/oauth-protected-resource";

/// The path-aware well-known path of the metadata of `resource` (an
/// absolute URI): `/.well-known/oauth-protected-resource` followed by the
/// resource's path, if it has one other than `/` (RFC 9728 §3.1).
pub fn metadata_path(resource: &str) -> String {
    let path = resource_path(resource);
    if path.is_empty() || path == "/" {
        WELL_KNOWN_PREFIX.to_owned()
    } else {
        format!("{WELL_KNOWN_PREFIX}{path}")
    }
}

/// The origin (`scheme://authority`) of an absolute URI.
pub(crate) fn origin(resource: &str) -> &str {
    match resource.find("://") {
        Some(i) => {
            let rest = &resource[i + 3..];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            &resource[..i + 3 + end]
        }
        None => "",
    }
}

fn resource_path(resource: &str) -> &str {
    let rest = &resource[origin(resource).len()..];
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

/// The metadata URL of `resource` (for `resource_metadata`).
pub(crate) fn metadata_url(resource: &str) -> String {
    format!("{}{}", origin(resource), metadata_path(resource))
}

/// The document.
pub(crate) fn document(
    resource: &str,
    authorization_servers: &[String],
    scopes_supported: &[String],
    resource_name: Option<&str>,
) -> Value {
    let mut doc = json!({
        "resource": resource,
        "authorization_servers": authorization_servers,
        "bearer_methods_supported": ["header"],
    });
    if !scopes_supported.is_empty() {
        doc["scopes_supported"] = json!(scopes_supported);
    }
    if let Some(n) = resource_name {
        doc["resource_name"] = json!(n);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_rs_8_paths_are_path_aware() {
        assert_eq!(
            metadata_path("https://mcp.example.com/public/mcp"),
            "/.well-known/oauth-protected-resource/public/mcp"
        );
        assert_eq!(
            metadata_path("https://mcp.example.com"),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_path("https://mcp.example.com/"),
            "/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:4100/mcp"),
            "http://127.0.0.1:4100/.well-known/oauth-protected-resource/mcp"
        );
    }
}
