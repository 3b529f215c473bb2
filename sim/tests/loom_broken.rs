//! Loom can fail: broken versions of the adapter's two shared structures
//! (`streamable_hyper::sync::{TakeOnce, Tickets}`, whose correct versions
//! are model-checked in `transport-hyper/tests/loom_lazy_start.rs`), each
//! run under the same kind of loom model, which must find the bad
//! interleaving.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p streamable-sim --release --test loom_broken`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::mpsc::channel;
use loom::thread;

/// Variant (a) as a shared structure: a readiness flag published by the
/// starting driver; a request that finds it unset is dropped (instead of
/// waiting in a mailbox that exists from the start).
struct LateReady {
    ready: AtomicBool,
}

/// A ticket counter with load-then-store instead of `fetch_add`.
struct RacyTickets(AtomicU64);

impl RacyTickets {
    fn next(&self) -> u64 {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v + 1, Ordering::Relaxed);
        v
    }
}

fn fails(f: impl Fn() + Sync + Send + 'static) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loom::model(f))).is_err()
}

#[test]
fn loom_catches_a_readiness_flag_that_drops_early_requests() {
    assert!(
        fails(|| {
            let gate = Arc::new(LateReady {
                ready: AtomicBool::new(false),
            });
            let (tx, rx) = channel::<u32>();
            let client = {
                let gate = gate.clone();
                thread::spawn(move || {
                    // The broken adapter: not ready yet, so the request is dropped.
                    if gate.ready.load(Ordering::Acquire) {
                        tx.send(1).unwrap();
                    }
                })
            };
            gate.ready.store(true, Ordering::Release);
            client.join().unwrap();
            assert_eq!(rx.try_recv().ok(), Some(1), "request lost before ready");
        }),
        "loom did not find the early request that is dropped"
    );
}

#[test]
fn loom_catches_load_then_store_tickets() {
    assert!(
        fails(|| {
            let t = Arc::new(RacyTickets(AtomicU64::new(1)));
            let h = {
                let t = t.clone();
                thread::spawn(move || t.next())
            };
            let mine = t.next();
            let theirs = h.join().unwrap();
            assert_ne!(mine, theirs, "duplicate ticket");
        }),
        "loom did not find the duplicate ticket"
    );
}
