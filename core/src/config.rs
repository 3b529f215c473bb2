//! Configuration: every choice and every limit of the server core.
//!
//! Each table and buffer the core keeps is bounded by one of these numbers,
//! and exceeding it has one defined, tested outcome (named on each field).

use std::time::Duration;

/// How a POST that carries requests is answered (T-POST-8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResponseMode {
    /// Always `application/json`: no progress, log notifications or
    /// server-to-client requests can travel for a request; the
    /// application gets [`SendError::JsonMode`](crate::SendError::JsonMode)
    /// when it tries, so nothing is silently dropped.
    Json,
    /// Always `text/event-stream`, opened as soon as the request arrives
    /// (resumable from the first event; priming at 2025-11-25).
    Sse,
    /// Hold the head until the first message for the exchange: a lone
    /// result goes out as JSON, anything that precedes it (progress, a log
    /// message, a server-to-client request) upgrades the exchange to SSE.
    #[default]
    Auto,
}

/// Which `Host` (or HTTP/2 `:authority`) values are accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum HostPolicy {
    /// Only loopback names: `localhost`, `127.0.0.1`, `[::1]` (any port).
    /// The default: the DNS-rebinding defence for a server bound to loopback.
    #[default]
    Loopback,
    /// Exactly these host names (compared case-insensitively, port ignored).
    List(Vec<String>),
    /// Any host (a server behind a proxy that checks it, or on a public name
    /// with authentication).
    Any,
}

/// Which `Origin` values are accepted when the header is present (T-SEC-1,
/// T-SEC-2). A request without `Origin` (a non-browser client) is accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum OriginPolicy {
    /// Origins whose host is a loopback name (any scheme and port).
    #[default]
    Loopback,
    /// Exactly these origins, e.g. `https://app.example.com` (compared
    /// case-insensitively).
    List(Vec<String>),
    /// Any origin.
    Any,
}

/// The server core's configuration. `Config::default()` is a sensible
/// loopback server; every field is documented with its default.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// How requests are answered. Default [`ResponseMode::Auto`].
    pub response_mode: ResponseMode,
    /// `Host` allow-list. Default [`HostPolicy::Loopback`]. Refusal: 403.
    pub hosts: HostPolicy,
    /// `Origin` allow-list. Default [`OriginPolicy::Loopback`]. Refusal: 403.
    pub origins: OriginPolicy,
    /// Largest accepted POST body. Default 4 MiB. Refusal: 413.
    pub max_body_bytes: usize,
    /// Most live sessions. Default 10 000. Refusal of `initialize`: 503.
    pub max_sessions: usize,
    /// Most requests of one session being handled at once. Default 256.
    /// Refusal: 429.
    pub max_in_flight_per_session: usize,
    /// Most server-to-client requests of one session awaiting an answer.
    /// Default 64. Refusal: [`SendError::Limit`](crate::SendError::Limit).
    pub max_outgoing_per_session: usize,
    /// Finished streams kept per session so a client can still resume them
    /// (oldest dropped first). Default 32. A resume of a dropped stream: 404.
    pub max_finished_streams_per_session: usize,
    /// Events kept per stream for replay (oldest evicted first). Default
    /// 1024. A resume from an evicted event: 410.
    pub max_events_per_stream: usize,
    /// Bytes of events kept per stream for replay. Default 1 MiB.
    pub max_log_bytes_per_stream: usize,
    /// A session with no open stream and no request in flight for this long
    /// is terminated. Default 30 minutes.
    pub idle_timeout: Duration,
    /// A session that has not become ready (`notifications/initialized` or a
    /// first request) this long after `initialize` is terminated. Default 60 s.
    pub init_timeout: Duration,
    /// Whether GET opens a standalone SSE stream (otherwise 405, T-GET-3).
    /// Default true.
    pub get_stream: bool,
    /// Whether a client may end its session with DELETE (otherwise 405,
    /// T-SES-10). Default true.
    pub allow_delete: bool,
    /// The `retry` (milliseconds) sent in priming events and before the
    /// server closes an unfinished stream, 2025-11-25 sessions only
    /// (T-PSSE-1, T-PSSE-4). Default 1000.
    pub retry_ms: u64,
    /// Most 2026-07-28 (stateless) requests being handled at once, across
    /// all clients. Default 4096. Refusal: 429 with a JSON-RPC error.
    pub max_stateless_in_flight: usize,
    /// Most open `subscriptions/listen` streams. Default 1024. Refusal: 429.
    pub max_listeners: usize,
    /// Most `resourceSubscriptions` URIs in one listen request. Default 256.
    /// Refusal: 400, -32602.
    pub max_resource_subscriptions: usize,
    /// The change notifications this server can deliver on listen streams;
    /// the acknowledgement names the requested subset of these (H-SUB-2).
    /// Default: all of them.
    pub subscriptions: SubscriptionSupport,
    /// The shared store (issue 17, [`store`](crate::store)): `Some` makes the
    /// core emit [`Output::Store`](crate::Output::Store) commands and treat
    /// its sessions as a cache of the store. Default `None`: no store
    /// command is ever emitted.
    pub store: Option<crate::store::StoreConfig>,
}

/// Which change notifications a server honours on `subscriptions/listen`
/// streams (2026-07-28).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionSupport {
    /// `notifications/tools/list_changed`.
    pub tools_list_changed: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts_list_changed: bool,
    /// `notifications/resources/list_changed`.
    pub resources_list_changed: bool,
    /// `notifications/resources/updated` for subscribed URIs.
    pub resource_updates: bool,
    /// `notifications/tasks` for the listed task ids (the tasks extension,
    /// TASK-14); a server without tasks never publishes any.
    pub task_status: bool,
}

impl Default for SubscriptionSupport {
    fn default() -> Self {
        SubscriptionSupport {
            tools_list_changed: true,
            prompts_list_changed: true,
            resources_list_changed: true,
            resource_updates: true,
            task_status: true,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            response_mode: ResponseMode::Auto,
            hosts: HostPolicy::Loopback,
            origins: OriginPolicy::Loopback,
            max_body_bytes: 4 * 1024 * 1024,
            max_sessions: 10_000,
            max_in_flight_per_session: 256,
            max_outgoing_per_session: 64,
            max_finished_streams_per_session: 32,
            max_events_per_stream: 1024,
            max_log_bytes_per_stream: 1024 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            init_timeout: Duration::from_secs(60),
            get_stream: true,
            allow_delete: true,
            retry_ms: 1000,
            max_stateless_in_flight: 4096,
            max_listeners: 1024,
            max_resource_subscriptions: 256,
            subscriptions: SubscriptionSupport::default(),
            store: None,
        }
    }
}
