//! A small harness for driving the core in tests: builds requests, drains
//! outputs, and checks invariants after every step.
#![allow(dead_code, unreachable_pub, missing_docs)]

use bytes::Bytes;
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, RequestKey, SeededIds, Server, SessionKey,
    Timestamp,
};

pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

pub struct H {
    pub s: Server<SeededIds>,
    pub now: u64,
    pub out: Vec<Output>,
}

pub fn init_body(version: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    )
}

pub fn req_body(id: i64, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{}}}}"#)
}

pub fn notif_body(method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"{method}"}}"#)
}

impl H {
    pub fn new(config: Config) -> Self {
        H {
            s: Server::new(config, SeededIds(1)),
            now: 0,
            out: Vec::new(),
        }
    }

    pub fn t(&self) -> Timestamp {
        Timestamp(self.now)
    }

    pub fn request(&mut self, req: http::Request<Bytes>) -> ExchangeId {
        let ex = self.s.handle_request(self.t(), req);
        self.drain();
        ex
    }

    pub fn post_with(
        &mut self,
        session: Option<&str>,
        body: &str,
        headers: &[(&str, &str)],
    ) -> ExchangeId {
        let mut b = http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("host", "127.0.0.1:8000");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.request(b.body(Bytes::from(body.to_owned())).unwrap())
    }

    pub fn post(&mut self, session: Option<&str>, body: &str) -> ExchangeId {
        self.post_with(session, body, &[])
    }

    pub fn get(&mut self, session: Option<&str>, last_event_id: Option<&str>) -> ExchangeId {
        let mut b = http::Request::get("/mcp")
            .header("accept", "text/event-stream")
            .header("host", "localhost");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        if let Some(l) = last_event_id {
            b = b.header("last-event-id", l);
        }
        self.request(b.body(Bytes::new()).unwrap())
    }

    pub fn delete(&mut self, session: Option<&str>) -> ExchangeId {
        let mut b = http::Request::delete("/mcp").header("host", "localhost");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        self.request(b.body(Bytes::new()).unwrap())
    }

    pub fn drain(&mut self) {
        while let Some(o) = self.s.poll_output() {
            self.out.push(o);
        }
        self.s.check_invariants().expect("server invariants");
    }

    pub fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    pub fn respond(&mut self, rk: RequestKey, result: serde_json::Value) {
        self.s
            .respond(self.t(), rk, Ok(RawJson::from_value(&result)))
            .unwrap();
        self.drain();
    }

    /// The deliveries of type Request in the outputs so far (not removed).
    pub fn requests(&self) -> Vec<(RequestKey, String)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Deliver(Delivery::Request {
                    request, method, ..
                }) => Some((*request, method.clone())),
                _ => None,
            })
            .collect()
    }

    /// Full handshake: initialize (answered by the "application"),
    /// notifications/initialized. Returns the session key and wire id.
    pub fn init(&mut self, version: &str) -> (SessionKey, String) {
        self.take();
        let ex = self.post(None, &init_body(version));
        let (rk, session) = self
            .out
            .iter()
            .find_map(|o| match o {
                Output::Deliver(Delivery::Request {
                    request, session, ..
                }) => Some((*request, *session)),
                _ => None,
            })
            .expect("initialize delivered");
        self.take();
        self.respond(
            rk,
            serde_json::json!({"capabilities":{},"serverInfo":{"name":"s","version":"1"}}),
        );
        let wire = match self.take().as_slice() {
            [Output::Reply { exchange, head, .. }] if *exchange == ex => {
                head.session_id.clone().expect("session id").to_string()
            }
            other => panic!("unexpected {other:?}"),
        };
        let ex = self.post(Some(&wire), &notif_body("notifications/initialized"));
        let out = self.take();
        assert!(
            matches!(&out[0], Output::Reply { exchange, head, .. } if *exchange == ex && head.status == 202)
        );
        (session.expect("a session request"), wire)
    }
}

/// The reply for `ex` among outputs.
pub fn reply(out: &[Output], ex: ExchangeId) -> (u16, Option<String>, String) {
    out.iter()
        .find_map(|o| match o {
            Output::Reply {
                exchange,
                head,
                body,
            } if *exchange == ex => Some((
                head.status.as_u16(),
                head.session_id.as_deref().map(str::to_owned),
                String::from_utf8(body.to_vec()).unwrap(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reply for {ex:?} in {out:?}"))
}

/// The SSE frames written to `ex`, as text.
pub fn frames(out: &[Output], ex: ExchangeId) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event { exchange, frame } if *exchange == ex => {
                Some(String::from_utf8(frame.to_vec()).unwrap())
            }
            _ => None,
        })
        .collect()
}

pub fn has_head(out: &[Output], ex: ExchangeId) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::StreamHead { exchange, .. } if *exchange == ex))
}

pub fn closed(out: &[Output], ex: ExchangeId) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Close { exchange } if *exchange == ex))
}

/// The `id:` of an SSE frame.
pub fn frame_id(frame: &str) -> Option<String> {
    frame
        .lines()
        .find_map(|l| l.strip_prefix("id: ").map(str::to_owned))
}
