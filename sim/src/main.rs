//! `cargo run --release -p streamable-sim -- --seeds 10000`: see [`streamable_sim::cli`].

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    streamable_sim::cli::main()
}

#[cfg(loom)]
fn main() {}
