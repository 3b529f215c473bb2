//! The result of one run of either world: its seed, its variant, its trace
//! and its first failure, with the replay command; and the tests' proof
//! that a known-bad variant's runs fail.

use std::collections::BTreeMap;

use crate::variants::Bug;
use crate::wire_world::Oracle;

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The variant run, if any.
    pub bug: Option<Bug>,
    /// The trace, one line per event, stamped with simulated time.
    pub trace: Vec<String>,
    /// The first failure, if any.
    pub failure: Option<String>,
    /// The named oracle of that failure (the wire world's; `None` for a
    /// panic, a runner error, or a client-world oracle, named in the text).
    pub oracle: Option<Oracle>,
    /// How often each oracle had something to check (the client world's
    /// coverage; empty for the wire world).
    pub counts: BTreeMap<&'static str, u64>,
    /// The world's flag for the replay command (`""` for the standard
    /// sweep, `" --multi"` for the multi-instance world).
    pub world_flag: &'static str,
}

impl Report {
    /// The trace as one string.
    pub fn trace_text(&self) -> String {
        let mut s = String::new();
        for l in &self.trace {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// The failure, its trace and the replay command, for a test's panic.
    pub fn explain(&self) -> String {
        format!(
            "seed {} failed: {}\n--- trace ---\n{}--- replay ---\n{}",
            self.seed,
            self.failure.as_deref().unwrap_or("?"),
            self.trace_text(),
            self.replay_command()
        )
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        match self.bug {
            Some(b) => format!(
                "cargo run --release -p streamable-sim -- --seed {}{} --bug {}",
                self.seed,
                self.world_flag,
                b.letter()
            ),
            None => format!(
                "cargo run --release -p streamable-sim -- --seed {}{}",
                self.seed, self.world_flag
            ),
        }
    }
}

/// The first of seeds `0..budget` on which `run` with `bug` fails: how the
/// tests show that a variant is caught (`None`: it was not).
pub fn first_failure(bug: Bug, budget: u64, run: fn(u64, Option<Bug>) -> Report) -> Option<Report> {
    (0..budget)
        .map(|seed| run(seed, Some(bug)))
        .find(|r| r.failure.is_some())
}

/// Panic unless seeds `0..budget` of `run` with `bug` fail, and fail on
/// the oracle whose name `oracle` is part of the failure (the tests'
/// proof that each checker can fail).
pub fn assert_caught(bug: Bug, budget: u64, oracle: &str, run: fn(u64, Option<Bug>) -> Report) {
    let Some(r) = first_failure(bug, budget, run) else {
        panic!(
            "variant ({}) {bug:?} not caught within {budget} seeds",
            bug.letter()
        );
    };
    let f = r.failure.as_deref().unwrap_or_default();
    println!("variant ({}) caught at seed {}: {f}", bug.letter(), r.seed);
    assert!(
        f.contains(oracle),
        "variant ({}) failed, but not on the expected oracle {oracle:?}: {}",
        bug.letter(),
        r.explain()
    );
}

/// Panic unless seeds `0..budget` of `run` with `bug` fail, and fail on
/// exactly the named `oracle` (the wire world's proof that each variant is
/// caught by the oracle meant for it, not by another one that happened to
/// trip first).
pub fn assert_caught_by(
    bug: Bug,
    budget: u64,
    oracle: Oracle,
    run: fn(u64, Option<Bug>) -> Report,
) {
    let Some(r) = first_failure(bug, budget, run) else {
        panic!(
            "variant ({}) {bug:?} not caught within {budget} seeds",
            bug.letter()
        );
    };
    println!(
        "variant ({}) caught at seed {} by {:?}: {}",
        bug.letter(),
        r.seed,
        r.oracle,
        r.failure.as_deref().unwrap_or_default()
    );
    assert_eq!(
        r.oracle,
        Some(oracle),
        "variant ({}) failed, but not on the oracle {oracle:?}: {}",
        bug.letter(),
        r.explain()
    );
}
