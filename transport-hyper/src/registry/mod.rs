//! A small registry so a realistic MCP server is a few lines: tools,
//! resources, resource templates, prompts and completions, with
//! `initialize` capabilities derived from what is registered, plus
//! `logging/setLevel` and resource subscriptions.

mod dispatch;
mod items;
mod schema;
mod server;
mod template;

pub(crate) use items::ToolFn;
pub use items::{Completion, Prompt, Resource, ResourceTemplate, Tool, ToolResult};
pub use server::McpServer;
