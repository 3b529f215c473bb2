//! The simulator's command line (the binary's `main` calls [`main`]).
//!
//! ```text
//! cargo run --release -p streamable-sim -- --seeds 10000      # sweep seeds 0..10000
//! cargo run --release -p streamable-sim -- --seeds 500 --from 42
//! cargo run --release -p streamable-sim -- --seed 1234        # replay one, print its trace
//! cargo run --release -p streamable-sim -- --seeds 500 --bug b # a known-bad variant (expect failures)
//! cargo run --release -p streamable-sim -- --seeds 1000 --shards 3 # the server with 3 sharded drivers
//! cargo run --release -p streamable-sim -- --seeds 10000 --multi   # 3 instances, a shared store, a balancer
//! cargo run --release -p streamable-sim -- --seeds 100 --multi --bug o # a store variant (o)..(r)
//! ```
//!
//! Runs on one thread (turmoil's simulation is single-threaded; seeds are
//! independent, so `--jobs N` runs N sweeps side by side). On the first
//! failure it prints the seed, the failure, the trace stamped with simulated
//! time and the command that replays it, and exits with status 1.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::report::Report;
use crate::variants::Bug;
use indicatif::{ProgressBar, ProgressStyle};

struct Args {
    seeds: u64,
    from: u64,
    seed: Option<u64>,
    bug: Option<Bug>,
    jobs: u64,
    trace: bool,
    /// Sharded drivers of the server (issue 19); 1 is the standard sweep.
    shards: usize,
    /// The multi-instance world (issue 17) instead of the standard sweep.
    multi: bool,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: streamable-sim [--seeds N] [--from S] [--seed N] [--bug a..r] [--jobs J] [--trace] [--shards N | --multi]"
    );
    ExitCode::from(2)
}

fn parse() -> Option<Args> {
    let mut a = Args {
        seeds: 100,
        from: 0,
        seed: None,
        bug: None,
        jobs: 1,
        trace: false,
        shards: 1,
        multi: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--seeds" => a.seeds = it.next()?.parse().ok()?,
            "--from" => a.from = it.next()?.parse().ok()?,
            "--seed" => a.seed = Some(it.next()?.parse().ok()?),
            "--bug" => a.bug = Some(Bug::from_letter(it.next()?.chars().next()?)?),
            "--jobs" => a.jobs = it.next()?.parse::<u64>().ok()?.max(1),
            "--trace" => a.trace = true,
            "--shards" => a.shards = it.next()?.parse::<usize>().ok()?.max(1),
            "--multi" => a.multi = true,
            _ => return None,
        }
    }
    Some(a)
}

fn print_failure(r: &Report) {
    eprintln!("\n=== FAILED: seed {} ===", r.seed);
    eprintln!("{}", r.failure.as_deref().unwrap_or("?"));
    eprintln!("--- trace (simulated time) ---");
    eprint!("{}", r.trace_text());
    eprintln!("--- replay ---\n{}", r.replay_command());
}

/// Parse the arguments, run, report.
pub fn main() -> ExitCode {
    let Some(args) = parse() else {
        return usage();
    };
    if args.shards > 1 && args.bug.is_some() {
        eprintln!("--shards runs no variant");
        return usage();
    }
    if args.multi && (args.shards > 1 || args.bug.is_some_and(|b| !b.in_multi())) {
        eprintln!("--multi runs with one shard per instance, and only the variants (o)..(r)");
        return usage();
    }
    let (shards, multi) = (args.shards, args.multi);
    let run = move |seed: u64, bug: Option<Bug>| {
        if multi {
            crate::wire_world::multi::run(seed, bug)
        } else if shards > 1 {
            crate::run_sharded(seed, shards)
        } else {
            crate::run(seed, bug)
        }
    };
    if let Some(seed) = args.seed {
        let r = run(seed, args.bug);
        if r.failure.is_some() {
            print_failure(&r);
            return ExitCode::FAILURE;
        }
        if args.trace {
            print!("{}", r.trace_text());
        }
        println!("seed {seed}: ok ({} trace lines)", r.trace.len());
        return ExitCode::SUCCESS;
    }
    let bar = ProgressBar::new(args.seeds);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let next = Arc::new(AtomicU64::new(0));
    let failure: Arc<Mutex<Option<Report>>> = Arc::default();
    let counts: Arc<Mutex<BTreeMap<&'static str, u64>>> = Arc::default();
    let start = Instant::now();
    let workers: Vec<_> = (0..args.jobs)
        .map(|_| {
            let (next, failure, bar) = (next.clone(), failure.clone(), bar.clone());
            let counts = counts.clone();
            let (total, from, bug) = (args.seeds, args.from, args.bug);
            std::thread::spawn(move || {
                loop {
                    if failure.lock().expect("failure").is_some() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        return;
                    }
                    let r = run(from + i, bug);
                    bar.inc(1);
                    {
                        let mut all = counts.lock().expect("counts");
                        for (k, v) in &r.counts {
                            *all.entry(k).or_default() += v;
                        }
                    }
                    if r.failure.is_some() {
                        let mut f = failure.lock().expect("failure");
                        if f.as_ref().is_none_or(|old| old.seed > r.seed) {
                            *f = Some(r);
                        }
                        return;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    let done = bar.position();
    println!(
        "{done} seeds ({}..{}) in {elapsed:.1} s: {:.1} seeds/s ({:.0} seeds/min) on {} thread(s){}{}",
        args.from,
        args.from + done,
        done as f64 / elapsed,
        60.0 * done as f64 / elapsed,
        args.jobs,
        args.bug
            .map(|b| format!(", variant ({})", b.letter()))
            .unwrap_or_default(),
        if shards > 1 {
            format!(", {shards} shards")
        } else if multi {
            format!(", {} instances", crate::wire_world::multi::INSTANCES)
        } else {
            String::new()
        }
    );
    let counts = counts.lock().expect("counts");
    if !counts.is_empty() {
        let list: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        // The counts come from the client world, or (with shards) from the
        // sharded world's sessions on dead and live shards.
        let what = if shards > 1 {
            "sharded world"
        } else if multi {
            "multi-instance world"
        } else {
            "client world"
        };
        println!("{what} checked: {}", list.join(", "));
    }
    match failure.lock().expect("failure").take() {
        Some(r) => {
            print_failure(&r);
            ExitCode::FAILURE
        }
        None => {
            println!("all clean");
            ExitCode::SUCCESS
        }
    }
}
