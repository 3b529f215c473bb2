//! What a seed decides in either world: the generator, and the scenario
//! shape both worlds share (server start, link latency, clients, faults),
//! drawn in one fixed order so that a seed's replay command keeps meaning
//! the same run.

use std::time::Duration;

/// A small deterministic generator (splitmix64): the whole scenario comes
/// from it, so one `u64` decides everything.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5EED_5EED_5EED_5EED)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }
}

/// Everything a seed decides, in either world: when the server binds, the
/// link latency, what only that world decides about its server (`W`), the
/// clients' scripts (`S`, each world's own) and the faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario<S, W = ()> {
    /// The server host waits this long before binding (clients start at
    /// once and retry their connection).
    pub server_delay_ms: u16,
    /// Link latency bounds.
    pub min_latency_ms: u8,
    /// See `min_latency_ms`.
    pub max_latency_ms: u8,
    /// What only this world decides about its server (nothing in the
    /// wire world).
    pub server: W,
    /// The clients.
    pub clients: Vec<S>,
    /// Crash the server at `.0` ms and restart it `.1` ms later.
    pub crash: Option<(u32, u32)>,
    /// Partition client `.0` from the server at `.1` ms for `.2` ms.
    pub partition: Option<(usize, u32, u32)>,
}

impl<S, W> Scenario<S, W> {
    /// Draw a scenario from `r`, in the order both worlds have always drawn
    /// it (changing it would change what every seed means): the timing
    /// (`spread`: how far the latency's maximum may lie above its minimum),
    /// the world's own part of the server, one to three clients, the faults
    /// (a crash one seed in `crash_one_in`).
    pub(crate) fn draw(
        r: &mut Rng,
        spread: u64,
        crash_one_in: u64,
        server: impl FnOnce(&mut Rng) -> W,
        mut client: impl FnMut(&mut Rng) -> S,
    ) -> Self {
        let (server_delay_ms, min_latency_ms, max_latency_ms) = draw_timing(r, spread);
        let server = server(r);
        let n = r.range(1, 3) as usize;
        let clients = (0..n).map(|_| client(&mut *r)).collect();
        let (crash, partition) = draw_faults(r, n, crash_one_in);
        Scenario {
            server_delay_ms,
            min_latency_ms,
            max_latency_ms,
            server,
            clients,
            crash,
            partition,
        }
    }

    /// Whether a fault touches client `c` between `from` and `to` (ms): a
    /// partition of that client, or the server being down (plus a second
    /// for the client to notice). Only a missing answer is ever excused
    /// this way, never a wrong one.
    pub(crate) fn disturbed(&self, c: usize, from: u64, to: u64) -> bool {
        let overlaps = |a: u64, b: u64| from <= b && a <= to;
        if let Some((pc, at, len)) = self.partition
            && pc == c
            && overlaps(u64::from(at), u64::from(at) + u64::from(len) + 100)
        {
            return true;
        }
        if let Some((at, down)) = self.crash
            && overlaps(u64::from(at), u64::from(at) + u64::from(down) + 1000)
        {
            return true;
        }
        false
    }

    /// Whether the server crashed (losing its sessions) between `born` and
    /// `now`: then a 404 for a session created at `born` is the defined
    /// answer, and the client starts a new session.
    pub(crate) fn crashed_between(&self, born: u64, now: u64) -> bool {
        self.crash
            .is_some_and(|(at, _)| (born..=now).contains(&u64::from(at)))
    }

    /// The client hosts' names, `c0`, `c1`, ...
    pub(crate) fn client_names(&self) -> Vec<String> {
        (0..self.clients.len()).map(|i| format!("c{i}")).collect()
    }

    /// turmoil, seeded by `seed`, with this scenario's link latency.
    pub(crate) fn turmoil(&self, seed: u64) -> turmoil::Builder {
        let mut b = turmoil::Builder::new();
        b.rng_seed(seed)
            .epoch(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .simulation_duration(Duration::from_secs(120))
            .tick_duration(Duration::from_millis(1))
            .min_message_latency(Duration::from_millis(u64::from(self.min_latency_ms)))
            .max_message_latency(Duration::from_millis(u64::from(self.max_latency_ms)));
        b
    }
}

/// When a client starts (ms): at once one seed in two, else within 200 ms.
pub(crate) fn draw_start(r: &mut Rng) -> u16 {
    if r.one_in(2) {
        0
    } else {
        r.range(0, 200) as u16
    }
}

/// When the server binds (0 one seed in three, else 0-300 ms) and the link
/// latency bounds (min 0-5 ms, max up to `spread` ms above).
fn draw_timing(r: &mut Rng, spread: u64) -> (u16, u8, u8) {
    let server_delay_ms = if r.one_in(3) {
        0
    } else {
        r.range(0, 300) as u16
    };
    let min_latency_ms = r.range(0, 5) as u8;
    let max_latency_ms = min_latency_ms + r.range(1, spread) as u8;
    (server_delay_ms, min_latency_ms, max_latency_ms)
}

/// A server crash (one seed in `crash_one_in`: at 100-1500 ms, down for
/// 0-300 ms) and a partition of one of `n` clients (one seed in 8: at
/// 100-1500 ms, for 50-1000 ms).
#[allow(clippy::type_complexity)]
fn draw_faults(
    r: &mut Rng,
    n: usize,
    crash_one_in: u64,
) -> (Option<(u32, u32)>, Option<(usize, u32, u32)>) {
    let crash = r
        .one_in(crash_one_in)
        .then(|| (r.range(100, 1500) as u32, r.range(0, 300) as u32));
    let partition = r.one_in(8).then(|| {
        (
            r.range(0, n as u64 - 1) as usize,
            r.range(100, 1500) as u32,
            r.range(50, 1000) as u32,
        )
    });
    (crash, partition)
}
