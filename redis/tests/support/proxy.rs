//! A round-robin HTTP/1.1 proxy on 127.0.0.1, written for the tests (a
//! stand-in for a load balancer with no session affinity): each request
//! goes to the next upstream that is not skipped, on a connection of its
//! own; the response body is passed through frame by frame as it arrives
//! (SSE flows event by event, nothing is buffered). [`Proxy::cut`] drops
//! every connection open to an upstream (the client sees its response end
//! abruptly, as when a load balancer or an instance dies),
//! [`Proxy::skip`] stops sending it new requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

type Body = BoxBody<Bytes, hyper::Error>;

struct Upstream {
    addr: SocketAddr,
    skipped: bool,
    conns: Vec<AbortHandle>,
    served: usize,
}

struct Shared {
    upstreams: Mutex<Vec<Upstream>>,
    next: AtomicUsize,
}

/// A running proxy; dropped, it stops accepting.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy in front of `upstreams`, on an ephemeral loopback port.
    pub async fn start(upstreams: &[SocketAddr]) -> Proxy {
        Proxy::start_on("127.0.0.1:0", upstreams)
            .await
            .expect("bind 127.0.0.1:0")
    }

    /// A proxy in front of `upstreams`, listening on `bind`.
    pub async fn start_on(bind: &str, upstreams: &[SocketAddr]) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstreams: Mutex::new(
                upstreams
                    .iter()
                    .map(|&addr| Upstream {
                        addr,
                        skipped: false,
                        conns: Vec::new(),
                        served: 0,
                    })
                    .collect(),
            ),
            next: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| forward(s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Proxy { addr, shared, task })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stop (or resume) sending new requests to upstream `i`.
    pub fn skip(&self, i: usize, skipped: bool) {
        self.shared.upstreams.lock().unwrap()[i].skipped = skipped;
    }

    /// Drop every connection open to upstream `i` now.
    pub fn cut(&self, i: usize) {
        let conns = std::mem::take(&mut self.shared.upstreams.lock().unwrap()[i].conns);
        for c in conns {
            c.abort();
        }
    }

    /// Skip upstream `i` and cut its connections: it is dead to clients.
    pub fn kill(&self, i: usize) {
        self.skip(i, true);
        self.cut(i);
    }

    /// How many requests each upstream was sent.
    pub fn served(&self) -> Vec<usize> {
        let u = self.shared.upstreams.lock().unwrap();
        u.iter().map(|u| u.served).collect()
    }

    /// How many connections to upstream `i` are open (a response being
    /// streamed counts).
    pub fn open(&self, i: usize) -> usize {
        let mut u = self.shared.upstreams.lock().unwrap();
        u[i].conns.retain(|c| !c.is_finished());
        u[i].conns.len()
    }
}

fn pick(s: &Shared) -> Option<(usize, SocketAddr)> {
    let u = s.upstreams.lock().unwrap();
    let n = u.len();
    for _ in 0..n {
        let i = s.next.fetch_add(1, Ordering::Relaxed) % n;
        if !u[i].skipped {
            return Some((i, u[i].addr));
        }
    }
    None
}

fn bad_gateway(why: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(why.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn forward(s: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
    let Some((i, addr)) = pick(&s) else {
        return Ok(bad_gateway("no upstream"));
    };
    let Ok(stream) = TcpStream::connect(addr).await else {
        return Ok(bad_gateway("upstream refused"));
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(_) => return Ok(bad_gateway("upstream handshake")),
    };
    // The connection driver: aborting it (cut) ends the response body with
    // an error, which the server side passes on by closing the client's
    // connection mid-body.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    {
        let mut u = s.upstreams.lock().unwrap();
        u[i].served += 1;
        u[i].conns.retain(|c| !c.is_finished());
        u[i].conns.push(driver.abort_handle());
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut up = Request::from_parts(parts, Full::new(body));
    // Keep the client's path and query; the authority is the upstream's.
    if let Ok(h) = addr.to_string().parse() {
        up.headers_mut().insert(http::header::HOST, h);
    }
    match sender.send_request(up).await {
        Ok(resp) => Ok(resp.map(|b| b.boxed())),
        Err(_) => Ok(bad_gateway("upstream failed")),
    }
}
