//! The shared store (issue 17, `docs/store.md`): write-through of sessions
//! and events, the gate every request of a store-backed session passes
//! (restore before use), and resuming streams another instance wrote.

use super::{IdSource, Server};
use crate::store::{StoreFailure, StoreReply, StoreToken};
use crate::time::Timestamp;

impl<I: IdSource> Server<I> {
    /// The completion of the store command `token` (from
    /// [`Output::Store`](crate::Output::Store)). Unknown or late tokens (the
    /// core gave up on them at their deadline) are ignored.
    pub fn handle_store(
        &mut self,
        now: Timestamp,
        token: StoreToken,
        result: Result<StoreReply, StoreFailure>,
    ) {
        self.tick(now);
        let _ = (token, result);
    }
}
