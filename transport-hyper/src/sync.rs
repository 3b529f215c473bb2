//! The adapter's own shared-memory structures, written over a small shim that
//! switches to [loom](https://docs.rs/loom) under `--cfg loom` so they can be
//! model-checked (`transport-hyper/tests/loom_*.rs`). The module is public
//! only in loom builds, for those tests; otherwise it is the crate's own.
//!
//! Everything else the adapter shares goes through tokio channels, which
//! tokio checks with loom in its own CI.

#[cfg(loom)]
use loom::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
#[cfg(not(loom))]
use std::sync::{
    Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

/// A value that exactly one caller may take, however many race for it.
///
/// This is the lazy driver start: the driver (with the receiving end of the
/// mailbox inside it) is built when the service is built and parked here; the
/// first request takes it and spawns it. Every other caller gets `None`. The
/// mailbox's sending side exists from the start, so a request sent before the
/// driver is taken waits in the channel and is read by the driver when it
/// runs: no request is lost and none waits on a readiness flag.
#[derive(Debug)]
pub struct TakeOnce<T> {
    taken: AtomicBool,
    slot: Mutex<Option<T>>,
}

impl<T> TakeOnce<T> {
    /// Park `value`.
    pub fn new(value: T) -> Self {
        TakeOnce {
            taken: AtomicBool::new(false),
            slot: Mutex::new(Some(value)),
        }
    }

    /// Take the value if nobody has; `Some` is returned to exactly one caller.
    pub fn take(&self) -> Option<T> {
        // Fast path once taken: no lock on every request.
        if self.taken.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = match self.slot.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let value = slot.take();
        if value.is_some() {
            self.taken.store(true, Ordering::Release);
        }
        value
    }

    /// Whether the value has been taken.
    pub fn is_taken(&self) -> bool {
        self.taken.load(Ordering::Acquire)
    }
}

/// Unique ids handed out by service tasks without a round trip to the driver
/// (the adapter's exchange tickets).
#[derive(Debug)]
pub struct Tickets(AtomicU64);

impl Tickets {
    /// Start at 1.
    pub fn new() -> Self {
        Tickets(AtomicU64::new(1))
    }

    /// A fresh id, never returned before (wraps only after 2^64 calls).
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for Tickets {
    fn default() -> Self {
        Self::new()
    }
}

// What the doc examples showed before the module went private.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn take_once_gives_the_value_once() {
        let once = TakeOnce::new(5);
        assert_eq!(once.take(), Some(5));
        assert_eq!(once.take(), None);
        assert!(once.is_taken());
    }

    #[test]
    fn tickets_are_fresh() {
        let t = Tickets::new();
        assert_ne!(t.next(), t.next());
    }
}
