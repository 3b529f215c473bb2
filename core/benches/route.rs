//! Routing cost of the core: `initialize`, then N `tools/call`
//! request -> response pairs through `handle_request`, `poll_output` and
//! `respond`, in JSON and SSE response modes. Prints time per routed pair
//! (criterion) and heap allocations per pair (a counting allocator).
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use streamable_core::{
    Config, Delivery, Output, RawJson, ResponseMode, SeededIds, Server, Timestamp,
};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

fn post(session: Option<&str>, body: Bytes) -> http::Request<Bytes> {
    let mut b = http::Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("host", "127.0.0.1:8000");
    if let Some(s) = session {
        b = b.header("mcp-session-id", s);
    }
    b.body(body).unwrap()
}

struct Bench {
    server: Server<SeededIds>,
    wire: String,
    bodies: Vec<Bytes>,
    result: RawJson,
    next: usize,
}

impl Bench {
    fn new(mode: ResponseMode) -> Self {
        let mut server = Server::new(
            Config {
                response_mode: mode,
                ..Config::default()
            },
            SeededIds(1),
        );
        let now = Timestamp(0);
        server.handle_request(now, post(None, Bytes::from_static(INIT.as_bytes())));
        let mut rk = None;
        while let Some(o) = server.poll_output() {
            if let Output::Deliver(Delivery::Request { request, .. }) = o {
                rk = Some(request);
            }
        }
        let init = RawJson::from_value(
            &serde_json::json!({"capabilities":{},"serverInfo":{"name":"b","version":"1"}}),
        );
        server.respond(now, rk.unwrap(), Ok(init)).unwrap();
        let mut wire = None;
        while let Some(o) = server.poll_output() {
            if let Output::Reply { head, .. } = o {
                wire = head.session_id.map(|s| s.to_string());
            }
        }
        let bodies = (0..1024)
            .map(|i| {
                Bytes::from(format!(
                    r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello"}}}}}}"#
                ))
            })
            .collect();
        Bench {
            server,
            wire: wire.unwrap(),
            bodies,
            result: RawJson::from_value(
                &serde_json::json!({"content":[{"type":"text","text":"hello"}]}),
            ),
            next: 0,
        }
    }

    /// One routed pair: request in, delivery out, response in, reply out.
    /// The request is built outside the measured path's allocations as far
    /// as possible (the header map is the adapter's, not the core's).
    fn pair(&mut self, req: http::Request<Bytes>) -> usize {
        let now = Timestamp(1);
        self.server.handle_request(now, req);
        let mut rk = None;
        while let Some(o) = self.server.poll_output() {
            if let Output::Deliver(Delivery::Request { request, .. }) = o {
                rk = Some(request);
            }
        }
        self.server
            .respond(now, rk.expect("delivered"), Ok(self.result.clone()))
            .unwrap();
        let mut n = 0;
        while let Some(o) = self.server.poll_output() {
            n += black_box(&o).exchange_bytes();
        }
        n
    }

    fn request(&mut self) -> http::Request<Bytes> {
        let body = self.bodies[self.next % self.bodies.len()].clone();
        self.next += 1;
        post(Some(&self.wire), body)
    }
}

trait Size {
    fn exchange_bytes(&self) -> usize;
}
impl Size for Output {
    fn exchange_bytes(&self) -> usize {
        match self {
            Output::Reply { body, .. } => body.len(),
            Output::Event { frame, .. } => frame.len(),
            _ => 1,
        }
    }
}

fn route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_pair");
    group.throughput(Throughput::Elements(1));
    for (name, mode) in [
        ("json", ResponseMode::Json),
        ("sse", ResponseMode::Sse),
        ("auto", ResponseMode::Auto),
    ] {
        let mut b = Bench::new(mode);
        // Allocation count per pair, outside criterion's own allocations.
        let n = 10_000u64;
        let reqs: Vec<_> = (0..n).map(|_| b.request()).collect();
        let before = ALLOCS.load(Ordering::Relaxed);
        for r in reqs {
            black_box(b.pair(r));
        }
        let per = (ALLOCS.load(Ordering::Relaxed) - before) as f64 / n as f64;
        println!("route_pair/{name}: {per:.1} heap allocations per routed pair (core only)");
        let wire = b.wire.clone();
        let bodies = b.bodies.clone();
        let mut i = 0usize;
        group.bench_function(name, |bench| {
            bench.iter_batched(
                || {
                    i += 1;
                    post(Some(&wire), bodies[i % bodies.len()].clone())
                },
                |r| b.pair(r),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
