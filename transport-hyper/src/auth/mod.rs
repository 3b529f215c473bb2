//! Authorization, server side: the MCP endpoint as an OAuth 2.1 resource
//! server (issue 15, AUTH-RS-*).
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`AuthInfo`]: the verified principal handlers see |
//!
//! [`AuthInfo`] travels in the request's extensions: whatever puts one
//! there — this crate's resource server, or any tower / axum layer in front
//! of the service — is what [`RequestContext::auth`](crate::RequestContext::auth)
//! returns, and its [`AuthInfo::principal`] is what a session is bound to.

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
