//! Protocol revisions and their rules.
//!
//! The legacy (session) era is 2025-03-26, 2025-06-18 and 2025-11-25. The
//! core negotiates one of these in `initialize` (L-VER-2) and keys behaviour
//! off the negotiated revision: batches only at 2025-03-26, priming
//! events and `retry` only at 2025-11-25 (T-PSSE-1, X-6).

use std::fmt;

/// A protocol revision this crate knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// 2025-03-26: first Streamable HTTP revision; JSON-RPC batches.
    V2025_03_26,
    /// 2025-06-18: no batches; `MCP-Protocol-Version` header.
    V2025_06_18,
    /// 2025-11-25: priming events, polling (`retry`), 403 for a bad `Origin`.
    V2025_11_25,
    /// 2026-07-28: the stateless era (no sessions, no GET stream).
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every revision of the legacy (session) era, oldest first.
    pub const LEGACY: [ProtocolVersion; 3] = [
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ];

    /// The newest legacy revision: the answer to an `initialize` proposing one
    /// we do not support (L-VER-2).
    pub const NEWEST_LEGACY: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The version assumed when a session-less request carries no
    /// `MCP-Protocol-Version` header (T-VER-3).
    pub const DEFAULT_ASSUMED: ProtocolVersion = ProtocolVersion::V2025_03_26;

    /// Parse the exact wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "2025-03-26" => Some(Self::V2025_03_26),
            "2025-06-18" => Some(Self::V2025_06_18),
            "2025-11-25" => Some(Self::V2025_11_25),
            "2026-07-28" => Some(Self::V2026_07_28),
            _ => None,
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Whether this revision belongs to the legacy (session) era.
    pub fn is_legacy(self) -> bool {
        self < Self::V2026_07_28
    }

    /// Whether JSON-RPC batches are allowed (2025-03-26 only, X-18).
    pub fn allows_batches(self) -> bool {
        self == Self::V2025_03_26
    }

    /// Whether streams start with a priming event and may be closed with
    /// `retry` (2025-11-25, T-PSSE-1, T-PSSE-4).
    pub fn primes_streams(self) -> bool {
        self == Self::V2025_11_25
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ProtocolVersion;

    #[test]
    fn a_version_prints_as_its_wire_name() {
        assert_eq!(ProtocolVersion::V2026_07_28.to_string(), "2026-07-28");
        assert_eq!(ProtocolVersion::V2025_11_25.to_string(), "2025-11-25");
    }
}
