//! Which exchange a message goes to.
//!
//! Routing is keyed by core-assigned handles — (session, exchange) for HTTP
//! responses and [`RequestKey`] for application answers — never by the
//! client's JSON-RPC id alone, so one client's id can never reach another
//! client's stream (the cross-client leak of peers §3.2; INV-S18).

use std::collections::BTreeMap;

use crate::jsonrpc::Id;
use crate::output::{ExchangeId, RequestKey, SessionKey};
use crate::server::log::StreamId;

/// What the core must do specially for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `initialize`: the core negotiates the version in the result.
    Initialize,
    /// Everything else goes to the application as is.
    Plain,
}

/// A client request being handled.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct InFlight {
    pub(crate) session: SessionKey,
    pub(crate) stream: StreamId,
    pub(crate) id: Id,
    pub(crate) kind: Kind,
    /// The client sent `notifications/cancelled` for it.
    pub(crate) cancelled: bool,
}

/// The routing tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Router {
    /// Open exchanges (head pending or streaming) and the stream each serves.
    pub(crate) exchanges: BTreeMap<ExchangeId, (SessionKey, StreamId)>,
    /// Requests being handled.
    pub(crate) requests: BTreeMap<RequestKey, InFlight>,
    next_exchange: u64,
    next_request: u64,
    next_stream: u64,
}

impl Router {
    pub(crate) fn new_exchange(&mut self) -> ExchangeId {
        self.next_exchange += 1;
        ExchangeId(self.next_exchange)
    }

    pub(crate) fn new_request(&mut self) -> RequestKey {
        self.next_request += 1;
        RequestKey(self.next_request)
    }

    /// A fresh stream of `instance` (`0` without a shared store).
    pub(crate) fn new_stream(&mut self, instance: u64) -> StreamId {
        self.next_stream += 1;
        StreamId {
            instance,
            number: self.next_stream,
        }
    }
}
