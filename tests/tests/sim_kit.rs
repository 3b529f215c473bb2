//! The "done when" (KIT-8): through the public API only, a server
//! with typed tools, simulated for many seeds by `streamable_sim::kit`,
//! passes when its handler is right and is caught when a bug is planted.
//!
//! "A tool that answers twice" cannot be planted: a handler answers by
//! returning, once, and the adapter writes one response per request (the
//! kit still checks that no stream carries two). So the planted bugs are a
//! tool that never answers for some arguments, and a tool that answers the
//! wrong result when two calls overlap (state shared across an `await`).
//!
//! `cargo test` runs all 1,000 seeds of the correct server (about 5 s on
//! the 2-core development machine, test profile).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use streamable_hyper::{Json, McpServer, Tool};
use streamable_sim::kit::{Call, Outcome, Run, Simulation};

/// Seeds of a plain `cargo test` run.
const SEEDS: u64 = 1000;
/// Seeds searched for a planted bug.
const HUNT: u64 = 1000;

#[derive(Deserialize, JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

#[derive(Serialize, JsonSchema)]
struct Sum {
    sum: i64,
}

#[derive(Deserialize, JsonSchema)]
struct Count {
    /// How many steps (each reported as progress).
    steps: u32,
}

#[derive(Clone, Copy, PartialEq)]
enum Planted {
    None,
    /// `add` hangs when `a == b == 7`.
    NeverAnswers,
    /// `add` keeps its operand in state shared by all calls across an
    /// `await`: an overlapping call overwrites it.
    SharedOperand,
}

fn server(planted: Planted) -> impl Fn() -> McpServer + Send + Sync + 'static {
    move || {
        let operand = Arc::new(Mutex::new(0i64));
        McpServer::new("adder", "1")
            .tool(Tool::typed(
                "add",
                "Add two numbers",
                move |_ctx, Add { a, b }| {
                    let operand = operand.clone();
                    async move {
                        match planted {
                            Planted::NeverAnswers if a == 7 && b == 7 => {
                                std::future::pending::<()>().await;
                            }
                            Planted::SharedOperand => {
                                *operand.lock().unwrap() = a;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                let a = *operand.lock().unwrap();
                                return Ok(Json(Sum { sum: a + b }));
                            }
                            _ => {}
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(Json(Sum { sum: a + b }))
                    }
                },
            ))
            .tool(Tool::typed(
                "count",
                "Count to steps, with progress",
                |ctx, Count { steps }| async move {
                    for k in 1..=steps {
                        ctx.progress(f64::from(k), Some(f64::from(steps)), None)
                            .await?;
                        tokio::time::sleep(Duration::from_millis(40)).await;
                    }
                    Ok(Json(Sum {
                        sum: i64::from(steps),
                    }))
                },
            ))
    }
}

/// The user's oracle: every answer is right.
fn sums_are_right(run: &Run) -> Result<(), String> {
    for c in run.answered() {
        let got = c
            .result()
            .and_then(|r| r["structuredContent"]["sum"].as_i64());
        let want = match c.tool.as_str() {
            "add" => c.arguments["a"].as_i64().unwrap() + c.arguments["b"].as_i64().unwrap(),
            _ => c.arguments["steps"].as_i64().unwrap(),
        };
        if got != Some(want) {
            return Err(format!(
                "client {} {} {}: got {:?}, want {want}",
                c.client, c.tool, c.arguments, c.outcome
            ));
        }
        // Every step reported, in order, to a legacy caller the faults
        // left alone (a 2026-07-28 call may be re-issued and start again).
        if c.tool == "count" && !c.modern && !c.disturbed {
            let want: Vec<f64> = (1..=want).map(|k| k as f64).collect();
            if c.progress != want {
                return Err(format!("count {want:?}: progress {:?}", c.progress));
            }
        }
    }
    Ok(())
}

fn simulation(planted: Planted) -> Simulation {
    Simulation::new(server(planted))
        .calls(|rng, _client| {
            (0..rng.range(1, 4))
                .map(|_| {
                    if rng.one_in(4) {
                        Call::tool("count", json!({"steps": rng.range(1, 4)}))
                    } else {
                        Call::tool("add", json!({"a": rng.range(0, 9), "b": rng.range(0, 9)}))
                    }
                })
                .collect()
        })
        .oracle("sums are right", sums_are_right)
}

#[test]
fn kit_8_the_correct_server_passes_every_seed() {
    simulation(Planted::None).check(0..SEEDS);
}

/// The sweep meets what it claims to: both eras, cut-and-resumed streams,
/// crashes, progress, overlapping calls.
#[test]
fn kit_8_the_sweep_meets_both_eras_resumes_crashes_and_progress() {
    let sim = simulation(Planted::None);
    let mut total: std::collections::BTreeMap<&str, u64> = Default::default();
    let (mut crashed, mut modern, mut failed) = (0, 0, 0);
    for seed in 0..200 {
        let (report, run) = sim.run_seed(seed);
        assert!(report.failure.is_none(), "{:?}", report.failure);
        for (k, v) in report.counts {
            *total.entry(k).or_default() += v;
        }
        crashed += u64::from(run.crashed);
        modern += run.calls.iter().filter(|c| c.modern).count();
        failed += run
            .calls
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .count();
    }
    println!("{total:?} crashed {crashed} modern calls {modern} failed calls {failed}");
    assert!(total["calls"] > 400, "{total:?}");
    assert!(total["resumes"] > 0, "{total:?}");
    assert!(total["connections cut"] > 0, "{total:?}");
    assert!(total["calls with progress"] > 0, "{total:?}");
    assert!(crashed > 0 && modern > 0);
}

#[test]
fn kit_8_a_handler_that_never_answers_is_caught() {
    let (report, run) = simulation(Planted::NeverAnswers)
        .find_failure(0..HUNT)
        .expect("some seed calls add(7, 7)");
    let failure = report.failure.unwrap();
    assert!(
        failure.contains("undisturbed call failed") || failure.contains("deadline"),
        "{failure}"
    );
    assert!(run.calls.iter().any(|c| {
        c.arguments == json!({"a": 7, "b": 7}) && matches!(c.outcome, Outcome::Failed(_))
    }));
}

#[test]
fn kit_8_a_wrong_answer_under_overlap_is_caught_with_a_replay_command() {
    let sim = simulation(Planted::SharedOperand);
    let (report, _) = sim
        .find_failure(0..HUNT)
        .expect("some seed overlaps two adds");
    assert!(
        report
            .failure
            .as_deref()
            .unwrap()
            .contains("oracle \"sums are right\""),
        "{:?}",
        report.failure
    );
    // What a failing `check` prints: the seed, the trace, the replay line.
    let seed = report.seed;
    let panic =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.check(seed..seed + 1)))
            .unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.starts_with(&format!("seed {seed} failed")), "{msg}");
    assert!(msg.contains("--- trace ---"), "{msg}");
    assert!(
        msg.contains(&format!(
            "STREAMABLE_SIM_SEED={seed} cargo test -- --exact kit_8_a_wrong_answer_under_overlap_is_caught_with_a_replay_command"
        )),
        "{msg}"
    );
}
