//! A request's cancellation signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A request's cancellation signal, shared by the driver (through
/// [`CancelSender`]) and the request's context. One allocation and no
/// channel: a `watch` channel per request cost a `BigNotify` (eight
/// `Notify`s, each locked when the sender went) on every tools/call.
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    /// The client cancelled, or the session ended.
    cancelled: AtomicBool,
    /// The driver forgot the request (answered, abandoned) or stopped.
    closed: AtomicBool,
    notify: Notify,
}

impl CancelState {
    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled or closed (the driver forgot the request or
    /// stopped: treated as cancelled).
    pub(super) async fn wait(&self) {
        loop {
            // Registered before the check, so a signal sent after it wakes us.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cancelled.load(Ordering::SeqCst) || self.closed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// The driver's end of a [`CancelState`]; dropping it closes the signal
/// (so a context outliving its request, or a stopped driver, reads as
/// cancelled to [`RequestContext::cancelled`], as a dropped channel did).
#[derive(Debug)]
pub(crate) struct CancelSender(Arc<CancelState>);

impl CancelSender {
    pub(crate) fn new() -> (CancelSender, Arc<CancelState>) {
        let state = Arc::new(CancelState::default());
        (CancelSender(state.clone()), state)
    }

    pub(crate) fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

impl Drop for CancelSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pending_after(state: &CancelState) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(20), state.wait())
                .await
                .is_err()
        })
    }

    #[test]
    fn cancel_wakes_a_waiter_and_reads_as_cancelled() {
        let (tx, state) = CancelSender::new();
        assert!(!state.is_cancelled());
        assert!(pending_after(&state), "nothing signalled yet");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let waiter = state.clone();
        rt.block_on(async move {
            let wait = tokio::spawn(async move { waiter.wait().await });
            tokio::task::yield_now().await;
            tx.cancel();
            wait.await.expect("woken");
            // The sender is still alive: this was a cancellation.
            drop(tx);
        });
        assert!(state.is_cancelled());
    }

    #[test]
    fn a_dropped_sender_ends_the_wait_without_reading_as_cancelled() {
        let (tx, state) = CancelSender::new();
        drop(tx);
        assert!(!pending_after(&state), "closed: the wait ends");
        assert!(!state.is_cancelled(), "like a dropped watch sender");
    }
}
