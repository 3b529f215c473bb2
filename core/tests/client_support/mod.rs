//! A scripted HTTP peer for driving the core client in tests: drains the
//! client's transmits, answers them by hand, and checks the client's
//! invariants after every step.
#![allow(dead_code, unreachable_pub, missing_docs)]

use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use streamable_core::client::{Client, ClientConfig, Event, HttpId, Transmit};
use streamable_core::{RawJson, Timestamp};

pub struct C {
    pub c: Client,
    pub now: u64,
}

#[derive(Debug)]
pub struct Sent {
    pub id: HttpId,
    pub req: http::Request<Bytes>,
}

impl Sent {
    pub fn method(&self) -> &http::Method {
        self.req.method()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(self.req.body()).unwrap_or(Value::Null)
    }
    pub fn rpc_method(&self) -> Option<String> {
        self.json()
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
    pub fn rpc_id(&self) -> Value {
        self.json().get("id").cloned().unwrap_or(Value::Null)
    }
}

pub fn config() -> ClientConfig {
    ClientConfig::new("http://127.0.0.1:9/mcp".parse().unwrap())
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

pub fn raw(v: Value) -> RawJson {
    RawJson::from_value(&v)
}

pub fn result_body(id: &Value, result: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string()
}

pub fn sse_event(id: Option<&str>, data: &str) -> String {
    let mut s = String::from("event: message\n");
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("data: {data}\n\n"));
    s
}

impl C {
    pub fn new(config: ClientConfig) -> Self {
        let c = Client::new(config, Timestamp(0));
        C { c, now: 0 }
    }

    pub fn t(&self) -> Timestamp {
        Timestamp(self.now)
    }

    pub fn check(&self) {
        self.c.check_invariants().expect("client invariants");
    }

    /// Every Send since the last call (Aborts are returned separately).
    pub fn sent(&mut self) -> Vec<Sent> {
        self.sent_and_aborted().0
    }

    pub fn sent_and_aborted(&mut self) -> (Vec<Sent>, Vec<HttpId>) {
        let mut sent = Vec::new();
        let mut aborted = Vec::new();
        while let Some(t) = self.c.poll_transmit() {
            match t {
                Transmit::Send { id, request } => sent.push(Sent { id, req: *request }),
                Transmit::Abort { id } => aborted.push(id),
            }
        }
        (sent, aborted)
    }

    pub fn events(&mut self) -> Vec<Event> {
        let mut v = Vec::new();
        while let Some(e) = self.c.poll_event() {
            v.push(e);
        }
        v
    }

    pub fn head(&mut self, id: HttpId, status: u16, h: &[(&str, &str)]) {
        self.c.handle_head(self.t(), id, status, &headers(h));
        self.check();
    }

    pub fn body(&mut self, id: HttpId, chunk: &str) {
        self.c.handle_body(self.t(), id, chunk.as_bytes());
        self.check();
    }

    pub fn end(&mut self, id: HttpId) {
        self.c.handle_end(self.t(), id);
        self.check();
    }

    pub fn error(&mut self, id: HttpId) {
        self.c.handle_error(self.t(), id);
        self.check();
    }

    pub fn json(&mut self, id: HttpId, status: u16, session: Option<&str>, body: &str) {
        let mut h = vec![("content-type", "application/json")];
        if let Some(s) = session {
            h.push(("mcp-session-id", s));
        }
        self.head(id, status, &h);
        self.body(id, body);
        self.end(id);
    }

    pub fn accepted(&mut self, id: HttpId) {
        self.head(id, 202, &[]);
        self.end(id);
    }

    pub fn sse_head(&mut self, id: HttpId, session: Option<&str>) {
        let mut h = vec![("content-type", "text/event-stream")];
        if let Some(s) = session {
            h.push(("mcp-session-id", s));
        }
        self.head(id, 200, &h);
    }

    pub fn advance(&mut self, to: u64) {
        self.now = to;
        self.c.handle_timeout(self.t());
        self.check();
    }

    /// Run the legacy handshake: initialize answered with `session` and
    /// `version`; the `initialized` notification accepted.
    pub fn handshake(&mut self, session: &str, version: &str) {
        let sent = self.sent_all();
        assert_eq!(sent.len(), 1, "{sent:?}");
        let init = &sent[0];
        assert_eq!(init.rpc_method().as_deref(), Some("initialize"));
        let body = result_body(
            &init.rpc_id(),
            json!({"protocolVersion": version, "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}),
        );
        self.json(init.id, 200, Some(session), &body);
        let sent = self.sent();
        let initialized = sent
            .iter()
            .find(|s| s.rpc_method().as_deref() == Some("notifications/initialized"))
            .expect("initialized notification");
        let iid = initialized.id;
        self.accepted(iid);
        // HC-GET-1: with a standalone stream, Ready waits for the GET's
        // head, which the caller answers.
        let held = sent.iter().any(|s| s.method() == "GET");
        if !held {
            let ev = self.events();
            assert!(
                ev.iter().any(|e| matches!(e, Event::Ready { .. })),
                "{ev:?}"
            );
        }
        // Anything else sent along (queued requests) is for the caller.
        self.pushback(sent.into_iter().filter(|s| s.id != iid).collect());
    }

    pub fn pushback_sent(&mut self, sent: Vec<Sent>) {
        self.pushback(sent);
    }

    fn pushback(&mut self, sent: Vec<Sent>) {
        PENDING.with(|p| p.borrow_mut().extend(sent));
    }

    /// Sends produced earlier and held back by `handshake`, then new ones.
    pub fn sent_all(&mut self) -> Vec<Sent> {
        let mut v: Vec<Sent> = PENDING.with(|p| p.borrow_mut().drain(..).collect());
        v.extend(self.sent());
        v
    }
}

thread_local! {
    static PENDING: std::cell::RefCell<Vec<Sent>> = const { std::cell::RefCell::new(Vec::new()) };
}
