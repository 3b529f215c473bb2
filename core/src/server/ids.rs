//! Where session ids come from: the caller's entropy, so the core stays
//! deterministic (the adapter draws from the OS CSPRNG; tests and the
//! simulator use a seed).

/// Entropy for session ids, supplied by the caller.
pub trait IdSource {
    /// 128 fresh bits for a session id (SBP-2: unguessable in production).
    fn session_id(&mut self) -> u128;
}

/// A deterministic [`IdSource`] for tests and simulation: a splitmix64
/// sequence from a seed. **Not for production**: its ids are predictable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeededIds(pub u64);

impl IdSource for SeededIds {
    fn session_id(&mut self) -> u128 {
        let mut next = || {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        (u128::from(next()) << 64) | u128::from(next())
    }
}
