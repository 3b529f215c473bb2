//! Authorization, server side: the MCP endpoint as an OAuth 2.1 resource
//! server (issue 15, AUTH-RS-*).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`AuthInfo`] (the verified principal handlers see), [`TokenVerifier`], [`VerifyError`] |
//! | `resource.rs` | [`ResourceServer`]: the bearer-token gate in front of the endpoint and its 401 / 403 / 400 answers |
//! | `metadata.rs` | the protected resource metadata document (RFC 9728) and its well-known paths |
//! | `fetch.rs` | [`HttpFetch`]: how verifiers reach the authorization server (plain HTTP by default) |
//! | `jwt.rs` | [`JwtVerifier`]: JWT access tokens against a JWKS |
//! | `introspection.rs` | [`IntrospectionVerifier`]: RFC 7662 token introspection |
//!
//! The common case is a few lines (see `docs/auth.md`):
//!
//! ```no_run
//! use streamable_hyper::McpService;
//! use streamable_hyper::auth::{JwtVerifier, ResourceServer};
//! # let app = streamable_hyper::McpServer::new("demo", "1");
//! let service = McpService::builder()
//!     .path("/mcp")
//!     .auth(
//!         ResourceServer::new("https://mcp.example.com/mcp")
//!             .authorization_server("https://auth.example.com")
//!             .required_scopes(["mcp:tools"])
//!             .verifier(JwtVerifier::new(
//!                 "https://auth.example.com",
//!                 "http://auth.internal:8080/jwks.json",
//!             )),
//!     )
//!     .build(app);
//! ```
//!
//! [`AuthInfo`] travels in the request's extensions: whatever puts one
//! there — this crate's resource server, or any tower / axum layer in front
//! of the service — is what [`RequestContext::auth`](crate::RequestContext::auth)
//! returns, and its [`AuthInfo::principal`] is what a session is bound to.

#[cfg(not(loom))]
mod fetch;
#[cfg(not(loom))]
mod introspection;
#[cfg(not(loom))]
mod jwt;
mod metadata;
mod resource;

use std::future::Future;
use std::pin::Pin;

#[cfg(not(loom))]
pub use fetch::{FetchError, FetchFuture, HttpFetch, PlainHttp};
#[cfg(not(loom))]
pub use introspection::{IntrospectionVerifier, MAX_CACHED_TOKENS};
#[cfg(not(loom))]
pub use jwt::{JwtVerifier, MAX_JWKS_BYTES, MAX_JWKS_KEYS};
pub use metadata::{WELL_KNOWN_PREFIX, metadata_path};
pub use resource::{MAX_AUTHORIZATION_BYTES, ResourceServer};

/// The future a [`TokenVerifier`] returns.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AuthInfo, VerifyError>> + Send + 'a>>;

/// Checks a bearer token and says who it belongs to (AUTH-RS-2). The
/// adapter runs it before the request reaches the core; the core only ever
/// sees the resulting principal id.
///
/// Implementations must check that the token was issued for `resource`
/// (this server's canonical URI, RFC 8707) and must never log or keep the
/// token itself (AUTH-RS-10). Scopes are checked by the
/// [`ResourceServer`] from [`AuthInfo::scopes`].
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verify `token` (the bearer value, without the scheme) for
    /// `resource`.
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> VerifyFuture<'a>;
}

/// Why a token was not accepted. The message names the failure, never the
/// token; it is sent to the client as `error_description`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Expired, malformed, badly signed, for another resource or issuer,
    /// revoked: 401 `invalid_token`.
    Invalid(String),
    /// The verifier could not decide (its authorization server did not
    /// answer): 503, the client may retry.
    Unavailable(String),
}

impl VerifyError {
    /// An [`VerifyError::Invalid`] with this reason.
    pub fn invalid(reason: impl Into<String>) -> Self {
        VerifyError::Invalid(reason.into())
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Invalid(r) => write!(f, "invalid token: {r}"),
            VerifyError::Unavailable(r) => write!(f, "token verification unavailable: {r}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Whether a token's `aud` claim (a string or an array of strings) names
/// `resource` (RFC 8707); anything else names nothing. Shared by the JWT and
/// introspection verifiers so both read the claim the same way.
#[cfg(not(loom))]
pub(crate) fn audience_names(aud: &serde_json::Value, resource: &str) -> bool {
    match aud {
        serde_json::Value::String(a) => same_resource(a, resource),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(serde_json::Value::as_str)
            .any(|a| same_resource(a, resource)),
        _ => false,
    }
}

/// Whether `aud` names `resource`: equal once the scheme and host are
/// lower-cased and a trailing `/` is dropped (the canonical form of RFC
/// 8707 §2; the spec asks to accept upper-case scheme and host).
#[cfg(not(loom))]
pub(crate) fn same_resource(aud: &str, resource: &str) -> bool {
    fn canonical(u: &str) -> String {
        let u = u.strip_suffix('/').unwrap_or(u);
        match u.find("://") {
            Some(i) => {
                let rest = &u[i + 3..];
                let end = rest.find('/').unwrap_or(rest.len());
                format!(
                    "{}://{}{}",
                    u[..i].to_ascii_lowercase(),
                    rest[..end].to_ascii_lowercase(),
                    &rest[end..]
                )
            }
            None => u.to_owned(),
        }
    }
    aud == resource || canonical(aud) == canonical(resource)
}

/// The longest principal id accepted (bytes), the core's
/// [`MAX_PRINCIPAL_BYTES`](streamable_core::MAX_PRINCIPAL_BYTES).
pub const MAX_PRINCIPAL_BYTES: usize = streamable_core::MAX_PRINCIPAL_BYTES;

/// Who is calling: the identity a verifier (or any layer in front of the
/// service) established for a request. Never holds the token itself.
///
/// Put one in the request's extensions (`req.extensions_mut().insert(..)`)
/// from your own layer and handlers see it through
/// [`RequestContext::auth`](crate::RequestContext::auth); sessions are
/// bound to its [`principal`](AuthInfo::principal) (AUTH-RS-9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthInfo {
    principal: String,
    subject: Option<String>,
    client_id: Option<String>,
    issuer: Option<String>,
    scopes: Vec<String>,
    expires_at: Option<u64>,
    claims: Option<serde_json::Value>,
}

impl AuthInfo {
    /// An identity whose opaque principal id is `principal` (for a token,
    /// usually its subject; at most [`MAX_PRINCIPAL_BYTES`], a longer one
    /// makes the request be refused).
    pub fn new(principal: impl Into<String>) -> Self {
        AuthInfo {
            principal: principal.into(),
            subject: None,
            client_id: None,
            issuer: None,
            scopes: Vec::new(),
            expires_at: None,
            claims: None,
        }
    }

    /// With the token's subject (`sub`).
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// With the OAuth client the token was issued to (`client_id` / `azp`).
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// With the issuer (`iss`).
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// With the granted scopes.
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// With the expiry (seconds since the Unix epoch).
    pub fn with_expires_at(mut self, at: u64) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// With the token's claims (a JWT's payload, an introspection answer).
    pub fn with_claims(mut self, claims: serde_json::Value) -> Self {
        self.claims = Some(claims);
        self
    }

    /// The opaque principal id sessions and `requestState` are bound to.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The subject (`sub`), if known.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The client the token was issued to, if known.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The issuer, if known.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The expiry (seconds since the Unix epoch), if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// The token's claims, if the verifier kept them.
    pub fn claims(&self) -> Option<&serde_json::Value> {
        self.claims.as_ref()
    }
}
