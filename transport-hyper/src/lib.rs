//! # streamable-hyper
//!
//! The production adapter between [hyper](https://hyper.rs) 1 and the sans-IO
//! MCP Streamable HTTP core ([`streamable_core`]).
//!
//! ## Shape
//!
//! - **One driver task owns each core instance.** A service runs
//!   [`Builder::shards`] of them (default: the available parallelism), a
//!   session living on the shard its id names (issue 19). Service tasks (one per HTTP request)
//!   reach it through a bounded mailbox that exists from the moment the
//!   [`McpService`] is built, so a request that arrives before the driver
//!   first runs waits in the channel: there is no readiness flag and no
//!   sleep. The driver is started by [`McpService::start`], by [`serve`], or
//!   lazily by the first request; exactly one is ever spawned
//!   (a take-once slot, loom-checked).
//! - **The driver never waits for a client.** It answers heads through
//!   `oneshot`s and feeds SSE bodies through bounded channels with
//!   `try_send`; a full channel is a slow reader, whose connection is ended
//!   (the client resumes with `Last-Event-ID`; the core keeps the events).
//! - **Streaming is real.** [`McpBody`] yields each SSE event as its own
//!   frame the moment the core emits it, with `: keep-alive` comments on idle
//!   streams; dropping it reports a disconnect to the core.
//! - **Handlers run as tasks.** A [`Handler`] (or the [`McpServer`]
//!   registry) answers each request in its own task, with a
//!   [`RequestContext`] for progress, log messages, server-to-client requests
//!   and cancellation. A panic becomes a JSON-RPC internal error.
//! - **A dead or stopped driver answers 503** at once, never hangs.
//!
//! ## Quick start
//!
//! ```no_run
//! use serde_json::json;
//! use streamable_hyper::{McpServer, McpService, Tool, ToolResult, serve};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = McpServer::new("demo", "1.0").tool(Tool::new(
//!         "echo",
//!         "Echo the text back",
//!         json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
//!         |_ctx, args| async move { Ok(ToolResult::text(args["text"].as_str().unwrap_or(""))) },
//!     ));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//!     serve(listener, McpService::new(app), std::future::pending()).await
//! }
//! ```

#![forbid(unsafe_code)]

pub mod auth;
mod body;
mod catch;
#[cfg(not(loom))]
pub mod client;
mod context;
mod driver;
mod handler;
mod mailbox;
mod metrics;
mod registry;
mod serve;
mod service;
mod shards;
pub mod store;
mod tasks;
#[cfg(not(loom))]
pub mod testing;
// Public only for the loom models (`tests/loom_*.rs`, run with
// `--cfg loom`); otherwise a private detail of the service.
#[cfg(loom)]
#[doc(hidden)]
pub mod sync;
#[cfg(not(loom))]
#[allow(unreachable_pub)] // its items are `pub` for the loom build
mod sync;

pub use auth::AuthInfo;
pub use body::{KEEP_ALIVE_FRAME, McpBody};
pub use context::{
    ContextError, INPUT_METHODS, LogLevel, MAX_INPUTS_PER_ROUND, RequestContext, ServerHandle,
    Session, SessionData, with_input_rounds,
};
pub use handler::{FnHandler, Handler, Outcome, handler_fn};
#[cfg(feature = "driver-metrics")]
pub use metrics::{DriverMetrics, driver_metrics};
pub use registry::{
    CacheHint, CacheScope, Completion, McpServer, Prompt, Resource, ResourceTemplate, Tool,
    ToolResult,
};
#[cfg(feature = "schemars")]
pub use registry::{IntoToolResult, Json, ToolError};
pub use serve::{Listener, SHUTDOWN_GRACE, serve};
pub use service::{Builder, McpService, ResponseFuture};
pub use shards::MAX_SHARDS;
pub use tasks::{
    CANCEL_GRACE, DEFAULT_MAX_TASKS, MemoryStore, StoreError, StoreFuture, TaskHandle,
    TaskInputError, TaskSettings, TaskStore, TaskSupport,
};

/// The schemars version typed tools derive schemas with (`#[derive(JsonSchema)]`
/// needs `schemars` in your own `Cargo.toml`, at this major version).
#[cfg(feature = "schemars")]
pub use schemars;
pub use streamable_core;
