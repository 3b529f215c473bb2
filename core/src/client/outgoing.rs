//! Building and queueing HTTP requests: the one place that writes request
//! heads (`Accept`, session and version headers, the configured extras),
//! the 2026-07-28 `_meta` fields (H-META-1) and mirrored headers
//! (H-VER-1, H-HDR-1..3), and the allocation of wire ids.

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method};
use serde_json::Value;

use super::Client;
use super::state::{BodyState, Exchange, Pending, Purpose, Waiter};
use super::types::{Era, Event, Failure, HttpId, RequestHandle, Transmit};
use crate::jsonrpc::{self, ErrorObject, Id, RawJson};
use crate::mirror;
use crate::version::ProtocolVersion;

/// `Accept` of every POST (T-POST-2, H-POST-1).
const ACCEPT_POST: &str = "application/json, text/event-stream";

/// The `_meta` keys of a 2026-07-28 request (H-META-1).
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

const META_INFO: &str = "io.modelcontextprotocol/clientInfo";

impl Client {
    /// A fresh JSON-RPC id; never reused, so a late answer to an old id
    /// cannot be taken for a new request's (INV-S2).
    pub(super) fn alloc_wire(&mut self) -> Id {
        self.next_wire += 1;
        Id::Int(self.next_wire)
    }

    /// The legacy `Mcp-Session-Id` and `Mcp-Protocol-Version` headers, once
    /// known.
    pub(super) fn session_headers(&self) -> Vec<(HeaderName, String)> {
        let mut h = Vec::new();
        if let Some(s) = &self.session {
            h.push((HeaderName::from_static("mcp-session-id"), s.clone()));
        }
        if let Some(v) = self.version {
            h.push((
                HeaderName::from_static("mcp-protocol-version"),
                v.as_str().to_owned(),
            ));
        }
        h
    }

    /// Builds and queues one HTTP request; `None` when a header value is not
    /// representable (reported as a warning).
    pub(super) fn send(
        &mut self,
        method: Method,
        purpose: Purpose,
        body: Bytes,
        headers: Vec<(HeaderName, String)>,
    ) -> Option<HttpId> {
        let mut builder = http::Request::builder()
            .method(method.clone())
            .uri(self.config.endpoint.clone());
        if method == Method::POST {
            builder = builder
                .header(http::header::ACCEPT, ACCEPT_POST)
                .header(http::header::CONTENT_TYPE, "application/json");
        } else if method == Method::GET {
            builder = builder.header(http::header::ACCEPT, "text/event-stream");
        }
        let session_sent = headers.iter().any(|(n, _)| n == "mcp-session-id");
        for (name, value) in &self.config.headers {
            builder = builder.header(name, value);
        }
        for (name, value) in headers {
            match HeaderValue::from_str(&value) {
                Ok(v) => builder = builder.header(name, v),
                Err(_) => {
                    self.events
                        .push_back(Event::Warning(format!("unsendable {name} value")));
                    return None;
                }
            }
        }
        let request = builder.body(body).ok()?;
        let id = HttpId(self.next_http);
        self.next_http += 1;
        self.exchanges.insert(
            id,
            Exchange {
                purpose,
                epoch: self.epoch,
                session_sent,
                status: 0,
                body: BodyState::Head,
            },
        );
        self.transmits.push_back(Transmit::Send {
            id,
            request: Box::new(request),
        });
        Some(id)
    }

    /// How the body of exchange `id` is read from now on.
    pub(super) fn set_body(&mut self, id: HttpId, body: BodyState) {
        if let Some(ex) = self.exchanges.get_mut(&id) {
            ex.body = body;
        }
    }

    /// Forget an exchange and tell the driver to drop it.
    pub(super) fn drop_exchange(&mut self, id: HttpId) {
        if self.exchanges.remove(&id).is_some() {
            self.transmits.push_back(Transmit::Abort { id });
        }
    }

    /// `params` with the 2026-07-28 `_meta` fields merged in (H-META-1).
    pub(super) fn with_meta(&self, params: Option<&RawJson>) -> RawJson {
        let mut value = params.map_or(Value::Object(Default::default()), RawJson::to_value);
        if let Value::Object(map) = &mut value {
            let meta = map
                .entry("_meta")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(meta) = meta {
                meta.insert(
                    META_VERSION.into(),
                    Value::from(ProtocolVersion::V2026_07_28.as_str()),
                );
                meta.insert(
                    META_CAPABILITIES.into(),
                    self.config.capabilities.to_value(),
                );
                meta.insert(META_INFO.into(), self.config.client_info.to_value());
            }
        }
        RawJson::from_value(&value)
    }

    /// The request-metadata headers of a 2026-07-28 POST (H-VER-1, H-HDR-1..3).
    fn modern_headers(&self, method: &str, params: Option<&RawJson>) -> Vec<(HeaderName, String)> {
        let value = params.map(RawJson::to_value);
        let mut h = vec![
            (
                HeaderName::from_static("mcp-protocol-version"),
                ProtocolVersion::V2026_07_28.as_str().to_owned(),
            ),
            (
                HeaderName::from_static(mirror::METHOD_HEADER),
                mirror::encode_value(method),
            ),
        ];
        if let Some(field) = mirror::name_field(method)
            && let Some(name) = value.as_ref().and_then(|v| v.get(field)?.as_str())
        {
            h.push((
                HeaderName::from_static(mirror::NAME_HEADER),
                mirror::encode_value(name),
            ));
        }
        if method == "tools/call"
            && let Some(tool) = value.as_ref().and_then(|v| v.get("name")?.as_str())
            && let Some(params) = self.tools.get(tool)
            && let Some(args) = value.as_ref().and_then(|v| v.get("arguments"))
        {
            for p in params {
                if let Some(text) = p.value_in(args).and_then(|v| p.header_value(v))
                    && let Ok(name) = HeaderName::from_bytes(p.header_name().as_bytes())
                {
                    h.push((name, text));
                }
            }
        }
        h
    }

    /// POST application request `handle` under a fresh wire id, in the era
    /// spoken; a request whose headers cannot be sent fails.
    pub(super) fn send_request(&mut self, handle: RequestHandle) {
        let Some(r) = self.requests.get(&handle) else {
            return;
        };
        let (method, params) = (r.method.clone(), r.params.clone());
        // HC-MRTR-2: a multi round-trip retry adds its own round's
        // `inputResponses` and `requestState`, and nothing else does.
        let retry = r.input.as_ref().map(|input| {
            let mut value = params
                .as_ref()
                .map_or(Value::Object(Default::default()), RawJson::to_value);
            if let Value::Object(map) = &mut value {
                map.remove("inputResponses");
                map.remove("requestState");
                map.extend(input.clone());
            }
            RawJson::from_value(&value)
        });
        let wire = self.alloc_wire();
        let mut body = BytesMut::new();
        let headers = if self.era == Some(Era::Modern) {
            let with_meta = self.with_meta(retry.as_ref().or(params.as_ref()));
            jsonrpc::write_request(&mut body, &wire, &method, Some(&with_meta));
            self.modern_headers(&method, params.as_ref())
        } else {
            jsonrpc::write_request(&mut body, &wire, &method, params.as_ref());
            self.session_headers()
        };
        match self.send(
            Method::POST,
            Purpose::Request(wire.clone()),
            body.freeze(),
            headers,
        ) {
            Some(x) => {
                if let Some(r) = self.requests.get_mut(&handle) {
                    r.wire = Some(wire.clone());
                }
                let assumed = self.assumed && self.era == Some(Era::Modern);
                self.inflight.insert(
                    wire,
                    Pending {
                        waiter: Waiter::App(handle),
                        exchange: x,
                        stream: None,
                        assumed,
                    },
                );
            }
            None => {
                if let Some(r) = self.requests.remove(&handle) {
                    let why = Failure::Malformed("request headers not representable".into());
                    self.failed(handle, r.hidden, why);
                }
            }
        }
    }

    /// POST a notification (its own POST, T-POST-1).
    pub(super) fn send_notification(&mut self, method: &str, params: Option<&RawJson>) {
        let mut body = BytesMut::new();
        let headers = if self.era == Some(Era::Modern) {
            let with_meta = self.with_meta(params);
            jsonrpc::write_notification(&mut body, method, Some(&with_meta));
            self.modern_headers(method, params)
        } else {
            jsonrpc::write_notification(&mut body, method, params);
            self.session_headers()
        };
        self.send(Method::POST, Purpose::Notification, body.freeze(), headers);
    }

    /// POST the answer to a server request (INV-S25: at once, on its own).
    pub(super) fn send_reply(&mut self, id: &Id, outcome: &Result<RawJson, ErrorObject>) {
        let mut body = BytesMut::new();
        jsonrpc::write_outcome(&mut body, id, outcome);
        let headers = self.session_headers();
        self.send(Method::POST, Purpose::Reply, body.freeze(), headers);
    }
}
