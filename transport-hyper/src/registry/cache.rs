//! Caching hints (SEP-2549, `server/utilities/caching.mdx`; CACHE-n).
//!
//! At 2026-07-28 every complete result of `server/discover`, `tools/list`,
//! `prompts/list`, `resources/list`, `resources/templates/list` and
//! `resources/read` carries `ttlMs` (how long the client may consider it
//! fresh) and `cacheScope` (`public`: the same for every caller, shareable;
//! `private`: only for this authorization context). Legacy results carry
//! neither: the fields are not part of 2025-11-25 and earlier (CACHE-3).

use serde_json::{Map, Value};

/// Who may cache a result (`cacheScope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheScope {
    /// The result holds no user-specific data: any client, gateway or
    /// caching proxy may store it and serve it to anyone.
    Public,
    /// The result may depend on who asks: a cache may reuse it only for the
    /// same authorization context.
    Private,
}

impl CacheScope {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheScope::Public => "public",
            CacheScope::Private => "private",
        }
    }
}

/// The caching hints of a result: `ttlMs` and `cacheScope`.
///
/// The default is [`CacheHint::DEFAULT`]: private, fresh for 5 seconds —
/// nothing is shared between callers unless the application says its
/// results are the same for everyone, and a client re-fetches soon.
///
/// ```
/// use streamable_hyper::{CacheHint, CacheScope};
/// let h = CacheHint::public(60_000);
/// assert_eq!(h.scope, CacheScope::Public);
/// assert_eq!(CacheHint::default(), CacheHint::DEFAULT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheHint {
    /// `ttlMs`: how long, in milliseconds, the client may consider the
    /// result fresh (0: immediately stale). Never negative (CACHE-2).
    pub ttl_ms: u64,
    /// `cacheScope`.
    pub scope: CacheScope,
}

impl CacheHint {
    /// Private, fresh for 5 seconds.
    pub const DEFAULT: CacheHint = CacheHint {
        ttl_ms: 5_000,
        scope: CacheScope::Private,
    };

    /// Shareable between callers, fresh for `ttl_ms`.
    pub fn public(ttl_ms: u64) -> Self {
        CacheHint {
            ttl_ms,
            scope: CacheScope::Public,
        }
    }

    /// Only for the caller's authorization context, fresh for `ttl_ms`.
    pub fn private(ttl_ms: u64) -> Self {
        CacheHint {
            ttl_ms,
            scope: CacheScope::Private,
        }
    }

    /// Write `ttlMs` and `cacheScope` into a result object.
    pub(super) fn apply(self, result: &mut Map<String, Value>) {
        result.insert("ttlMs".into(), Value::from(self.ttl_ms));
        result.insert("cacheScope".into(), Value::from(self.scope.as_str()));
    }
}

impl Default for CacheHint {
    fn default() -> Self {
        CacheHint::DEFAULT
    }
}

/// The hints of a registry, one per cacheable list and for `server/discover`
/// and reads (which a resource or template may override).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct CacheHints {
    pub(super) discover: Option<CacheHint>,
    pub(super) tools: Option<CacheHint>,
    pub(super) prompts: Option<CacheHint>,
    pub(super) resources: Option<CacheHint>,
    pub(super) templates: Option<CacheHint>,
    pub(super) read: Option<CacheHint>,
    /// For all of the above when they are `None`.
    pub(super) all: Option<CacheHint>,
}

impl CacheHints {
    /// The hint of `method`'s result (`resources/read` without a per-item
    /// hint).
    pub(super) fn of(&self, method: &str) -> CacheHint {
        let specific = match method {
            "server/discover" => self.discover,
            "tools/list" => self.tools,
            "prompts/list" => self.prompts,
            "resources/list" => self.resources,
            "resources/templates/list" => self.templates,
            "resources/read" => self.read,
            _ => None,
        };
        specific.or(self.all).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_1_specific_hints_win_over_the_registry_default() {
        let mut h = CacheHints::default();
        assert_eq!(h.of("tools/list"), CacheHint::DEFAULT);
        h.all = Some(CacheHint::public(10));
        h.tools = Some(CacheHint::private(0));
        assert_eq!(h.of("tools/list"), CacheHint::private(0));
        assert_eq!(h.of("prompts/list"), CacheHint::public(10));
        assert_eq!(h.of("resources/read"), CacheHint::public(10));
    }

    #[test]
    fn cache_2_wire_fields_are_a_non_negative_integer_and_a_known_scope() {
        let mut obj = Map::new();
        CacheHint::public(u64::MAX).apply(&mut obj);
        assert_eq!(obj["ttlMs"], Value::from(u64::MAX));
        assert!(obj["ttlMs"].is_u64());
        assert_eq!(obj["cacheScope"], "public");
        CacheHint::DEFAULT.apply(&mut obj);
        assert_eq!(obj["ttlMs"], 5_000);
        assert_eq!(obj["cacheScope"], "private");
    }
}
