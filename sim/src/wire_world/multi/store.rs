//! The store host and the instances' client of it.
//!
//! **The hop.** An instance's [`StoreClient`] puts the core's
//! [`StoreCommand`] in a [`Mailbox`] under a fresh number, opens a turmoil
//! TCP connection to the store host and sends the number (8 bytes); the
//! store host takes the command out of the mailbox, executes it, puts the
//! reply back under the same number and sends the number back. Only the
//! numbers cross the simulated wire (the commands are not serialisable and
//! need not be: both ends are in this process), so every turmoil fault is
//! real: latency and spikes delay the command and its reply, a partition or
//! a crashed store leaves the connection unanswered or broken (the
//! instance's driver gives up at the store deadline: 503), a restart loses
//! what was in flight.
//!
//! **The backend.** A [`MemorySharedStore`] (the port's reference
//! semantics) on the store host, plus the [`Backend`] that outlives the
//! host: the log of every write the store executed, stamped with simulated
//! time. Replication to the replica is asynchronous with a lag: when the
//! store crashes at `t` with lag `L`, the writes after `t - L` are lost (the
//! replica never got them), and the restarted store is rebuilt from the
//! rest (Redis's failover to an asynchronous replica).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use streamable_core::ProtocolVersion;
use streamable_hyper::store::{
    MemorySharedStore, SessionPhase, SessionRecord, SharedStore, SharedStoreFuture, StoreCommand,
    StoreFailure, StoreReply, StreamKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{STORE, STORE_PORT};
use crate::harness::{Trace, now_ms};
use crate::variants::Bug;

type Completion = Result<StoreReply, StoreFailure>;

/// Commands on their way to the store and replies on their way back, by
/// number (the only thing the simulated wire carries).
#[derive(Default)]
pub(super) struct Mailbox {
    next: AtomicU64,
    requests: Mutex<BTreeMap<u64, StoreCommand>>,
    replies: Mutex<BTreeMap<u64, Completion>>,
}

impl Mailbox {
    fn put(&self, command: StoreCommand) -> u64 {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().expect("mailbox").insert(n, command);
        n
    }

    fn take(&self, n: u64) -> Option<StoreCommand> {
        self.requests.lock().expect("mailbox").remove(&n)
    }

    fn reply(&self, n: u64, c: Completion) {
        self.replies.lock().expect("mailbox").insert(n, c);
    }

    fn take_reply(&self, n: u64) -> Option<Completion> {
        self.replies.lock().expect("mailbox").remove(&n)
    }

    /// Forget `n` (its caller gave up or finished).
    fn forget(&self, n: u64) {
        self.requests.lock().expect("mailbox").remove(&n);
        self.replies.lock().expect("mailbox").remove(&n);
    }
}

/// What outlives the store host: the replicated writes, and the counts.
#[derive(Default)]
pub(super) struct Backend {
    /// Every write the store executed, with its simulated time, in order.
    log: Mutex<Vec<(u64, StoreCommand)>>,
    /// Writes lost in restarts (for the counts).
    pub(super) lost: AtomicU64,
    /// The store's boots.
    boots: AtomicU64,
}

impl Backend {
    /// The store crashed at `at` with replication lag `lag`: the replica
    /// has the writes up to `at - lag`; the rest are lost.
    pub(super) fn fail_over(&self, at: u64, lag: u64) -> usize {
        let mut log = self.log.lock().expect("backend");
        let keep = log.iter().take_while(|(t, _)| t + lag <= at).count();
        let lost = log.len() - keep;
        log.truncate(keep);
        self.lost.fetch_add(lost as u64, Ordering::SeqCst);
        lost
    }

    /// A store rebuilt from the replicated writes.
    async fn image(&self) -> MemorySharedStore {
        let writes: Vec<StoreCommand> = self
            .log
            .lock()
            .expect("backend")
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        let store = MemorySharedStore::new();
        for c in writes {
            let _ = store.execute(c).await;
        }
        store
    }
}

fn is_write(c: &StoreCommand) -> bool {
    matches!(
        c,
        StoreCommand::PutSession { .. }
            | StoreCommand::DeleteSession { .. }
            | StoreCommand::AppendEvent { .. }
            | StoreCommand::EndStream { .. }
    )
}

/// The store host: a store rebuilt from the replicated writes, serving
/// numbered commands, one per connection.
pub(super) async fn store_host(
    mailbox: Arc<Mailbox>,
    backend: Arc<Backend>,
    bug: Option<Bug>,
    trace: Trace,
) -> Result<(), Box<dyn std::error::Error>> {
    let boot = backend.boots.fetch_add(1, Ordering::SeqCst);
    let store = backend.image().await;
    // (p): after a failover, reads go to the image the store restarted
    // with, which never sees a later write.
    let stale = match bug {
        Some(Bug::StaleReadAfterFailover) if boot > 0 => Some(backend.image().await),
        _ => None,
    };
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", STORE_PORT)).await?;
    trace.log(
        STORE,
        format!(
            "listening (boot {boot}, {} sessions restored)",
            store.session_count()
        ),
    );
    let store = Arc::new(Exec {
        store,
        stale,
        backend,
        bug,
    });
    loop {
        let (mut io, _) = listener.accept().await?;
        let (mailbox, store) = (mailbox.clone(), store.clone());
        tokio::spawn(async move {
            let mut n = [0u8; 8];
            if io.read_exact(&mut n).await.is_err() {
                return;
            }
            let n = u64::from_be_bytes(n);
            let Some(command) = mailbox.take(n) else {
                return;
            };
            let reply = store.run(command).await;
            mailbox.reply(n, reply);
            let _ = io.write_all(&n.to_be_bytes()).await;
        });
    }
}

/// The store of one boot.
struct Exec {
    store: MemorySharedStore,
    stale: Option<MemorySharedStore>,
    backend: Arc<Backend>,
    bug: Option<Bug>,
}

impl Exec {
    async fn run(&self, command: StoreCommand) -> Completion {
        if self.bug == Some(Bug::LostAppendAcked)
            && let StoreCommand::AppendEvent { event, .. } = &command
            && event.seq == 2
        {
            // (o): acknowledged, not kept.
            return Ok(StoreReply::Appended);
        }
        if !is_write(&command) {
            let from = self.stale.as_ref().unwrap_or(&self.store);
            return from.execute(command).await;
        }
        let reply = self.store.execute(command.clone()).await;
        if reply.is_ok() {
            self.backend
                .log
                .lock()
                .expect("backend")
                .push((now_ms(), command));
        }
        reply
    }
}

/// An instance's [`SharedStore`]: each command goes to the store host on
/// its own turmoil connection (a new connection each time, so a restarted
/// store or a healed partition is reached again at once).
pub(super) struct StoreClient {
    mailbox: Arc<Mailbox>,
    bug: Option<Bug>,
    /// (r): the sessions this instance has named to the store.
    seen: Mutex<BTreeSet<Box<str>>>,
}

impl StoreClient {
    pub(super) fn new(mailbox: Arc<Mailbox>, bug: Option<Bug>) -> Self {
        StoreClient {
            mailbox,
            bug,
            seen: Mutex::default(),
        }
    }

    async fn call(&self, command: StoreCommand) -> Completion {
        struct Forget<'a>(&'a Mailbox, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1);
            }
        }
        let n = self.mailbox.put(command);
        let _forget = Forget(&self.mailbox, n);
        let unavailable = |e: std::io::Error| StoreFailure::Unavailable(e.to_string().into());
        let mut io = turmoil::net::TcpStream::connect((STORE, STORE_PORT))
            .await
            .map_err(unavailable)?;
        io.write_all(&n.to_be_bytes()).await.map_err(unavailable)?;
        let mut back = [0u8; 8];
        io.read_exact(&mut back).await.map_err(unavailable)?;
        self.mailbox
            .take_reply(n)
            .unwrap_or_else(|| Err(StoreFailure::Unavailable("no reply".into())))
    }
}

/// (q): the stream's key without its instance.
fn without_instance(stream: &mut StreamKey) {
    stream.instance = 1;
}

impl SharedStore for StoreClient {
    fn execute(&self, mut command: StoreCommand) -> SharedStoreFuture<'_, Completion> {
        Box::pin(async move {
            if self.bug == Some(Bug::InstanceLocalEventIds) {
                match &mut command {
                    StoreCommand::AppendEvent { stream, .. }
                    | StoreCommand::EndStream { stream, .. }
                    | StoreCommand::ReadEvents { stream, .. }
                    | StoreCommand::TailEvents { stream, .. } => without_instance(stream),
                    _ => {}
                }
            }
            let first = self
                .seen
                .lock()
                .expect("seen")
                .insert(command.session().into());
            if self.bug == Some(Bug::RestoreRace)
                && first
                && let StoreCommand::TouchSession { session, .. } = &command
            {
                // (r): the session is entered before its record came back,
                // with defaults (the oldest legacy version, ready).
                return Ok(StoreReply::Session(Some(SessionRecord {
                    session: session.clone(),
                    version: ProtocolVersion::V2025_03_26,
                    principal: None,
                    phase: SessionPhase::Ready,
                    init_params: None,
                    log_level: None,
                })));
            }
            self.call(command).await
        })
    }
}
