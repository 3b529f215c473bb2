//! [`IntrospectionVerifier`]: RFC 7662 token introspection (AUTH-RS-5).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::fetch::{HttpFetch, PlainHttp};
use super::jwt::info_from_claims;
use super::{AuthInfo, TokenVerifier, VerifyError, VerifyFuture, audience_names};

/// The most positive answers cached.
pub const MAX_CACHED_TOKENS: usize = 10_000;
/// The largest introspection answer read (bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Asks the authorization server about each token (RFC 7662): a POST of
/// `token=…` to the introspection endpoint, authenticated with the resource
/// server's client credentials (`client_secret_basic`). Accepted when the
/// answer is `active: true`, not expired, of the configured issuer (if one
/// is set and the answer names one) and, if it has an `aud`, naming this
/// resource.
///
/// Positive answers are cached under a SHA-256 of the token (the token
/// itself is never kept) until the earlier of the answer's `exp` and
/// [`IntrospectionVerifier::max_cache`] (default 60 s: a revoked token is
/// accepted at most that long), at most [`MAX_CACHED_TOKENS`] of them.
/// Negative answers are not cached.
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    authorization: String,
    issuer: Option<String>,
    max_cache: Duration,
    fetch: Arc<dyn HttpFetch>,
    cache: Mutex<BTreeMap<[u8; 32], (AuthInfo, Instant)>>,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// Introspect at `endpoint` as client `client_id` with `client_secret`
    /// (over [`PlainHttp`]; see [`IntrospectionVerifier::with_fetch`]).
    pub fn new(endpoint: impl Into<String>, client_id: &str, client_secret: &str) -> Self {
        // RFC 6749 §2.3.1: form-encode each, then base64 `id:secret`.
        let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
        IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint: endpoint.into(),
                authorization: format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ),
                issuer: None,
                max_cache: Duration::from_secs(60),
                fetch: Arc::new(PlainHttp::default()),
                cache: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The settings to change: this verifier's own (a clone configured
    /// afterwards gets its own copy, with an empty cache).
    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            let i = &self.inner;
            self.inner = Arc::new(Inner {
                endpoint: i.endpoint.clone(),
                authorization: i.authorization.clone(),
                issuer: i.issuer.clone(),
                max_cache: i.max_cache,
                fetch: i.fetch.clone(),
                cache: Mutex::new(BTreeMap::new()),
            });
        }
        Arc::get_mut(&mut self.inner).expect("unique: just made so")
    }

    /// Require answers that name an issuer to name this one.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.inner_mut().issuer = Some(issuer.into());
        self
    }

    /// The longest a positive answer is reused (default 60 s; zero: never
    /// cached).
    pub fn max_cache(mut self, d: Duration) -> Self {
        self.inner_mut().max_cache = d;
        self
    }

    /// Introspect with this client (e.g. one with TLS).
    pub fn with_fetch(mut self, fetch: impl HttpFetch) -> Self {
        self.inner_mut().fetch = Arc::new(fetch);
        self
    }

    async fn check(&self, token: &str, resource: &str) -> Result<AuthInfo, VerifyError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(&digest) {
                Some((info, until)) if *until > now => return Ok(info.clone()),
                Some(_) => {
                    cache.remove(&digest);
                }
                None => {}
            }
        }
        let body = format!("token={}&token_type_hint=access_token", form_encode(token));
        let req = http::Request::post(&self.inner.endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, &self.inner.authorization)
            .body(Bytes::from(body))
            .map_err(|_| VerifyError::Unavailable("bad introspection URL".into()))?;
        let res = self
            .inner
            .fetch
            .send(req, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| VerifyError::Unavailable(format!("introspection: {e}")))?;
        if !res.status().is_success() {
            return Err(VerifyError::Unavailable(format!(
                "introspection: HTTP {}",
                res.status()
            )));
        }
        let answer: Value = serde_json::from_slice(res.body())
            .map_err(|_| VerifyError::Unavailable("introspection: not JSON".into()))?;
        if answer["active"] != Value::Bool(true) {
            return Err(VerifyError::invalid("token is not active"));
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let exp = answer["exp"].as_u64();
        if exp.is_some_and(|e| e <= wall) {
            return Err(VerifyError::invalid("token expired"));
        }
        if let (Some(want), Some(got)) = (&self.inner.issuer, answer["iss"].as_str())
            && want != got
        {
            return Err(VerifyError::invalid("wrong issuer"));
        }
        // `aud` is optional in an introspection answer (RFC 7662 §2.2).
        let aud_ok = answer["aud"].is_null() || audience_names(&answer["aud"], resource);
        if !aud_ok {
            return Err(VerifyError::invalid("token is not for this resource"));
        }
        let info = info_from_claims(answer, self.inner.issuer.as_deref().unwrap_or(""));
        let mut ttl = self.inner.max_cache;
        if let Some(e) = exp {
            ttl = ttl.min(Duration::from_secs(e - wall));
        }
        if !ttl.is_zero() {
            let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= MAX_CACHED_TOKENS {
                cache.retain(|_, (_, until)| *until > now);
            }
            if cache.len() < MAX_CACHED_TOKENS {
                cache.insert(digest, (info.clone(), now + ttl));
            }
        }
        Ok(info)
    }
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str, resource: &'a str) -> VerifyFuture<'a> {
        Box::pin(self.check(token, resource))
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
