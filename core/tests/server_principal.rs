//! A session is bound to the principal that created it (AUTH-RS-11,
//! INV-S26): requests from another principal, or from none, are answered
//! exactly as for an unknown session. Unit cases and a property over
//! random request sequences (the model-level check of INV-S26).

mod common;

use bytes::Bytes;
use common::{ACCEPT_BOTH, init_body, reply, req_body};
use proptest::prelude::*;
use streamable_core::{
    Config, Delivery, ExchangeId, Output, RawJson, SeededIds, Server, Timestamp,
};

struct P {
    s: Server<SeededIds>,
    out: Vec<Output>,
}

impl P {
    fn new() -> Self {
        P {
            s: Server::new(Config::default(), SeededIds(7)),
            out: Vec::new(),
        }
    }

    fn send(&mut self, req: http::Request<Bytes>, who: Option<&str>) -> ExchangeId {
        let ex = self.s.handle_request_as(Timestamp(0), &req, who);
        while let Some(o) = self.s.poll_output() {
            self.out.push(o);
        }
        self.s.check_invariants().expect("server invariants");
        ex
    }

    fn post(&mut self, session: Option<&str>, body: &str, who: Option<&str>) -> ExchangeId {
        let mut b = http::Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", ACCEPT_BOTH)
            .header("host", "localhost");
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        self.send(b.body(Bytes::from(body.to_owned())).unwrap(), who)
    }

    fn get(&mut self, session: &str, who: Option<&str>) -> ExchangeId {
        let req = http::Request::get("/mcp")
            .header("accept", "text/event-stream")
            .header("host", "localhost")
            .header("mcp-session-id", session)
            .body(Bytes::new())
            .unwrap();
        self.send(req, who)
    }

    fn delete(&mut self, session: &str, who: Option<&str>) -> ExchangeId {
        let req = http::Request::delete("/mcp")
            .header("host", "localhost")
            .header("mcp-session-id", session)
            .body(Bytes::new())
            .unwrap();
        self.send(req, who)
    }

    /// Initialize as `who` and answer it; the wire session id.
    fn init(&mut self, who: Option<&str>) -> String {
        self.out.clear();
        let ex = self.post(None, &init_body("2025-11-25"), who);
        let rk = self
            .out
            .iter()
            .find_map(|o| match o {
                Output::Deliver(Delivery::Request { request, .. }) => Some(*request),
                _ => None,
            })
            .expect("initialize delivered");
        self.s
            .respond(
                Timestamp(0),
                rk,
                Ok(RawJson::from_value(&serde_json::json!({
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "serverInfo": {"name": "t", "version": "1"}
                }))),
            )
            .unwrap();
        while let Some(o) = self.s.poll_output() {
            self.out.push(o);
        }
        let (status, sid, _) = reply(&self.out, ex);
        assert_eq!(status, 200);
        let sid = sid.expect("a session id");
        self.post(
            Some(&sid),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            who,
        );
        sid
    }

    fn status(&self, ex: ExchangeId) -> (u16, String) {
        let (status, _, body) = reply(&self.out, ex);
        (status, body)
    }
}

const UNKNOWN: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn auth_rs_11_inv_s26_another_principal_gets_the_unknown_session_answer() {
    let mut p = P::new();
    let sid = p.init(Some("alice"));
    // What an unknown session gets, the reference answer.
    let ex = p.post(Some(UNKNOWN), &req_body(1, "tools/list"), Some("alice"));
    let unknown = p.status(ex);
    assert_eq!(unknown.0, 404);
    for who in [Some("bob"), None, Some("alicE")] {
        let ex = p.post(Some(&sid), &req_body(2, "tools/list"), who);
        assert_eq!(p.status(ex), unknown, "POST as {who:?}");
        // An initialize naming the session: 404 as for an unknown one,
        // not the 400 a live session of one's own gets.
        let ex = p.post(Some(&sid), &init_body("2025-11-25"), who);
        assert_eq!(p.status(ex).0, 404, "initialize as {who:?}");
        let ex = p.get(&sid, who);
        assert_eq!(p.status(ex).0, 404, "GET as {who:?}");
        let ex = p.delete(&sid, who);
        assert_eq!(p.status(ex).0, 404, "DELETE as {who:?}");
    }
    assert_eq!(p.s.session_count(), 1, "nobody else could end it");
    // Its own principal is served.
    p.out.clear();
    let ex = p.post(Some(&sid), &req_body(3, "tools/list"), Some("alice"));
    assert!(
        p.out
            .iter()
            .any(|o| matches!(o, Output::Deliver(Delivery::Request { .. }))),
        "alice's request is delivered"
    );
    let _ = ex;
    let ex = p.delete(&sid, Some("alice"));
    assert_ne!(p.status(ex).0, 404);
    assert_eq!(p.s.session_count(), 0);
}

#[test]
fn auth_rs_11_a_session_without_principal_refuses_one_with() {
    let mut p = P::new();
    let sid = p.init(None);
    let ex = p.post(Some(&sid), &req_body(1, "tools/list"), Some("mallory"));
    assert_eq!(p.status(ex).0, 404);
}

#[test]
fn auth_rs_11_an_empty_or_oversized_principal_is_refused() {
    let mut p = P::new();
    let ex = p.post(None, &init_body("2025-11-25"), Some(""));
    assert_eq!(p.status(ex).0, 400);
    let long = "x".repeat(streamable_core::MAX_PRINCIPAL_BYTES + 1);
    let ex = p.post(None, &init_body("2025-11-25"), Some(&long));
    assert_eq!(p.status(ex).0, 400);
    assert_eq!(p.s.session_count(), 0);
    // The limit itself is allowed.
    let longest = "x".repeat(streamable_core::MAX_PRINCIPAL_BYTES);
    p.post(None, &init_body("2025-11-25"), Some(&longest));
    assert_eq!(p.s.session_count(), 1, "the initialize is delivered");
}

proptest! {
    /// INV-S26 over random sequences: whatever principals send whatever
    /// requests, a request naming the session is accepted (delivered, or
    /// answered other than 404) only from the session's creator, and every
    /// other one gets 404.
    #[test]
    fn inv_s26_only_the_creator_reaches_the_session(
        creator in prop::option::of(0u8..3),
        steps in prop::collection::vec((prop::option::of(0u8..3), 0u8..3), 1..24),
    ) {
        let name = |n: u8| ["alice", "bob", "carol"][n as usize];
        let mut p = P::new();
        let sid = p.init(creator.map(name));
        let mut id = 10;
        for (who, what) in steps {
            let who_s = who.map(name);
            p.out.clear();
            id += 1;
            let ex = match what {
                0 => p.post(Some(&sid), &req_body(id, "tools/list"), who_s),
                1 => p.get(&sid, who_s),
                _ => p.post(Some(&sid), r#"{"jsonrpc":"2.0","method":"notifications/x"}"#, who_s),
            };
            let delivered = p.out.iter().any(|o| matches!(o, Output::Deliver(Delivery::Request { .. })));
            let refused_404 = p.out.iter().any(|o| matches!(o,
                Output::Reply { exchange, head, .. } if *exchange == ex && head.status == 404));
            if who == creator {
                prop_assert!(!refused_404, "the creator was refused");
            } else {
                prop_assert!(refused_404 && !delivered, "another principal got in");
            }
            prop_assert_eq!(p.s.session_count(), 1);
        }
    }
}
