//! The client side of the client world: turmoil as a hyper-util
//! connector, and the applications that use our client.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use streamable_core::client::EraPreference;
use streamable_hyper::client::{Client, ClientBuilder};

use super::recorder::{Call, Shared, lock};
use super::{BACKOFF, Op, PAD, REQUEST_TIMEOUT, Scenario};
use crate::harness::{self, DEADLINE, PORT, SERVER, Trace, now_ms};

/// turmoil's network as a hyper-util connector.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SimConnector;

/// A turmoil TCP stream as a hyper-util connection.
pub(crate) struct SimConn(TokioIo<turmoil::net::TcpStream>);

impl Connection for SimConn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for SimConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for SimConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl tower_service::Service<Uri> for SimConnector {
    type Response = SimConn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<SimConn>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or(SERVER).to_owned();
            let port = uri.port_u16().unwrap_or(80);
            let stream = turmoil::net::TcpStream::connect((host, port)).await?;
            Ok(SimConn(TokioIo::new(stream)))
        })
    }
}

/// One simulated application using our client.
pub(super) struct App {
    pub(super) idx: usize,
    pub(super) name: String,
    pub(super) scen: Arc<Scenario>,
    pub(super) world: Shared,
    pub(super) trace: Trace,
    pub(super) calls: u32,
    /// The client's reconnection budget (`u32::MAX` in variant (n)).
    pub(super) reconnects: u32,
}

impl App {
    fn builder(&self) -> ClientBuilder {
        let name = self.name.clone();
        Client::builder(&format!("http://{SERVER}:{PORT}/mcp"))
            .client_info(&self.name, "1")
            .timeout(Some(REQUEST_TIMEOUT))
            .reconnect(BACKOFF, self.reconnects)
            .standalone_stream(self.scen.clients[self.idx].standalone)
            .era(if self.scen.clients[self.idx].modern {
                EraPreference::Auto
            } else {
                EraPreference::Legacy
            })
            .header("x-sim-client", &self.name)
            .check_invariants(true)
            .on_sampling(move |_params| {
                let name = name.clone();
                async move {
                    Ok(json!({
                        "role": "assistant",
                        "content": {"type": "text", "text": name},
                        "model": "sim",
                    }))
                }
            })
    }

    /// Connect, retrying while the server is not up yet.
    async fn connect(&self) -> Option<Client> {
        connect_until_up(|| self.builder(), &self.trace, &self.name).await
    }

    fn tag(&mut self) -> String {
        self.calls += 1;
        format!("{}-{}", self.name, self.calls)
    }

    pub(super) async fn run(mut self, ops: Vec<Op>) -> Result<(), harness::Failed> {
        let Some(client) = self.connect().await else {
            return Err(self.trace.fail(&self.name, "never connected"));
        };
        if let Some(mut notes) = client.notifications() {
            let (world, name) = (self.world.clone(), self.name.clone());
            tokio::spawn(async move {
                while let Some(n) = notes.recv().await {
                    let data = &n.params["data"];
                    if let (Some(tag), Some(i)) = (data["tag"].as_str(), data["i"].as_u64()) {
                        lock(&world).notes.entry(name.clone()).or_default().push((
                            tag.to_owned(),
                            i,
                            now_ms(),
                        ));
                    }
                }
            });
        }
        for op in ops {
            self.trace.log(&self.name, format!("{op:?}"));
            match op {
                Op::Echo => {
                    let tag = self.tag();
                    spawn_call(&self, &client, "echo", tag, json!({}), 0, None).await;
                }
                Op::Slow { steps, gap_ms } | Op::Poll { steps, gap_ms } => {
                    let tool = if matches!(op, Op::Slow { .. }) {
                        "slow"
                    } else {
                        "poll"
                    };
                    let tag = self.tag();
                    let args = json!({"steps": steps, "gap_ms": gap_ms});
                    spawn_call(&self, &client, tool, tag, args, u64::from(steps), None).await;
                }
                Op::Ask => {
                    let tag = self.tag();
                    spawn_call(&self, &client, "ask", tag, json!({}), 0, None).await;
                }
                Op::Flood { n } => {
                    let tag = self.tag();
                    let start = now_ms();
                    let args = json!({"n": n, "pad": PAD});
                    spawn_call(&self, &client, "flood", tag.clone(), args, 0, None).await;
                    lock(&self.world)
                        .floods
                        .push((self.idx, tag, u64::from(n), start, now_ms()));
                }
                Op::Cancel {
                    steps,
                    gap_ms,
                    after_ms,
                } => {
                    let tag = self.tag();
                    let args = json!({"steps": steps, "gap_ms": gap_ms});
                    let after = Duration::from_millis(u64::from(after_ms));
                    spawn_call(&self, &client, "slow", tag, args, 0, Some(after)).await;
                }
                Op::Concurrent { k, steps } => {
                    let mut calls = Vec::new();
                    for _ in 0..k {
                        let tag = self.tag();
                        let args = json!({"steps": steps, "gap_ms": 60});
                        calls.push(spawn_call(
                            &self,
                            &client,
                            "slow",
                            tag,
                            args,
                            u64::from(steps),
                            None,
                        ));
                    }
                    for c in calls {
                        c.await;
                    }
                }
                Op::Sleep(ms) => tokio::time::sleep(Duration::from_millis(u64::from(ms))).await,
            }
        }
        // Let late notifications arrive, then end the session (DELETE).
        tokio::time::sleep(Duration::from_millis(2 * self.scen.hop())).await;
        client.close().await;
        lock(&self.world)
            .closed_at
            .insert(self.name.clone(), now_ms());
        self.trace.log(&self.name, "closed");
        Ok(())
    }
}

/// Start one call in its own task (so concurrent calls overlap) and return
/// a future that waits for it and records what the application saw.
pub(super) fn spawn_call(
    app: &App,
    client: &Client,
    tool: &'static str,
    tag: String,
    mut args: Value,
    steps: u64,
    give_up_after: Option<Duration>,
) -> impl Future<Output = ()> + use<> {
    args["tag"] = Value::String(tag.clone());
    let (client, world, trace, name, idx) = (
        client.clone(),
        app.world.clone(),
        app.trace.clone(),
        app.name.clone(),
        app.idx,
    );
    let task = tokio::spawn(async move {
        let progress: Arc<Mutex<Vec<f64>>> = Arc::default();
        let start = now_ms();
        let seen = progress.clone();
        let call = client.call_tool_with_progress(tool, args, move |p| {
            seen.lock().expect("progress").push(p.progress);
        });
        let (result, cancelled) = match give_up_after {
            Some(after) => match tokio::time::timeout(after, call).await {
                Ok(r) => (r, false),
                Err(_) => (Ok(Value::Null), true),
            },
            None => (call.await, false),
        };
        let outcome = if cancelled {
            Ok(())
        } else {
            match result {
                Ok(v) => {
                    let got = v
                        .pointer("/structuredContent/tag")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let answer = v
                        .pointer("/structuredContent/answer")
                        .and_then(Value::as_str);
                    if got != tag {
                        Err(format!("MISROUTED: got the result tagged {got:?}"))
                    } else if tool == "ask" && answer != Some(name.as_str()) {
                        Err(format!("MISROUTED: sampling answered by {answer:?}"))
                    } else {
                        Ok(())
                    }
                }
                Err(e) => Err(e.to_string()),
            }
        };
        let end = now_ms();
        trace.log(
            &name,
            format!(
                "{tool} {tag}: {} after {} ms{}",
                match &outcome {
                    Ok(()) if cancelled => "cancelled".to_owned(),
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("error: {e}"),
                },
                end - start,
                if steps > 0 {
                    format!(", progress {:?}", progress.lock().expect("progress"))
                } else {
                    String::new()
                }
            ),
        );
        let progress = progress.lock().expect("progress").clone();
        lock(&world).calls.push(Call {
            client: idx,
            tag,
            start,
            end,
            outcome,
            progress,
            steps,
            cancelled,
        });
    });
    async move {
        let _ = task.await;
    }
}

/// Connect with a fresh builder from `builder` every 50 ms of simulated time
/// while the server is not up yet (it may be booting or restarting), giving
/// up after four deadlines; every attempt is traced under `name`. Shared by
/// the client world and the user kit (`crate::kit`).
pub(crate) async fn connect_until_up(
    builder: impl Fn() -> ClientBuilder,
    trace: &Trace,
    name: &str,
) -> Option<Client> {
    let start = now_ms();
    loop {
        match builder().connect_with(SimConnector).await {
            Ok(c) => {
                trace.log(name, "connected");
                return Some(c);
            }
            Err(e) => {
                trace.log(name, format!("connect failed: {e}"));
                if now_ms() - start > 4 * DEADLINE.as_millis() as u64 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
