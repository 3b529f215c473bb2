//! The machine's internal invariants, checked by tests and the simulator
//! after every step.

use super::Client;
use super::state::{BodyState, Queued, Waiter};
use super::stream::StreamKind;
use super::types::Era;

impl Client {
    /// Check the machine's internal invariants (for tests and the simulator).
    pub fn check_invariants(&self) -> Result<(), String> {
        for (wire, p) in &self.inflight {
            if let Waiter::App(h) = p.waiter {
                let r = self
                    .requests
                    .get(&h)
                    .ok_or("in-flight wire id of no request")?;
                if r.wire.as_ref() != Some(wire) {
                    return Err(format!("request {h:?} does not own wire id {wire}"));
                }
            }
            if let Some(k) = p.stream
                && !self.streams.contains_key(&k)
            {
                return Err(format!("wire id {wire} names a missing stream"));
            }
        }
        for (k, s) in &self.streams {
            if let Some(c) = s.conn {
                match self.exchanges.get(&c).map(|e| &e.body) {
                    Some(BodyState::Sse(k2)) if k2 == k => {}
                    Some(BodyState::Head) => {}
                    _ => return Err(format!("stream {k:?} attached to a dead exchange")),
                }
            }
            if s.conn.is_some() && s.reconnect_at.is_some() {
                return Err(format!("stream {k:?} connected and waiting to reconnect"));
            }
            if let StreamKind::Post(wire) = &s.kind
                && !self.inflight.contains_key(wire)
            {
                return Err(format!("stream {k:?} owes nothing but is kept"));
            }
        }
        if self.session.is_some() && self.era != Some(Era::Legacy) {
            return Err("a session outside the legacy era".into());
        }
        // H-HDR-6: the only hidden request is the refresh's current page,
        // and the calls waiting for it are neither sent nor queued.
        for (h, r) in &self.requests {
            if r.hidden && self.refresh.as_ref().map(|f| f.request) != Some(*h) {
                return Err(format!("hidden request {h:?} belongs to no refresh"));
            }
        }
        if let Some(refresh) = &self.refresh {
            if !self.requests.contains_key(&refresh.request) {
                return Err("the refresh has no request".into());
            }
            for (h, _, _) in &refresh.waiting {
                let queued = self
                    .queue
                    .iter()
                    .any(|q| matches!(q, Queued::Request(q) if q == h));
                if self.requests.get(h).is_some_and(|r| r.wire.is_some()) || queued {
                    return Err(format!("{h:?} waits for the refresh but was sent"));
                }
            }
        }
        // HC-MRTR-1: an input request names a request gathering its round;
        // a gathering request is neither sent nor queued, and waits for as
        // many answers as it has input requests outstanding.
        for (k, i) in &self.inputs {
            if self
                .requests
                .get(&i.request)
                .is_none_or(|r| r.gathering.is_none())
            {
                return Err(format!("input request {k:?} of no gathering request"));
            }
        }
        for (h, r) in &self.requests {
            let Some(g) = &r.gathering else { continue };
            let queued = self
                .queue
                .iter()
                .any(|q| matches!(q, Queued::Request(q) if q == h));
            if r.wire.is_some() || queued {
                return Err(format!("{h:?} gathers input but was sent"));
            }
            let open = self.inputs.values().filter(|i| i.request == *h).count();
            if open != g.outstanding || open == 0 {
                return Err(format!(
                    "{h:?} waits for {} answers, {open} open",
                    g.outstanding
                ));
            }
            if r.rounds > self.config.max_input_rounds {
                return Err(format!("{h:?} past its input rounds"));
            }
        }
        // L-TO-3: no deadline lies past the hard maximum.
        if let Some(max) = self.config.max_request_time {
            for (h, r) in &self.requests {
                if r.deadline
                    .is_some_and(|d| d > r.started.saturating_add(max))
                {
                    return Err(format!("{h:?} deadline past its hard maximum"));
                }
            }
        }
        Ok(())
    }
}

/// Each check can fail: a real state passes, and the same state with one
/// thing broken is refused for that reason (mutation testing showed no
/// test made these checks fail).
#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use serde_json::{Value, json};

    use super::super::state::{BodyState, Gathering, Queued, StreamKey};
    use super::super::types::{ClientConfig, EraPreference, Event, HttpId, Transmit};
    use super::super::{Client, Era};
    use crate::jsonrpc::{Id, RawJson};
    use crate::time::Timestamp;

    const T: Timestamp = Timestamp(0);

    fn sends(c: &mut Client) -> Vec<(HttpId, Value)> {
        let mut v = Vec::new();
        while let Some(t) = c.poll_transmit() {
            if let Transmit::Send { id, request } = t {
                let body = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
                v.push((id, body));
            }
        }
        v
    }

    fn head(c: &mut Client, id: HttpId, ct: &str, session: Option<&str>) {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        if let Some(s) = session {
            h.insert("mcp-session-id", s.parse().unwrap());
        }
        c.handle_head(T, id, 200, &h);
    }

    fn answer(c: &mut Client, id: HttpId, body: &Value) {
        head(c, id, "application/json", None);
        c.handle_body(T, id, body.to_string().as_bytes());
        c.handle_end(T, id);
    }

    fn refused(c: &Client, why: &str) {
        match c.check_invariants() {
            Err(e) => assert!(e.contains(why), "{e} (wanted {why})"),
            Ok(()) => panic!("broken state accepted (wanted {why})"),
        }
    }

    /// Legacy, ready, one request in flight on an SSE stream.
    fn legacy_streaming() -> Client {
        let mut c = Client::new(ClientConfig::new("http://h/mcp".parse().unwrap()), T);
        let (init, body) = sends(&mut c).remove(0);
        let result = json!({"jsonrpc": "2.0", "id": body["id"], "result":
            {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}});
        head(&mut c, init, "application/json", Some("s1"));
        c.handle_body(T, init, result.to_string().as_bytes());
        c.handle_end(T, init);
        c.request(T, "tools/call", None).unwrap();
        let post = sends(&mut c)
            .into_iter()
            .find(|(_, b)| b["method"] == "tools/call")
            .unwrap()
            .0;
        head(&mut c, post, "text/event-stream", None);
        c.check_invariants().unwrap();
        c
    }

    /// 2026-07-28, one request gathering the answers of a round of two.
    fn modern_gathering() -> Client {
        let mut cfg = ClientConfig::new("http://h/mcp".parse().unwrap());
        cfg.era = EraPreference::Modern;
        let mut c = Client::new(cfg, T);
        c.request(
            T,
            "tools/call",
            Some(RawJson::from_value(&json!({"name": "t"}))),
        )
        .unwrap();
        let (post, body) = sends(&mut c).remove(0);
        let round = json!({"jsonrpc": "2.0", "id": body["id"], "result": {
            "resultType": "input_required", "inputRequests": {
                "a": {"method": "elicitation/create", "params": {"message": "?"}},
                "b": {"method": "roots/list"}}}});
        answer(&mut c, post, &round);
        let inputs = std::iter::from_fn(|| c.poll_event())
            .filter(|e| matches!(e, Event::Request { .. }))
            .count();
        assert_eq!(inputs, 2);
        c.check_invariants().unwrap();
        c
    }

    #[test]
    fn each_request_and_stream_check_can_fail() {
        let c = legacy_streaming();
        let (&h, _) = c.requests.iter().next().unwrap();
        let mut b = c.clone();
        b.requests.clear();
        refused(&b, "in-flight wire id of no request");
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().wire = Some(Id::Int(999));
        refused(&b, "does not own wire id");
        let (&k, s) = c.streams.iter().next().unwrap();
        let conn = s.conn.unwrap();
        let mut b = c.clone();
        b.exchanges.get_mut(&conn).unwrap().body = BodyState::Sse(StreamKey(k.0 + 1));
        refused(&b, "attached to a dead exchange");
        let mut b = c.clone();
        b.streams.get_mut(&k).unwrap().reconnect_at = Some(T);
        refused(&b, "connected and waiting to reconnect");
        let mut b = c.clone();
        b.inflight.values_mut().next().unwrap().stream = Some(StreamKey(k.0 + 7));
        refused(&b, "names a missing stream");
        let mut b = c.clone();
        b.era = Some(Era::Modern);
        refused(&b, "a session outside the legacy era");
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().hidden = true;
        refused(&b, "belongs to no refresh");
        let mut b = c;
        b.inflight.clear();
        refused(&b, "owes nothing but is kept");
    }

    #[test]
    fn each_gathering_check_can_fail() {
        let c = modern_gathering();
        let (&h, _) = c
            .requests
            .iter()
            .find(|(_, r)| r.gathering.is_some())
            .unwrap();
        // Sent while gathering.
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().wire = Some(Id::Int(5));
        refused(&b, "gathers input but was sent");
        // Queued while gathering.
        let mut b = c.clone();
        b.queue.push_back(Queued::Request(h));
        refused(&b, "gathers input but was sent");
        // Counting one answer too many or too few.
        let mut b = c.clone();
        b.requests
            .get_mut(&h)
            .unwrap()
            .gathering
            .as_mut()
            .unwrap()
            .outstanding = 3;
        refused(&b, "waits for 3 answers, 2 open");
        // A gathering request with no input request left open.
        let mut b = c.clone();
        b.inputs.clear();
        b.requests.get_mut(&h).unwrap().gathering = Some(Gathering {
            state: None,
            outstanding: 0,
            answers: serde_json::Map::new(),
        });
        refused(&b, "waits for 0 answers, 0 open");
        // An input request whose request is not gathering.
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().gathering = None;
        refused(&b, "of no gathering request");
        // Rounds: the limit itself is allowed, one more is not.
        let max = c.config.max_input_rounds;
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().rounds = max;
        b.check_invariants().unwrap();
        b.requests.get_mut(&h).unwrap().rounds = max + 1;
        refused(&b, "past its input rounds");
    }

    #[test]
    fn each_refresh_check_can_fail() {
        // 2026-07-28: a tool with a mirrored parameter, a call refused for
        // a header mismatch, so the tools/list refresh runs (H-HDR-6).
        let mut cfg = ClientConfig::new("http://h/mcp".parse().unwrap());
        cfg.era = EraPreference::Modern;
        let mut c = Client::new(cfg, T);
        c.request(T, "tools/list", None).unwrap();
        let (list, body) = sends(&mut c).remove(0);
        let tools = json!({"tools": [{"name": "deploy", "inputSchema": {"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}]});
        answer(
            &mut c,
            list,
            &json!({"jsonrpc": "2.0", "id": body["id"], "result": tools}),
        );
        let call = c
            .request(
                T,
                "tools/call",
                Some(RawJson::from_value(
                    &json!({"name": "deploy", "arguments": {"region": "eu"}}),
                )),
            )
            .unwrap();
        let (post, body) = sends(&mut c).remove(0);
        let mismatch = json!({"jsonrpc": "2.0", "id": body["id"],
            "error": {"code": -32020, "message": "Mcp-Param-Zone is required"}});
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        c.handle_head(T, post, 400, &h);
        c.handle_body(T, post, mismatch.to_string().as_bytes());
        c.handle_end(T, post);
        assert!(c.refresh.is_some(), "the refresh runs");
        c.check_invariants().unwrap();
        // The waiting call was sent after all.
        let mut b = c.clone();
        b.requests.get_mut(&call).unwrap().wire = Some(Id::Int(99));
        refused(&b, "waits for the refresh but was sent");
        // Or queued.
        let mut b = c.clone();
        b.queue.push_back(Queued::Request(call));
        refused(&b, "waits for the refresh but was sent");
        // The refresh's own request is gone.
        let mut b = c;
        let page = b.refresh.as_ref().unwrap().request;
        b.requests.remove(&page);
        b.inflight.clear();
        refused(&b, "the refresh has no request");
    }

    #[test]
    fn the_deadline_check_can_fail() {
        let mut cfg = ClientConfig::new("http://h/mcp".parse().unwrap());
        cfg.era = EraPreference::Modern;
        cfg.max_request_time = Some(std::time::Duration::from_millis(1000));
        let mut c = Client::new(cfg, T);
        let h = c.request(T, "tools/list", None).unwrap();
        c.check_invariants().unwrap();
        let mut b = c.clone();
        b.requests.get_mut(&h).unwrap().deadline = Some(Timestamp(1000));
        b.check_invariants().unwrap();
        b.requests.get_mut(&h).unwrap().deadline = Some(Timestamp(1001));
        refused(&b, "deadline past its hard maximum");
    }
}
