//! # streamable-core
//!
//! A pure, sans-IO state machine for the server side of the Model Context
//! Protocol's Streamable HTTP transport. HTTP requests (head and body),
//! disconnects, timer expiries and application messages go in; response
//! heads, SSE frames, deliveries to the application and the next deadline
//! come out. No tokio, no clock, no randomness, no threads.
//!
//! ## The run loop
//!
//! 1. Feed one input: [`Server::handle_request`], [`Server::handle_disconnect`],
//!    [`Server::handle_timeout`], or an application command
//!    ([`Server::respond`], [`Server::notify`], [`Server::request_client`], ...).
//! 2. Drain [`Server::poll_output`] until it returns `None`, acting on each
//!    [`Output`] (write a head, flush an SSE frame, hand a [`Delivery`] to
//!    the application).
//! 3. Sleep until [`Server::poll_timeout`], then call
//!    [`Server::handle_timeout`].
//!
//! ```
//! use bytes::Bytes;
//! use streamable_core::{Config, Delivery, Output, RawJson, SeededIds, Server, Timestamp};
//!
//! let mut server = Server::new(Config::default(), SeededIds(7));
//! let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"doc","version":"1"}}}"#;
//! let req = http::Request::post("/mcp")
//!     .header("host", "localhost")
//!     .header("content-type", "application/json")
//!     .header("accept", "application/json, text/event-stream")
//!     .body(Bytes::from(body))
//!     .unwrap();
//! let now = Timestamp(0);
//! let exchange = server.handle_request(now, req);
//! let Some(Output::Deliver(Delivery::Request { request, method, .. })) = server.poll_output() else {
//!     panic!("initialize is delivered to the application");
//! };
//! assert_eq!(method, "initialize");
//! let result = RawJson::from_value(&serde_json::json!({
//!     "capabilities": {}, "serverInfo": {"name": "doc", "version": "1"}
//! }));
//! server.respond(now, request, Ok(result)).unwrap();
//! let Some(Output::Reply { exchange: ex, head, body }) = server.poll_output() else { panic!() };
//! assert_eq!(ex, exchange);
//! assert_eq!(head.status, 200);
//! assert!(head.session_id.is_some());
//! // The core filled in the negotiated version.
//! assert!(std::str::from_utf8(&body).unwrap().contains(r#""protocolVersion":"2025-06-18""#));
//! ```
//!
//! ## Features
//!
//! - `test-util`: `SeededIds`, a seeded [`IdSource`] for tests and
//!   simulation. Predictable, never for production: an unguessable session
//!   id is part of session security (SBP-2). Enable it in
//!   `[dev-dependencies]`.
//!
//! ## Contracts
//!
//! - Time: inputs carry a non-decreasing [`Timestamp`]; early or spurious
//!   timeouts are harmless.
//! - Errors: peer behaviour never returns `Err`; every bad request becomes
//!   an [`Output::Reply`] with its status and a JSON-RPC error body.
//!   Application commands return [`SendError`] when a message cannot go
//!   anywhere (nothing is dropped silently).
//! - Panics: none on any input; internal invariants are checked by
//!   [`Server::check_invariants`].
//! - Determinism: ordered maps only; entropy comes from the [`IdSource`]. A
//!   source that fails ([`EntropyUnavailable`]) costs the `initialize` that
//!   needed an id a 503 with `Retry-After`, never a weaker id.

#![forbid(unsafe_code)]

// The README's Rust example runs as a doctest, so it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

// The public surface, one path per item: the server machine and the types it
// shares with the application live at the crate root; three toolkits keep a
// namespace of their own because their names would collide or mislead at the
// root (`client::Event` vs `sse::Event`, `mirror::DecodeError` vs
// `sse::DecodeError`); `request_state` (MRTR's token codec) is a pure
// toolkit of its own too. Everything else is private and re-exported below.
pub mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod mirror;
pub mod request_state;
pub mod sse;
pub mod store;
pub mod task;

mod config;
mod edge;
mod jsonrpc;
mod output;
mod server;
mod time;
mod version;

pub use config::{Config, HostPolicy, OriginPolicy, ResponseMode, SubscriptionSupport};
pub use jsonrpc::{ErrorObject, Id, Message, RawJson, code};
pub use output::{
    CloseReason, Content, Delivery, ExchangeId, OutgoingKey, Output, RequestKey, ResponseHead,
    SendError, SessionKey, Target,
};
#[cfg(feature = "test-util")]
pub use server::SeededIds;
pub use server::{
    EntropyUnavailable, Filter, IdSource, MAX_PRINCIPAL_BYTES, META_CLIENT_CAPABILITIES,
    META_LOG_LEVEL, REMOVED_METHODS, Server,
};
pub use time::Timestamp;
pub use version::ProtocolVersion;
