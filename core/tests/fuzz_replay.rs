//! The fuzz targets on stable, as CI's smoke run: every committed corpus
//! and regression input of `fuzz/` (libFuzzer, nightly, see `fuzz/README.md`)
//! and a few thousand seeded random inputs (plain and mutations of corpus
//! entries) through the same functions (`streamable_core::fuzz`). A crash
//! libFuzzer found is kept under `fuzz/regressions/<target>/` and replayed
//! here for ever.

use std::path::PathBuf;

use streamable_core::fuzz;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 6] = [
    ("edge", fuzz::edge),
    ("jsonrpc", fuzz::jsonrpc),
    ("sse", fuzz::sse),
    ("client", fuzz::client),
    ("headers", fuzz::headers),
    ("request_state", fuzz::request_state),
];

/// Random inputs per target on top of the corpus.
fn random_inputs() -> u64 {
    std::env::var("FUZZ_REPLAY_RANDOM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000)
}

fn inputs_in(dir: PathBuf) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read")))
        .collect()
}

/// xorshift64*: seeded, so a failure names its input's number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn run(name: &str, target: Target) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = inputs_in(root.join("corpus").join(name));
    let regressions = inputs_in(root.join("regressions").join(name));
    for (path, data) in corpus.iter().chain(&regressions) {
        let r = std::panic::catch_unwind(|| target(data));
        assert!(r.is_ok(), "{name}: {path} fails");
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    for i in 0..random_inputs() {
        let mut data: Vec<u8> = if corpus.is_empty() || i % 2 == 0 {
            let len = (rng.next() % 600) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            // A corpus entry with a few bytes changed, inserted or cut.
            let mut d = corpus[(rng.next() as usize) % corpus.len()].1.clone();
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % (d.len() + 1);
                match rng.next() % 3 {
                    0 if at < d.len() => d[at] = rng.next() as u8,
                    1 => d.insert(at, rng.next() as u8),
                    _ => d.truncate(at.max(1)),
                }
            }
            d
        };
        data.truncate(4096);
        let r = std::panic::catch_unwind(|| target(&data));
        assert!(r.is_ok(), "{name}: random input {i} fails: {data:?}");
    }
    println!(
        "{name}: {} corpus, {} regression, {} random inputs",
        corpus.len(),
        regressions.len(),
        random_inputs()
    );
}

#[test]
fn fuzz_edge_replay() {
    run(TARGETS[0].0, TARGETS[0].1);
}

#[test]
fn fuzz_jsonrpc_replay() {
    run(TARGETS[1].0, TARGETS[1].1);
}

#[test]
fn fuzz_sse_replay() {
    run(TARGETS[2].0, TARGETS[2].1);
}

#[test]
fn fuzz_client_replay() {
    run(TARGETS[3].0, TARGETS[3].1);
}

#[test]
fn fuzz_headers_replay() {
    run(TARGETS[4].0, TARGETS[4].1);
}

#[test]
fn fuzz_request_state_replay() {
    run(TARGETS[5].0, TARGETS[5].1);
}
