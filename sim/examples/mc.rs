//! Ad-hoc: BFS the default model to a depth and print its size.
use std::time::Instant;

use stateright::{Checker, Model};
use streamable_sim::model::McpModel;

fn main() {
    let depth: usize = std::env::args().nth(1).map_or(12, |a| a.parse().unwrap());
    let t = Instant::now();
    let c = McpModel::new()
        .checker()
        .threads(2)
        .target_max_depth(depth)
        .spawn_bfs()
        .join();
    println!(
        "depth {depth}: states {} unique {} in {:?}",
        c.state_count(),
        c.unique_state_count(),
        t.elapsed()
    );
    for (name, d) in c.discoveries() {
        println!("{name}: {} steps", d.into_actions().len());
    }
}
