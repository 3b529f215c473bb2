//! When to reconnect a stream (T-PSSE-5, X-28, INV-S21, HC-RECON-1).
//!
//! The server's `retry` value, once seen on a stream, is the delay before
//! every later reconnection of that stream (SSE keeps the last value), but
//! never less than [`MIN_RETRY_MS`]: a `retry: 0` (or `retry: 1`) from a
//! server that then closes the stream at once would otherwise make the
//! client reconnect in a tight loop (the storm the TypeScript SDK shipped,
//! typescript-sdk #2682). When the server never sent one, the delay doubles
//! from `initial` up to `max`, so a dead server costs a bounded, shrinking
//! share of requests. How many reconnections a stream may make without
//! progress is bounded separately (`ClientConfig::max_reconnect_attempts`,
//! HC-RECON-2, in `stream.rs`).

use std::time::Duration;

/// HC-RECON-1: the floor of a server-given `retry`, in milliseconds. A
/// smaller `retry` (0 included) is clamped up to it. 100 ms: at most ten
/// reconnections a second per stream whatever the server says, long enough
/// that a storm is visible and cheap, short enough that an honest small
/// `retry` (SSE polling, T-PSSE-5) keeps its meaning.
pub const MIN_RETRY_MS: u64 = 100;

/// Reconnection delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay without `retry`.
    pub initial: Duration,
    /// The cap on the doubled delay.
    pub max: Duration,
}

impl Backoff {
    /// The delay in milliseconds before reconnection number `attempt`
    /// (0-based) when the server's last `retry` is `retry_ms`: that `retry`,
    /// clamped up to [`MIN_RETRY_MS`], or the capped back-off without one.
    pub fn delay_ms(&self, attempt: u32, retry_ms: Option<u64>) -> u64 {
        if let Some(retry) = retry_ms {
            return retry.max(MIN_RETRY_MS);
        }
        let initial = u64::try_from(self.initial.as_millis()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.max.as_millis()).unwrap_or(u64::MAX);
        let factor = 1u64.checked_shl(attempt.min(63)).unwrap_or(u64::MAX);
        initial.saturating_mul(factor).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_28_doubles_to_a_cap_and_retry_wins() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let d: Vec<u64> = (0..6).map(|a| b.delay_ms(a, None)).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay_ms(200, None), 1000);
        assert_eq!(b.delay_ms(5, Some(700)), 700);
        assert_eq!(b.delay_ms(0, Some(MIN_RETRY_MS)), MIN_RETRY_MS);
    }

    #[test]
    fn hc_recon_1_a_tiny_retry_is_clamped_to_the_floor() {
        let b = Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        };
        for retry in [0, 1, 7, MIN_RETRY_MS - 1] {
            assert_eq!(b.delay_ms(0, Some(retry)), MIN_RETRY_MS, "retry {retry}");
            assert_eq!(b.delay_ms(9, Some(retry)), MIN_RETRY_MS, "retry {retry}");
        }
        assert_eq!(b.delay_ms(0, Some(MIN_RETRY_MS + 1)), MIN_RETRY_MS + 1);
        assert_eq!(b.delay_ms(0, Some(u64::MAX)), u64::MAX);
    }
}
