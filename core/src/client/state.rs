//! The machine's private bookkeeping records: the connection phase, one
//! HTTP exchange and what its body is, an in-flight wire id and who waits
//! for it, an application request, and what waits for the connection.
//! Data only; the behaviour lives in the files named after it.

use super::types::{HttpId, RequestHandle};
use crate::jsonrpc::{Id, RawJson};
use crate::time::Timestamp;

/// Names one SSE stream across its reconnections; here rather than in
/// `stream.rs` because exchanges and pending requests refer to streams too
/// (and `stream.rs` uses these records, not the other way round).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct StreamKey(pub(super) u64);

/// Where the connection is: connecting (probe or `initialize`), ready,
/// or ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Probing,
    /// The session header of the initialize response waits here until the
    /// result proves successful.
    Initializing {
        session: Option<String>,
    },
    Ready,
    Closing,
    Closed,
}

/// Why an HTTP exchange was sent: it decides what its answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    Probe(Id),
    Initialize(Id),
    Request(Id),
    Notification,
    Reply,
    Listen(StreamKey),
    Delete,
}

/// How the body of an exchange is read, decided by its head.
#[derive(Clone, Debug)]
pub(super) enum BodyState {
    Head,
    Buffer(Vec<u8>),
    Sse(StreamKey),
    Drain,
}

/// One HTTP request the driver is carrying; `epoch` and `session_sent`
/// tell whether a 404 to it means the current session is gone (T-SES-8).
#[derive(Clone, Debug)]
pub(super) struct Exchange {
    pub(super) purpose: Purpose,
    pub(super) epoch: u64,
    pub(super) session_sent: bool,
    pub(super) status: u16,
    pub(super) body: BodyState,
}

/// Who waits for the response to a wire id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waiter {
    App(RequestHandle),
    Initialize,
    Probe,
}

/// A wire id sent and not yet answered.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub(super) waiter: Waiter,
    pub(super) exchange: HttpId,
    pub(super) stream: Option<StreamKey>,
    /// Sent in an era taken from
    /// [`EraPreference::Cached`](super::EraPreference::Cached) and not yet
    /// confirmed by any response (H-BC-2).
    pub(super) assumed: bool,
}

/// An application request (or the hidden refresh) until its outcome is
/// delivered; it outlives its wire ids.
#[derive(Clone, Debug)]
pub(super) struct AppRequest {
    pub(super) method: String,
    pub(super) params: Option<RawJson>,
    pub(super) wire: Option<Id>,
    /// When the application asked (the hard maximum counts from here, L-TO-3).
    pub(super) started: Timestamp,
    pub(super) deadline: Option<Timestamp>,
    /// The JSON text of `params._meta.progressToken`, if any (L-TO-3).
    pub(super) progress_token: Option<String>,
    pub(super) reissues: u8,
    /// H-HDR-6: a `tools/list` refresh and retry was already spent.
    pub(super) header_retried: bool,
    /// HC-VER-1: the one re-send after a -32022 listing 2026-07-28 was spent.
    pub(super) version_retried: bool,
    /// The machine's own `tools/list` refresh (H-HDR-6): never reported to
    /// the application.
    pub(super) hidden: bool,
    /// 2026-07-28 multi round-trip requests: `InputRequiredResult`s
    /// received so far (HC-MRTR-5).
    pub(super) rounds: u32,
    /// What the next send adds to `params`: the `inputResponses` and the
    /// `requestState` of the last round (HC-MRTR-2), never anything else's.
    pub(super) input: Option<serde_json::Map<String, serde_json::Value>>,
    /// The round whose input requests the application is answering.
    pub(super) gathering: Option<Gathering>,
}

/// One round of a multi round-trip request while the application answers
/// its input requests (HC-MRTR-1).
#[derive(Clone, Debug)]
pub(super) struct Gathering {
    /// The server's `requestState`, echoed exactly; absent stays absent.
    pub(super) state: Option<String>,
    /// Input requests of the round still unanswered.
    pub(super) outstanding: usize,
    /// The answers so far, by the server's key.
    pub(super) answers: serde_json::Map<String, serde_json::Value>,
}

/// What waits for the connection to be ready (INV-S11).
#[derive(Clone, Debug)]
pub(super) enum Queued {
    Request(RequestHandle),
    Notification {
        method: String,
        params: Option<RawJson>,
    },
}

/// One input request of a multi round-trip round, as the application
/// answers it through [`Client::respond`](super::Client::respond).
#[derive(Clone, Debug)]
pub(super) struct InputKey {
    /// The application request the round belongs to.
    pub(super) request: RequestHandle,
    /// The server's key in `inputRequests`.
    pub(super) key: String,
    /// The input request's method.
    pub(super) method: String,
}
