//! OAuth 2.1 for the client: [`OAuth`], set with
//! [`ClientBuilder::oauth`](super::ClientBuilder::oauth).
//!
//! It sits at the HTTP seam of the driver: every request of the session
//! (POST, GET, DELETE) carries `Authorization: Bearer` once a token is
//! held. A 401 with a `Bearer` challenge, or a 403 with
//! `error="insufficient_scope"`, runs the core's
//! [`AuthFlow`](streamable_core::client::auth::AuthFlow) (a refresh first
//! when the grant has a refresh token and the answer was 401), sending its
//! HTTP requests on the same pooled client and handing the user-agent step
//! to the [`Authorize`] callback, then sends the request again with the new
//! token. At most [`OAuth::max_attempts`] flows per request (default 3);
//! then the 401/403 goes to the machine as it came. One flow at a time per
//! client: concurrent requests wait for it and use its token.
//!
//! Tokens are kept in a [`TokenStore`] ([`MemoryTokenStore`] by default) and
//! never logged.
//!
//! ```no_run
//! # async fn demo() -> Result<(), streamable_hyper::client::Error> {
//! use streamable_hyper::client::{Client, auth::OAuth};
//!
//! let oauth = OAuth::new("http://127.0.0.1:8765/callback").on_authorize(|url| async move {
//!     // Open `url` in a browser, wait for the redirect to the callback,
//!     // return the URL it was called with (code, state, iss).
//!     Err::<String, String>(format!("open {url}"))
//! });
//! let client = Client::builder("https://mcp.example.com/mcp")
//!     .oauth(oauth)
//!     .connect_with(hyper_util::client::legacy::connect::HttpConnector::new())
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use streamable_core::client::auth::{
    AuthConfig, AuthError, AuthFlow, AuthStep, Challenge, ClientCredentials, Entropy, GrantKind,
    MAX_AUTH_BODY,
};

use super::driver::Http;

pub use streamable_core::client::auth::{Grant, Registration, TokenAuthMethod};

/// Where grants are kept between requests (and, for a persistent store,
/// between runs), keyed by the MCP server URL.
pub trait TokenStore: Send + Sync + 'static {
    /// The grant for `server`, if any.
    fn load(&self, server: &str) -> Option<Grant>;
    /// Keep `grant` for `server` (`None`: forget it).
    fn save(&self, server: &str, grant: Option<Grant>);
}

/// The most servers a [`MemoryTokenStore`] keeps grants for; the oldest
/// key (in order) is dropped past it.
pub const MEMORY_STORE_CAPACITY: usize = 64;

/// A [`TokenStore`] in memory (the default).
#[derive(Default)]
pub struct MemoryTokenStore(Mutex<BTreeMap<String, Grant>>);

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenStore").finish_non_exhaustive()
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self, server: &str) -> Option<Grant> {
        self.0.lock().ok()?.get(server).cloned()
    }

    fn save(&self, server: &str, grant: Option<Grant>) {
        let Ok(mut map) = self.0.lock() else { return };
        match grant {
            Some(g) => {
                if !map.contains_key(server) && map.len() >= MEMORY_STORE_CAPACITY {
                    map.pop_first();
                }
                map.insert(server.to_owned(), g);
            }
            None => {
                map.remove(server);
            }
        }
    }
}

/// The future of an [`Authorize`] callback: the redirect URL, or why not.
pub type AuthorizeFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// The user-agent step: given the authorization URL, have the user approve
/// it and return the URL the browser was redirected to (the redirect URI
/// with `code`, `state` and `iss`).
pub type Authorize = Arc<dyn Fn(String) -> AuthorizeFuture + Send + Sync>;

#[derive(Clone)]
enum UserAgent {
    Callback(Authorize),
    FollowRedirect,
    None,
}

/// OAuth settings of a client. See the [module documentation](self).
#[derive(Clone)]
pub struct OAuth {
    redirect_uri: String,
    client_name: String,
    pre_registered: Option<ClientCredentials>,
    client_metadata_url: Option<String>,
    offline_access: bool,
    store: Arc<dyn TokenStore>,
    user_agent: UserAgent,
    max_attempts: u32,
    grant: GrantKind,
    /// PKCS#8 PEM of the ES256 key for `private_key_jwt` (never shown).
    signing_key: Option<Arc<str>>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth")
            .field("redirect_uri", &self.redirect_uri)
            .field("client_metadata_url", &self.client_metadata_url)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// A public client with `redirect_uri`, registering dynamically (or by
    /// Client ID Metadata Document, see [`OAuth::client_metadata_url`]),
    /// tokens in memory. Set the user-agent step with
    /// [`OAuth::on_authorize`]; without it the flow stops there.
    pub fn new(redirect_uri: &str) -> OAuth {
        OAuth {
            redirect_uri: redirect_uri.to_owned(),
            client_name: "streamable".to_owned(),
            pre_registered: None,
            client_metadata_url: None,
            offline_access: true,
            store: Arc::new(MemoryTokenStore::default()),
            user_agent: UserAgent::None,
            max_attempts: 3,
            grant: GrantKind::AuthorizationCode,
            signing_key: None,
        }
    }

    /// The user-agent step (see [`Authorize`]).
    pub fn on_authorize<F, Fut>(mut self, f: F) -> OAuth
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        self.user_agent = UserAgent::Callback(Arc::new(move |url| Box::pin(f(url))));
        self
    }

    /// The user-agent step done headlessly: GET the authorization URL on
    /// the client's own HTTP client and take its redirect (`Location`).
    /// For authorization servers that approve without a user (test servers,
    /// the conformance suite), never for a real login page.
    pub fn follow_redirect(mut self) -> OAuth {
        self.user_agent = UserAgent::FollowRedirect;
        self
    }

    /// `client_name` for dynamic registration.
    pub fn client_name(mut self, name: &str) -> OAuth {
        self.client_name = name.to_owned();
        self
    }

    /// Use credentials issued out of band instead of registering.
    pub fn pre_registered(mut self, client_id: &str, client_secret: Option<&str>) -> OAuth {
        self.pre_registered = Some(ClientCredentials {
            client_id: client_id.to_owned(),
            client_secret: client_secret.map(str::to_owned),
        });
        self
    }

    /// The HTTPS URL of this client's Client ID Metadata Document, used as
    /// its `client_id` where the authorization server supports it.
    pub fn client_metadata_url(mut self, url: &str) -> OAuth {
        self.client_metadata_url = Some(url.to_owned());
        self
    }

    /// Machine-to-machine: the client credentials grant (RFC 6749 §4.4)
    /// with the [`OAuth::pre_registered`] credentials, no user-agent step.
    pub fn client_credentials(mut self) -> OAuth {
        self.grant = GrantKind::ClientCredentials;
        self
    }

    /// Workload identity: the JWT bearer grant (RFC 7523) with `assertion`,
    /// a JWT issued to this workload by its identity provider.
    pub fn jwt_bearer(mut self, assertion: &str) -> OAuth {
        self.grant = GrantKind::JwtBearer {
            assertion: assertion.to_owned(),
        };
        self
    }

    /// Authenticate at the token endpoint with `private_key_jwt` (RFC 7523
    /// §2.2), signing the client assertion with this ES256 (P-256) private
    /// key in PKCS#8 PEM; with [`OAuth::client_credentials`] and the
    /// [`OAuth::pre_registered`] client id (no secret).
    pub fn private_key_jwt(mut self, pkcs8_pem: &str) -> OAuth {
        self.signing_key = Some(Arc::from(pkcs8_pem));
        self
    }

    /// Ask for `offline_access` where listed (default on).
    pub fn offline_access(mut self, on: bool) -> OAuth {
        self.offline_access = on;
        self
    }

    /// Keep grants in `store` instead of memory.
    pub fn token_store(mut self, store: impl TokenStore) -> OAuth {
        self.store = Arc::new(store);
        self
    }

    /// The most authorization flows (or refreshes) one request may run
    /// before its 401/403 is given up on (default 3).
    pub fn max_attempts(mut self, n: u32) -> OAuth {
        self.max_attempts = n;
        self
    }

    fn config(&self, server_url: &str) -> AuthConfig {
        let mut c = AuthConfig::new(server_url, &self.redirect_uri);
        c.client_name.clone_from(&self.client_name);
        c.pre_registered.clone_from(&self.pre_registered);
        c.client_metadata_url.clone_from(&self.client_metadata_url);
        c.offline_access = self.offline_access;
        c.grant = self.grant.clone();
        c.private_key_jwt = self.signing_key.is_some();
        c
    }
}

struct Layer {
    inner: Http,
    oauth: OAuth,
    server: String,
    /// One flow at a time.
    flow: tokio::sync::Mutex<()>,
}

/// `inner` with OAuth around every request.
pub(crate) fn wrap(inner: Http, oauth: OAuth, server: String) -> Http {
    let layer = Arc::new(Layer {
        inner,
        oauth,
        server,
        flow: tokio::sync::Mutex::new(()),
    });
    Http::from_fn(move |request| {
        let layer = layer.clone();
        Box::pin(async move { layer.send(request).await })
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

type Response = http::Response<hyper::body::Incoming>;

impl Layer {
    async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Response, String> {
        let (parts, body) = request.into_parts();
        let mut attempts = 0;
        // Bounded: each pass either runs a flow (counted) or follows a
        // token another request just obtained (at most a few times).
        for _ in 0..self.oauth.max_attempts.saturating_mul(2).saturating_add(2) {
            let used = self.current().await;
            let mut request = http::Request::new(body.clone());
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.version_mut() = parts.version;
            *request.headers_mut() = parts.headers.clone();
            if let Some(g) = &used
                && let Ok(v) = http::HeaderValue::from_str(&g.authorization())
            {
                request.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
            let response = self.inner.send(request).await?;
            let status = response.status().as_u16();
            if status != 401 && status != 403 {
                return Ok(response);
            }
            let values = response
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .map(|v| v.as_bytes());
            let Some(challenge) = Challenge::parse(status, values) else {
                return Ok(response);
            };
            if status == 403 && !challenge.is_insufficient_scope() {
                return Ok(response);
            }
            let _flow = self.flow.lock().await;
            let now = self.oauth.store.load(&self.server);
            if now.as_ref().map(|g| &g.access_token) != used.as_ref().map(|g| &g.access_token) {
                // Another request already ran a flow: use its token.
                continue;
            }
            if attempts >= self.oauth.max_attempts {
                tracing::warn!(status, "authorization: attempts exhausted for this request");
                return Ok(response);
            }
            attempts += 1;
            if status == 401
                && let Some(g) = used.as_ref().filter(|g| g.refresh_token.is_some())
                && let Ok(fresh) = self.refresh(g).await
            {
                self.oauth.store.save(&self.server, Some(fresh));
                continue;
            }
            match self.flow(&challenge, used).await {
                Ok(grant) => self.oauth.store.save(&self.server, Some(grant)),
                Err(e) => {
                    tracing::warn!(error = %e, "authorization failed");
                    return Ok(response);
                }
            }
        }
        Err("authorization: too many attempts".into())
    }

    /// The grant to use now: refreshed first if expired.
    async fn current(&self) -> Option<Grant> {
        let grant = self.oauth.store.load(&self.server)?;
        if !grant.expired(now_secs()) || grant.refresh_token.is_none() {
            return Some(grant);
        }
        let _flow = self.flow.lock().await;
        let grant = self.oauth.store.load(&self.server)?;
        if !grant.expired(now_secs()) {
            return Some(grant);
        }
        match self.refresh(&grant).await {
            Ok(fresh) => {
                self.oauth.store.save(&self.server, Some(fresh.clone()));
                Some(fresh)
            }
            Err(_) => Some(grant),
        }
    }

    async fn refresh(&self, grant: &Grant) -> Result<Grant, AuthError> {
        let (flow, step) = AuthFlow::refresh(self.oauth.config(&self.server), grant);
        self.drive(flow, step).await
    }

    async fn flow(
        &self,
        challenge: &Challenge,
        previous: Option<Grant>,
    ) -> Result<Grant, AuthError> {
        let mut entropy = Entropy {
            verifier: [0; 32],
            state: [0; 16],
        };
        getrandom::fill(&mut entropy.verifier)
            .and_then(|()| getrandom::fill(&mut entropy.state))
            .map_err(|_| AuthError::Token("no entropy from the operating system".into()))?;
        let (flow, step) = AuthFlow::start(
            self.oauth.config(&self.server),
            challenge,
            previous,
            entropy,
        );
        self.drive(flow, step).await
    }

    async fn drive(&self, mut flow: AuthFlow, mut step: AuthStep) -> Result<Grant, AuthError> {
        // A flow has at most a dozen steps; the bound stops a broken one.
        for _ in 0..32 {
            step = match step {
                AuthStep::Done(grant) => return Ok(grant),
                AuthStep::Failed(e) => return Err(e),
                AuthStep::Send(request) => match self.fetch(request).await {
                    Ok((status, headers, body)) => {
                        flow.on_response(now_secs(), status, &headers, &body)
                    }
                    Err(()) => flow.on_transport_error(now_secs()),
                },
                AuthStep::Sign(claims) => match self.sign(&claims) {
                    Some(jwt) => flow.on_signed(&jwt),
                    None => {
                        return Err(AuthError::Token("cannot sign the client assertion".into()));
                    }
                },
                AuthStep::Authorize(url) => match self.user_agent(url).await {
                    Ok(redirect) => flow.on_redirect(&redirect),
                    Err(e) => return Err(AuthError::Authorization(e)),
                },
            };
        }
        Err(AuthError::OutOfOrder)
    }

    /// One request of the flow: status, headers and the body up to
    /// [`MAX_AUTH_BODY`] bytes (what is past it is not read). 20 s at most.
    async fn fetch(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<(u16, http::HeaderMap, Bytes), ()> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self.inner.send(request).await.map_err(|_| ())?;
            let (parts, mut body) = response.into_parts();
            let mut buf = BytesMut::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Ok(data) = frame.into_data() {
                    let room = (MAX_AUTH_BODY + 1).saturating_sub(buf.len());
                    buf.extend_from_slice(&data[..data.len().min(room)]);
                    if buf.len() > MAX_AUTH_BODY {
                        break;
                    }
                }
            }
            Ok((parts.status.as_u16(), parts.headers, buf.freeze()))
        };
        tokio::time::timeout(Duration::from_secs(20), exchange)
            .await
            .map_err(|_| ())?
    }

    /// A compact ES256 JWS of `claims` with the configured key (RFC 7515;
    /// the signature is deterministic, RFC 6979, so no entropy is needed).
    fn sign(&self, claims: &serde_json::Value) -> Option<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use p256::ecdsa::signature::Signer as _;
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = self.oauth.signing_key.as_deref()?;
        let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem).ok()?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let input = format!("{header}.{body}");
        let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
        Some(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }

    async fn user_agent(&self, url: String) -> Result<String, String> {
        match &self.oauth.user_agent {
            UserAgent::Callback(f) => f(url).await,
            UserAgent::None => Err("no user-agent step configured (OAuth::on_authorize)".into()),
            UserAgent::FollowRedirect => {
                let request = http::Request::get(url.as_str())
                    .body(Bytes::new())
                    .map_err(|_| "invalid authorization URL".to_owned())?;
                let (status, headers, _) = self
                    .fetch(request)
                    .await
                    .map_err(|()| "authorization endpoint unreachable".to_owned())?;
                if !(300..400).contains(&status) {
                    return Err(format!(
                        "authorization endpoint answered {status}, no redirect"
                    ));
                }
                headers
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| "redirect without Location".to_owned())
            }
        }
    }
}
