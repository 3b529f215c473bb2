//! When to reconnect a stream (T-PSSE-5, X-28, INV-S21).
//!
//! The server's `retry` value, once seen on a stream, is the delay before
//! every later reconnection of that stream (SSE keeps the last value). When
//! the server never sent one, the delay doubles from `initial` up to `max`,
//! so a dead server costs a bounded, shrinking share of requests.

use std::time::Duration;

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
    /// (0-based) when the server's last `retry` is `retry_ms`.
    pub fn delay_ms(&self, attempt: u32, retry_ms: Option<u64>) -> u64 {
        if let Some(retry) = retry_ms {
            return retry;
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
        assert_eq!(b.delay_ms(5, Some(7)), 7);
    }
}
