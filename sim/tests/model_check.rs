//! The bounded exhaustive model check of the real core (stateright, BFS),
//! and proof that it catches the core-level known-bad variants (c)..(g), (l) and (m).
//!
//! Bound: every behaviour of at most `MODEL_DEPTH` actions (default
//! [`DEFAULT_DEPTH`]) of the model in `streamable_sim::model` (two clients
//! in sessions and one stateless 2026-07-28 client, one drop, one resume).
#![cfg(not(loom))]

use streamable_sim::model::{
    self, DEFAULT_DEPTH, PROP_CAN, PROP_PSSE12, PROP_S1, PROP_S2, PROP_S4, PROP_S5, PROP_S8,
    PROP_S18, PROP_S26,
};
use streamable_sim::variants::Bug;

fn depth() -> usize {
    std::env::var("MODEL_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEFAULT_DEPTH)
}

#[test]
fn bounded_model_check_of_the_real_core_finds_no_violation() {
    let d = depth();
    let o = model::check(None, d, 2, false);
    println!(
        "model check (depth {d}): {} states, {} unique, {:.1} s",
        o.states,
        o.unique,
        o.elapsed.as_secs_f64()
    );
    assert!(o.failures.is_empty(), "violations: {:#?}", o.failures);
    // Not vacuous: resumes, terminations and answered server-to-client
    // requests all happen within the bound.
    assert!(o.unreached.is_empty(), "never reached: {:?}", o.unreached);
    assert!(
        o.unique > 10_000,
        "state space suspiciously small: {}",
        o.unique
    );
}

/// Each core variant must be caught by the bounded check, on the property
/// named.
fn caught(bug: Bug, props: &[&str]) {
    let o = model::check(Some(bug), DEFAULT_DEPTH, 2, true);
    println!(
        "variant ({}): {} states; {:?}",
        bug.letter(),
        o.unique,
        o.failures
    );
    assert!(
        o.failures.iter().any(|(p, _)| props.contains(p)),
        "variant ({}) {bug:?} not caught on {props:?} within depth {DEFAULT_DEPTH}: {:?}",
        bug.letter(),
        o.failures
    );
}

#[test]
fn variant_c_routing_by_jsonrpc_id_is_caught() {
    caught(Bug::RouteById, &[PROP_S18]);
}

#[test]
fn variant_d_replay_off_by_one_is_caught() {
    // The event replayed twice is whatever followed the cursor: a
    // progress event (INV-S2/S5) or the response itself (INV-S1).
    caught(Bug::ReplayOffByOne, &[PROP_S5, PROP_S2, PROP_S1]);
}

#[test]
fn variant_e_response_on_get_stream_is_caught() {
    caught(Bug::ResponseOnGet, &[PROP_S4]);
}

#[test]
fn variant_f_delete_keeps_dispatching_is_caught() {
    caught(Bug::DeleteKeepsSession, &[PROP_S8]);
}

#[test]
fn variant_g_disconnect_as_cancellation_is_caught() {
    caught(Bug::DisconnectCancels, &[PROP_PSSE12]);
}

#[test]
fn variant_l_ignored_close_of_a_stateless_stream_is_caught() {
    caught(Bug::ModernCloseIgnored, &[PROP_CAN]);
}

#[test]
fn variant_m_inv_s26_a_dropped_principal_is_caught() {
    caught(Bug::PrincipalDropped, &[PROP_S26]);
}

/// The core client as the second machine (issue 18): the real client
/// against the real server, every interleaving within the bounds, both eras.
#[test]
fn pair_model_of_client_and_server_finds_no_violation_in_either_era() {
    use streamable_core::ResponseMode;
    use streamable_core::client::EraPreference;
    use streamable_sim::model::pair::{PairBounds, PairModel, check_pair};
    for era in [EraPreference::Legacy, EraPreference::Modern] {
        let model = PairModel {
            era,
            mode: ResponseMode::Sse,
            bug: None,
            bounds: PairBounds::default(),
        };
        let d = pair_depth();
        let o = check_pair(model, d, 2);
        println!(
            "pair model {era:?} (depth {d}): {} unique states, {:.1} s",
            o.unique,
            o.elapsed.as_secs_f64()
        );
        assert!(o.failures.is_empty(), "{era:?}: {:#?}", o.failures);
        assert!(o.unreached.is_empty(), "{era:?} vacuous: {:?}", o.unreached);
    }
}

/// The pair model can fail: variants (d) and (g) are caught through the
/// real client.
#[test]
fn pair_model_catches_variants_d_and_g() {
    use streamable_core::ResponseMode;
    use streamable_core::client::EraPreference;
    use streamable_sim::model::pair::{PairBounds, PairModel, check_pair};
    for bug in [Bug::ReplayOffByOne, Bug::DisconnectCancels] {
        let model = PairModel {
            era: EraPreference::Legacy,
            mode: ResponseMode::Sse,
            bug: Some(bug),
            bounds: PairBounds::default(),
        };
        let o = check_pair(model, pair_depth(), 2);
        assert!(
            !o.failures.is_empty(),
            "{bug:?} not caught in {} states",
            o.unique
        );
        println!("{bug:?} caught: {:?}", o.failures[0]);
    }
}

/// The pair model's depth (`PAIR_DEPTH`, default 18): two calls' lives
/// (transmit, deliver, head, priming, progress, a cut, the resumption, the
/// answer) fit.
fn pair_depth() -> usize {
    std::env::var("PAIR_DEPTH")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(18)
}
