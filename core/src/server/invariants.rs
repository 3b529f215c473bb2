//! The server's structural invariants, checked after every step by the
//! property tests, the model checker and the simulator.

use super::log::{Form, Origin};

/// `assert!` that returns the violation instead of panicking.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// `assert_eq!` that returns the violation instead of panicking.
macro_rules! ensure_eq {
    ($a:expr, $b:expr, $($msg:tt)+) => {
        if $a != $b {
            return Err(format!("{}: {:?} != {:?}", format!($($msg)+), $a, $b));
        }
    };
}
use super::{IdSource, Server};

impl<I: IdSource> Server<I> {
    /// Assert the structural invariants (INV-S*, `docs/requirements.md` § Invariants) that hold of
    /// the server's state (INV-S1, S3, S4, S5/S6 structure, S8, S10, S18,
    /// S20, S22, and every configured bound). Called after every step by the
    /// property tests, the model checker and the simulator. Returns the
    /// first violation, described, like the client's
    /// (`client::Client::check_invariants`): the caller decides whether a
    /// violation panics (tests, fuzz targets) or is logged and the
    /// connection closed (a driver with checks on in production); see
    /// `docs/panic-policy.md`. Never panics itself, whatever the state.
    pub fn check_invariants(&self) -> Result<(), String> {
        let c = &self.config;
        ensure!(
            self.sessions.len() <= c.max_sessions,
            "session limit exceeded"
        );
        // INV-S10: wire ids and sessions are in bijection.
        ensure_eq!(
            self.by_wire_id.len(),
            self.sessions.len(),
            "INV-S10: wire id table"
        );
        for (wire, sk) in &self.by_wire_id {
            let s = self
                .sessions
                .get(sk)
                .ok_or_else(|| "INV-S10: wire id names a live session".to_owned())?;
            ensure_eq!(&s.wire_id, wire, "INV-S10: session id changed");
            ensure!(
                wire.bytes().all(|b| (0x21..=0x7e).contains(&b)),
                "T-SES-3: session id not visible ASCII"
            );
        }
        // INV-S20/S18: exchange <-> connection attachment is one-to-one and
        // within one session.
        for (ex, (sk, sid)) in &self.router.exchanges {
            let s = self
                .sessions
                .get(sk)
                .ok_or_else(|| "INV-S8: exchange of a dead session".to_owned())?;
            let st = s
                .streams
                .get(sid)
                .ok_or_else(|| "exchange of a missing stream".to_owned())?;
            ensure_eq!(
                st.conn,
                Some(*ex),
                "INV-S20: exchange not the stream's connection"
            );
        }
        let mut attached = 0;
        for (sk, s) in &self.sessions {
            // INV-S26 (its state half; the model checks that no request of
            // another principal is accepted): a session's principal is
            // bounded and never empty.
            ensure!(
                s.principal
                    .as_deref()
                    .is_none_or(|p| !p.is_empty() && p.len() <= super::MAX_PRINCIPAL_BYTES),
                "INV-S26: session principal out of bounds"
            );
            ensure!(
                s.in_flight.len() <= c.max_in_flight_per_session,
                "in-flight limit"
            );
            ensure!(
                s.outgoing.len() <= c.max_outgoing_per_session,
                "outgoing limit"
            );
            ensure!(
                s.finished.len() <= c.max_finished_streams_per_session,
                "finished limit"
            );
            if let Some(at) = s.armed {
                ensure!(self.timers.contains(&(at, *sk)), "armed timer missing");
            } else {
                ensure!(s.deadline(c).is_none() || s.busy(), "unarmed idle session");
            }
            if let Some(g) = s.get_stream {
                ensure_eq!(
                    s.streams
                        .get(&g)
                        .ok_or_else(|| "GET stream missing".to_owned())?
                        .origin,
                    Origin::Get,
                    "GET stream origin"
                );
            }
            for (id, rk) in &s.in_flight {
                let r = self
                    .router
                    .requests
                    .get(rk)
                    .ok_or_else(|| "in-flight without request".to_owned())?;
                ensure_eq!((&r.id, r.session), (id, *sk), "request table mismatch");
            }
            for (sid, st) in &s.streams {
                if let Some(ex) = st.conn {
                    attached += 1;
                    ensure_eq!(
                        self.router.exchanges.get(&ex),
                        Some(&(*sk, *sid)),
                        "INV-S20"
                    );
                }
                // INV-S1: never more responses than requests.
                ensure!(
                    st.responses <= st.requests,
                    "INV-S1: extra response on a stream"
                );
                // INV-S4: a GET stream carries no response.
                if st.origin == Origin::Get {
                    ensure!(
                        st.log.iter().all(|e| !e.response),
                        "INV-S4: response on GET stream"
                    );
                    ensure!(!st.finished, "GET streams never finish");
                } else {
                    let owed = self
                        .router
                        .requests
                        .values()
                        .filter(|r| r.session == *sk && r.stream == *sid)
                        .count();
                    ensure_eq!(owed, st.owed, "owed count out of step");
                }
                if st.finished {
                    ensure!(
                        st.conn.is_none() && st.owed == 0,
                        "INV-L2: finished stream live"
                    );
                    ensure!(
                        s.finished.contains(sid),
                        "finished stream not retained in order"
                    );
                }
                match &st.form {
                    Form::Pending { .. } => {
                        ensure!(st.conn.is_some(), "pending stream without its exchange");
                        ensure_eq!(st.log.len(), 0, "pending stream with events");
                    }
                    Form::Sse => {}
                }
                // INV-S5/S6: the log is contiguous, bounded, and ids are
                // (stream, seq) of this stream.
                let mut expect = None;
                let mut bytes = 0;
                for e in st.log.iter() {
                    if let Some(x) = expect {
                        ensure_eq!(e.seq, x, "INV-S5: gap in the event log");
                    }
                    expect = Some(e.seq + 1);
                    bytes += e.frame.len();
                }
                ensure_eq!(bytes, st.log.bytes(), "log byte count");
                ensure!(
                    st.log.len() <= c.max_events_per_stream.max(1),
                    "log event limit"
                );
                ensure!(
                    st.log.len() <= 1 || st.log.bytes() <= c.max_log_bytes_per_stream,
                    "log byte limit"
                );
                ensure!(st.written <= st.log.next_seq(), "written beyond the log");
                if st.conn.is_some() {
                    ensure_eq!(st.written, st.log.next_seq(), "attached connection behind");
                }
            }
        }
        ensure_eq!(
            attached,
            self.router.exchanges.len(),
            "INV-S20: dangling exchanges"
        );
        self.check_stateless()?;
        for r in self.router.requests.values() {
            let s = self
                .sessions
                .get(&r.session)
                .ok_or_else(|| "INV-S8: request of dead session".to_owned())?;
            ensure!(s.in_flight.contains_key(&r.id), "request not in flight");
        }
        for (at, sk) in &self.timers {
            let s = self
                .sessions
                .get(sk)
                .ok_or_else(|| "timer of a dead session".to_owned())?;
            ensure_eq!(s.armed, Some(*at), "stale timer entry");
        }
        Ok(())
    }
}

/// The check can fail: a real state passes, the same state broken does not
/// (mutation testing showed no test made it fail; the known-bad variants of
/// `streamable-sim` do, in the simulator).
#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::time::Timestamp;
    use crate::{Config, SeededIds, Server};

    #[test]
    fn a_broken_state_is_reported() {
        let mut s = Server::new(Config::default(), SeededIds(1));
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
        let req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Bytes::from_static(init.as_bytes()))
            .unwrap();
        let _ = s.handle_request(Timestamp(0), req);
        assert_eq!(s.session_count(), 1);
        s.check_invariants().unwrap();
        let mut broken = s;
        broken.by_wire_id.clear();
        let e = broken.check_invariants().unwrap_err();
        assert!(e.contains("INV-S10"), "{e}");
        // The stateless era's part.
        let mut s = Server::new(Config::default(), SeededIds(2));
        s.check_invariants().unwrap();
        s.stateless.listeners = 1;
        let e = s.check_invariants().unwrap_err();
        assert!(e.contains("listener count"), "{e}");
    }
}
