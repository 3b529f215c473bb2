//! The load balancer host: a small hyper proxy that sends every request
//! (POST, GET, DELETE) to an instance the seed chooses, request by request
//! (not sticky), and streams the answer back as it comes (SSE bodies frame
//! by frame). The instance that answered is named in `x-sim-instance`; an
//! instance that cannot be reached (crashed, restarting) is answered 502.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::{TokioIo, TokioTimer};

use super::{INSTANCES, LB, Tally, instance_name};
use crate::harness::{PORT, Rng, Trace};

/// How long the balancer waits for an instance's head.
const UPSTREAM_HEAD: Duration = Duration::from_secs(4);

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The balancer host.
pub(super) async fn lb_host(
    seed: u64,
    trace: Trace,
    tally: Tally,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", PORT)).await?;
    trace.log(LB, "listening");
    let rng = Arc::new(Mutex::new(Rng::new(seed ^ 0x0B1A_5CED)));
    loop {
        let (io, _) = listener.accept().await?;
        let (rng, trace, tally) = (rng.clone(), trace.clone(), tally.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<IncomingBody>| {
                let (target, cut) = {
                    let mut r = rng.lock().expect("rng");
                    (r.range(0, INSTANCES as u64 - 1) as usize, r.range(2, 4))
                };
                // Our client's POST streams are cut after a few frames, as a
                // flaky network would: it must resume (anywhere).
                let cut = (req.method() == http::Method::POST
                    && req.headers().contains_key("x-sim-cut"))
                .then_some(cut);
                let (trace, tally) = (trace.clone(), tally.clone());
                async move { Ok::<_, Infallible>(forward(req, target, cut, &trace, &tally).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

fn bad_gateway(target: usize) -> Response<ProxyBody> {
    let mut res = Response::new(Empty::new().map_err(|e| match e {}).boxed());
    *res.status_mut() = StatusCode::BAD_GATEWAY;
    if let Ok(v) = instance_name(target).parse() {
        res.headers_mut().insert("x-sim-instance", v);
    }
    res
}

/// A body that ends after `left` data frames.
struct Cut {
    inner: ProxyBody,
    left: u64,
}

impl http_body::Body for Cut {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &polled
            && f.is_data()
        {
            self.left -= 1;
        }
        polled
    }
}

async fn forward(
    req: Request<IncomingBody>,
    target: usize,
    cut: Option<u64>,
    trace: &Trace,
    tally: &Tally,
) -> Response<ProxyBody> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return bad_gateway(target);
    };
    let name = instance_name(target);
    let up = async {
        let io = turmoil::net::TcpStream::connect((name.as_str(), PORT))
            .await
            .ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .ok()?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
            .send_request(Request::from_parts(parts, Full::new(body)))
            .await
            .ok()
    };
    match tokio::time::timeout(UPSTREAM_HEAD, up).await {
        Ok(Some(res)) => {
            let sse = res
                .headers()
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let mut res = res.map(BodyExt::boxed);
            if let Some(left) = cut.filter(|_| sse) {
                trace.log(
                    LB,
                    format!("cutting a stream of our client after {left} frames"),
                );
                tally.add("our client's streams cut", 1);
                res = res.map(|inner| Cut { inner, left }.boxed());
            }
            if let Ok(v) = name.parse() {
                res.headers_mut().insert("x-sim-instance", v);
            }
            res
        }
        _ => {
            trace.log(LB, format!("{name} unreachable: 502"));
            bad_gateway(target)
        }
    }
}
