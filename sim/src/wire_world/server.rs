//! The wire world's server host: the real `serve` on turmoil's listener, or
//! (for the adapter variants (a), (b), (h)) the same service behind a
//! broken wrapper.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body::{Body, Frame};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::{TokioIo, TokioTimer};
use streamable_hyper::{McpBody, McpService};

use crate::fixture;
use crate::harness::{PORT, Trace};
use crate::variants::Bug;

/// How long variant (a) takes to publish "ready".
const LATE_READY: Duration = Duration::from_millis(400);

/// turmoil's listener as the adapter's [`streamable_hyper::Listener`].
pub(super) struct SimListener(turmoil::net::TcpListener);

impl SimListener {
    pub(super) fn new(l: turmoil::net::TcpListener) -> Self {
        SimListener(l)
    }
}

impl streamable_hyper::Listener for SimListener {
    type Io = turmoil::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
        self.0.accept().await
    }
}

/// The server host: the real `serve` on turmoil's listener, or (for the
/// adapter variants) the same service behind a broken wrapper.
pub(super) async fn server_host(
    delay: Duration,
    bug: Option<Bug>,
    trace: Trace,
    shards: usize,
    ids: Option<u64>,
) -> Result<(), Box<dyn std::error::Error>> {
    tokio::time::sleep(delay).await;
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    trace.log("server", "listening");
    // One shard unless the run asks for more (issue 19's N = 3 sweep).
    let service = if shards == 1 {
        fixture::service()
    } else {
        fixture::sharded_service(shards, ids)
    };
    let result = match bug {
        Some(b @ (Bug::LateReady | Bug::BufferedSse | Bug::SlowReaderBlocks)) => {
            broken_serve(listener, service, b).await
        }
        _ => streamable_hyper::serve(SimListener(listener), service, std::future::pending()).await,
    };
    if let Err(e) = &result {
        trace.fail_on(
            "server",
            super::Oracle::Server,
            format!("serve failed: {e}"),
        );
    }
    Ok(result?)
}

/// Variants (a), (b), (h): an accept loop around the real service with a
/// broken wrapper. Never used for the real product path.
async fn broken_serve(
    listener: turmoil::net::TcpListener,
    service: McpService,
    bug: Bug,
) -> io::Result<()> {
    let ready = Arc::new(AtomicBool::new(bug != Bug::LateReady));
    if bug == Bug::LateReady {
        let ready = ready.clone();
        tokio::spawn(async move {
            // The bug: "give the app a moment to start", then publish ready.
            tokio::time::sleep(LATE_READY).await;
            ready.store(true, Ordering::SeqCst);
        });
    }
    service.start();
    let locks: Arc<Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>> = Arc::default();
    loop {
        let (io, _) = listener.accept().await?;
        let service = service.clone();
        let ready = ready.clone();
        let locks = locks.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<IncomingBody>| {
                let service = service.clone();
                let ready = ready.clone();
                let locks = locks.clone();
                async move {
                    if !ready.load(Ordering::SeqCst) {
                        // Stranded: not ready, and nobody will ever look again.
                        std::future::pending::<()>().await;
                    }
                    let lock = req
                        .headers()
                        .get("mcp-session-id")
                        .and_then(|v| v.to_str().ok())
                        .filter(|_| bug == Bug::SlowReaderBlocks)
                        .map(|s| {
                            locks
                                .lock()
                                .expect("locks")
                                .entry(s.to_owned())
                                .or_default()
                                .clone()
                        });
                    if let Some(l) = &lock {
                        // Wait for the session's writer (held while any of its
                        // streams has an unwritten frame).
                        drop(l.lock().await);
                    }
                    let res = service.handle(req).await;
                    let (parts, body) = res.into_parts();
                    let body = match (bug, body.is_stream()) {
                        (Bug::BufferedSse, true) => SimBody::Buffered(body, BytesMut::new(), false),
                        (Bug::SlowReaderBlocks, true) => match lock {
                            Some(l) => SimBody::Locked(body, l, None),
                            None => SimBody::Plain(body),
                        },
                        _ => SimBody::Plain(body),
                    };
                    Ok::<_, Infallible>(Response::from_parts(parts, body))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

/// Response bodies of the broken server.
enum SimBody {
    Plain(McpBody),
    /// (b): collect everything, send it when the stream ends.
    Buffered(McpBody, BytesMut, bool),
    /// (h): hold the session's lock from handing out a frame until hyper
    /// asks for the next one (it does not while the socket is full).
    Locked(
        McpBody,
        Arc<tokio::sync::Mutex<()>>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            SimBody::Plain(b) => Pin::new(b).poll_frame(cx),
            SimBody::Buffered(b, buf, done) => loop {
                if *done {
                    return Poll::Ready(None);
                }
                match Pin::new(&mut *b).poll_frame(cx) {
                    Poll::Ready(Some(Ok(f))) => {
                        if let Ok(d) = f.into_data() {
                            buf.extend_from_slice(&d);
                        }
                    }
                    Poll::Ready(Some(Err(e))) => match e {},
                    Poll::Ready(None) => {
                        *done = true;
                        let all = std::mem::take(buf).freeze();
                        return Poll::Ready(Some(Ok(Frame::data(all))));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            },
            SimBody::Locked(b, lock, held) => {
                *held = None;
                let r = Pin::new(b).poll_frame(cx);
                if matches!(r, Poll::Ready(Some(_))) {
                    *held = lock.clone().try_lock_owned().ok();
                }
                r
            }
        }
    }
}
