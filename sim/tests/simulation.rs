//! The turmoil simulation of the real hyper server and clients: a seed
//! sweep, the determinism check, proptest-generated scenarios (shrinkable),
//! and proof that the adapter-level known-bad variants (a), (b), (h) are
//! caught within a fixed number of seeds.
//!
//! Replay a failure with the command printed next to its trace
//! (`cargo run --release -p streamable-sim -- --seed N`). For CI this file is
//! also built with `RUSTFLAGS="--cfg tokio_unstable"`, under which a
//! panicking task shuts its host down; on stable builds the harness's panic
//! hook fails the run instead.
#![cfg(not(loom))]

use proptest::prelude::*;
use streamable_sim::report::assert_caught_by;
use streamable_sim::variants::Bug;
use streamable_sim::wire_world::{self, Op, Oracle, Scenario, Script};

fn seeds() -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

#[test]
fn seed_sweep_of_the_standard_scenario_is_clean() {
    let n = seeds();
    let from: u64 = std::env::var("SIM_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let start = std::time::Instant::now();
    for seed in from..from + n {
        let r = wire_world::run(seed, None);
        assert!(r.failure.is_none(), "{}", r.explain());
    }
    println!("{n} seeds clean in {:.1} s", start.elapsed().as_secs_f64());
}

#[test]
fn same_seed_gives_the_same_trace_byte_for_byte() {
    // Seeds with a crash, a partition and a drop/resume among them.
    let mut picked = vec![0, 1, 26];
    for seed in 0..200 {
        let s = Scenario::from_seed(seed);
        if (s.crash.is_some() || s.partition.is_some()) && picked.len() < 6 {
            picked.push(seed);
        }
    }
    for seed in picked {
        let a = wire_world::run(seed, None);
        let b = wire_world::run(seed, None);
        assert!(a.failure.is_none(), "{}", a.explain());
        assert!(a.trace.len() > 5, "trace of seed {seed} too short");
        assert_eq!(
            a.trace_text(),
            b.trace_text(),
            "seed {seed} is not deterministic"
        );
    }
}

/// Seeds 0.. with `bug` must fail within `budget`, on the oracle named.
fn caught(bug: Bug, budget: u64, oracle: Oracle) {
    assert_caught_by(bug, budget, oracle, wire_world::run);
}

#[test]
fn variant_a_late_readiness_strands_early_requests_and_is_caught() {
    caught(Bug::LateReady, 500, Oracle::Readiness);
}

#[test]
fn variant_b_buffered_sse_is_caught_by_the_latency_oracle() {
    caught(Bug::BufferedSse, 500, Oracle::Latency);
}

#[test]
fn variant_h_slow_reader_blocking_its_session_is_caught() {
    caught(Bug::SlowReaderBlocks, 500, Oracle::Deadline);
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Echo),
        (2u8..5, 100u16..300).prop_map(|(steps, gap_ms)| Op::Slow { steps, gap_ms }),
        Just(Op::Ask),
        any::<bool>().prop_map(|slow| Op::Get { slow }),
        (1u8..120).prop_map(|n| Op::Flood { n }),
        (2u8..5, 100u16..250, 0u16..400).prop_map(|(steps, gap_ms, pause_ms)| Op::DropResume {
            steps,
            gap_ms,
            pause_ms
        }),
        Just(Op::Delete),
        (10u16..500).prop_map(Op::Sleep),
    ]
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let script = (0u16..200, proptest::collection::vec(arb_op(), 1..6))
        .prop_map(|(start_ms, ops)| Script { start_ms, ops });
    (
        0u16..300,
        0u8..5,
        1u8..35,
        proptest::collection::vec(script, 1..4),
        proptest::option::of((100u32..1500, 0u32..300)),
        proptest::option::of((0usize..3, 100u32..1500, 50u32..1000)),
    )
        .prop_map(
            |(server_delay_ms, min, spread, clients, crash, partition)| {
                let partition = partition.map(|(c, at, len)| (c % clients.len(), at, len));
                Scenario {
                    server_delay_ms,
                    min_latency_ms: min,
                    max_latency_ms: min + spread,
                    server: (),
                    clients,
                    crash,
                    partition,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Scenarios built by proptest instead of from a seed: a failure is
    /// shrunk to a smaller scenario (fewer clients and steps, no faults).
    #[test]
    fn generated_scenarios_are_clean(scen in arb_scenario(), seed in any::<u64>()) {
        let r = wire_world::run_scenario(seed, &scen, None);
        prop_assert!(r.failure.is_none(), "{}", r.explain());
    }
}
