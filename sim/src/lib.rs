//! # streamable-sim
//!
//! Verification of streamable, in three layers:
//!
//! - [`model`]: exhaustive model checking (stateright, BFS) of the real core
//!   `Server` with two abstract clients and an abstract network;
//! - [`sim`]: a seeded, deterministic turmoil simulation of the real hyper
//!   server (`streamable-hyper`) and real hyper clients over simulated TCP,
//!   with faults (start-up races, crashes, partitions, drops, slow readers);
//! - [`variants`]: deliberately broken variants (the list (a)..(h)),
//!   each wired into the checker that must catch it.
//!
//! The binary (`cargo run --release -p streamable-sim -- --seeds 10000`)
//! sweeps seeds and prints the trace and replay command of any failure.
//!
//! Nothing in this crate is a dependency of the product crates.

// Under `--cfg loom` (tests/loom_broken.rs only) nothing here is built:
// tokio then lacks the network types turmoil needs.
#![cfg(not(loom))]

pub mod cli;
pub mod client_world;
pub mod model;
pub mod sim;
pub mod variants;
pub mod wire;

use variants::Bug;

/// Run everything a seed decides: the wire world ([`sim`]: hand-written
/// HTTP clients) and the client world ([`client_world`]: our own client),
/// each against the real server; the first failure, or the client world's
/// clean report. A variant runs only in the world that checks it.
pub fn run(seed: u64, bug: Option<Bug>) -> sim::Report {
    match bug {
        Some(b) if b.in_client() => client_world::run(seed, bug),
        Some(_) => sim::run(seed, bug),
        None => {
            let wire = sim::run(seed, None);
            if wire.failure.is_some() {
                return wire;
            }
            client_world::run(seed, None)
        }
    }
}
