//! A small registry so a realistic MCP server is a few lines: tools,
//! resources, resource templates, prompts and completions, with
//! `initialize` capabilities derived from what is registered, plus
//! `logging/setLevel` and resource subscriptions in the legacy era; at
//! 2026-07-28, caching hints on cacheable results (`cache.rs`), the
//! era's resource-not-found error and -32021 for tools that need a client
//! capability the request did not declare (`dispatch.rs`). Tool arguments
//! are checked by a full JSON Schema validator (`schema.rs`).

mod cache;
mod dispatch;
mod items;
mod schema;
mod server;
mod template;
#[cfg(feature = "schemars")]
mod typed;

pub use cache::{CacheHint, CacheScope};
pub use items::{Completion, Prompt, Resource, ResourceTemplate, Tool, ToolResult};
pub(crate) use items::{ToolFn, ToolFuture};
pub use server::McpServer;
#[cfg(feature = "schemars")]
pub use typed::{IntoToolResult, Json, ToolError};
