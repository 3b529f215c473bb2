//! Serving the service on a listener: HTTP/1.1 and HTTP/2, graceful shutdown.

use std::future::Future;
use std::io;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::service::McpService;

/// Something that accepts connections: tokio's `TcpListener`, turmoil's, a
/// Unix socket listener, a TLS acceptor wrapper.
pub trait Listener: Send + 'static {
    /// The connection type.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The peer address (for logs).
    type Addr: std::fmt::Debug + Send;

    /// Accept the next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, Self::Addr)>> + Send;
}

// tokio compiles without `net` under `--cfg loom` (the loom models only
// need the sync structures).
#[cfg(not(loom))]
impl Listener for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> io::Result<(Self::Io, Self::Addr)> {
        let (io, addr) = tokio::net::TcpListener::accept(self).await?;
        // SSE frames are small and must leave at once.
        let _ = io.set_nodelay(true);
        Ok((io, addr))
    }
}

/// How long [`serve`] waits for open connections after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serve `service` on `listener` until `shutdown` resolves.
///
/// Each connection runs in its own task with hyper-util's auto builder
/// (HTTP/1.1 with keep-alive, or HTTP/2 by preface) and tokio timers. The
/// drivers (every shard's) are started before the first accept; each
/// accepted connection gets its own clone of the service, so its requests
/// without a session go to the next shard in turn. On shutdown: stop
/// accepting, stop every driver (open SSE streams end, waiting requests get 503), then
/// wait at most [`SHUTDOWN_GRACE`] for connections to finish.
///
/// Returns an error if accepting fails persistently or if the driver task
/// panics (so a bug never turns into a silently hanging server). With
/// several shards ([`Builder::shards`](crate::Builder::shards)) a shard
/// whose driver panics ends alone (its sessions are answered 503) and
/// serving goes on; the error comes once every shard has ended.
///
/// ```no_run
/// # async fn doc() -> std::io::Result<()> {
/// use streamable_hyper::{McpServer, McpService, serve};
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// let service = McpService::new(McpServer::new("demo", "1.0"));
/// serve(listener, service, async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
pub async fn serve<L, S>(mut listener: L, service: McpService, shutdown: S) -> io::Result<()>
where
    L: Listener,
    S: Future<Output = ()> + Send,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut driver = service.start();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_errors = 0u32;
    let result = loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            ended = async { match driver.as_mut() { Some(d) => d.await, None => std::future::pending().await } } => {
                match ended {
                    Err(e) if e.is_panic() => break Err(io::Error::other("the MCP driver task panicked")),
                    // Stopped by McpService::shutdown: stop serving too.
                    _ => break Ok(()),
                }
            }
            a = listener.accept() => a,
        };
        match accepted {
            Ok((io, peer)) => {
                accept_errors = 0;
                let builder = builder.clone();
                let service = service.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(?peer, "connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                accept_errors += 1;
                tracing::warn!("accept failed: {e}");
                if accept_errors > 1000 {
                    break Err(e);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    drop(listener);
    service.shutdown().await;
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period");
    }
    result
}
