//! The client's public vocabulary: its settings ([`ClientConfig`], the
//! [`Era`] and [`EraPreference`]), the handles that name requests and
//! exchanges, what it asks the driver to do ([`Transmit`]), what it tells
//! the application ([`Event`]) and why things fail ([`Failure`],
//! [`ClientError`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Uri};

use super::backoff::Backoff;
use crate::jsonrpc::{ErrorObject, RawJson};
use crate::version::ProtocolVersion;

/// The protocol era spoken with the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Era {
    /// 2025-03-26..2025-11-25: sessions, `initialize`, resumable SSE.
    Legacy,
    /// 2026-07-28: stateless requests with `_meta` and mirrored headers.
    Modern,
}

/// Which era to speak (H-BC-1, H-BC-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EraPreference {
    /// `initialize` at once.
    Legacy,
    /// 2026-07-28 only, no probe.
    Modern,
    /// Probe with `server/discover`; fall back to `initialize` when the
    /// answer is a 400/404/405 whose body is not a recognised modern error.
    Auto,
    /// The era an earlier client detected for this origin (H-BC-2): spoken
    /// at once, without the probe, until the server proves it wrong. An
    /// assumed legacy era is wrong when `initialize` is refused; an assumed
    /// modern era is wrong when a request is refused with 400/404/405 and
    /// no recognised modern error (the H-BC-1 rule), before any response
    /// confirmed it. Then the client probes again as [`EraPreference::Auto`]
    /// does (once: a second failure is an ordinary failure) and requests
    /// the server refused are sent again in the detected era; they did not
    /// run, the refusal says so.
    Cached(Era),
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The MCP endpoint.
    pub endpoint: Uri,
    /// Which era to speak.
    pub era: EraPreference,
    /// The legacy version proposed in `initialize`.
    pub legacy_version: ProtocolVersion,
    /// `clientInfo` (an object with `name` and `version`).
    pub client_info: RawJson,
    /// The client capabilities.
    pub capabilities: RawJson,
    /// Deadline of every request, `initialize` and DELETE included; `None`:
    /// no timer but [`ClientConfig::max_request_time`] (with both `None`,
    /// a request waits for ever: not recommended).
    pub request_timeout: Option<Duration>,
    /// L-TO-3: a `notifications/progress` whose `progressToken` is the one a
    /// pending request sent pushes that request's deadline to
    /// `now + request_timeout` (never earlier than it was, never past
    /// [`ClientConfig::max_request_time`]). On by default: a server that
    /// reports progress is working, and a long tool call should not need a
    /// long timeout for every other request.
    pub progress_resets_timeout: bool,
    /// L-TO-3: the hard maximum of an application request, counted from
    /// [`Client::request`](super::Client::request) whatever progress
    /// arrives (re-sends and re-initialisations included); `None`: no
    /// maximum beyond `request_timeout`. Default 5 minutes: ten default
    /// timeouts, room for the long jobs that report progress, yet a server
    /// streaming progress for ever cannot pin a request (and its buffers)
    /// for ever.
    pub max_request_time: Option<Duration>,
    /// Reconnection delays when the server sent no `retry`.
    pub backoff: Backoff,
    /// Reconnections of one stream without receiving any event before the
    /// client gives up on it.
    pub max_reconnect_attempts: u32,
    /// Open the optional standalone GET stream once the session is ready (T-GET-1).
    pub standalone_stream: bool,
    /// Limit of a JSON response body; above it the request fails.
    pub max_body_bytes: usize,
    /// Limit of one SSE line or event's data.
    pub max_event_bytes: usize,
    /// Limit of application requests queued or in flight.
    pub max_pending: usize,
    /// 2026-07-28: how many times a request whose stream broke is re-issued
    /// with a new id (H-CAN-4).
    pub modern_reissues: u8,
    /// Extra headers on every request (e.g. `Authorization`, A-2).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// 2026-07-28 multi round-trip requests (HC-MRTR-5): how many
    /// `InputRequiredResult`s one application request may receive before
    /// it fails with [`Failure::TooManyRounds`]. Each one costs a retry
    /// (and usually a question to the user), so a server that keeps asking
    /// cannot loop the client for ever. Default 8.
    pub max_input_rounds: u32,
}

impl ClientConfig {
    /// Defaults for `endpoint`: legacy era at 2025-11-25, 30 s request
    /// timeout extended by progress up to 5 minutes, back-off from 500 ms
    /// to 30 s, 5 reconnection attempts, no standalone stream, 4 MiB
    /// bodies, 1 MiB events, 1024 pending requests, 8 input rounds.
    pub fn new(endpoint: Uri) -> Self {
        ClientConfig {
            endpoint,
            era: EraPreference::Legacy,
            legacy_version: ProtocolVersion::NEWEST_LEGACY,
            client_info: RawJson::from_value(&serde_json::json!({
                "name": "streamable", "version": env!("CARGO_PKG_VERSION")
            })),
            capabilities: RawJson::from_value(&serde_json::json!({})),
            request_timeout: Some(Duration::from_secs(30)),
            progress_resets_timeout: true,
            max_request_time: Some(Duration::from_secs(300)),
            backoff: Backoff {
                initial: Duration::from_millis(500),
                max: Duration::from_secs(30),
            },
            max_reconnect_attempts: 5,
            standalone_stream: false,
            max_body_bytes: 4 * 1024 * 1024,
            max_event_bytes: crate::sse::DEFAULT_MAX_EVENT_BYTES,
            max_pending: 1024,
            modern_reissues: 1,
            headers: Vec::new(),
            max_input_rounds: 8,
        }
    }
}

/// One HTTP request the client asked its driver to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpId(pub u64);

/// An application request, as the application refers to it (the wire id
/// may change: a 404 re-initialisation or a 2026-07-28 re-issue sends it
/// again under a new id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestHandle(pub u64);

/// A server-to-client request awaiting the application's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerRequestKey(pub u64);

/// What the driver must do on the network.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new
/// one is a breaking change that the compiler points out, never a silent
/// `_ => {}`.
#[derive(Clone, Debug)]
pub enum Transmit {
    /// Send this request; report its response with the same id.
    Send {
        /// Correlates the response events.
        id: HttpId,
        /// The request (absolute URI, headers, body); boxed because a
        /// request head is large next to an abort.
        request: Box<http::Request<Bytes>>,
    },
    /// Stop reading this response and drop it (2026-07-28: this is the
    /// cancellation of the request, H-CAN-1). Later events for it are ignored.
    Abort {
        /// The request to abandon.
        id: HttpId,
    },
}

/// Why a request ended without a response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The request timeout passed (the request was cancelled).
    Timeout,
    /// The session expired while the request was in flight; it may or may
    /// not have run, so it is not retried.
    SessionExpired,
    /// The stream carrying the response broke and could not be resumed.
    StreamLost,
    /// The client was closed.
    Closed,
    /// The server refused the HTTP request.
    Http {
        /// The status code.
        status: u16,
        /// The JSON-RPC error in the body, if any.
        error: Option<ErrorObject>,
    },
    /// The server's answer broke the protocol.
    Malformed(String),
    /// No protocol version in common.
    Unsupported(String),
    /// 2026-07-28: the server answered with an `InputRequiredResult` more
    /// than [`ClientConfig::max_input_rounds`] times (HC-MRTR-5).
    TooManyRounds(u32),
    /// 2026-07-28: the application could not answer one of the server's
    /// input requests (no handler for its method, or the handler failed),
    /// so the request was not retried (HC-MRTR-6).
    InputNotProvided {
        /// The server's key of the input request.
        key: String,
        /// Its method (`elicitation/create`, `sampling/createMessage`, `roots/list`...).
        method: String,
        /// The application's error.
        error: ErrorObject,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("request timed out"),
            Failure::SessionExpired => {
                f.write_str("session expired while the request was in flight")
            }
            Failure::StreamLost => f.write_str("response stream lost"),
            Failure::Closed => f.write_str("client closed"),
            Failure::Http { status, error } => match error {
                Some(e) => write!(f, "HTTP {status}: {} ({})", e.message, e.code),
                None => write!(f, "HTTP {status}"),
            },
            Failure::Malformed(m) => write!(f, "protocol error: {m}"),
            Failure::Unsupported(m) => write!(f, "unsupported: {m}"),
            Failure::TooManyRounds(n) => {
                write!(f, "the server asked for input more than {n} times")
            }
            Failure::InputNotProvided { key, method, error } => write!(
                f,
                "input request {key:?} ({method}) not answered: {} ({})",
                error.message, error.code
            ),
        }
    }
}

impl std::error::Error for Failure {}

/// What the client hands the application.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new
/// one is a breaking change that the compiler points out, never a silent
/// `_ => {}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection is usable: the `initialize` result (legacy) or the
    /// `server/discover` result (modern; `{}` when not probed). Comes again
    /// when an era taken from [`EraPreference::Cached`] proved wrong and the
    /// client detected the era anew (H-BC-2): remember the new one.
    Ready {
        /// The era in use.
        era: Era,
        /// The negotiated version.
        version: ProtocolVersion,
        /// The server's result.
        result: RawJson,
    },
    /// The response to an application request (delivered at most once, INV-S2).
    Response {
        /// The request.
        request: RequestHandle,
        /// Its result or error.
        outcome: Result<RawJson, ErrorObject>,
    },
    /// An application request ended without a response.
    Failed {
        /// The request.
        request: RequestHandle,
        /// Why.
        failure: Failure,
    },
    /// A server notification.
    Notification {
        /// The method.
        method: String,
        /// The params.
        params: Option<RawJson>,
        /// The request whose stream carried it, if any.
        related: Option<RequestHandle>,
    },
    /// A server-to-client request: in the legacy era one the server sent,
    /// in 2026-07-28 one entry of an `InputRequiredResult`'s
    /// `inputRequests` for the request `related` names (multi round-trip
    /// requests, HC-MRTR-1). Either way answer with
    /// [`Client::respond`](super::Client::respond): once every entry of the
    /// round is answered the machine retries the request itself; an error
    /// answer to an input request fails that request
    /// ([`Failure::InputNotProvided`]).
    Request {
        /// Pass back to [`Client::respond`](super::Client::respond).
        key: ServerRequestKey,
        /// The method (`sampling/createMessage`, `elicitation/create`, `roots/list`...).
        method: String,
        /// The params.
        params: Option<RawJson>,
        /// The request whose stream carried it, if any.
        related: Option<RequestHandle>,
    },
    /// The server forgot the session (404); the client is re-initialising
    /// (T-SES-8). Requests in flight were failed with [`Failure::SessionExpired`].
    SessionExpired,
    /// Something the server did wrong that did not fail a request.
    Warning(String),
    /// The client is closed; nothing more will happen.
    Closed {
        /// Why, when it was not [`Client::close`](super::Client::close).
        failure: Option<Failure>,
    },
}

/// Why an application command was refused.
///
/// Deliberately exhaustive: a driver maps every variant to its own error,
/// so a new one is a breaking change the compiler points out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The client is closing or closed.
    Closed,
    /// [`ClientConfig::max_pending`] requests are already pending.
    TooManyPending,
    /// The handle or key is unknown, answered, or from an expired session.
    Unknown,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientError::Closed => "client closed",
            ClientError::TooManyPending => "too many pending requests",
            ClientError::Unknown => "unknown or expired request",
        })
    }
}

impl std::error::Error for ClientError {}
