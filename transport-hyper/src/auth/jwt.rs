//! [`JwtVerifier`]: JWT access tokens (RFC 9068) checked against the keys of
//! a JWKS (AUTH-RS-3, AUTH-RS-4).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::time::Instant;

use super::fetch::{HttpFetch, PlainHttp};
use super::{AuthInfo, TokenVerifier, VerifyError, VerifyFuture, audience_names};

/// The largest JWKS document read (bytes).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The most keys kept from one JWKS.
pub const MAX_JWKS_KEYS: usize = 100;

/// The algorithms accepted: asymmetric only (never `none`, never HMAC,
/// whose key would be the JWKS's public material).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies JWT access tokens: signature by a key of the issuer's JWKS
/// (found by `kid`), `iss` equal to the configured issuer, `aud` naming
/// the resource (RFC 8707), `exp` required and `nbf` honoured within a
/// leeway (default 30 s). Scopes come from `scope` (space-separated) or
/// `scp` (array); the principal is `sub`, else `client_id`.
///
/// Keys are fetched on first use and cached; a token with an unknown `kid`
/// refreshes them at most once per [`JwtVerifier::refresh_interval`]
/// (default 10 s; concurrent misses share one fetch), so unknown `kid`s
/// cannot cause a fetch storm (AUTH-RS-4).
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    jwks_url: String,
    leeway: Duration,
    refresh_interval: Duration,
    fetch: Arc<dyn HttpFetch>,
    keys: Mutex<Keys>,
    /// Single flight: one refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Keys {
    by_kid: BTreeMap<String, DecodingKey>,
    /// Keys without a `kid` (used when the token names none).
    anonymous: Vec<DecodingKey>,
    last_fetch: Option<Instant>,
    fetches: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.issuer)
            .field("jwks_url", &self.inner.jwks_url)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Tokens of `issuer`, signed by the keys at `jwks_url` (fetched with
    /// [`PlainHttp`]: plain HTTP; see [`JwtVerifier::with_fetch`]).
    pub fn new(issuer: impl Into<String>, jwks_url: impl Into<String>) -> Self {
        JwtVerifier {
            inner: Arc::new(Inner {
                issuer: issuer.into(),
                jwks_url: jwks_url.into(),
                leeway: Duration::from_secs(30),
                refresh_interval: Duration::from_secs(10),
                fetch: Arc::new(PlainHttp::default()),
                keys: Mutex::new(Keys::default()),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The settings to change: this verifier's own (a clone configured
    /// afterwards gets its own copy, with an empty key cache).
    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            let i = &self.inner;
            self.inner = Arc::new(Inner {
                issuer: i.issuer.clone(),
                jwks_url: i.jwks_url.clone(),
                leeway: i.leeway,
                refresh_interval: i.refresh_interval,
                fetch: i.fetch.clone(),
                keys: Mutex::new(Keys::default()),
                refreshing: tokio::sync::Mutex::new(()),
            });
        }
        Arc::get_mut(&mut self.inner).expect("unique: just made so")
    }

    /// Fetch the JWKS with this client (e.g. one with TLS).
    pub fn with_fetch(mut self, fetch: impl HttpFetch) -> Self {
        self.inner_mut().fetch = Arc::new(fetch);
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.inner_mut().leeway = leeway;
        self
    }

    /// The shortest time between two JWKS fetches (default 10 s).
    pub fn refresh_interval(mut self, every: Duration) -> Self {
        self.inner_mut().refresh_interval = every;
        self
    }

    /// How many times the JWKS was fetched (for monitoring and tests).
    pub fn jwks_fetches(&self) -> u64 {
        self.inner
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fetches
    }

    fn lookup(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = self.inner.keys.lock().unwrap_or_else(|p| p.into_inner());
        match kid {
            Some(k) => keys.by_kid.get(k).cloned(),
            None if keys.anonymous.len() + keys.by_kid.len() == 1 => keys
                .anonymous
                .first()
                .or_else(|| keys.by_kid.values().next())
                .cloned(),
            None => None,
        }
    }

    /// Refresh the keys unless a fetch happened within the interval.
    async fn refresh(&self) -> Result<(), VerifyError> {
        let _one = self.inner.refreshing.lock().await;
        {
            let keys = self.inner.keys.lock().unwrap_or_else(|p| p.into_inner());
            if keys
                .last_fetch
                .is_some_and(|t| t.elapsed() < self.inner.refresh_interval)
            {
                return Ok(());
            }
        }
        let req = http::Request::get(&self.inner.jwks_url)
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|_| VerifyError::Unavailable("bad JWKS URL".into()))?;
        let res = self.inner.fetch.send(req, MAX_JWKS_BYTES).await;
        let mut keys = self.inner.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.last_fetch = Some(Instant::now());
        keys.fetches += 1;
        let res = res.map_err(|e| VerifyError::Unavailable(format!("JWKS fetch: {e}")))?;
        if !res.status().is_success() {
            return Err(VerifyError::Unavailable(format!(
                "JWKS fetch: HTTP {}",
                res.status()
            )));
        }
        let set: JwkSet = serde_json::from_slice(res.body())
            .map_err(|_| VerifyError::Unavailable("JWKS fetch: not a JWK set".into()))?;
        keys.by_kid.clear();
        keys.anonymous.clear();
        for jwk in set.keys.iter().take(MAX_JWKS_KEYS) {
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            match &jwk.common.key_id {
                Some(kid) => {
                    keys.by_kid.insert(kid.clone(), key);
                }
                None => keys.anonymous.push(key),
            }
        }
        Ok(())
    }

    async fn check(&self, token: &str, resource: &str) -> Result<AuthInfo, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| VerifyError::invalid("malformed JWT"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(VerifyError::invalid("JWT algorithm not accepted"));
        }
        let kid = header.kid.as_deref();
        let key = match self.lookup(kid) {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.lookup(kid)
                    .ok_or_else(|| VerifyError::invalid("unknown signing key"))?
            }
        };
        let mut v = Validation::new(header.alg);
        v.leeway = self.inner.leeway.as_secs();
        v.validate_nbf = true;
        v.validate_aud = false; // checked below against the canonical form
        v.set_issuer(&[&self.inner.issuer]);
        v.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            VerifyError::invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not yet valid",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "token rejected",
            })
        })?;
        let claims = data.claims;
        if !audience_names(&claims["aud"], resource) {
            return Err(VerifyError::invalid("token is not for this resource"));
        }
        Ok(info_from_claims(claims, &self.inner.issuer))
    }
}

/// The [`AuthInfo`] of verified claims (JWT payload or introspection).
pub(crate) fn info_from_claims(claims: Value, issuer: &str) -> AuthInfo {
    let sub = claims["sub"].as_str().map(str::to_owned);
    let client = claims["client_id"]
        .as_str()
        .or_else(|| claims["azp"].as_str())
        .map(str::to_owned);
    let principal = sub.clone().or_else(|| client.clone()).unwrap_or_default();
    let scopes: Vec<String> = match (&claims["scope"], &claims["scp"]) {
        (Value::String(s), _) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        (_, Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        (_, Value::String(s)) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let mut info = AuthInfo::new(principal)
        .with_issuer(claims["iss"].as_str().unwrap_or(issuer))
        .with_scopes(scopes);
    if let Some(s) = sub {
        info = info.with_subject(s);
    }
    if let Some(c) = client {
        info = info.with_client_id(c);
    }
    if let Some(exp) = claims["exp"].as_u64() {
        info = info.with_expires_at(exp);
    }
    info.with_claims(claims)
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.check(token, resource))
    }
}
