//! The mailbox between the driver and everyone who talks to it: the
//! commands service tasks and handler contexts send (bounded), the signals
//! destructors send (unbounded), and the driver's reply to an HTTP request.
//!
//! It is its own module so that the public `context` and the private
//! `driver` both depend on it instead of on each other.

use bytes::Bytes;
use streamable_core::store::{StoreFailure, StoreReply, StoreToken};
use streamable_core::{
    ErrorObject, OutgoingKey, RawJson, RequestKey, ResponseHead, SendError, SessionKey, Target,
};
use tokio::sync::{mpsc, oneshot};

/// What service tasks and handler contexts ask of the driver (bounded
/// mailbox; senders await capacity, the driver never does).
pub(crate) enum Command {
    /// An HTTP request with its (bounded) body.
    Request {
        ticket: u64,
        req: http::Request<Bytes>,
        reply: oneshot::Sender<Reply>,
    },
    Respond {
        request: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
    },
    Notify {
        target: Target,
        method: String,
        params: Option<RawJson>,
        done: oneshot::Sender<Result<(), SendError>>,
    },
    RequestClient {
        target: Target,
        method: String,
        params: Option<RawJson>,
        sent: oneshot::Sender<Result<OutgoingKey, SendError>>,
        answer: oneshot::Sender<Result<RawJson, ErrorObject>>,
    },
    CloseSession {
        session: SessionKey,
        done: oneshot::Sender<Result<(), SendError>>,
    },
    /// End a stream's connection without ending the stream (T-PSSE-2).
    EndConnection {
        target: Target,
        done: oneshot::Sender<Result<(), SendError>>,
    },
    /// Change notifications for 2026-07-28 listen streams.
    Publish {
        method: String,
        params: Option<RawJson>,
        done: oneshot::Sender<usize>,
    },
    /// A shared-store command finished (or failed, or ran out of time).
    StoreDone {
        token: StoreToken,
        /// The command's session lane (`None`: a read outside the lanes).
        lane: Option<Box<str>>,
        result: Result<StoreReply, StoreFailure>,
    },
    /// Stop: end every open stream, answer waiting requests with 503, exit.
    Shutdown,
}

/// Put a command in the driver's mailbox: at once when there is room (the
/// usual case), else wait for room. The waiting send is boxed so that the
/// futures awaiting this stay small when it is not needed: a handler task
/// is moved whole when it is spawned and when it completes (callgrind).
pub(crate) async fn send_command(tx: &mpsc::Sender<Command>, cmd: Command) -> Result<(), ()> {
    match tx.try_send(cmd) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(cmd)) => Box::pin(tx.send(cmd)).await.map_err(|_| ()),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// Signals sent from `Drop` (unbounded, so a destructor never waits; at most
/// one per exchange, request or outgoing request, so bounded in practice).
#[derive(Debug)]
pub(crate) enum Control {
    /// A response future or body was dropped: the client went away.
    Dropped(u64),
    /// A handler task ended without answering (it was aborted).
    Abandon(RequestKey),
    /// A handler stopped waiting for a server-to-client answer.
    Forget(OutgoingKey),
    /// Panic the driver (simulation and tests only: a shard's driver dying
    /// must answer 503 for its sessions only, issue 19).
    #[cfg(feature = "simulation")]
    Crash,
}

/// The driver's answer to a [`Command::Request`].
pub(crate) enum Reply {
    Full(ResponseHead, Bytes),
    Stream(ResponseHead, mpsc::Receiver<Bytes>),
    /// The driver is shutting down.
    Unavailable,
}

/// Reports the end of an exchange's response (future or body dropped) to the
/// driver unless disarmed.
#[derive(Debug)]
pub(crate) struct ExchangeGuard {
    ticket: u64,
    control: Option<mpsc::UnboundedSender<Control>>,
}

impl ExchangeGuard {
    pub(crate) fn new(ticket: u64, control: mpsc::UnboundedSender<Control>) -> Self {
        ExchangeGuard {
            ticket,
            control: Some(control),
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.control = None;
    }
}

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.send(Control::Dropped(self.ticket));
        }
    }
}
