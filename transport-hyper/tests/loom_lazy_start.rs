//! Loom models of the adapter's own shared-memory structures.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p streamable-hyper --release --test 'loom_*'`
//!
//! Everything else the adapter shares is a tokio channel (checked by tokio).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::mpsc::channel;
use loom::thread;
use streamable_hyper::sync::{TakeOnce, Tickets};

/// The lazy start: the mailbox exists before the driver; racing first
/// requests each send, then try to take the driver. Exactly one takes it, and
/// the one that does finds every request in the mailbox: none is lost, and
/// none waits on anything but the channel.
#[test]
fn lazy_start_spawns_exactly_one_driver_and_loses_no_request() {
    loom::model(|| {
        let (tx, rx) = channel::<u32>();
        let driver = Arc::new(TakeOnce::new(rx));
        let racers: Vec<_> = (0..2)
            .map(|i| {
                let driver = driver.clone();
                let tx = tx.clone();
                thread::spawn(move || {
                    tx.send(i).unwrap();
                    driver.take()
                })
            })
            .collect();
        tx.send(2).unwrap();
        let mut won: Vec<_> = driver.take().into_iter().collect();
        for r in racers {
            won.extend(r.join().unwrap());
        }
        assert_eq!(won.len(), 1, "exactly one driver");
        assert!(driver.is_taken());
        let rx = won.pop().unwrap();
        let mut got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2], "every request reaches the driver");
    });
}

/// Once taken, `take` never hands the value out again, whatever the
/// interleaving of the fast path and the locked path.
#[test]
fn take_once_is_never_taken_twice() {
    loom::model(|| {
        let once = Arc::new(TakeOnce::new(7u8));
        let a = {
            let once = once.clone();
            thread::spawn(move || once.take())
        };
        let b = once.take();
        let a = a.join().unwrap();
        assert!(a.is_some() ^ b.is_some());
        assert_eq!(once.take(), None);
    });
}

/// Exchange tickets handed out by concurrent service tasks are unique.
#[test]
fn tickets_are_unique_across_threads() {
    loom::model(|| {
        let t = Arc::new(Tickets::new());
        let h = {
            let t = t.clone();
            thread::spawn(move || [t.next(), t.next()])
        };
        let mine = [t.next(), t.next()];
        let theirs = h.join().unwrap();
        let mut all = [mine[0], mine[1], theirs[0], theirs[1]];
        all.sort_unstable();
        assert!(all.windows(2).all(|w| w[0] != w[1]), "{all:?}");
    });
}
