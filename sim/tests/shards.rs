//! The simulator at N = 3 shards (issue 19): the standard wire-world
//! scenario against a server with three sharded drivers, and the fan-out and
//! shard-death world (`wire_world::shards`). The long sweep is the binary's
//! (`streamable-sim --seeds 1000 --shards 3`, run by `.ci/run`); this is the
//! short one of `cargo test`. `SIM_SHARD_SEEDS` overrides the seed count.
#![cfg(not(loom))]

use streamable_sim::wire_world::{self, shards};

fn seeds() -> u64 {
    std::env::var("SIM_SHARD_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

/// SHARD-11: the standard scenario (crashes, partitions, drops, slow
/// readers, both eras) is clean with the sessions spread over three shards.
#[test]
fn shard_11_standard_scenario_at_three_shards_is_clean() {
    for seed in 0..seeds() {
        let r = wire_world::run_sharded(seed, 3);
        assert!(r.failure.is_none(), "{}", r.explain());
    }
}

/// SHARD-6, SHARD-10, SHARD-11: fan-out reaches subscribers of both eras
/// on every shard; a dead shard answers 503 for its sessions only; across
/// the sweep both dead-shard and live-shard sessions occur, and sessions
/// land on all three shards.
#[test]
fn shard_10_fan_out_and_a_dead_shard_in_the_sharded_world() {
    let (mut dead, mut live, mut all_three) = (0, 0, 0);
    for seed in 0..seeds() {
        let r = shards::run(seed);
        assert!(r.failure.is_none(), "{}", r.explain());
        dead += r.counts["sessions on the dead shard"];
        live += r.counts["sessions on live shards"];
        all_three += u64::from(r.counts["shards holding sessions"] == shards::SHARDS as u64);
    }
    assert!(dead > 0, "no seed put a session on the dying shard");
    assert!(live > 0, "no seed kept a session on a live shard");
    assert!(
        all_three > 0,
        "no seed spread its sessions over all three shards"
    );
}

/// The sharded world replays exactly: seeded ids per shard, one seed.
#[test]
fn shard_11_the_sharded_world_is_deterministic() {
    for seed in [0, 7] {
        let a = shards::run(seed);
        let b = shards::run(seed);
        assert!(a.failure.is_none(), "{}", a.explain());
        assert_eq!(
            a.trace_text(),
            b.trace_text(),
            "seed {seed} is not deterministic"
        );
    }
}
