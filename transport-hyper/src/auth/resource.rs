//! [`ResourceServer`]: the bearer-token gate in front of the MCP endpoint
//! (AUTH-RS-2, 6..10) and the metadata document it serves (AUTH-RS-8).

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use streamable_core::{ErrorObject, code};

use super::metadata::{self, WELL_KNOWN_PREFIX};
use super::{AuthInfo, MAX_PRINCIPAL_BYTES, TokenVerifier, VerifyError};
use crate::body::McpBody;

/// The longest `Authorization` header accepted (bytes, AUTH-RS-9): 8 KiB,
/// room for any real JWT; a longer one is answered 400 `invalid_request`.
pub const MAX_AUTHORIZATION_BYTES: usize = 8 * 1024;

/// The MCP endpoint as an OAuth 2.1 resource server: every request needs a
/// bearer token that its [`TokenVerifier`] accepts and that carries the
/// required scopes; the protected resource metadata document is served
/// at its well-known paths. Give it to
/// [`Builder::auth`](crate::Builder::auth).
///
/// Answers (AUTH-RS-6..9): no token → 401 with `WWW-Authenticate: Bearer
/// resource_metadata="…"` (and `scope="…"` when scopes are required); a
/// token that does not verify → the same with `error="invalid_token"`; a
/// missing scope → 403 `error="insufficient_scope"`; a token in the query
/// string, several `Authorization` headers or one over
/// [`MAX_AUTHORIZATION_BYTES`] → 400 `invalid_request`; a verifier that
/// cannot reach its authorization server → 503. Without a verifier every
/// token is refused (fail closed).
#[derive(Clone)]
pub struct ResourceServer {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    required_scopes: Vec<String>,
    resource_name: Option<String>,
    verifier: Option<Arc<dyn TokenVerifier>>,
}

impl std::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.resource)
            .field("authorization_servers", &self.authorization_servers)
            .field("required_scopes", &self.required_scopes)
            .field("has_verifier", &self.verifier.is_some())
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// A resource server for `resource`, this endpoint's canonical URI
    /// (RFC 8707: `https://mcp.example.com/mcp`, no fragment, no trailing
    /// slash). Tokens must name it as their audience.
    pub fn new(resource: impl Into<String>) -> Self {
        ResourceServer {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            resource_name: None,
            verifier: None,
        }
    }

    /// An authorization server whose tokens this resource accepts (listed in
    /// the metadata's `authorization_servers`; at least one is needed for
    /// clients to find where to get a token).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Scopes every request needs (sent in `scope=` challenges; added to
    /// `scopes_supported`).
    pub fn required_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        for s in scopes {
            let s = s.into();
            if !self.scopes_supported.contains(&s) {
                self.scopes_supported.push(s.clone());
            }
            if !self.required_scopes.contains(&s) {
                self.required_scopes.push(s);
            }
        }
        self
    }

    /// More scopes for the metadata's `scopes_supported` (those handlers
    /// check themselves; never `offline_access`, as the spec advises).
    pub fn scopes_supported<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        for s in scopes {
            let s = s.into();
            if !self.scopes_supported.contains(&s) {
                self.scopes_supported.push(s);
            }
        }
        self
    }

    /// A human-readable name for the metadata's `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The verifier of bearer tokens.
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// The resource's canonical URI.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of the metadata document (`resource_metadata` in challenges).
    pub fn metadata_url(&self) -> String {
        metadata::metadata_url(&self.resource)
    }

    /// The metadata document, if `parts` asks for it (its path-aware
    /// well-known path or the root form): 200 with the JSON to GET, 405
    /// to other methods. `None` for every other request.
    pub(crate) fn metadata_response(
        &self,
        parts: &http::request::Parts,
    ) -> Option<Response<McpBody>> {
        let path = parts.uri.path();
        if !path.starts_with(WELL_KNOWN_PREFIX)
            || (path != WELL_KNOWN_PREFIX && path != metadata::metadata_path(&self.resource))
        {
            return None;
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            let mut res = error_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(res);
        }
        let doc = metadata::document(
            &self.resource,
            &self.authorization_servers,
            &self.scopes_supported,
            self.resource_name.as_deref(),
        );
        let mut res = Response::new(McpBody::full(Bytes::from(doc.to_string())));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Some(res)
    }

    /// Check the request's bearer token: the verified principal, or the
    /// answer to send instead.
    pub(crate) async fn check(
        &self,
        parts: &http::request::Parts,
    ) -> Result<AuthInfo, Response<McpBody>> {
        if query_has_token(parts.uri.query()) {
            tracing::debug!("refused: access_token in the query string");
            return Err(
                self.bad_request("access tokens are accepted only in the Authorization header")
            );
        }
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(self.unauthorized(None));
        };
        if values.next().is_some() {
            return Err(self.bad_request("more than one Authorization header"));
        }
        if value.len() > MAX_AUTHORIZATION_BYTES {
            tracing::debug!(len = value.len(), "refused: Authorization header too long");
            return Err(self.bad_request("the Authorization header exceeds 8192 bytes"));
        }
        let Some(token) = bearer_token(value.as_bytes()) else {
            // Another scheme (or none): as if no bearer token were sent.
            return Err(self.unauthorized(None));
        };
        if token.is_empty() || !token.bytes().all(is_token68) {
            return Err(self.unauthorized(Some("malformed bearer token")));
        }
        let Some(verifier) = &self.verifier else {
            return Err(self.unauthorized(Some("no token verifier is configured")));
        };
        let info = match verifier.verify(token, &self.resource).await {
            Ok(info) => info,
            Err(VerifyError::Invalid(reason)) => {
                // The reason names the failure, never the token (AUTH-RS-10).
                tracing::debug!(%reason, "token refused");
                return Err(self.unauthorized(Some(&reason)));
            }
            Err(VerifyError::Unavailable(reason)) => {
                tracing::warn!(%reason, "token verification unavailable");
                let mut res = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service Unavailable: the token could not be verified now",
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                return Err(res);
            }
        };
        if info.principal().is_empty() || info.principal().len() > MAX_PRINCIPAL_BYTES {
            return Err(self.unauthorized(Some("the token names no usable subject")));
        }
        if !self.required_scopes.iter().all(|s| info.has_scope(s)) {
            tracing::debug!(principal = info.principal(), "refused: insufficient scope");
            return Err(self.forbidden());
        }
        Ok(info)
    }

    fn challenge(&self, error: Option<(&str, &str)>) -> HeaderValue {
        let mut v = format!(
            "Bearer resource_metadata=\"{}\"",
            quoted(&self.metadata_url())
        );
        if !self.required_scopes.is_empty() {
            v.push_str(&format!(
                ", scope=\"{}\"",
                quoted(&self.required_scopes.join(" "))
            ));
        }
        if let Some((error, description)) = error {
            v.push_str(&format!(
                ", error=\"{error}\", error_description=\"{}\"",
                quoted(description)
            ));
        }
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    fn unauthorized(&self, invalid: Option<&str>) -> Response<McpBody> {
        let mut res = error_response(
            StatusCode::UNAUTHORIZED,
            match invalid {
                None => "Unauthorized: a bearer token is required",
                Some(_) => "Unauthorized: invalid token",
            },
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            self.challenge(invalid.map(|d| ("invalid_token", d))),
        );
        res
    }

    fn forbidden(&self) -> Response<McpBody> {
        let mut res = error_response(StatusCode::FORBIDDEN, "Forbidden: insufficient scope");
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            self.challenge(Some((
                "insufficient_scope",
                "the token lacks a scope this resource requires",
            ))),
        );
        res
    }

    fn bad_request(&self, description: &str) -> Response<McpBody> {
        let mut res = error_response(
            StatusCode::BAD_REQUEST,
            "Bad Request: invalid authorization",
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            self.challenge(Some(("invalid_request", description))),
        );
        res
    }
}

fn error_response(status: StatusCode, message: &str) -> Response<McpBody> {
    let body = ErrorObject::new(code::SERVER_ERROR, message).to_id_less_body();
    let mut res = Response::new(McpBody::full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The token of `Bearer <token>` (scheme case-insensitive), if that is the
/// scheme.
fn bearer_token(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (scheme, rest) = text.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

/// RFC 6750 §2.1 `b64token` characters.
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// Whether the query string carries an `access_token` parameter (RFC 6750
/// §2.3, which MCP forbids).
fn query_has_token(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            k.eq_ignore_ascii_case("access_token") || k.eq_ignore_ascii_case("access%5Ftoken")
        })
    })
}

/// Text safe inside a quoted-string: no quotes, backslashes or controls.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                '\''
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_rs_9_only_the_bearer_scheme_yields_a_token() {
        assert_eq!(bearer_token(b"Bearer abc"), Some("abc"));
        assert_eq!(bearer_token(b"bearer  abc"), Some("abc"));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert!(query_has_token(Some("a=1&access_token=x")));
        assert!(!query_has_token(Some("a=1&not_access_token=x")));
        assert!(!query_has_token(None));
    }
}
