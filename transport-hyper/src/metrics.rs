//! The driver's busy time (issue 19: the serial fraction), behind the
//! `driver-metrics` cargo feature. Off (the default), [`meter`] is the
//! identity and nothing is counted: zero cost.
//!
//! On, every poll of every shard's driver future is timed with the
//! monotonic clock and added to two process-wide relaxed counters. A poll
//! is one turn of the driver loop (a batch of up to 32 commands, their
//! drains, timers), so the sum is the time the driver spent working, which
//! is the serial part of the server's work per call: one driver can never
//! serve more than `1 / (busy time per call)` calls per second. The clock is
//! wall time inside the poll, so a driver preempted mid-poll counts the
//! preemption too (an overestimate on a loaded machine: the projection it
//! feeds is then pessimistic).

use std::future::Future;
use std::pin::Pin;

type DriverFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

#[cfg(feature = "driver-metrics")]
mod on {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    static BUSY_NS: AtomicU64 = AtomicU64::new(0);
    static POLLS: AtomicU64 = AtomicU64::new(0);

    /// What the drivers of this process did so far (all shards summed).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct DriverMetrics {
        /// Time spent inside the drivers' polls.
        pub busy: Duration,
        /// Polls (turns of the driver loops).
        pub polls: u64,
    }

    /// The counters now (take two readings and subtract for a window).
    pub fn driver_metrics() -> DriverMetrics {
        DriverMetrics {
            busy: Duration::from_nanos(BUSY_NS.load(Ordering::Relaxed)),
            polls: POLLS.load(Ordering::Relaxed),
        }
    }

    pub(super) struct Metered(pub(super) super::DriverFuture);

    impl Future for Metered {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let t = Instant::now();
            let r = self.0.as_mut().poll(cx);
            let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            BUSY_NS.fetch_add(ns, Ordering::Relaxed);
            POLLS.fetch_add(1, Ordering::Relaxed);
            r
        }
    }
}

#[cfg(feature = "driver-metrics")]
pub use on::{DriverMetrics, driver_metrics};

/// The driver future, timed when the feature is on.
pub(crate) fn meter(fut: DriverFuture) -> DriverFuture {
    #[cfg(feature = "driver-metrics")]
    return Box::pin(on::Metered(fut));
    #[cfg(not(feature = "driver-metrics"))]
    fut
}
