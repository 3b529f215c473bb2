//! Sharded drivers (issue 19, `docs/scale.md` items 1-4): `N` core
//! instances, each owned by its own driver task behind its own mailbox.
//! Nothing is shared between shards on the hot path:
//!
//! - **A session id names its shard.** Shard `s` of `n` mints only wire ids
//!   whose value (128 bits, written as 32 lowercase hex digits by the core)
//!   is `≡ s (mod n)`: [`draw_in_shard`] draws from the id source and rejects
//!   until the residue fits. The service routes a request that carries
//!   `Mcp-Session-Id` by [`shard_of_session`]: one parse and one modulo, no
//!   table, no lock. An id that does not parse (not 32 lowercase hex
//!   digits) goes to shard 0, whose core answers it exactly as an unknown
//!   session (the answer is byte-identical to a single driver's).
//! - **Keys are unique across shards.** The core numbers its sessions and
//!   requests from 1; the driver hands out `local * n + s` ([`KeySpace`]) and
//!   takes it back with a division, so application state keyed by
//!   [`SessionKey`] or [`RequestKey`] never mixes two shards' sessions. With
//!   `n = 1` both maps are the identity: exactly the single driver.
//! - **Requests without a session** (`initialize`, every stateless
//!   2026-07-28 request) go to the service clone's *home* shard, assigned
//!   round-robin when the clone is made ([`Shards::next_home`]): per
//!   connection under [`serve`](crate::serve) (it clones the service once per
//!   accepted connection), so one connection's requests stay ordered on one
//!   driver and connections spread evenly; per request under routers that
//!   clone per request (axum). A home shard whose driver died is skipped.
//!
//! ## Bias of the rejection sampling
//!
//! A draw is uniform over `[0, 2^128)`; keeping only draws with
//! `x mod n = s` leaves each of the `⌈(2^128 - s) / n⌉` admissible values
//! exactly equally likely (rejection sampling is exact: conditioning a
//! uniform variable on an event gives the uniform distribution on that
//! event). So an id carries `log2(2^128 / n)` bits of entropy: 128 - 6 = 122
//! bits at `n = 64`, far above SBP-2's needs. The only thing an attacker
//! learns from a session id is its shard, which it could learn anyway by
//! its residue. Expected draws per id: `n`; the draws are bounded
//! ([`MAX_DRAWS_PER_SHARD`] × `n`, failure probability `< e^-64`), after
//! which the id source reports [`EntropyUnavailable`] and the core answers
//! 503 with `Retry-After`, as for a failing OS generator.

use std::sync::atomic::{AtomicUsize, Ordering};

use streamable_core::{EntropyUnavailable, RequestKey, SessionKey, Target};
use tokio::sync::mpsc;

use crate::mailbox::{Command, Control};
use crate::sync::Tickets;

/// Draws per shard before an id source gives up: the chance that
/// `64 × n` uniform draws all miss a residue class of size `1/n` is
/// `(1 - 1/n)^(64 n) < e^-64`.
pub(crate) const MAX_DRAWS_PER_SHARD: usize = 64;

/// The most shards a service runs ([`Builder::shards`](crate::Builder::shards)
/// clamps to it): each shard is a task, a mailbox and a core instance.
pub const MAX_SHARDS: usize = 1024;

/// Draw an id `≡ shard (mod n)` from `draw` by rejection (exact, see the
/// module docs); `n = 1` takes the first draw, exactly as a single driver.
pub(crate) fn draw_in_shard(
    shard: usize,
    n: usize,
    mut draw: impl FnMut() -> Result<u128, EntropyUnavailable>,
) -> Result<u128, EntropyUnavailable> {
    let n = n.max(1) as u128;
    let shard = shard as u128;
    for _ in 0..MAX_DRAWS_PER_SHARD.saturating_mul(n as usize) {
        let x = draw()?;
        if x % n == shard {
            return Ok(x);
        }
    }
    Err(EntropyUnavailable)
}

/// The shard a wire session id names: its value modulo `n`, or shard 0 for
/// an id that is not 32 lowercase hex digits (no id we mint; shard 0's core
/// answers it as an unknown session).
pub(crate) fn shard_of_session(id: &[u8], n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let Ok(digits) = <&[u8; 32]>::try_from(id) else {
        return 0;
    };
    // One pass that checks and converts (this runs on every request with a
    // session): the two 64-bit halves, then the value mod n from them with
    // four divisions, instead of a checked u128 parse and a u128 remainder
    // (~900 instructions per call in callgrind, now ~200).
    let mut halves = [0u64; 2];
    for (half, chunk) in halves.iter_mut().zip(digits.chunks_exact(16)) {
        for &b in chunk {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return 0,
            };
            *half = (*half << 4) | u64::from(d);
        }
    }
    // n <= MAX_SHARDS (clamped by the builder), so n * n fits in a u64:
    // (hi * 2^64 + lo) mod n = ((hi mod n) * (2^64 mod n) + lo mod n) mod n.
    let n = n as u64;
    let two64 = (u64::MAX % n + 1) % n;
    (((halves[0] % n) * two64 + halves[1] % n) % n) as usize
}

/// The seed of shard `s`'s predictable ids (simulation only): shard 0 keeps
/// the builder's seed, so `n = 1` replays exactly as before sharding.
#[cfg_attr(not(feature = "simulation"), allow(dead_code))]
pub(crate) fn shard_seed(seed: u64, shard: usize) -> u64 {
    if shard == 0 {
        seed
    } else {
        seed ^ (shard as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)
    }
}

/// One shard's keys as the application sees them: `local * n + shard`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeySpace {
    shard: u64,
    n: u64,
}

impl KeySpace {
    pub(crate) fn new(shard: usize, n: usize) -> Self {
        KeySpace {
            shard: shard as u64,
            n: n.max(1) as u64,
        }
    }

    fn out(self, local: u64) -> u64 {
        // The core counts from 1 and never reaches 2^64 / n.
        local.wrapping_mul(self.n).wrapping_add(self.shard)
    }

    fn back(self, global: u64) -> Option<u64> {
        (global % self.n == self.shard).then_some(global / self.n)
    }

    /// A core session key as handed to the application.
    pub(crate) fn session_out(self, k: SessionKey) -> SessionKey {
        SessionKey(self.out(k.0))
    }

    /// A core request key as handed to the application.
    pub(crate) fn request_out(self, k: RequestKey) -> RequestKey {
        RequestKey(self.out(k.0))
    }

    /// The core's key for an application session key (`None`: another
    /// shard's, which a handle of this shard never carries).
    pub(crate) fn session_back(self, k: SessionKey) -> Option<SessionKey> {
        self.back(k.0).map(SessionKey)
    }

    /// The core's key for an application request key.
    pub(crate) fn request_back(self, k: RequestKey) -> Option<RequestKey> {
        self.back(k.0).map(RequestKey)
    }

    /// The core's target for an application target.
    pub(crate) fn target_back(self, t: Target) -> Option<Target> {
        match t {
            Target::Request(r) => self.request_back(r).map(Target::Request),
            Target::Session(s) => self.session_back(s).map(Target::Session),
        }
    }
}

/// The service's side of one shard.
pub(crate) struct ShardLink {
    pub(crate) mailbox: mpsc::Sender<Command>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    /// Exchange tickets (unique per shard: each driver has its own table).
    pub(crate) tickets: Tickets,
}

/// Every shard's link, and the round-robin counter for home shards.
pub(crate) struct Shards {
    links: Box<[ShardLink]>,
    next: AtomicUsize,
}

impl Shards {
    pub(crate) fn new(links: Vec<ShardLink>) -> Self {
        Shards {
            links: links.into_boxed_slice(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }

    pub(crate) fn get(&self, shard: usize) -> &ShardLink {
        &self.links[shard % self.links.len()]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &ShardLink> {
        self.links.iter()
    }

    /// The next home shard, round-robin (no atomic at all with one shard).
    pub(crate) fn next_home(&self) -> usize {
        let n = self.links.len();
        if n <= 1 {
            return 0;
        }
        self.next.fetch_add(1, Ordering::Relaxed) % n
    }

    /// Whether shard `s`'s driver is gone (ended or panicked).
    pub(crate) fn is_dead(&self, shard: usize) -> bool {
        self.get(shard).mailbox.is_closed()
    }
}

/// Put a command in a shard's mailbox (at once when there is room, else
/// wait for room); a closed mailbox (the shard's driver is gone) hands the
/// command back, so a request without a session can try another shard.
pub(crate) async fn send_or_return(
    tx: &mpsc::Sender<Command>,
    cmd: Command,
) -> Result<(), Command> {
    match tx.try_send(cmd) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(cmd)) => Box::pin(tx.send(cmd)).await.map_err(|e| e.0),
        Err(mpsc::error::TrySendError::Closed(cmd)) => Err(cmd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_land_in_their_shard() {
        let mut state = 7u128;
        let mut draw = || {
            state = state
                .wrapping_mul(0x2545_F491_4F6C_DD1D)
                .wrapping_add(1442695040888963407);
            Ok(state)
        };
        for n in [1usize, 2, 3, 7, 64] {
            for s in 0..n {
                let id = draw_in_shard(s, n, &mut draw).unwrap();
                assert_eq!((id % n as u128) as usize, s);
                let wire = format!("{id:032x}");
                assert_eq!(shard_of_session(wire.as_bytes(), n), s);
            }
        }
    }

    #[test]
    fn shard_2_the_residue_is_the_value_mod_n() {
        let mut state = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834u128;
        for i in 0..2_000u32 {
            state = state
                .wrapping_mul(0x2545_F491_4F6C_DD1D_0000_0000_0000_0001)
                .wrapping_add(u128::from(i) * 0xD1B5_4A32_D192_ED03);
            for v in [state, u128::MAX - u128::from(i), u128::from(i)] {
                let wire = format!("{v:032x}");
                for n in [2usize, 3, 5, 7, 16, 1000, MAX_SHARDS] {
                    assert_eq!(
                        shard_of_session(wire.as_bytes(), n),
                        (v % n as u128) as usize,
                        "{wire} mod {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_source_that_never_fits_gives_up() {
        // Always residue 0 mod 2: shard 1 can never be served.
        let r = draw_in_shard(1, 2, || Ok(4));
        assert_eq!(r, Err(EntropyUnavailable));
        assert_eq!(
            draw_in_shard(0, 2, || Err(EntropyUnavailable)),
            Err(EntropyUnavailable)
        );
    }

    #[test]
    fn garbage_ids_go_to_shard_zero() {
        assert_eq!(shard_of_session(b"", 3), 0);
        assert_eq!(shard_of_session(b"ABCDEF00000000000000000000000001", 3), 0);
        assert_eq!(shard_of_session(b"0000000000000000000000000000000g", 3), 0);
        assert_eq!(shard_of_session(b"000000000000000000000000000000001", 3), 0);
        assert_eq!(shard_of_session(b"00000000000000000000000000000001", 3), 1);
        assert_eq!(shard_of_session(b"00000000000000000000000000000005", 3), 2);
        assert_eq!(shard_of_session(b"00000000000000000000000000000005", 1), 0);
    }

    #[test]
    fn keys_round_trip_and_do_not_collide() {
        let a = KeySpace::new(0, 3);
        let b = KeySpace::new(2, 3);
        let ka = a.session_out(SessionKey(5));
        let kb = b.session_out(SessionKey(5));
        assert_ne!(ka, kb);
        assert_eq!(a.session_back(ka), Some(SessionKey(5)));
        assert_eq!(b.session_back(kb), Some(SessionKey(5)));
        assert_eq!(a.session_back(kb), None);
        let one = KeySpace::new(0, 1);
        assert_eq!(one.request_out(RequestKey(9)), RequestKey(9));
        assert_eq!(one.request_back(RequestKey(9)), Some(RequestKey(9)));
    }
}
