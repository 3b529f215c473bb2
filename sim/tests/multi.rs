//! The multi-instance world (issue 17, `docs/store.md`): three real
//! instances sharing a store host, a non-sticky balancer, store and
//! instance faults. The long sweep is the binary's (`streamable-sim --seeds
//! 10000 --multi`, run by `.ci/run`); this is the short one of `cargo test`.
//! `SIM_MULTI_SEEDS` overrides the seed count.
#![cfg(not(loom))]

use streamable_sim::report::assert_caught_by;
use streamable_sim::variants::Bug;
use streamable_sim::wire_world::{Oracle, multi};

fn seeds() -> u64 {
    std::env::var("SIM_MULTI_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60)
}

/// MI-1..MI-6: clean seeds pass every oracle, and across the sweep every
/// fault happens and is survived: instance crashes, store partitions, slow
/// store windows, store restarts that lose writes; resumes land on another
/// instance and finish exactly; our own client's cut streams resume and
/// finish; a deleted session is 404 wherever the next request lands;
/// sessions are lost only where a fault lost their setup.
#[test]
fn mi_1_multi_instance_world_is_clean_and_exercises_every_fault() {
    let mut total = std::collections::BTreeMap::new();
    for seed in 0..seeds() {
        let r = multi::run(seed, None);
        assert!(r.failure.is_none(), "{}", r.explain());
        for (k, v) in r.counts {
            *total.entry(k).or_insert(0u64) += v;
        }
    }
    println!("{total:?}");
    for what in [
        "instance crashes",
        "store partitions",
        "slow store windows",
        "store restarts",
        "store writes lost in restarts",
        "resumes on another instance",
        "resumed calls answered exactly",
        "echo calls answered",
        "stateless calls answered",
        "503 answers retried",
        "404s after DELETE",
        "our client's streams cut",
        "our client's calls answered",
    ] {
        assert!(
            total.get(what).copied().unwrap_or(0) > 0,
            "no seed had {what:?}: {total:?}"
        );
    }
}

/// The world replays exactly: one seed, one trace (seeds 14 and 22 both
/// crash an instance and restart the store with loss). In a fresh process
/// each time, as the printed replay command runs it: within one process
/// tokio's global task-id counter moves on from run to run (other tests
/// run beside this one), and our own client's pooled connections and a
/// crashed host's tasks are dropped in that order, which can move a step
/// by a tick (the client world's determinism test does the same).
#[test]
fn mi_1_the_multi_instance_world_is_deterministic() {
    let replay = |seed: u64| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_streamable-sim"))
            .args(["--seed", &seed.to_string(), "--multi", "--trace"])
            .output()
            .expect("run the simulator");
        assert!(
            out.status.success(),
            "seed {seed} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 trace")
    };
    for seed in [0, 5, 14, 22] {
        let (a, b) = (replay(seed), replay(seed));
        assert!(
            a.contains("instances") && a.lines().count() > 10,
            "trace of seed {seed} too short:\n{a}"
        );
        assert_eq!(a, b, "seed {seed} is not deterministic");
    }
}

/// MI-7 (o): an append the store acknowledged but did not keep is caught
/// by exact replay (a resume on another instance cannot continue after the
/// cursor, and no fault explains it).
#[test]
fn mi_7_lost_append_acknowledged_is_caught() {
    assert_caught_by(Bug::LostAppendAcked, 20, Oracle::ExactReplay, multi::run);
}

/// MI-7 (p): reads served from the image of a failover are caught by the
/// declared-loss oracle (after the restart the store forgets a stream it
/// acknowledged, or serves a session it deleted, though the restart lost
/// nothing of it).
#[test]
fn mi_7_stale_read_after_failover_is_caught() {
    assert_caught_by(
        Bug::StaleReadAfterFailover,
        40,
        Oracle::DeclaredLoss,
        multi::run,
    );
}

/// MI-7 (q): streams keyed without their instance are caught by isolation
/// (a resume delivers another stream's events).
#[test]
fn mi_7_event_ids_unique_per_instance_only_are_caught() {
    assert_caught_by(
        Bug::InstanceLocalEventIds,
        40,
        Oracle::Isolation,
        multi::run,
    );
}

/// MI-7 (r): the restore race (a session served on an instance before its
/// record came back) is caught by the served-anywhere oracle.
#[test]
fn mi_7_restore_race_is_caught() {
    assert_caught_by(Bug::RestoreRace, 20, Oracle::Served, multi::run);
}
