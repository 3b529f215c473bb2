//! The shared store (issue 17, `docs/store.md`): the [`SharedStore`]
//! interface a backend implements (in memory here, Redis in its own crate),
//! executing the core's [`StoreCommand`]s.
//!
//! Sharing one store between several [`McpService`](crate::McpService)s —
//! in one process or in many — lets any of them serve any session and
//! resume any stream: the core treats its sessions as a cache of the store
//! and restores a session before it serves it.

mod memory;

use std::future::Future;
use std::pin::Pin;

pub use streamable_core::store::{
    EventBatch, Retention, SessionPhase, SessionRecord, StoreCommand, StoreConfig, StoreFailure,
    StoreReply, StoreToken, StoredEvent, StreamKey,
};

pub use memory::{MemoryLimits, MemorySharedStore};

/// The future a [`SharedStore`] returns.
pub type SharedStoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store that several server instances share: executes one core
/// [`StoreCommand`] and resolves to its [`StoreReply`] or a
/// [`StoreFailure`].
///
/// Object safe (`Arc<dyn SharedStore>`), with boxed futures so that a
/// network backend can implement it. The backend contract is in
/// [`streamable_core::store`]: the driver calls `execute` for commands of
/// one session one at a time and in order (so a backend need not order
/// them itself), concurrently across sessions, each under
/// [`StoreConfig::deadline`] (plus the wait of a
/// [`StoreCommand::TailEvents`]); a future still pending then is dropped and
/// counts as [`StoreFailure::TimedOut`].
pub trait SharedStore: Send + Sync + 'static {
    /// Execute `command`.
    fn execute(
        &self,
        command: StoreCommand,
    ) -> SharedStoreFuture<'_, Result<StoreReply, StoreFailure>>;
}

impl std::fmt::Debug for dyn SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStore")
    }
}
