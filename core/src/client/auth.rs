//! OAuth 2.1 authorization for the client (MCP authorization, 2025-11-25 and
//! 2026-07-28) as a sans-IO state machine: [`AuthFlow`].
//!
//! The flow never touches the network, a clock or a random source. It
//! answers every input with one [`AuthStep`]: an HTTP request to send (the
//! caller sends it and feeds the response to [`AuthFlow::on_response`]), the
//! authorization URL for the user-agent step (the caller has the user
//! approve it and feeds the redirect URL to [`AuthFlow::on_redirect`]), the
//! resulting [`Grant`], or an [`AuthError`]. Time (seconds on the caller's
//! wall clock) and entropy ([`Entropy`]: the PKCE verifier and `state`) are
//! passed in.
//!
//! ```text
//!  401/403 + Bearer challenge
//!        │
//!        ▼
//!  ┌───────────┐ 200 + resource covers server   ┌────────────┐
//!  │    PRM    │───────────────────────────────▶│  AS meta   │ RFC 8414 / OIDC,
//!  │ header URL│ other: next URL; none: Failed  │ well-known │ path-aware order;
//!  │ path, root│ resource mismatch: Failed      └─────┬──────┘ issuer ≠: Failed
//!  └───────────┘                                      │ no S256: Failed
//!                     same issuer as before: reuse ┌──▼───────┐ pre-registered,
//!                                                  │ register │ CIMD URL, or
//!                                                  │          │ RFC 7591 POST
//!                                                  └──┬───────┘
//!                          Authorize(url) ◀───────────┘
//!                               │ on_redirect: state, iss (RFC 9207), code
//!                          ┌────▼─────┐
//!  refresh(grant) ────────▶│  token   │ client_secret_basic / _post / none,
//!                          └────┬─────┘ resource (RFC 8707)
//!                               ▼
//!                          Done(Grant)
//! ```
//!
//! Choices (see `docs/auth-client.md`): scopes are the challenge's `scope`,
//! else the resource's `scopes_supported`, else none, united with the scopes
//! of the previous grant (step-up, SEP-2350), plus `offline_access` when the
//! authorization server lists it and the configuration wants refresh
//! tokens; `iss` is compared by simple string comparison (RFC 9207 §2.4);
//! a registration is reused only with the issuer that issued it.

mod challenge;
mod metadata;
mod uri;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, header};
use sha2::{Digest, Sha256};

pub use challenge::{Challenge, MAX_CHALLENGE_LEN, MAX_CHALLENGE_PARAMS};
pub use metadata::{MAX_AUTH_BODY, MAX_SCOPES, MAX_SECRET_LEN, ServerMetadata};
pub use uri::MAX_URL_LEN;

use metadata::{MetadataProblem, ResourceMetadata, split_scopes};

/// Client credentials issued out of band (pre-registration).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The `client_id`.
    pub client_id: String,
    /// The `client_secret` of a confidential client.
    pub client_secret: Option<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3, RFC 7591 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// `client_secret_basic`: HTTP Basic with the id and secret.
    ClientSecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// `none`: a public client, `client_id` in the form body.
    None,
    /// `private_key_jwt` (RFC 7523 §2.2): a JWT signed with the client's
    /// key as `client_assertion`; the flow asks for it with [`AuthStep::Sign`].
    PrivateKeyJwt,
}

impl TokenAuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenAuthMethod::ClientSecretPost => "client_secret_post",
            TokenAuthMethod::None => "none",
            TokenAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    fn parse(s: &str) -> Option<TokenAuthMethod> {
        match s {
            "client_secret_basic" => Some(TokenAuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(TokenAuthMethod::ClientSecretPost),
            "none" => Some(TokenAuthMethod::None),
            "private_key_jwt" => Some(TokenAuthMethod::PrivateKeyJwt),
            _ => None,
        }
    }
}

/// The OAuth grant the flow obtains its token with.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum GrantKind {
    /// Authorization code with PKCE: a user approves (the default).
    #[default]
    AuthorizationCode,
    /// Client credentials (RFC 6749 §4.4, SEP-1046): a machine client with
    /// pre-registered credentials, no user.
    ClientCredentials,
    /// JWT bearer (RFC 7523 §2.1, SEP-1933 workload identity): the given
    /// assertion (a JWT from the workload's identity provider) is the grant.
    JwtBearer {
        /// The assertion (never shown by `Debug`).
        assertion: String,
    },
}

impl fmt::Debug for GrantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantKind::AuthorizationCode => "AuthorizationCode",
            GrantKind::ClientCredentials => "ClientCredentials",
            GrantKind::JwtBearer { .. } => "JwtBearer",
        })
    }
}

/// `grant_type` of the JWT bearer grant (RFC 7523 §2.1).
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What the flow needs to know about the client and the server.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The MCP server URL (the endpoint): the protected resource.
    pub server_url: String,
    /// The redirect URI registered for the authorization code.
    pub redirect_uri: String,
    /// `client_name` for dynamic registration.
    pub client_name: String,
    /// `application_type` for dynamic registration (SEP-837): `native` or `web`.
    pub application_type: String,
    /// Credentials issued out of band; used instead of registering.
    pub pre_registered: Option<ClientCredentials>,
    /// The client's Client ID Metadata Document URL, used as `client_id`
    /// where the authorization server advertises
    /// `client_id_metadata_document_supported`.
    pub client_metadata_url: Option<String>,
    /// Ask for `offline_access` (a refresh token) where the authorization
    /// server lists it in `scopes_supported` (SEP-2207).
    pub offline_access: bool,
    /// The grant (default: authorization code).
    pub grant: GrantKind,
    /// Authenticate at the token endpoint with `private_key_jwt` (for the
    /// grants without a user; the caller signs, see [`AuthStep::Sign`]).
    pub private_key_jwt: bool,
}

impl AuthConfig {
    /// A public native client of `server_url` with redirect URI
    /// `redirect_uri`, registering dynamically, wanting refresh tokens.
    pub fn new(server_url: &str, redirect_uri: &str) -> AuthConfig {
        AuthConfig {
            server_url: server_url.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            client_name: "streamable".to_owned(),
            application_type: "native".to_owned(),
            pre_registered: None,
            client_metadata_url: None,
            offline_access: true,
            grant: GrantKind::AuthorizationCode,
            private_key_jwt: false,
        }
    }
}

/// A client registration with one authorization server.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// The issuer it was obtained from; never used with another.
    pub issuer: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`, if any.
    pub client_secret: Option<String>,
    /// How to authenticate at the token endpoint.
    pub method: TokenAuthMethod,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// The outcome of a flow: an access token and what is needed to refresh it
/// and to step up later. Its `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// The access token.
    pub access_token: String,
    /// `token_type` as issued (`Bearer`).
    pub token_type: String,
    /// The refresh token, if one was issued.
    pub refresh_token: Option<String>,
    /// When the access token expires, in the caller's seconds, if known.
    pub expires_at: Option<u64>,
    /// The scopes that were requested, space-separated.
    pub scope: Option<String>,
    /// The resource indicator (RFC 8707) the token was requested for.
    pub resource: String,
    /// Where to refresh.
    pub token_endpoint: String,
    /// The registration that obtained it.
    pub client: Registration,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// Whether the access token has expired at `now` (seconds), with 30 s
    /// of margin.
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| now.saturating_add(30) >= t)
    }

    /// The `Authorization` header value: `Bearer <token>`.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

/// The random inputs of one flow: the PKCE code verifier's 32 bytes and
/// the 16 bytes of `state`. Draw them from the operating system.
#[derive(Clone, Copy, Debug)]
pub struct Entropy {
    /// PKCE code verifier bytes (RFC 7636 §4.1: 32 octets, base64url).
    pub verifier: [u8; 32],
    /// `state` bytes.
    pub state: [u8; 16],
}

/// What to do next.
#[derive(Debug)]
pub enum AuthStep {
    /// Send this request and feed its response to [`AuthFlow::on_response`]
    /// (or [`AuthFlow::on_transport_error`]).
    Send(Request<Bytes>),
    /// Have the user agent open this authorization URL; feed the URL it is
    /// redirected to (the redirect URI with `code`, `state`, `iss`) to
    /// [`AuthFlow::on_redirect`].
    Authorize(String),
    /// Sign these JWT claims with the client's key (compact JWS, the key's
    /// algorithm in the header) and feed the JWT to [`AuthFlow::on_signed`]:
    /// the `private_key_jwt` client assertion.
    Sign(serde_json::Value),
    /// Done: use this grant.
    Done(Grant),
    /// The flow stopped.
    Failed(AuthError),
}

/// Why a flow stopped. None of them carries a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No protected resource metadata at any of the URLs tried.
    NoResourceMetadata,
    /// The metadata's `resource` does not cover the server URL (RFC 9728 §3.3).
    ResourceMismatch(String),
    /// No usable authorization server metadata for this issuer.
    NoServerMetadata(String),
    /// The metadata's `issuer` is not the issuer it was looked up for (RFC 8414 §3.3).
    IssuerMismatch {
        /// The issuer from the protected resource metadata.
        expected: String,
        /// The `issuer` in the document.
        found: String,
    },
    /// The authorization server does not advertise PKCE with S256.
    NoPkce,
    /// No way to get a client id: no pre-registration, no Client ID
    /// Metadata Document support, no registration endpoint.
    NoRegistration,
    /// Dynamic registration failed (status and OAuth error).
    Registration(String),
    /// The authorization response is an error, lacks a code, or is not at
    /// the redirect URI.
    Authorization(String),
    /// The authorization response's `state` is not ours.
    StateMismatch,
    /// The server advertised `iss` support but the response has none (RFC 9207 §2.4).
    IssMissing,
    /// The response's `iss` is not the issuer (RFC 9207 §2.4).
    IssMismatch,
    /// The token request failed (status and OAuth error).
    Token(String),
    /// A URL in play is not an absolute http(s) URL.
    InvalidUrl,
    /// An input that does not fit the flow's phase.
    OutOfOrder,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NoResourceMetadata => write!(f, "no protected resource metadata found"),
            AuthError::ResourceMismatch(r) => {
                write!(
                    f,
                    "protected resource metadata is for {r:?}, not this server"
                )
            }
            AuthError::NoServerMetadata(i) => write!(f, "no authorization server metadata for {i}"),
            AuthError::IssuerMismatch { expected, found } => {
                write!(f, "metadata issuer {found:?} is not {expected:?}")
            }
            AuthError::NoPkce => write!(f, "authorization server does not support PKCE S256"),
            AuthError::NoRegistration => write!(f, "no way to obtain a client id"),
            AuthError::Registration(e) => write!(f, "client registration failed: {e}"),
            AuthError::Authorization(e) => write!(f, "authorization failed: {e}"),
            AuthError::StateMismatch => write!(f, "authorization response state mismatch"),
            AuthError::IssMissing => write!(f, "authorization response lacks the required iss"),
            AuthError::IssMismatch => write!(f, "authorization response iss is not the issuer"),
            AuthError::Token(e) => write!(f, "token request failed: {e}"),
            AuthError::InvalidUrl => write!(f, "invalid URL"),
            AuthError::OutOfOrder => write!(f, "input out of order"),
        }
    }
}

impl std::error::Error for AuthError {}

enum Phase {
    Prm {
        candidates: Vec<String>,
        next: usize,
    },
    ServerMeta {
        prm: ResourceMetadata,
        issuer: String,
        candidates: Vec<String>,
        next: usize,
    },
    Register {
        prm: ResourceMetadata,
        meta: Box<ServerMetadata>,
    },
    Authorize {
        prm: ResourceMetadata,
        meta: Box<ServerMetadata>,
        client: Registration,
        scope: Option<String>,
    },
    Sign {
        token_endpoint: String,
        pairs: Vec<(String, String)>,
        resource: String,
        client: Registration,
        scope: Option<String>,
    },
    Token {
        resource: String,
        token_endpoint: String,
        client: Registration,
        scope: Option<String>,
        old_refresh: Option<String>,
    },
    Over,
}

/// One run of the authorization flow. See the [module documentation](self).
pub struct AuthFlow {
    config: AuthConfig,
    challenge_scope: Option<String>,
    previous: Option<Grant>,
    verifier: String,
    state: String,
    phase: Phase,
}

impl fmt::Debug for AuthFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFlow").finish_non_exhaustive()
    }
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn get(url: &str) -> Result<Request<Bytes>, AuthError> {
    Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(header::ACCEPT, "application/json")
        .body(Bytes::new())
        .map_err(|_| AuthError::InvalidUrl)
}

fn is_uri(s: &str) -> bool {
    uri::Url::parse(s).is_some() && s.parse::<http::Uri>().is_ok()
}

impl AuthFlow {
    /// Start a full flow for `challenge` (the 401/403 that asked for it).
    /// `previous` is the grant in use, if any: its registration is reused
    /// when the issuer is unchanged, its scopes are kept (step-up).
    pub fn start(
        config: AuthConfig,
        challenge: &Challenge,
        previous: Option<Grant>,
        entropy: Entropy,
    ) -> (AuthFlow, AuthStep) {
        let mut candidates: Vec<String> = Vec::with_capacity(3);
        if let Some(url) = &challenge.resource_metadata {
            candidates.push(url.clone());
        }
        for url in uri::prm_well_known(&config.server_url) {
            if !candidates.contains(&url) {
                candidates.push(url);
            }
        }
        candidates.retain(|u| is_uri(u));
        let mut flow = AuthFlow {
            challenge_scope: challenge.scope.clone(),
            previous,
            verifier: URL_SAFE_NO_PAD.encode(entropy.verifier),
            state: URL_SAFE_NO_PAD.encode(entropy.state),
            config,
            phase: Phase::Prm {
                candidates,
                next: 0,
            },
        };
        let step = flow.next_prm();
        (flow, step)
    }

    /// Start a refresh of `grant` (RFC 6749 §6). On failure, run
    /// [`AuthFlow::start`].
    pub fn refresh(config: AuthConfig, grant: &Grant) -> (AuthFlow, AuthStep) {
        let mut flow = AuthFlow {
            config,
            challenge_scope: None,
            previous: None,
            verifier: String::new(),
            state: String::new(),
            phase: Phase::Over,
        };
        let Some(refresh) = grant.refresh_token.clone() else {
            return (
                flow,
                AuthStep::Failed(AuthError::Token("no refresh token".into())),
            );
        };
        let client = grant.client.clone();
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("resource", grant.resource.as_str()),
        ];
        let step = match token_request(&grant.token_endpoint, &client, &mut pairs) {
            Ok(req) => {
                flow.phase = Phase::Token {
                    resource: grant.resource.clone(),
                    token_endpoint: grant.token_endpoint.clone(),
                    client,
                    scope: grant.scope.clone(),
                    old_refresh: Some(refresh.clone()),
                };
                AuthStep::Send(req)
            }
            Err(e) => AuthStep::Failed(e),
        };
        (flow, step)
    }

    fn fail(&mut self, e: AuthError) -> AuthStep {
        self.phase = Phase::Over;
        AuthStep::Failed(e)
    }

    fn next_prm(&mut self) -> AuthStep {
        let Phase::Prm { candidates, next } = &mut self.phase else {
            return self.fail(AuthError::OutOfOrder);
        };
        match candidates.get(*next) {
            Some(url) => {
                *next += 1;
                get(url).map_or_else(AuthStep::Failed, AuthStep::Send)
            }
            None => self.fail(AuthError::NoResourceMetadata),
        }
    }

    fn next_meta(&mut self) -> AuthStep {
        let Phase::ServerMeta {
            issuer,
            candidates,
            next,
            ..
        } = &mut self.phase
        else {
            return self.fail(AuthError::OutOfOrder);
        };
        match candidates.get(*next) {
            Some(url) => {
                *next += 1;
                get(url).map_or_else(AuthStep::Failed, AuthStep::Send)
            }
            None => {
                let issuer = issuer.clone();
                self.fail(AuthError::NoServerMetadata(issuer))
            }
        }
    }

    /// The response to the request of the last [`AuthStep::Send`]: its
    /// status, headers and whole body (at most [`MAX_AUTH_BODY`] bytes; a
    /// caller that cut a longer body passes what it has, which fails to
    /// parse). `now` is in the caller's seconds.
    pub fn on_response(
        &mut self,
        now: u64,
        status: u16,
        _headers: &HeaderMap,
        body: &[u8],
    ) -> AuthStep {
        match std::mem::replace(&mut self.phase, Phase::Over) {
            Phase::Prm { candidates, next } => {
                let prm = (status == 200)
                    .then(|| metadata::resource_metadata(body))
                    .flatten();
                let Some(prm) = prm else {
                    self.phase = Phase::Prm { candidates, next };
                    return self.next_prm();
                };
                if !uri::resource_covers(&prm.resource, &self.config.server_url) {
                    let r = prm.resource.chars().take(256).collect();
                    return self.fail(AuthError::ResourceMismatch(r));
                }
                let issuer = prm.authorization_servers[0].clone();
                let mut candidates = uri::as_well_known(&issuer);
                candidates.retain(|u| is_uri(u));
                self.phase = Phase::ServerMeta {
                    prm,
                    issuer,
                    candidates,
                    next: 0,
                };
                self.next_meta()
            }
            Phase::ServerMeta {
                prm,
                issuer,
                candidates,
                next,
            } => {
                let parsed = if status == 200 {
                    metadata::server_metadata(body, &issuer)
                } else {
                    Err(MetadataProblem::Unusable)
                };
                match parsed {
                    Ok(meta) => self.registered_or_register(now, prm, Box::new(meta)),
                    Err(MetadataProblem::IssuerMismatch(found)) => {
                        self.fail(AuthError::IssuerMismatch {
                            expected: issuer,
                            found,
                        })
                    }
                    Err(MetadataProblem::Unusable) => {
                        self.phase = Phase::ServerMeta {
                            prm,
                            issuer,
                            candidates,
                            next,
                        };
                        self.next_meta()
                    }
                }
            }
            Phase::Register { prm, meta } => {
                let Some(r) = (matches!(status, 200 | 201))
                    .then(|| metadata::registered(body))
                    .flatten()
                else {
                    let e = format!("HTTP {status}: {}", metadata::oauth_error(body));
                    return self.fail(AuthError::Registration(e));
                };
                let method = choose_method(
                    &meta,
                    r.client_secret.is_some(),
                    r.token_endpoint_auth_method.as_deref(),
                );
                let client = Registration {
                    issuer: meta.issuer.clone(),
                    client_id: r.client_id,
                    client_secret: r.client_secret,
                    method,
                };
                self.authorize(prm, meta, client)
            }
            Phase::Token {
                resource,
                token_endpoint,
                client,
                scope,
                old_refresh,
            } => {
                let tokens = (status == 200).then(|| metadata::tokens(body)).flatten();
                let Some(t) = tokens else {
                    let e = format!("HTTP {status}: {}", metadata::oauth_error(body));
                    return self.fail(AuthError::Token(e));
                };
                if !t.token_type.eq_ignore_ascii_case("bearer") {
                    let e = format!("unsupported token_type {:?}", t.token_type);
                    return self.fail(AuthError::Token(e.chars().take(128).collect()));
                }
                AuthStep::Done(Grant {
                    access_token: t.access_token,
                    token_type: t.token_type,
                    refresh_token: t.refresh_token.or(old_refresh),
                    expires_at: t.expires_in.map(|s| now.saturating_add(s)),
                    scope,
                    resource,
                    token_endpoint,
                    client,
                })
            }
            other @ (Phase::Authorize { .. } | Phase::Sign { .. } | Phase::Over) => {
                self.phase = other;
                AuthStep::Failed(AuthError::OutOfOrder)
            }
        }
    }

    /// The request of the last [`AuthStep::Send`] got no response
    /// (connection failed): like a response without a usable body.
    pub fn on_transport_error(&mut self, now: u64) -> AuthStep {
        self.on_response(now, 0, &HeaderMap::new(), b"")
    }

    fn registered_or_register(
        &mut self,
        now: u64,
        prm: ResourceMetadata,
        meta: Box<ServerMetadata>,
    ) -> AuthStep {
        if self.config.grant != GrantKind::AuthorizationCode {
            return self.direct_grant(now, prm, &meta);
        }
        if !meta
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| m.iter().any(|m| m == "S256"))
        {
            return self.fail(AuthError::NoPkce);
        }
        // A registration is bound to its issuer (SEP-2352): reuse it only there.
        if let Some(prev) = self.previous.as_ref().map(|g| &g.client)
            && prev.issuer == meta.issuer
        {
            let client = prev.clone();
            return self.authorize(prm, meta, client);
        }
        if let Some(pre) = &self.config.pre_registered {
            let client = Registration {
                issuer: meta.issuer.clone(),
                client_id: pre.client_id.clone(),
                client_secret: pre.client_secret.clone(),
                method: choose_method(&meta, pre.client_secret.is_some(), None),
            };
            return self.authorize(prm, meta, client);
        }
        if meta.client_id_metadata_document_supported
            && let Some(url) = &self.config.client_metadata_url
        {
            let client = Registration {
                issuer: meta.issuer.clone(),
                client_id: url.clone(),
                client_secret: None,
                method: TokenAuthMethod::None,
            };
            return self.authorize(prm, meta, client);
        }
        let Some(endpoint) = meta.registration_endpoint.clone() else {
            return self.fail(AuthError::NoRegistration);
        };
        let scope = self.scope(&prm, &meta);
        let mut grant_types = vec!["authorization_code"];
        if meta
            .grant_types_supported
            .as_ref()
            .is_none_or(|g| g.iter().any(|g| g == "refresh_token"))
        {
            grant_types.push("refresh_token");
        }
        let mut doc = serde_json::json!({
            "client_name": self.config.client_name,
            "redirect_uris": [self.config.redirect_uri],
            "grant_types": grant_types,
            "response_types": ["code"],
            "token_endpoint_auth_method": registration_method(&meta).as_str(),
            "application_type": self.config.application_type,
        });
        if let Some(scope) = scope {
            doc["scope"] = serde_json::Value::String(scope);
        }
        let req = Request::builder()
            .method(Method::POST)
            .uri(endpoint.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(Bytes::from(doc.to_string()));
        match req {
            Ok(req) => {
                self.phase = Phase::Register { prm, meta };
                AuthStep::Send(req)
            }
            Err(_) => self.fail(AuthError::InvalidUrl),
        }
    }

    /// A grant without the user agent (client credentials, JWT bearer):
    /// straight to the token endpoint with pre-registered credentials.
    fn direct_grant(&mut self, now: u64, prm: ResourceMetadata, meta: &ServerMetadata) -> AuthStep {
        let client = match &self.config.pre_registered {
            Some(pre) => Registration {
                issuer: meta.issuer.clone(),
                client_id: pre.client_id.clone(),
                client_secret: pre.client_secret.clone(),
                method: if self.config.private_key_jwt {
                    TokenAuthMethod::PrivateKeyJwt
                } else {
                    choose_method(meta, pre.client_secret.is_some(), None)
                },
            },
            None if matches!(self.config.grant, GrantKind::JwtBearer { .. }) => Registration {
                issuer: meta.issuer.clone(),
                client_id: String::new(),
                client_secret: None,
                method: TokenAuthMethod::None,
            },
            None => return self.fail(AuthError::NoRegistration),
        };
        let scope = self.scope(&prm, meta);
        let grant = self.config.grant.clone();
        let mut pairs: Vec<(&str, &str)> = match &grant {
            GrantKind::JwtBearer { assertion } => {
                vec![
                    ("grant_type", JWT_BEARER_GRANT),
                    ("assertion", assertion.as_str()),
                ]
            }
            _ => vec![("grant_type", "client_credentials")],
        };
        pairs.push(("resource", prm.resource.as_str()));
        if let Some(scope) = &scope {
            pairs.push(("scope", scope.as_str()));
        }
        if client.method == TokenAuthMethod::PrivateKeyJwt {
            // RFC 7523 §3: iss = sub = client_id, aud = the authorization
            // server (its issuer identifier), short-lived, unique jti.
            let claims = serde_json::json!({
                "iss": client.client_id,
                "sub": client.client_id,
                "aud": meta.issuer,
                "iat": now,
                "exp": now.saturating_add(300),
                "jti": self.state,
            });
            let pairs = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            self.phase = Phase::Sign {
                token_endpoint: meta.token_endpoint.clone(),
                pairs,
                resource: prm.resource.clone(),
                client,
                scope,
            };
            return AuthStep::Sign(claims);
        }
        match token_request(&meta.token_endpoint, &client, &mut pairs) {
            Ok(req) => {
                self.phase = Phase::Token {
                    resource: prm.resource.clone(),
                    token_endpoint: meta.token_endpoint.clone(),
                    client,
                    scope,
                    old_refresh: None,
                };
                AuthStep::Send(req)
            }
            Err(e) => self.fail(e),
        }
    }

    /// The scopes to ask for (see the module documentation).
    fn scope(&self, prm: &ResourceMetadata, meta: &ServerMetadata) -> Option<String> {
        let mut scopes: Vec<String> = Vec::new();
        if let Some(prev) = self.previous.as_ref().and_then(|g| g.scope.as_deref()) {
            scopes.extend(split_scopes(prev));
        }
        let asked = match &self.challenge_scope {
            Some(s) => split_scopes(s),
            None => prm.scopes_supported.clone().unwrap_or_default(),
        };
        for s in asked {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        scopes.retain(|s| s != "offline_access");
        if self.config.offline_access
            && meta
                .scopes_supported
                .as_ref()
                .is_some_and(|s| s.iter().any(|s| s == "offline_access"))
        {
            scopes.push("offline_access".into());
        }
        scopes.truncate(MAX_SCOPES);
        (!scopes.is_empty()).then(|| scopes.join(" "))
    }

    fn authorize(
        &mut self,
        prm: ResourceMetadata,
        meta: Box<ServerMetadata>,
        client: Registration,
    ) -> AuthStep {
        let scope = self.scope(&prm, &meta);
        let challenge = pkce_challenge(&self.verifier);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("state", self.state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("resource", prm.resource.as_str()),
        ];
        if let Some(scope) = &scope {
            pairs.push(("scope", scope.as_str()));
        }
        let url = uri::with_query(&meta.authorization_endpoint, &pairs);
        self.phase = Phase::Authorize {
            prm,
            meta,
            client,
            scope,
        };
        AuthStep::Authorize(url)
    }

    /// The signed client assertion asked for by [`AuthStep::Sign`].
    pub fn on_signed(&mut self, jwt: &str) -> AuthStep {
        let Phase::Sign {
            token_endpoint,
            pairs,
            resource,
            client,
            scope,
        } = std::mem::replace(&mut self.phase, Phase::Over)
        else {
            return AuthStep::Failed(AuthError::OutOfOrder);
        };
        let mut pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("client_id", client.client_id.as_str()));
        pairs.push((
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
        pairs.push(("client_assertion", jwt));
        let mut none = client.clone();
        none.method = TokenAuthMethod::None;
        none.client_id = String::new();
        match token_request(&token_endpoint, &none, &mut pairs) {
            Ok(req) => {
                self.phase = Phase::Token {
                    resource,
                    token_endpoint,
                    client,
                    scope,
                    old_refresh: None,
                };
                AuthStep::Send(req)
            }
            Err(e) => self.fail(e),
        }
    }

    /// The URL the user agent was redirected to after [`AuthStep::Authorize`].
    pub fn on_redirect(&mut self, redirect: &str) -> AuthStep {
        let Phase::Authorize {
            prm,
            meta,
            client,
            scope,
        } = std::mem::replace(&mut self.phase, Phase::Over)
        else {
            return AuthStep::Failed(AuthError::OutOfOrder);
        };
        let base = |s: &str| s.split(['?', '#']).next().unwrap_or("").to_owned();
        if redirect.len() > MAX_URL_LEN || base(redirect) != base(&self.config.redirect_uri) {
            return self.fail(AuthError::Authorization("not at the redirect URI".into()));
        }
        let query = redirect
            .split('#')
            .next()
            .and_then(|s| s.split_once('?'))
            .map_or("", |(_, q)| q);
        if let Some(e) = uri::query_param(query, "error") {
            let e = e.unwrap_or_default().chars().take(128).collect();
            return self.fail(AuthError::Authorization(e));
        }
        if uri::query_param(query, "state").flatten().as_deref() != Some(self.state.as_str()) {
            return self.fail(AuthError::StateMismatch);
        }
        // RFC 9207 §2.4: a present iss is compared, by simple string
        // comparison, whether or not the server advertised it.
        match uri::query_param(query, "iss") {
            Some(Some(iss)) if iss == meta.issuer => {}
            Some(_) => return self.fail(AuthError::IssMismatch),
            None if meta.iss_parameter_supported => return self.fail(AuthError::IssMissing),
            None => {}
        }
        let Some(code) = uri::query_param(query, "code")
            .flatten()
            .filter(|c| !c.is_empty())
        else {
            return self.fail(AuthError::Authorization("no code".into()));
        };
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("code_verifier", self.verifier.as_str()),
            ("resource", prm.resource.as_str()),
        ];
        match token_request(&meta.token_endpoint, &client, &mut pairs) {
            Ok(req) => {
                self.phase = Phase::Token {
                    resource: prm.resource,
                    token_endpoint: meta.token_endpoint,
                    client,
                    scope,
                    old_refresh: None,
                };
                AuthStep::Send(req)
            }
            Err(e) => self.fail(e),
        }
    }
}

/// The token endpoint auth method: the registered one, else the best the
/// server lists for a client with (or without) a secret; RFC 8414's default
/// is `client_secret_basic`.
fn choose_method(
    meta: &ServerMetadata,
    has_secret: bool,
    registered: Option<&str>,
) -> TokenAuthMethod {
    if let Some(m) = registered.and_then(TokenAuthMethod::parse)
        && (has_secret || m == TokenAuthMethod::None)
    {
        return m;
    }
    if !has_secret {
        return TokenAuthMethod::None;
    }
    match &meta.token_endpoint_auth_methods_supported {
        None => TokenAuthMethod::ClientSecretBasic,
        Some(list) if list.iter().any(|m| m == "client_secret_basic") => {
            TokenAuthMethod::ClientSecretBasic
        }
        Some(list) if list.iter().any(|m| m == "client_secret_post") => {
            TokenAuthMethod::ClientSecretPost
        }
        Some(_) => TokenAuthMethod::None,
    }
}

/// The method to ask for at registration: `none` (a public native client)
/// where allowed, else what the server lists.
fn registration_method(meta: &ServerMetadata) -> TokenAuthMethod {
    match &meta.token_endpoint_auth_methods_supported {
        None => TokenAuthMethod::None,
        Some(l) if l.iter().any(|m| m == "none") => TokenAuthMethod::None,
        Some(l) if l.iter().any(|m| m == "client_secret_basic") => {
            TokenAuthMethod::ClientSecretBasic
        }
        Some(l) if l.iter().any(|m| m == "client_secret_post") => TokenAuthMethod::ClientSecretPost,
        Some(_) => TokenAuthMethod::None,
    }
}

/// A token endpoint POST with the client authentication of `client`.
fn token_request<'a>(
    endpoint: &str,
    client: &'a Registration,
    pairs: &mut Vec<(&'a str, &'a str)>,
) -> Result<Request<Bytes>, AuthError> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    let secret = client.client_secret.as_deref().unwrap_or("");
    match client.method {
        TokenAuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: form-encode id and secret, then base64.
            let pair = format!("{}:{}", uri::encode(&client.client_id), uri::encode(secret));
            req = req.header(
                header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(pair)),
            );
        }
        TokenAuthMethod::ClientSecretPost => {
            pairs.push(("client_id", client.client_id.as_str()));
            pairs.push(("client_secret", secret));
        }
        // private_key_jwt: the caller has put the assertion in `pairs`.
        TokenAuthMethod::PrivateKeyJwt => {}
        TokenAuthMethod::None if client.client_id.is_empty() => {}
        TokenAuthMethod::None => pairs.push(("client_id", client.client_id.as_str())),
    }
    req.body(Bytes::from(uri::form(pairs)))
        .map_err(|_| AuthError::InvalidUrl)
}

#[cfg(test)]
mod tests {
    use super::{ClientCredentials, TokenAuthMethod};

    #[test]
    fn token_auth_methods_read_back_from_their_registered_names() {
        for m in [
            TokenAuthMethod::ClientSecretBasic,
            TokenAuthMethod::ClientSecretPost,
            TokenAuthMethod::None,
            TokenAuthMethod::PrivateKeyJwt,
        ] {
            assert_eq!(TokenAuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(TokenAuthMethod::None.as_str(), "none");
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let c = ClientCredentials {
            client_id: "app".into(),
            client_secret: Some("hunter2".into()),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("app") && shown.contains('…'), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
