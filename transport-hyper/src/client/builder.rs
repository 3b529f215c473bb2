//! [`ClientBuilder`]: the client's settings, and `connect`, which turns
//! them into the core's [`ClientConfig`] and starts the driver task.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::client::{ClientConfig, EraPreference};
use streamable_core::{ErrorObject, ProtocolVersion, RawJson};
use tokio::sync::{mpsc, oneshot};

use super::driver;
use super::{
    Client, DynHandler, EraCache, Error, HandlerFuture, Inner, NOTIFICATION_CAPACITY, ReadySink,
};

/// Builds a [`Client`].
pub struct ClientBuilder {
    url: String,
    era: EraPreference,
    version: ProtocolVersion,
    info: Value,
    capabilities: serde_json::Map<String, Value>,
    timeout: Option<Duration>,
    progress_resets_timeout: bool,
    max_request_time: Option<Duration>,
    era_cache: Option<EraCache>,
    standalone: bool,
    headers: Vec<(String, String)>,
    handlers: BTreeMap<String, DynHandler>,
    backoff_initial: Duration,
    max_reconnects: u32,
    max_input_rounds: u32,
    check_invariants: bool,
    oauth: Option<super::auth::OAuth>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("era", &self.era)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The defaults of [`Client::builder`].
    pub(super) fn new(url: &str) -> Self {
        ClientBuilder {
            url: url.to_owned(),
            era: EraPreference::Legacy,
            version: ProtocolVersion::NEWEST_LEGACY,
            info: json!({"name": "streamable-hyper", "version": env!("CARGO_PKG_VERSION")}),
            capabilities: serde_json::Map::new(),
            timeout: Some(Duration::from_secs(30)),
            progress_resets_timeout: true,
            max_request_time: Some(Duration::from_secs(300)),
            era_cache: None,
            standalone: false,
            headers: Vec::new(),
            handlers: BTreeMap::new(),
            backoff_initial: Duration::from_millis(500),
            max_reconnects: 5,
            max_input_rounds: 8,
            check_invariants: false,
            oauth: None,
        }
    }

    /// Which era to speak (default: legacy; `Auto` probes 2026-07-28 first).
    pub fn era(mut self, era: EraPreference) -> Self {
        self.era = era;
        self
    }

    /// The legacy version proposed in `initialize` (default 2025-11-25).
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// `clientInfo`.
    pub fn client_info(mut self, name: &str, version: &str) -> Self {
        self.info = json!({"name": name, "version": version});
        self
    }

    /// Per-request timeout (default 30 s; `None`: none, but the hard
    /// maximum of [`ClientBuilder::max_request_time`] still applies).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether a progress notification for a request restarts its timeout
    /// (default on; L-TO-3). The hard maximum applies either way.
    pub fn progress_resets_timeout(mut self, on: bool) -> Self {
        self.progress_resets_timeout = on;
        self
    }

    /// The hard maximum of a request however much progress it reports
    /// (default 5 minutes; `None`: none beyond the timeout; L-TO-3).
    pub fn max_request_time(mut self, max: Option<Duration>) -> Self {
        self.max_request_time = max;
        self
    }

    /// Share detected eras with other clients (H-BC-2): with
    /// [`EraPreference::Auto`], an endpoint found in `cache` is spoken to in
    /// its cached era without the `server/discover` probe, and every era
    /// this client detects is stored in `cache`.
    pub fn era_cache(mut self, cache: EraCache) -> Self {
        self.era_cache = Some(cache);
        self
    }

    /// Open the standalone GET stream (server notifications and requests
    /// unrelated to any call).
    pub fn standalone_stream(mut self, on: bool) -> Self {
        self.standalone = on;
        self
    }

    /// A header sent on every request (e.g. `authorization`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Reconnection back-off start (when the server sends no `retry`) and
    /// attempts without progress before a stream is given up.
    pub fn reconnect(mut self, initial: Duration, attempts: u32) -> Self {
        self.backoff_initial = initial;
        self.max_reconnects = attempts;
        self
    }

    /// 2026-07-28 multi round-trip requests: how many `InputRequiredResult`s
    /// one call may receive before it fails with
    /// [`Failure::TooManyRounds`](streamable_core::client::Failure::TooManyRounds)
    /// (default 8; HC-MRTR-5).
    pub fn max_input_rounds(mut self, rounds: u32) -> Self {
        self.max_input_rounds = rounds;
        self
    }

    /// Answer server requests of `method` with `handler`: in the legacy era
    /// the requests a server sends; in 2026-07-28 the entries of an
    /// `InputRequiredResult`'s `inputRequests`, after which the call is
    /// retried with their answers (HC-MRTR-1). A method without a handler
    /// is answered -32601 (legacy) or fails the call with
    /// [`Failure::InputNotProvided`](streamable_core::client::Failure::InputNotProvided)
    /// (2026-07-28, HC-MRTR-6).
    pub fn on_request<F, Fut>(mut self, method: &str, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.handlers.insert(
            method.to_owned(),
            Arc::new(move |params| Box::pin(handler(params)) as HandlerFuture),
        );
        self
    }

    /// Answer `sampling/createMessage` and declare the `sampling` capability.
    pub fn on_sampling<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.capabilities.insert("sampling".into(), json!({}));
        self.on_request("sampling/createMessage", handler)
    }

    /// Answer `elicitation/create` and declare the `elicitation` capability.
    pub fn on_elicitation<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.capabilities.insert("elicitation".into(), json!({}));
        self.on_request("elicitation/create", handler)
    }

    /// Answer `roots/list` and declare the `roots` capability.
    pub fn on_roots<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.capabilities
            .insert("roots".into(), json!({"listChanged": false}));
        self.on_request("roots/list", handler)
    }

    /// Check the core machine's invariants after every step and panic on a
    /// violation (default off; for tests and the simulator).
    pub fn check_invariants(mut self, on: bool) -> Self {
        self.check_invariants = on;
        self
    }

    /// Authorize with OAuth 2.1 when the server asks for it (a 401 or 403
    /// with a `Bearer` challenge): see [`auth`](super::auth).
    pub fn oauth(mut self, oauth: super::auth::OAuth) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// Start the driver over plain TCP (hyper-util's `HttpConnector`) and
    /// wait until the connection is ready (the `initialize` handshake, or
    /// the 2026-07-28 probe). The URL must be `http://`; for TLS or another
    /// transport use [`ClientBuilder::connect_with`].
    pub async fn connect(self) -> Result<Client, Error> {
        let endpoint = self.endpoint(&["http"])?;
        let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
        tcp.set_nodelay(true);
        self.start(endpoint, driver::Http::new(tcp)).await
    }

    /// Like [`ClientBuilder::connect`], over any hyper-util connector: a
    /// TLS connector (then `https://` URLs are accepted), a Unix socket, or
    /// a simulated network. Every HTTP request of the session goes through
    /// one pooled client built on `connector`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), streamable_hyper::client::Error> {
    /// use hyper_util::client::legacy::connect::HttpConnector;
    /// use streamable_hyper::client::Client;
    ///
    /// let mut connector = HttpConnector::new();
    /// connector.set_connect_timeout(Some(std::time::Duration::from_secs(2)));
    /// let client = Client::builder("http://127.0.0.1:8000/mcp")
    ///     .connect_with(connector)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with<C>(self, connector: C) -> Result<Client, Error>
    where
        C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
    {
        let endpoint = self.endpoint(&["http", "https"])?;
        self.start(endpoint, driver::Http::new(connector)).await
    }

    fn endpoint(&self, schemes: &[&str]) -> Result<http::Uri, Error> {
        let endpoint: http::Uri = self
            .url
            .parse()
            .map_err(|_| Error::InvalidUrl(self.url.clone()))?;
        match endpoint.scheme_str() {
            Some(scheme) if schemes.contains(&scheme) && endpoint.host().is_some() => Ok(endpoint),
            _ => Err(Error::InvalidUrl(self.url.clone())),
        }
    }

    async fn start(mut self, endpoint: http::Uri, http: driver::Http) -> Result<Client, Error> {
        let http = match self.oauth.take() {
            Some(oauth) => super::auth::wrap(http, oauth, self.url.clone()),
            None => http,
        };
        let mut config = ClientConfig::new(endpoint);
        config.era = self.era;
        config.legacy_version = self.version;
        config.client_info = RawJson::from_value(&self.info);
        config.capabilities = RawJson::from_value(&Value::Object(self.capabilities));
        config.request_timeout = self.timeout;
        config.progress_resets_timeout = self.progress_resets_timeout;
        config.max_request_time = self.max_request_time;
        let cache = match (&self.era_cache, self.era) {
            (Some(cache), EraPreference::Auto) => Some((cache.clone(), self.url.clone())),
            _ => None,
        };
        if let Some(era) = cache.as_ref().and_then(|(c, url)| c.get(url)) {
            config.era = EraPreference::Cached(era);
        }
        config.standalone_stream = self.standalone;
        config.backoff.initial = self.backoff_initial;
        config.max_reconnect_attempts = self.max_reconnects;
        config.max_input_rounds = self.max_input_rounds;
        for (name, value) in &self.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::InvalidUrl(format!("header name {name:?}")))?;
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| Error::InvalidUrl(format!("header value {value:?}")))?;
            config.headers.push((name, value));
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (note_tx, note_rx) = mpsc::channel(NOTIFICATION_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let current = Arc::new(std::sync::Mutex::new(None));
        let ready_sink = ReadySink {
            first: Some(ready_tx),
            current: current.clone(),
            cache,
        };
        tokio::spawn(driver::run(
            config,
            http,
            self.check_invariants,
            cmd_rx,
            note_tx,
            self.handlers,
            ready_sink,
        ));
        let info = ready_rx.await.map_err(|_| Error::Closed)??;
        Ok(Client {
            inner: Arc::new(Inner {
                tx: cmd_tx,
                tickets: AtomicU64::new(0),
                tokens: AtomicU64::new(0),
                notifications: std::sync::Mutex::new(Some(note_rx)),
                info,
                current,
            }),
        })
    }
}
