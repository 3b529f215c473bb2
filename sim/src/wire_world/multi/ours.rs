//! Our own client (`streamable_hyper::client::Client`, the core client
//! machine) in the multi-instance world: a 2025-11-25 session through the
//! balancer, slow calls whose POST streams the balancer cuts after a few
//! frames, so that the client resumes with `Last-Event-ID` on whichever
//! instance the balancer picks (the issue's "kill the connection in the
//! middle of a countdown" case, in simulation).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use streamable_core::client::EraPreference;
use streamable_hyper::client::{Client, ClientBuilder};

use super::{LB, Plan, Tally};
use crate::client_world::app::connect_until_up;
use crate::harness::{PORT, Trace, now_ms};
use crate::wire_world::Oracle;

const NAME: &str = "o0";

fn builder() -> ClientBuilder {
    Client::builder(&format!("http://{LB}:{PORT}/mcp"))
        .client_info(NAME, "1")
        .timeout(Some(Duration::from_secs(6)))
        .reconnect(Duration::from_millis(50), 8)
        .era(EraPreference::Legacy)
        .header("x-sim-cut", "1")
        .check_invariants(true)
}

/// Play our client's calls; a failure is in the trace.
pub(super) async fn ours(plan: Arc<Plan>, trace: Trace, tally: Tally) {
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut client: Option<Client> = None;
    for k in 0..plan.ours_calls {
        let start = now_ms();
        if client.is_none() {
            client = connect_until_up(builder, &trace, NAME).await;
        }
        let Some(c) = client.as_ref() else {
            if plan.disturbed(start, now_ms()) {
                trace.log(NAME, "no session, explained by a fault");
                continue;
            }
            trace.fail_on(NAME, Oracle::Served, "could not connect without any fault");
            return;
        };
        let tag = format!("{NAME}-{k}");
        let steps = 3 + k % 3;
        let (mut result, mut progress);
        let mut tries = 0;
        loop {
            let seen: Arc<Mutex<Vec<f64>>> = Arc::default();
            let into = seen.clone();
            result = c
                .call_tool_with_progress(
                    "slow",
                    json!({"tag": tag, "steps": steps, "gap_ms": 120}),
                    move |p| into.lock().expect("progress").push(p.progress),
                )
                .await;
            progress = seen.lock().expect("progress").clone();
            tries += 1;
            // 503 (with Retry-After) is a defined answer even without a
            // fault (the session may still be being created elsewhere,
            // MI-2): the application calls again.
            match &result {
                Err(e) if e.to_string().contains("HTTP 503") && tries < 8 => {
                    trace.log(NAME, format!("{tag}: 503, calling again"));
                    tally.add("our client's 503s retried", 1);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                _ => break,
            }
        }
        trace.log(
            NAME,
            format!(
                "slow {tag}: {:?}, progress {progress:?}",
                result.as_ref().map(|_| "ok")
            ),
        );
        // Never twice, never out of order, whatever happened.
        if progress.windows(2).any(|w| w[1] <= w[0]) {
            trace.fail_on(
                NAME,
                Oracle::AtMostOnce,
                format!("progress of {tag} repeated or reordered: {progress:?}"),
            );
            return;
        }
        let disturbed = plan.disturbed(start, now_ms());
        match result {
            Ok(v) => {
                let got = v
                    .pointer("/structuredContent/tag")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if got != tag {
                    trace.fail_on(
                        NAME,
                        Oracle::Isolation,
                        format!("{tag} answered with the result of {got:?}"),
                    );
                    return;
                }
                let want: Vec<f64> = (1..=steps).map(|s| s as f64).collect();
                if progress != want && !disturbed {
                    trace.fail_on(
                        NAME,
                        Oracle::ExactReplay,
                        format!("progress of {tag} {progress:?}, expected {want:?} with no fault"),
                    );
                    return;
                }
                tally.add("our client's calls answered", 1);
            }
            Err(e) if disturbed => {
                trace.log(
                    NAME,
                    format!("{tag}: {e}, explained by a fault; new session"),
                );
                client = None;
            }
            Err(e) => {
                trace.fail_on(
                    NAME,
                    Oracle::Served,
                    format!("{tag}: {e} without any fault"),
                );
                return;
            }
        }
    }
}
