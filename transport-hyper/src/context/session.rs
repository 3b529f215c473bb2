//! What a handler knows and can do about a session: its state
//! ([`SessionData`], with the [`LogLevel`]), the [`Session`] handle, and the
//! server-wide [`ServerHandle`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use streamable_core::{RawJson, SendError, SessionKey, Target};
use tokio::sync::oneshot;

use super::error::ContextError;
use super::link::Link;
use crate::mailbox::Command;

/// Log levels of `logging/setLevel` and `notifications/message` (RFC 5424).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug = 0,
    /// `info`
    Info = 1,
    /// `notice`
    Notice = 2,
    /// `warning`
    Warning = 3,
    /// `error`
    Error = 4,
    /// `critical`
    Critical = 5,
    /// `alert`
    Alert = 6,
    /// `emergency`
    Emergency = 7,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }

    /// Parse a wire name.
    ///
    /// ```
    /// use streamable_hyper::LogLevel;
    /// assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
    /// assert_eq!(LogLevel::parse("loud"), None);
    /// ```
    pub fn parse(s: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Per-session state the adapter keeps for the application.
#[derive(Debug, Default)]
pub struct SessionData {
    log_level: AtomicU8,
    /// The client's `initialize` params as compact JSON text: a parsed
    /// `Value` costs ~1.2 KiB of map nodes per idle session, the text ~150 B
    /// (docs/benchmarks.md, memory).
    client: Mutex<Option<Box<str>>>,
    subscriptions: Mutex<BTreeSet<String>>,
}

impl SessionData {
    /// The minimum level of log messages sent (`logging/setLevel`; default
    /// `debug`, i.e. everything).
    pub fn log_level(&self) -> LogLevel {
        LogLevel::ALL[usize::from(self.log_level.load(Ordering::Relaxed).min(7))]
    }

    /// Set the minimum level.
    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level as u8, Ordering::Relaxed);
    }

    /// The client's `initialize` params (`capabilities`, `clientInfo`), once
    /// recorded by [`McpServer`](crate::McpServer) or the application.
    pub fn client(&self) -> Option<Value> {
        let g = self.client.lock().ok()?;
        serde_json::from_str(g.as_deref()?).ok()
    }

    /// Record the client's `initialize` params.
    pub fn set_client(&self, params: Value) {
        let text = params.to_string().into_boxed_str();
        if let Ok(mut g) = self.client.lock() {
            *g = Some(text);
        }
    }

    /// Whether the client declared `capabilities.<name>` in `initialize`.
    pub fn client_supports(&self, name: &str) -> bool {
        self.client()
            .and_then(|c| c.get("capabilities").and_then(|c| c.get(name)).cloned())
            .is_some_and(|v| !v.is_null())
    }

    /// Subscribe to a resource URI (`resources/subscribe`).
    pub fn subscribe(&self, uri: &str) {
        if let Ok(mut g) = self.subscriptions.lock() {
            g.insert(uri.to_owned());
        }
    }

    /// Unsubscribe (`resources/unsubscribe`).
    pub fn unsubscribe(&self, uri: &str) {
        if let Ok(mut g) = self.subscriptions.lock() {
            g.remove(uri);
        }
    }

    /// Whether the session subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        self.subscriptions
            .lock()
            .map(|g| g.contains(uri))
            .unwrap_or(false)
    }
}

/// A handle on one session: its key, its state, and its GET stream.
///
/// A stateless 2026-07-28 request has no session; its context still carries
/// a `Session` handle, scoped to that one request, with no key: its
/// [`SessionData`] holds the request's `_meta` client capabilities and
/// client info (so [`SessionData::client_supports`] answers in both eras),
/// and its session-wide operations return
/// [`ContextError::NotSent`]`(`[`SendError::Stateless`]`)`.
#[derive(Clone, Debug)]
pub struct Session {
    pub(crate) key: Option<SessionKey>,
    pub(crate) data: Arc<SessionData>,
    pub(crate) link: Link,
}

impl Session {
    /// The session's key; `None` for the per-request handle of a stateless
    /// 2026-07-28 request.
    pub fn key(&self) -> Option<SessionKey> {
        self.key
    }

    fn target(&self) -> Result<Target, ContextError> {
        self.key
            .map(Target::Session)
            .ok_or(ContextError::NotSent(SendError::Stateless))
    }

    /// Its state (log level, client info, subscriptions).
    pub fn data(&self) -> &SessionData {
        &self.data
    }

    /// Send a notification on the session's standalone GET stream (T-GET-4);
    /// [`SendError::NoStream`] when the client opened none.
    pub async fn notify(&self, method: &str, params: Option<Value>) -> Result<(), ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.link.notify(self.target()?, method, params).await
    }

    /// Send a request to the client on the GET stream and await its answer.
    pub async fn request(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<RawJson, ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        self.link.request(self.target()?, method, params).await
    }

    /// End the session (T-SES-7): later requests naming it get 404.
    pub async fn close(&self) -> Result<(), ContextError> {
        let Some(session) = self.key else {
            return Err(ContextError::NotSent(SendError::Stateless));
        };
        let (done, rx) = oneshot::channel();
        self.link
            .send(Command::CloseSession { session, done })
            .await?;
        rx.await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)
    }
}

/// A handle on the running server for work that belongs to no request:
/// change notifications to 2026-07-28 `subscriptions/listen` streams.
/// Handed to [`Handler::attach`](crate::Handler::attach). It does not keep
/// the server alive.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    /// One link per shard (issue 19): a publish goes to every shard's
    /// mailbox, since a listener lives on the shard that took its request.
    pub(crate) links: Arc<[Link]>,
}

impl ServerHandle {
    /// Publish a change notification (`notifications/tools/list_changed`,
    /// `notifications/prompts/list_changed`,
    /// `notifications/resources/list_changed`, or
    /// `notifications/resources/updated` with `{"uri": ...}`) to every
    /// listen stream whose filter asks for it, on every shard; returns how
    /// many it reached. Legacy sessions get theirs on their GET streams
    /// through [`Session::notify`]. [`ContextError::Stopped`] only when no
    /// shard is running (a stopped shard's listeners are gone with it).
    pub async fn publish(
        &self,
        method: &str,
        params: Option<Value>,
    ) -> Result<usize, ContextError> {
        let params = params.as_ref().map(RawJson::from_value);
        let mut waiting = Vec::with_capacity(self.links.len());
        for link in self.links.iter() {
            let (done, rx) = oneshot::channel();
            let sent = link
                .send(Command::Publish {
                    method: method.to_owned(),
                    params: params.clone(),
                    done,
                })
                .await;
            if sent.is_ok() {
                waiting.push(rx);
            }
        }
        let mut reached = 0;
        let mut answered = false;
        for rx in waiting {
            if let Ok(n) = rx.await {
                reached += n;
                answered = true;
            }
        }
        if answered {
            Ok(reached)
        } else {
            Err(ContextError::Stopped)
        }
    }
}
