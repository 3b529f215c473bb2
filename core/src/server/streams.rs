//! Stream machinery of the session era: opening a POST's stream, turning a
//! pending head into SSE, priming, logging and writing events, attaching a
//! connection (live, replay and reconnect are one operation, see [`log`]),
//! routing an answer to its request's stream, and finishing streams.
//!
//! [`log`]: super::log

use bytes::{Bytes, BytesMut};
use http::StatusCode;

use super::log::{Form, Origin, Stream, StreamId, event_id};
use super::router::{InFlight, Kind};
use super::session::{INV_P2, Sessions};
use super::{IdSource, Server};
use crate::config::ResponseMode;
use crate::jsonrpc::{self, ErrorObject, RawJson};
use crate::output::{CloseReason, Content, Output, RequestKey, ResponseHead, SendError, Target};
use crate::output::{ExchangeId, SessionKey};
use crate::sse;

impl<I: IdSource> Server<I> {
    pub(super) fn open_post_stream(
        &mut self,
        ex: ExchangeId,
        sk: SessionKey,
        batch: bool,
        requests: usize,
        sse: bool,
    ) -> StreamId {
        let sid = self.router.new_stream(self.instance);
        let mut stream = Stream::new(
            Origin::Post { batch },
            Form::Pending {
                collected: Vec::new(),
            },
        );
        stream.owed = requests;
        stream.requests = requests;
        stream.conn = Some(ex);
        self.sessions.live_mut(sk).streams.insert(sid, stream);
        self.router.exchanges.insert(ex, (sk, sid));
        if sse {
            self.upgrade(sk, sid);
        }
        sid
    }

    /// Turn a head-pending POST stream into an SSE stream: the head goes out,
    /// then the priming event (2025-11-25), then any responses collected.
    pub(super) fn upgrade(&mut self, sk: SessionKey, sid: StreamId) {
        let head = self.session_head(sk, StatusCode::OK, Content::EventStream);
        let session = self.sessions.live_mut(sk);
        let stream = session.stream_mut(sid);
        let Form::Pending { collected } = std::mem::replace(&mut stream.form, Form::Sse) else {
            return;
        };
        if let Some(ex) = stream.conn {
            self.outputs
                .push_back(Output::StreamHead { exchange: ex, head });
        }
        self.prime(sk, sid);
        for msg in collected {
            self.log_event(sk, sid, &msg, true);
        }
    }

    /// The priming event (T-PSSE-1): an id and empty data, so the client has
    /// a cursor before anything else happens; 2025-11-25 sessions only.
    pub(super) fn prime(&mut self, sk: SessionKey, sid: StreamId) {
        let session = self.sessions.live(sk);
        if !session.version.primes_streams() || !session.initialized() {
            return;
        }
        let seq = session.stream(sid).log.next_seq();
        let mut frame = BytesMut::with_capacity(48);
        sse::encode_priming(&mut frame, &event_id(sid, seq), Some(self.config.retry_ms));
        self.append_frame(sk, sid, frame.freeze(), false);
    }

    /// Route one message to a stream: collected for a JSON body, or logged
    /// and (if a connection is attached) written.
    pub(super) fn send(
        &mut self,
        sk: SessionKey,
        sid: StreamId,
        msg: Bytes,
        response: bool,
    ) -> Result<(), SendError> {
        let session = self.sessions.get_mut(&sk).ok_or(SendError::Gone)?;
        let stream = session.streams.get_mut(&sid).ok_or(SendError::NoStream)?;
        match &mut stream.form {
            Form::Pending { collected } if response => {
                collected.push(msg);
                Ok(())
            }
            Form::Pending { .. } => {
                if self.config.response_mode == ResponseMode::Json {
                    return Err(SendError::JsonMode);
                }
                self.upgrade(sk, sid);
                self.log_event(sk, sid, &msg, false);
                Ok(())
            }
            Form::Sse => {
                self.log_event(sk, sid, &msg, response);
                Ok(())
            }
        }
    }

    fn log_event(&mut self, sk: SessionKey, sid: StreamId, msg: &[u8], response: bool) {
        let seq = self.sessions.live(sk).stream(sid).log.next_seq();
        let mut frame = BytesMut::with_capacity(msg.len() + 48);
        sse::encode_message(&mut frame, Some(&event_id(sid, seq)), msg);
        self.append_frame(sk, sid, frame.freeze(), response);
    }

    fn append_frame(&mut self, sk: SessionKey, sid: StreamId, frame: Bytes, response: bool) {
        let (max_events, max_bytes) = (
            self.config.max_events_per_stream,
            self.config.max_log_bytes_per_stream,
        );
        let stream = self.sessions.live_mut(sk).stream_mut(sid);
        if response {
            stream.responses += 1;
        }
        let seq = stream
            .log
            .append(frame.clone(), response, max_events, max_bytes);
        let conn = stream.conn;
        if conn.is_some() {
            // An attached connection is always caught up, so it gets exactly
            // this event next.
            stream.written = seq + 1;
        }
        if self.config.store.is_some() {
            self.store_append(sk, sid, seq, frame.clone(), response);
        }
        if let Some(ex) = conn {
            self.outputs.push_back(Output::Event {
                exchange: ex,
                frame,
            });
        }
    }

    /// Attach `ex` to a stream at cursor `from` (the first seq it lacks),
    /// replacing any live connection (INV-S20, X-9), and replay.
    pub(super) fn attach(&mut self, ex: ExchangeId, sk: SessionKey, sid: StreamId, from: u64) {
        let retry = self.config.retry_ms;
        let session = self.sessions.live_mut(sk);
        let polls = session.version.primes_streams();
        let stream = session.streams.get_mut(&sid).expect(INV_P2);
        let mut head = ResponseHead::new(StatusCode::OK, Content::EventStream);
        head.session_id = Some(session.wire_id.clone());
        if let Some(old) = stream.conn.take() {
            self.router.exchanges.remove(&old);
            if polls && !stream.finished {
                // T-PSSE-4: say when to come back before closing a stream
                // that is not over.
                let mut f = BytesMut::new();
                sse::encode_retry(&mut f, retry);
                self.outputs.push_back(Output::Event {
                    exchange: old,
                    frame: f.freeze(),
                });
            }
            self.outputs.push_back(Output::Close { exchange: old });
        }
        self.outputs
            .push_back(Output::StreamHead { exchange: ex, head });
        if let Ok(events) = stream.log.from(from) {
            for e in events {
                self.outputs.push_back(Output::Event {
                    exchange: ex,
                    frame: e.frame.clone(),
                });
            }
        }
        stream.written = stream.written.max(stream.log.next_seq());
        if stream.finished {
            self.outputs.push_back(Output::Close { exchange: ex });
        } else {
            stream.conn = Some(ex);
            self.router.exchanges.insert(ex, (sk, sid));
        }
    }

    pub(super) fn target_stream(
        &self,
        target: Target,
    ) -> Result<(SessionKey, StreamId), SendError> {
        match target {
            Target::Request(rk) => {
                let req = self.router.requests.get(&rk).ok_or(SendError::Gone)?;
                let session = self.sessions.get(&req.session).ok_or(SendError::Gone)?;
                if !session.streams.contains_key(&req.stream) {
                    return Err(SendError::NoStream);
                }
                Ok((req.session, req.stream))
            }
            Target::Session(sk) => {
                let session = self.sessions.get(&sk).ok_or(SendError::Gone)?;
                let sid = session.get_stream.ok_or(SendError::NoStream)?;
                Ok((sk, sid))
            }
        }
    }

    pub(super) fn answer(
        &mut self,
        rk: RequestKey,
        outcome: Result<RawJson, ErrorObject>,
        abandoned: bool,
    ) -> Result<(), SendError> {
        let req = self
            .router
            .requests
            .get(&rk)
            .ok_or(SendError::Gone)?
            .clone();
        let sk = req.session;
        let Some(session) = self.sessions.get_mut(&sk) else {
            return Err(SendError::Gone);
        };
        let mut outcome = outcome;
        if req.kind == Kind::Initialize {
            outcome = match outcome {
                Ok(result) => Ok(session.result_sent(&result)),
                Err(e) => {
                    // no session id on a failed initialize.
                    if let Some(s) = session.streams.get_mut(&req.stream) {
                        s.anonymous = true;
                    }
                    Err(e)
                }
            };
            if self.config.store.is_some()
                && let Ok(result) = outcome
            {
                // MI-2: the result goes out only once the record saying it
                // was sent (the negotiated version, the phase) is stored,
                // so an instance that restores the session never finds it
                // half made when the client already holds its id.
                self.store_put_then_answer(sk, rk, result, abandoned);
                return Ok(());
            }
        }
        self.write_answer(rk, &req, outcome, abandoned)
    }

    /// Write the response to `req` (registered as `rk`) on its stream and
    /// finish the request.
    pub(super) fn write_answer(
        &mut self,
        rk: RequestKey,
        req: &InFlight,
        outcome: Result<RawJson, ErrorObject>,
        abandoned: bool,
    ) -> Result<(), SendError> {
        let sk = req.session;
        let pending = self.sessions.get(&sk).and_then(|session| {
            session
                .streams
                .get(&req.stream)
                .map(|s| matches!(s.form, Form::Pending { .. }))
        });
        let failed_init = req.kind == Kind::Initialize && outcome.is_err();
        let result = match pending {
            None => Err(SendError::NoStream),
            // An SSE stream carries no response once the client cancelled
            // (U-CAN-5), nor one for an abandoned request; a pending head
            // must still get a body.
            Some(false) if req.cancelled || abandoned => Ok(()),
            Some(_) => {
                // Room for the envelope, the id and the result: one write.
                let len = match &outcome {
                    Ok(r) => r.as_bytes().len(),
                    Err(e) => e.message.len() + e.data.as_ref().map_or(0, |d| d.as_bytes().len()),
                };
                let mut msg = BytesMut::with_capacity(64 + len);
                jsonrpc::write_outcome(&mut msg, &req.id, &outcome);
                self.send(sk, req.stream, msg.freeze(), true)
            }
        };
        self.finish_request(rk);
        if failed_init {
            self.terminate(sk, CloseReason::InitializeFailed);
        }
        result
    }

    fn finish_request(&mut self, rk: RequestKey) {
        let Some(req) = self.router.requests.remove(&rk) else {
            return;
        };
        let sk = req.session;
        let Some(session) = self.sessions.get_mut(&sk) else {
            return;
        };
        session.in_flight.remove(&req.id);
        session.touch(self.now);
        if let Some(stream) = session.streams.get_mut(&req.stream) {
            stream.owed = stream.owed.saturating_sub(1);
            if stream.owed == 0 {
                self.finish_stream(sk, req.stream);
            }
        }
        self.rearm(sk);
    }

    /// All responses of a POST stream are out: answer with JSON, or end the
    /// SSE stream (T-PSSE-11) and keep its log for late resumes.
    fn finish_stream(&mut self, sk: SessionKey, sid: StreamId) {
        let keep = self.config.max_finished_streams_per_session;
        let mut head = self.session_head(sk, StatusCode::OK, Content::Json);
        let session = self.sessions.live_mut(sk);
        let Some(stream) = session.streams.get_mut(&sid) else {
            return;
        };
        if stream.anonymous {
            head.session_id = None;
        }
        match &mut stream.form {
            Form::Pending { collected } => {
                let body = match (stream.origin, collected.len()) {
                    (Origin::Post { batch: false }, 1) => collected.pop().unwrap_or_default(),
                    _ => {
                        // T-POST-10: a batch's JSON answer is an array.
                        let mut out = BytesMut::with_capacity(
                            collected.iter().map(|c| c.len() + 1).sum::<usize>() + 2,
                        );
                        out.extend_from_slice(b"[");
                        for (i, c) in collected.iter().enumerate() {
                            if i > 0 {
                                out.extend_from_slice(b",");
                            }
                            out.extend_from_slice(c);
                        }
                        out.extend_from_slice(b"]");
                        out.freeze()
                    }
                };
                let conn = stream.conn;
                session.streams.remove(&sid);
                if let Some(ex) = conn {
                    self.router.exchanges.remove(&ex);
                    self.outputs.push_back(Output::Reply {
                        exchange: ex,
                        head,
                        body,
                    });
                }
            }
            Form::Sse => {
                stream.finished = true;
                if let Some(ex) = stream.conn.take() {
                    self.router.exchanges.remove(&ex);
                    self.outputs.push_back(Output::Close { exchange: ex });
                }
                session.finished.push_back(sid);
                while session.finished.len() > keep {
                    if let Some(old) = session.finished.pop_front() {
                        session.streams.remove(&old);
                    }
                }
                if self.config.store.is_some() {
                    self.store_end_stream(sk, sid);
                }
            }
        }
    }
}
