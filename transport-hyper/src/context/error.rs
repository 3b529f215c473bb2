//! Why something a handler asked for did not happen.

use std::fmt;

use streamable_core::{ErrorObject, RawJson, SendError, code};

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
    /// A 2026-07-28 input round: the input was asked in this round's
    /// `InputRequiredResult`; end the handler (`?`). The answer comes with
    /// the client's retry (MRTR-1).
    InputRequired,
    /// A 2026-07-28 input round: the client did not declare this capability
    /// (`elicitation`, `sampling`, `roots`) in its `_meta`, so it may not be
    /// asked (MRTR-8). As an [`ErrorObject`]: -32021.
    MissingCapability(&'static str),
    /// A 2026-07-28 input round: the client's answer does not have the
    /// shape of the result it answers (MRTR-9). As an [`ErrorObject`]: -32602.
    BadInputResponse(String),
    /// A tool running as a task asked for input through its task
    /// ([`TaskHandle::input`](crate::TaskHandle::input)) and got no answer:
    /// the task ended, or its state refused the request. As an
    /// [`ErrorObject`]: -32603.
    Task(crate::tasks::TaskInputError),
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
            ContextError::InputRequired => {
                f.write_str("input required: asked in this round's InputRequiredResult")
            }
            ContextError::MissingCapability(c) => {
                write!(f, "the client did not declare the {c} capability")
            }
            ContextError::BadInputResponse(m) => f.write_str(m),
            ContextError::Task(e) => write!(f, "task input: {e}"),
        }
    }
}

impl std::error::Error for ContextError {}

impl From<ContextError> for ErrorObject {
    /// The JSON-RPC error a handler answers with when it ends with `?` on a
    /// context error: -32021 for a missing client capability (with
    /// `data.requiredCapabilities`), -32602 for a bad input response, the
    /// client's own error for a rejected request, -32603 otherwise. (An
    /// ended input round is answered with its `InputRequiredResult`
    /// whatever the handler returned.)
    fn from(e: ContextError) -> ErrorObject {
        match e {
            ContextError::Rejected(e) => e,
            ContextError::MissingCapability(c) => {
                let mut o = ErrorObject::new(code::MISSING_CAPABILITY, e.to_string());
                o.data = Some(RawJson::from_value(
                    &serde_json::json!({"requiredCapabilities": {c: {}}}),
                ));
                o
            }
            ContextError::BadInputResponse(m) => ErrorObject::new(code::INVALID_PARAMS, m),
            other => ErrorObject::new(code::INTERNAL_ERROR, format!("Internal error: {other}")),
        }
    }
}
