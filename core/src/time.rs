//! Time as a value.
//!
//! The core never reads a clock. Every input carries `now`, a [`Timestamp`]
//! measured by the driver from an origin of its choosing (the hyper adapter
//! uses its async runtime's `Instant`, so a simulated clock applies). Inputs
//! must carry non-decreasing time; a timestamp older than one already seen is
//! treated as equal to it.

use std::time::Duration;

/// A point in time: milliseconds since an origin chosen by the driver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// Build from a duration since the origin (saturating at `u64::MAX` milliseconds).
    pub fn from_duration(d: Duration) -> Self {
        Timestamp(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The duration since the origin.
    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn millis_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_in_milliseconds_and_saturate() {
        assert_eq!(
            Timestamp::from_duration(Duration::from_millis(1500)),
            Timestamp(1500)
        );
        assert_eq!(Timestamp::from_duration(Duration::MAX), Timestamp(u64::MAX));
        assert_eq!(Timestamp(2500).as_duration(), Duration::from_millis(2500));
        assert_eq!(
            Timestamp(u64::MAX - 1).saturating_add(Duration::from_secs(1)),
            Timestamp(u64::MAX)
        );
        assert_eq!(Timestamp(5).millis_since(Timestamp(9)), 0);
    }
}
