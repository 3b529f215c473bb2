//! Where session ids come from: the caller's entropy, so the core stays
//! deterministic (the adapter draws from the OS CSPRNG; tests and the
//! simulator use a seed).

use std::fmt;

/// Entropy for session ids, supplied by the caller.
pub trait IdSource {
    /// 128 fresh bits for a session id (SBP-2: unguessable in production),
    /// or [`EntropyUnavailable`] when the source cannot give any. A source
    /// must not make up a weaker id instead: the core then answers the
    /// `initialize` that needed one with 503 and `Retry-After`, and creates
    /// no session.
    fn session_id(&mut self) -> Result<u128, EntropyUnavailable>;
}

/// An [`IdSource`] could not deliver (for example, the operating system's
/// random generator failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntropyUnavailable;

impl fmt::Display for EntropyUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no entropy for a session id")
    }
}

impl std::error::Error for EntropyUnavailable {}

/// A deterministic [`IdSource`] for tests and simulation: a splitmix64
/// sequence from a seed. Predictable, never for production; only with the
/// `test-util` feature.
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeededIds(pub u64);

#[cfg(feature = "test-util")]
impl IdSource for SeededIds {
    fn session_id(&mut self) -> Result<u128, EntropyUnavailable> {
        let mut next = || {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Ok((u128::from(next()) << 64) | u128::from(next()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_splitmix64() {
        // The reference sequence of splitmix64 from seed 0.
        let mut ids = SeededIds(0);
        assert_eq!(
            ids.session_id(),
            Ok((0xe220_a839_7b1d_cdaf_u128 << 64) | 0x6e78_9e6a_a1b9_65f4)
        );
        assert_eq!(
            EntropyUnavailable.to_string(),
            "no entropy for a session id"
        );
    }
}
