//! The soak: hold many standalone SSE streams plus a `tools/call` load
//! against a running server for a long time, and record the server's
//! resident memory and open file descriptors every interval.
//!
//! ```text
//! soak --url http://127.0.0.1:8000/mcp --pid PID [--streams 10000]
//!      [--minutes 10] [--call-conns 8] [--calls-per-sec 2000] [--sample-secs 60]
//! ```
//!
//! Each stream is a session of its own (`initialize`,
//! `notifications/initialized`, then `GET` with `Accept: text/event-stream`)
//! on its own connection, held open and read to the end; a stream the
//! server ends is counted and reopened. The call load is `--call-conns`
//! connections, each a session calling the `echo` tool, paced to
//! `--calls-per-sec` in total (0: as fast as answers come). Samples
//! come from `/proc/PID/status` (`VmRSS`) and `/proc/PID/fd`, so the server
//! must run on this machine (Linux). The verdict compares every sample with
//! the first one taken after the streams were open: "flat" is within ±5 %.
//! Figures only; nothing here is a timed assertion (`bench/soak.sh` runs it
//! against the example server and `docs/benchmarks.md` keeps the result).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The protocol revision the soak's sessions negotiate.
const VERSION: &str = "2025-11-25";
/// How long one request (not a stream) may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Streams opened at once while setting up (so the server's accept queue
/// and our ephemeral ports are not flooded).
const SETUP_PARALLELISM: usize = 256;

struct Settings {
    url: String,
    pid: u32,
    streams: usize,
    minutes: u64,
    call_conns: usize,
    calls_per_sec: u64,
    sample_secs: u64,
}

fn parse() -> Result<Settings, String> {
    let mut s = Settings {
        url: "http://127.0.0.1:8000/mcp".into(),
        pid: 0,
        streams: 10_000,
        minutes: 10,
        call_conns: 8,
        calls_per_sec: 2_000,
        sample_secs: 60,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag}: missing value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v:?}: {e}"));
        match flag.as_str() {
            "--url" => s.url = value,
            "--pid" => s.pid = num(&value)? as u32,
            "--streams" => s.streams = num(&value)? as usize,
            "--minutes" => s.minutes = num(&value)?,
            "--call-conns" => s.call_conns = num(&value)? as usize,
            "--calls-per-sec" => s.calls_per_sec = num(&value)?,
            "--sample-secs" => s.sample_secs = num(&value)?.max(1),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if s.pid == 0 {
        return Err("--pid PID (the server's process) is required".into());
    }
    Ok(s)
}

/// Where to connect and what to put in `Host` and the path.
#[derive(Clone)]
struct Target {
    addr: String,
    host: HeaderValue,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// is supported"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Target {
            addr: authority.to_owned(),
            host: HeaderValue::from_str(authority).map_err(|e| format!("{url}: {e}"))?,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }
}

/// Counters shared by every task.
#[derive(Default)]
struct Counters {
    streams_open: AtomicU64,
    stream_ends: AtomicU64,
    stream_bytes: AtomicU64,
    calls: AtomicU64,
    call_errors: AtomicU64,
    setup_errors: AtomicU64,
}

async fn connect(t: &Target) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = TcpStream::connect(&t.addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let (send, conn) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

fn post(t: &Target, session: Option<&HeaderValue>, body: String) -> Request<Full<Bytes>> {
    let mut b = Request::post(&t.path)
        .header(header::HOST, t.host.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", VERSION);
    if let Some(s) = session {
        b = b.header("mcp-session-id", s.clone());
    }
    b.body(Full::new(Bytes::from(body)))
        .expect("a request built from valid parts")
}

/// One request answered in full; returns the status, the session header and
/// the body.
async fn exchange(
    send: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<HeaderValue>, Bytes), String> {
    let fut = async {
        send.ready().await.map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let session = resp.headers().get("mcp-session-id").cloned();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, session, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .map_err(|_| "timeout".to_owned())?
}

/// A ready session on a fresh connection.
async fn open_session(t: &Target) -> Result<(SendRequest<Full<Bytes>>, HeaderValue), String> {
    let mut send = connect(t).await?;
    let init = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{VERSION}","capabilities":{{}},"clientInfo":{{"name":"soak","version":"0"}}}}}}"#
    );
    let (status, session, body) = exchange(&mut send, post(t, None, init)).await?;
    let session = session.ok_or_else(|| {
        let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        format!("initialize: {status}, no Mcp-Session-Id: {body}")
    })?;
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned();
    let (status, _, _) = exchange(&mut send, post(t, Some(&session), note)).await?;
    if status != StatusCode::ACCEPTED {
        return Err(format!("notifications/initialized: {status}"));
    }
    Ok((send, session))
}

/// Holds one standalone GET stream for the whole run, reopening it (on a new
/// session) whenever it ends.
async fn hold_stream(t: Target, c: Arc<Counters>, setup: Arc<Semaphore>, until: Instant) {
    while Instant::now() < until {
        let permit = setup.acquire().await;
        let opened = async {
            let (mut send, session) = open_session(&t).await?;
            let req = Request::get(&t.path)
                .header(header::HOST, t.host.clone())
                .header(header::ACCEPT, "text/event-stream")
                .header("mcp-protocol-version", VERSION)
                .header("mcp-session-id", session)
                .body(Full::new(Bytes::new()))
                .expect("a request built from valid parts");
            send.ready().await.map_err(|e| e.to_string())?;
            let resp = tokio::time::timeout(REQUEST_TIMEOUT, send.send_request(req))
                .await
                .map_err(|_| "GET: timeout".to_owned())?
                .map_err(|e| e.to_string())?;
            if resp.status() != StatusCode::OK {
                return Err(format!("GET: {}", resp.status()));
            }
            Ok::<_, String>((send, resp.into_body()))
        }
        .await;
        drop(permit);
        let (_send, mut body) = match opened {
            Ok(x) => x,
            Err(e) => {
                if c.setup_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("soak: opening a stream failed: {e}");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        c.streams_open.fetch_add(1, Ordering::Relaxed);
        let left = until.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, async {
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => {
                        if let Some(d) = f.data_ref() {
                            c.stream_bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Err(_) => break,
                }
            }
        })
        .await;
        c.streams_open.fetch_sub(1, Ordering::Relaxed);
        if Instant::now() < until {
            c.stream_ends.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Calls `echo` on one session until `until`, one call per `pace` (none:
/// back to back).
async fn call_loop(t: Target, c: Arc<Counters>, until: Instant, pace: Option<Duration>) {
    let mut id = 1u64;
    let mut tick = pace.map(tokio::time::interval);
    while Instant::now() < until {
        let (mut send, session) = match open_session(&t).await {
            Ok(x) => x,
            Err(_) => {
                c.call_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while Instant::now() < until {
            if let Some(tick) = &mut tick {
                tick.tick().await;
            }
            id += 1;
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"soak"}}}}}}"#
            );
            match exchange(&mut send, post(&t, Some(&session), body)).await {
                Ok((StatusCode::OK, _, b)) if b.windows(8).any(|w| w == b"\"result\"") => {
                    c.calls.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    c.call_errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// `VmRSS` in KiB and the number of open descriptors of `pid`.
fn sample(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some((rss, fds))
}

fn deviation(base: u64, v: u64) -> f64 {
    if base == 0 {
        return 0.0;
    }
    (v as f64 - base as f64) / base as f64 * 100.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let s = match parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let t = match Target::parse(&s.url) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(start_sample) = sample(s.pid) else {
        eprintln!("soak: cannot read /proc/{}/status and fd", s.pid);
        return ExitCode::from(2);
    };
    let c = Arc::new(Counters::default());
    let setup = Arc::new(Semaphore::new(SETUP_PARALLELISM));
    let began = Instant::now();
    let end = began + Duration::from_secs(s.minutes * 60);
    // The load outlives the last sample, so that sample sees it running.
    let until = end + Duration::from_secs(5);
    let pace = (s.calls_per_sec > 0 && s.call_conns > 0)
        .then(|| Duration::from_secs_f64(s.call_conns as f64 / s.calls_per_sec as f64));
    let mut tasks = Vec::new();
    for _ in 0..s.streams {
        tasks.push(tokio::spawn(hold_stream(
            t.clone(),
            c.clone(),
            setup.clone(),
            until,
        )));
    }
    for _ in 0..s.call_conns {
        tasks.push(tokio::spawn(call_loop(t.clone(), c.clone(), until, pace)));
    }
    println!(
        "soak: {} streams, {} call connections at {} calls/s, {} min against pid {} (before: rss {} KiB, {} fds)",
        s.streams, s.call_conns, s.calls_per_sec, s.minutes, s.pid, start_sample.0, start_sample.1
    );
    println!("| t (s) | RSS (KiB) | fds | streams open | stream ends | calls/s | call errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut base: Option<(u64, u64)> = None;
    let mut worst = (0.0f64, 0.0f64);
    let mut last_calls = 0;
    let mut next = began;
    loop {
        next += Duration::from_secs(s.sample_secs);
        if next > end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        let Some((rss, fds)) = sample(s.pid) else {
            eprintln!("soak: the server (pid {}) is gone", s.pid);
            return ExitCode::FAILURE;
        };
        let open = c.streams_open.load(Ordering::Relaxed);
        let calls = c.calls.load(Ordering::Relaxed);
        println!(
            "| {} | {rss} | {fds} | {open} | {} | {:.0} | {} |",
            began.elapsed().as_secs(),
            c.stream_ends.load(Ordering::Relaxed),
            (calls - last_calls) as f64 / s.sample_secs as f64,
            c.call_errors.load(Ordering::Relaxed),
        );
        last_calls = calls;
        // The baseline is the first sample with every stream open.
        match base {
            None if open as usize >= s.streams => base = Some((rss, fds)),
            Some((r0, f0)) => {
                worst.0 = worst.0.max(deviation(r0, rss).abs());
                worst.1 = worst.1.max(deviation(f0, fds).abs());
            }
            None => {}
        }
    }
    for t in tasks {
        t.abort();
    }
    match base {
        Some((r0, f0)) => {
            let flat = worst.0 <= 5.0 && worst.1 <= 5.0;
            println!(
                "soak: baseline rss {r0} KiB, {f0} fds; largest deviation rss {:.1} %, fds {:.1} % -> {}",
                worst.0,
                worst.1,
                if flat {
                    "flat within ±5 %"
                } else {
                    "NOT flat within ±5 %"
                }
            );
            println!(
                "soak: {} calls, {} call errors, {} stream ends, {} setup errors, {} stream bytes",
                c.calls.load(Ordering::Relaxed),
                c.call_errors.load(Ordering::Relaxed),
                c.stream_ends.load(Ordering::Relaxed),
                c.setup_errors.load(Ordering::Relaxed),
                c.stream_bytes.load(Ordering::Relaxed),
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("soak: the streams never were all open at once; no baseline");
            ExitCode::FAILURE
        }
    }
}
