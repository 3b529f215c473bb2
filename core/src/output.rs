//! What the core asks its driver to do, and what it hands the application.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode, header};

use crate::jsonrpc::{ErrorObject, Id, RawJson};

/// One HTTP request/response pair, named by the core when the request
/// arrives ([`Server::handle_request`](crate::Server::handle_request)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub u64);

/// A session, as the application refers to it (not the wire id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey(pub u64);

/// A client request being handled by the application. Unique for the life
/// of the server, so a stale handle can never answer another request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey(pub u64);

/// A server-to-client request awaiting the client's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutgoingKey {
    /// The session it was sent in.
    pub session: SessionKey,
    /// The JSON-RPC id on the wire (unique per session, never reused).
    pub wire_id: i64,
}

/// The body that follows a response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    /// No body (202, 204, and 405 without detail).
    Empty,
    /// `application/json`.
    Json,
    /// `text/event-stream`, flushed event by event.
    EventStream,
}

/// A response head decided by the core.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// What follows.
    pub content: Content,
    /// `Mcp-Session-Id`, on every response of a session's exchanges (T-SES-1, X-21).
    pub session_id: Option<Box<str>>,
    /// `Allow`, on 405 answers.
    pub allow: Option<&'static str>,
    /// `Retry-After` in seconds, on a 503 that will pass (SBP-2).
    pub retry_after: Option<u32>,
}

impl ResponseHead {
    pub(crate) fn new(status: StatusCode, content: Content) -> Self {
        ResponseHead {
            status,
            content,
            session_id: None,
            allow: None,
            retry_after: None,
        }
    }

    /// Every header of this response. SSE responses carry
    /// `Cache-Control: no-cache` and `X-Accel-Buffering: no` (H-SSE-4) so
    /// proxies neither cache nor buffer them.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = Vec::with_capacity(4);
        match self.content {
            Content::Empty => {}
            Content::Json => h.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )),
            Content::EventStream => {
                h.push((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream"),
                ));
                h.push((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
                h.push((
                    HeaderName::from_static("x-accel-buffering"),
                    HeaderValue::from_static("no"),
                ));
            }
        }
        if let Some(id) = &self.session_id {
            // Session ids are minted by the core as visible ASCII (T-SES-3).
            if let Ok(v) = HeaderValue::from_str(id) {
                h.push((HeaderName::from_static("mcp-session-id"), v));
            }
        }
        if let Some(allow) = self.allow {
            h.push((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if let Some(secs) = self.retry_after {
            h.push((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        h
    }
}

/// An instruction for the driver. Drain with
/// [`Server::poll_output`](crate::Server::poll_output) after every input.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new
/// one is a breaking change that the compiler points out, never a silent
/// `_ => {}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// A complete response: write the head and `body`; the exchange is over.
    Reply {
        /// The exchange.
        exchange: ExchangeId,
        /// Status and headers.
        head: ResponseHead,
        /// The whole body (empty for 202/204).
        body: Bytes,
    },
    /// Start an SSE response: write the head now; [`Output::Event`]s follow.
    StreamHead {
        /// The exchange.
        exchange: ExchangeId,
        /// Status and headers (`text/event-stream`).
        head: ResponseHead,
    },
    /// One encoded SSE event (or comment, or `retry`) for a streaming exchange.
    /// Flush it at once.
    Event {
        /// The exchange.
        exchange: ExchangeId,
        /// The bytes of the frame.
        frame: Bytes,
    },
    /// End a streaming exchange's body (the stream finished, or the server
    /// closed this connection; the client may resume if the stream did not
    /// finish).
    Close {
        /// The exchange.
        exchange: ExchangeId,
    },
    /// Hand something to the application.
    Deliver(Delivery),
    /// Execute a command against the shared store and pass its result to
    /// [`Server::handle_store`](crate::Server::handle_store) with `token`
    /// (only with [`Config::store`](crate::Config::store) set; see
    /// [`store`](crate::store) for the backend contract).
    Store {
        /// Names the command's completion.
        token: crate::store::StoreToken,
        /// What to do.
        command: crate::store::StoreCommand,
    },
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DELETE (T-SES-9).
    Deleted,
    /// No activity for `idle_timeout`.
    IdleTimeout,
    /// Not ready within `init_timeout`.
    InitTimeout,
    /// The application closed it.
    Application,
    /// The `initialize` request was answered with an error.
    InitializeFailed,
    /// With a shared store: this instance stopped holding the session (idle
    /// here, or the store no longer has it); another instance may still
    /// serve it, and the store's TTL decides when it ends for good.
    Evicted,
}

/// Something for the application.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new
/// one is a breaking change that the compiler points out, never a silent
/// `_ => {}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// A request to handle. Answer it with
    /// [`Server::respond`](crate::Server::respond) (or give it up with
    /// [`Server::abandon`](crate::Server::abandon)).
    Request {
        /// The session; `None` for a stateless 2026-07-28 request.
        session: Option<SessionKey>,
        /// The handle to answer with.
        request: RequestKey,
        /// The client's JSON-RPC id (for logs; the core routes by `request`).
        id: Id,
        /// The method.
        method: String,
        /// The params.
        params: Option<RawJson>,
    },
    /// A notification from the client (including `notifications/initialized`;
    /// `notifications/cancelled` arrives as [`Delivery::Cancelled`]).
    Notification {
        /// The session; `None` for a stateless 2026-07-28 notification.
        session: Option<SessionKey>,
        /// The method.
        method: String,
        /// The params.
        params: Option<RawJson>,
    },
    /// The client cancelled a request it sent (U-CAN-1): with
    /// `notifications/cancelled` in a session, or (2026-07-28) by closing
    /// the request's response stream (H-CAN-1). Stop work; any response is
    /// then not sent (U-CAN-5); a legacy request's stream still ends, a
    /// modern request is already forgotten (answering it returns
    /// [`SendError::Gone`]).
    Cancelled {
        /// The session; `None` for a stateless 2026-07-28 request.
        session: Option<SessionKey>,
        /// The request.
        request: RequestKey,
        /// The client's reason, if given.
        reason: Option<String>,
    },
    /// The client's answer to a server-to-client request.
    Response {
        /// The request it answers.
        outgoing: OutgoingKey,
        /// Its result or error.
        outcome: Result<RawJson, ErrorObject>,
    },
    /// The session ended: drop its handlers; its handles are now stale.
    SessionClosed {
        /// The session.
        session: SessionKey,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a message from the application could not be sent. Nothing is ever
/// dropped silently: each of these is returned to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendError {
    /// The request, session or outgoing request is unknown: answered
    /// already, abandoned, or its session ended.
    Gone,
    /// The exchange is answered with JSON ([`ResponseMode::Json`](crate::ResponseMode::Json)), which
    /// carries nothing but the response.
    JsonMode,
    /// There is no stream to carry it: the request's client disconnected
    /// before any event could be addressed, or (for session-wide messages)
    /// the client opened no GET stream.
    NoStream,
    /// A per-session limit was reached (`max_outgoing_per_session`).
    Limit,
    /// The operation is not allowed in this state (e.g. a server-to-client
    /// request before the session's initialize result was sent, L-INIT-6).
    NotAllowed,
    /// The request belongs to the stateless 2026-07-28 era, where servers
    /// never send requests to clients (H-SSE-2): return an
    /// `InputRequiredResult` instead (MRTR).
    Stateless,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::Gone => "the request or session is gone",
            SendError::JsonMode => {
                "the exchange is answered with JSON and carries only the response"
            }
            SendError::NoStream => "no stream can carry this message",
            SendError::Limit => "a per-session limit was reached",
            SendError::NotAllowed => "not allowed in the session's current state",
            SendError::Stateless => {
                "2026-07-28 requests cannot carry server-to-client requests; return an InputRequiredResult"
            }
        })
    }
}

impl std::error::Error for SendError {}

/// Where a message from the application goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// On the stream of this request (related traffic, T-PSSE-8, X-10).
    Request(RequestKey),
    /// On the session's standalone GET stream (unrelated traffic, T-GET-4).
    Session(SessionKey),
}

#[cfg(test)]
mod tests {
    use super::SendError;

    #[test]
    fn send_errors_say_why() {
        for (e, needle) in [
            (SendError::Gone, "gone"),
            (SendError::JsonMode, "JSON"),
            (SendError::NoStream, "no stream"),
            (SendError::Limit, "limit"),
            (SendError::NotAllowed, "not allowed"),
            (SendError::Stateless, "InputRequiredResult"),
        ] {
            assert!(e.to_string().contains(needle), "{e:?}: {e}");
        }
    }
}
