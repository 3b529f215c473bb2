//! Why something a handler asked for did not happen.

use std::fmt;

use streamable_core::{ErrorObject, SendError};

/// Why a message from a handler did not go out, or a server-to-client
/// request did not get a result.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// The core refused it (see [`SendError`]): the request or session is
    /// gone, no stream can carry it, a limit, JSON response mode, ...
    NotSent(SendError),
    /// The client answered a server-to-client request with an error.
    Rejected(ErrorObject),
    /// The server is shutting down.
    Stopped,
    /// A progress value not greater than the last one sent for the request
    /// (U-PROG-3: each must increase); nothing was sent.
    ProgressNotIncreasing,
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::NotSent(e) => write!(f, "not sent: {e}"),
            ContextError::Rejected(e) => write!(f, "client error {}: {}", e.code, e.message),
            ContextError::Stopped => f.write_str("the server is shutting down"),
            ContextError::ProgressNotIncreasing => f.write_str(
                "not sent: a progress value must be greater than the last one sent (U-PROG-3)",
            ),
        }
    }
}

impl std::error::Error for ContextError {}
