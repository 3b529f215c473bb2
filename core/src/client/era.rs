//! Which era to speak and how the connection becomes ready: the
//! `server/discover` probe and its judgement (H-BC-1, H-VER-4), the legacy
//! `initialize` handshake (X-21, INV-S11), and an era taken from
//! [`EraPreference::Cached`] that the server proves wrong and is detected
//! again, once (H-BC-2).

use bytes::{Bytes, BytesMut};
use http::{HeaderName, Method};
use serde_json::Value;

use super::state::{Pending, Phase, Purpose, Waiter};
use super::stream::StreamKind;
use super::types::{Era, EraPreference, Event, Failure, RequestHandle};
use super::{Client, READY_HOLD_MS};
use crate::jsonrpc::{self, ErrorObject, Id, RawJson, code};
use crate::time::Timestamp;
use crate::version::ProtocolVersion;

/// The code of a recognised 2026-07-28 error in a refusal (H-BC-1, X-30):
/// a server that answers with one speaks the modern era.
fn modern_code(status: u16, error: Option<&ErrorObject>) -> Option<i64> {
    error.map(|e| e.code).filter(|c| {
        matches!(
            *c,
            code::HEADER_MISMATCH | code::MISSING_CAPABILITY | code::UNSUPPORTED_PROTOCOL_VERSION
        ) || (status == 404 && *c == code::METHOD_NOT_FOUND)
    })
}

impl Client {
    /// Start connecting as [`ClientConfig::era`](super::ClientConfig::era)
    /// asks: the probe, the `initialize` POST, or ready at once in the
    /// modern era; a cached era is marked assumed until a response confirms
    /// it (H-BC-2).
    pub(super) fn connect(&mut self, now: Timestamp) {
        match self.config.era {
            EraPreference::Legacy => self.start_initialize(now),
            EraPreference::Auto => self.start_probe(now),
            EraPreference::Modern => {
                self.become_ready(
                    Era::Modern,
                    ProtocolVersion::V2026_07_28,
                    RawJson::empty_object(),
                );
            }
            EraPreference::Cached(Era::Legacy) => {
                self.assumed = true;
                self.start_initialize(now);
            }
            EraPreference::Cached(Era::Modern) => {
                self.assumed = true;
                self.become_ready(
                    Era::Modern,
                    ProtocolVersion::V2026_07_28,
                    RawJson::empty_object(),
                );
            }
        }
    }

    /// H-BC-1: POST `server/discover` in the 2026-07-28 era; its answer
    /// decides the era.
    pub(super) fn start_probe(&mut self, now: Timestamp) {
        self.phase = Phase::Probing;
        self.phase_deadline = self.config.request_timeout.map(|t| now.saturating_add(t));
        let wire = self.alloc_wire();
        let params = self.with_meta(None);
        let mut body = BytesMut::new();
        jsonrpc::write_request(&mut body, &wire, "server/discover", Some(&params));
        let headers = vec![
            (
                HeaderName::from_static("mcp-protocol-version"),
                ProtocolVersion::V2026_07_28.as_str().to_owned(),
            ),
            (
                HeaderName::from_static("mcp-method"),
                "server/discover".to_owned(),
            ),
        ];
        if let Some(x) = self.send(
            Method::POST,
            Purpose::Probe(wire.clone()),
            body.freeze(),
            headers,
        ) {
            self.inflight.insert(
                wire,
                Pending {
                    waiter: Waiter::Probe,
                    exchange: x,
                    stream: None,
                    assumed: false,
                },
            );
        }
    }

    /// The legacy handshake: forget any session and POST `initialize`.
    pub(super) fn start_initialize(&mut self, now: Timestamp) {
        self.phase = Phase::Initializing { session: None };
        self.era = Some(Era::Legacy);
        self.version = None;
        self.session = None;
        self.phase_deadline = self.config.request_timeout.map(|t| now.saturating_add(t));
        let wire = self.alloc_wire();
        let params = format!(
            r#"{{"protocolVersion":"{}","capabilities":{},"clientInfo":{}}}"#,
            self.config.legacy_version.as_str(),
            self.config.capabilities.as_str(),
            self.config.client_info.as_str()
        );
        let params =
            RawJson::parse(Bytes::from(params)).unwrap_or_else(|_| RawJson::empty_object());
        let mut body = BytesMut::new();
        jsonrpc::write_request(&mut body, &wire, "initialize", Some(&params));
        // No session header and no version header: nothing is negotiated yet.
        if let Some(x) = self.send(
            Method::POST,
            Purpose::Initialize(wire.clone()),
            body.freeze(),
            Vec::new(),
        ) {
            self.inflight.insert(
                wire,
                Pending {
                    waiter: Waiter::Initialize,
                    exchange: x,
                    stream: None,
                    assumed: false,
                },
            );
        }
    }

    /// The connection is usable: report it, send `notifications/initialized`
    /// (legacy), flush what waited (INV-S11), open the standalone stream if
    /// asked (T-GET-1).
    pub(super) fn become_ready(&mut self, era: Era, version: ProtocolVersion, result: RawJson) {
        self.phase = Phase::Ready;
        self.phase_deadline = None;
        self.era = Some(era);
        self.version = Some(version);
        let ready = Event::Ready {
            era,
            version,
            result,
        };
        if era == Era::Legacy {
            // Exactly once per session, before anything else (INV-S11).
            self.send_notification("notifications/initialized", None);
        }
        self.flush_queue();
        if era == Era::Legacy && self.config.standalone_stream {
            // HC-GET-1: Ready waits for the GET's answer. A server may send
            // a request that belongs to no call (the TypeScript SDK's
            // `server.request` inside a tool) only on an open standalone
            // stream and drops it otherwise; an application that calls a
            // tool as soon as it is ready would race the GET and lose it.
            let until = Timestamp(self.now.0.saturating_add(READY_HOLD_MS));
            self.held_ready = Some((until, ready));
            let key = self.open_stream(StreamKind::Standalone, None);
            self.reconnect(key);
        } else {
            self.events.push_back(ready);
        }
    }

    /// H-BC-1: the probe got no result. A recognised modern error keeps the
    /// modern era; an unrecognised 400/404/405 means a legacy server.
    pub(super) fn probe_refused(
        &mut self,
        now: Timestamp,
        status: u16,
        error: Option<ErrorObject>,
    ) {
        match modern_code(status, error.as_ref()) {
            Some(code::UNSUPPORTED_PROTOCOL_VERSION) => {
                // H-VER-4: pick a version from `supported`.
                let supported: Vec<ProtocolVersion> = error
                    .as_ref()
                    .and_then(|e| e.data.as_ref())
                    .map(RawJson::to_value)
                    .and_then(|d| d.get("supported").cloned())
                    .and_then(|s| s.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| ProtocolVersion::parse(v.as_str()?))
                    .collect();
                if supported.contains(&ProtocolVersion::V2026_07_28) && !self.probe_retried {
                    // HC-VER-1: the version we sent is on the list after
                    // all: retry it, once (the server may have refused a
                    // stale header; a second refusal is final).
                    self.probe_retried = true;
                    self.start_probe(now);
                } else if supported.iter().any(|v| v.is_legacy()) {
                    self.start_initialize(now);
                } else {
                    self.close_with(Failure::Unsupported(format!(
                        "server supports {supported:?}"
                    )));
                }
            }
            Some(_) => self.become_ready(
                Era::Modern,
                ProtocolVersion::V2026_07_28,
                RawJson::empty_object(),
            ),
            None if matches!(status, 400 | 404 | 405) || (200..300).contains(&status) => {
                self.start_initialize(now)
            }
            None => self.close_with(Failure::Http { status, error }),
        }
    }

    /// H-BC-2: request `wire` (of application request `h`), sent in an
    /// assumed modern era, was refused with `status`. A recognised modern
    /// error confirms the era; a 400/404/405 without one (the H-BC-1 rule)
    /// disproves it: the era is detected again and the request, which the
    /// server did not run, waits for the new era. `true` when handled.
    pub(super) fn assumption_failed(
        &mut self,
        now: Timestamp,
        wire: &Id,
        h: RequestHandle,
        status: u16,
        error: Option<&ErrorObject>,
    ) -> bool {
        if !self.inflight.get(wire).is_some_and(|p| p.assumed) {
            return false;
        }
        if modern_code(status, error).is_some() {
            self.assumed = false;
            return false;
        }
        if !matches!(status, 400 | 404 | 405) || !(self.assumed || self.redetected) {
            return false;
        }
        if let Some(p) = self.inflight.remove(wire)
            && let Some(k) = p.stream
        {
            self.remove_stream(k);
        }
        if let Some(r) = self.requests.get_mut(&h) {
            r.wire = None;
        }
        if self.assumed {
            self.redetect(now, Era::Modern);
        }
        if self.requests.contains_key(&h) {
            self.requeue(h);
        }
        true
    }

    /// H-BC-2: the `assumed` era proved wrong: probe again, once.
    pub(super) fn redetect(&mut self, now: Timestamp, assumed: Era) {
        self.assumed = false;
        self.redetected = true;
        self.events.push_back(Event::Warning(format!(
            "the cached {assumed:?} era was refused; detecting the era again"
        )));
        self.start_probe(now);
    }

    /// The `initialize` response: adopt the session id kept aside (X-21) and
    /// the version, or end the attempt (re-detect a cached era, H-BC-2).
    pub(super) fn complete_initialize(
        &mut self,
        now: Timestamp,
        outcome: Result<RawJson, ErrorObject>,
    ) {
        let session = match &mut self.phase {
            Phase::Initializing { session } => session.take(),
            _ => return,
        };
        let result = match outcome {
            Ok(result) => result,
            Err(_) if self.assumed => return self.redetect(now, Era::Legacy),
            Err(e) => {
                return self.close_with(Failure::Http {
                    status: 200,
                    error: Some(e),
                });
            }
        };
        self.assumed = false;
        let version = result
            .to_value()
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(ProtocolVersion::parse)
            .filter(|v| v.is_legacy());
        let Some(version) = version else {
            // L-VER: a version we do not speak ends the attempt.
            return self.close_with(Failure::Unsupported(
                "initialize result names no supported protocolVersion".into(),
            ));
        };
        self.session = session;
        self.become_ready(Era::Legacy, version, result);
    }
}
