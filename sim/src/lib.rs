//! # streamable-sim
//!
//! Verification of streamable, in three layers:
//!
//! - [`model`]: exhaustive model checking (stateright, BFS) of the real core
//!   `Server` with two abstract clients and an abstract network;
//! - [`pair`]: the core client against the core server in memory
//!   (quinn-proto's `Pair`): property tests choose every interleaving, byte
//!   split, cut and clock step;
//! - the simulation: seeded, deterministic turmoil runs of the real hyper
//!   server (`streamable-hyper`) over simulated TCP, with faults (start-up
//!   races, crashes, partitions, drops, slow readers), in two worlds that
//!   share a [`harness`] and run the same server application: the
//!   [`wire_world`] (hand-written HTTP clients) and the [`client_world`]
//!   (our own client); each run gives a [`Report`]; and the multi-instance
//!   world ([`wire_world::multi`]: three instances sharing a store host
//!   behind a load balancer, with store faults);
//! - [`kit`]: the same simulation for *your* server: your application,
//!   your calls, the protocol oracles plus yours, for a range of seeds;
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
mod fixture;
pub mod harness;
pub mod kit;
pub mod model;
pub mod pair;
pub mod report;
pub mod variants;
pub mod wire;
pub mod wire_world;

use report::Report;
use variants::Bug;

/// Run everything a seed decides: the wire world ([`wire_world`]: hand-written
/// HTTP clients) and the client world ([`client_world`]: our own client),
/// each against the real server; the first failure, or the client world's
/// clean report. A variant runs only in the world that checks it.
pub fn run(seed: u64, bug: Option<Bug>) -> Report {
    match bug {
        Some(b) if b.in_client() => client_world::run(seed, bug),
        Some(b) if b.in_multi() => wire_world::multi::run(seed, bug),
        Some(_) => wire_world::run(seed, bug),
        None => {
            let wire = wire_world::run(seed, None);
            if wire.failure.is_some() {
                return wire;
            }
            client_world::run(seed, None)
        }
    }
}

/// The sharded server (issue 19): the wire world's standard scenario of
/// `seed` against a server with `shards` drivers, then the fan-out and
/// shard-death world ([`wire_world::shards`], three shards); the first
/// failure, or the latter's report (its counts say how many sessions were
/// on the dead shard and on live ones).
pub fn run_sharded(seed: u64, shards: usize) -> Report {
    let wire = wire_world::run_sharded(seed, shards);
    if wire.failure.is_some() {
        return wire;
    }
    wire_world::shards::run(seed)
}
