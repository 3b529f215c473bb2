//! The trace and failure record of one run, stamped with simulated time.

use std::sync::{Arc, Mutex};

use crate::wire_world::Oracle;

/// The shared trace and failure record of one run.
#[derive(Clone, Default)]
pub(crate) struct Trace {
    pub(crate) inner: Arc<Mutex<TraceInner>>,
}

#[derive(Default)]
pub(crate) struct TraceInner {
    pub(crate) lines: Vec<String>,
    pub(crate) failure: Option<String>,
    /// The named oracle of the first failure, when it came from one.
    pub(crate) oracle: Option<Oracle>,
}

/// Simulated milliseconds since the run began (0 outside a host).
pub(crate) fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

impl Trace {
    pub(crate) fn log(&self, who: &str, what: impl std::fmt::Display) {
        self.log_at(now_ms(), who, what);
    }

    /// A line stamped with `ms` (for the runner, outside any host).
    pub(crate) fn log_at(&self, ms: u64, who: &str, what: impl std::fmt::Display) {
        let line = format!("[{ms:>6} ms] {who:<7} {what}");
        self.inner.lock().expect("trace").lines.push(line);
    }

    pub(crate) fn fail(&self, who: &str, what: impl std::fmt::Display) -> Failed {
        self.record(who, None, what.to_string())
    }

    /// A failure of the named `oracle` (the wire world's).
    pub(crate) fn fail_on(
        &self,
        who: &str,
        oracle: Oracle,
        what: impl std::fmt::Display,
    ) -> Failed {
        self.record(who, Some(oracle), format!("[{}] {what}", oracle.name()))
    }

    fn record(&self, who: &str, oracle: Option<Oracle>, what: String) -> Failed {
        let msg = format!("{who}: {what}");
        self.log(who, format!("FAILED: {what}"));
        let mut g = self.inner.lock().expect("trace");
        if g.failure.is_none() {
            g.failure = Some(msg.clone());
            g.oracle = oracle;
        }
        Failed(msg)
    }
}

/// An oracle failure (ends the client's script).
#[derive(Debug)]
pub(crate) struct Failed(String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}
