//! How verifiers reach the authorization server: [`HttpFetch`], with
//! [`PlainHttp`] (hyper-util over plain TCP) as the default. No TLS stack is
//! pulled in: an `https://` JWKS or introspection endpoint needs an
//! [`HttpFetch`] of your own over your TLS client (or a plain-HTTP address
//! inside your network).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The future of [`HttpFetch::send`].
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, FetchError>> + Send + 'a>>;

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError(pub String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FetchError {}

/// Sends one HTTP request to the authorization server and returns the whole
/// response (bounded by `max_body` bytes).
pub trait HttpFetch: Send + Sync + 'static {
    /// Send `req`; a body longer than `max_body` is an error.
    fn send(&self, req: http::Request<Bytes>, max_body: usize) -> FetchFuture<'_>;
}

/// Plain HTTP through hyper-util's pooled client, with a timeout.
#[derive(Clone, Debug)]
pub struct PlainHttp {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl PlainHttp {
    /// A client whose whole exchange (connect, head, body) must end within
    /// `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(timeout));
        tcp.set_nodelay(true);
        PlainHttp {
            client: Client::builder(TokioExecutor::new()).build(tcp),
            timeout,
        }
    }
}

impl Default for PlainHttp {
    /// A 5 s timeout.
    fn default() -> Self {
        PlainHttp::new(Duration::from_secs(5))
    }
}

impl HttpFetch for PlainHttp {
    fn send(&self, req: http::Request<Bytes>, max_body: usize) -> FetchFuture<'_> {
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let req = http::Request::from_parts(parts, Full::new(body));
            let exchange = async {
                let res = self
                    .client
                    .request(req)
                    .await
                    .map_err(|e| FetchError(format!("request failed: {e}")))?;
                let (parts, body) = res.into_parts();
                let body = Limited::new(body, max_body)
                    .collect()
                    .await
                    .map_err(|e| FetchError(format!("body: {e}")))?
                    .to_bytes();
                Ok(http::Response::from_parts(parts, body))
            };
            tokio::time::timeout(self.timeout, exchange)
                .await
                .map_err(|_| FetchError("timed out".into()))?
        })
    }
}
