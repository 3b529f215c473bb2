//! The edge: classify an incoming HTTP request once and validate what can be
//! validated without session state.
//!
//! Every refusal decided here carries its status and, where the spec allows
//! one, an id-less JSON-RPC error body (T-POST-7, X-19). Checks run in a fixed
//! order so that one request has exactly one answer: method (405), `Host`
//! missing from an HTTP/1.1 request (400, R-HOST-1), `Host` not allowed
//! (403), `Origin` (403, T-SEC-2), repeated headers (400, X-20), `Accept`
//! (406, X-15), `Content-Type` (415), body size (413), JSON (400, -32700),
//! JSON-RPC shape (400, -32600).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request, StatusCode, Version, header};

use crate::config::{Config, HostPolicy, OriginPolicy};
use crate::jsonrpc::{self, Body, ErrorObject, code};
use crate::mirror;
use crate::version::ProtocolVersion;

/// The session header. HTTP names are case-insensitive; `http`
/// lower-cases them.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version header (T-VER-1).
pub(crate) const VERSION_HEADER: &str = "mcp-protocol-version";
/// The resume header (T-RES-4).
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";

// The same names, ready for `HeaderMap` lookups: a `&str` name is parsed
// and validated again on every lookup (~200 instructions each).
const SESSION_NAME: HeaderName = HeaderName::from_static(SESSION_HEADER);
const VERSION_NAME: HeaderName = HeaderName::from_static(VERSION_HEADER);
const LAST_EVENT_ID_NAME: HeaderName = HeaderName::from_static(LAST_EVENT_ID);
const METHOD_NAME: HeaderName = HeaderName::from_static(mirror::METHOD_HEADER);
const NAME_NAME: HeaderName = HeaderName::from_static(mirror::NAME_HEADER);

/// The `MCP-Protocol-Version` header as received. Its validity depends on
/// what the request is (never checked on `initialize`, X-2/X-3), so the edge
/// only reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum VersionHeader {
    /// No header.
    Absent,
    /// A revision this crate knows.
    Known(ProtocolVersion),
    /// Anything else (kept for the error message).
    Unknown(String),
}

/// A request that passed the stateless checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Classified {
    /// POST with a parsed JSON-RPC body.
    Post {
        /// `Mcp-Session-Id`, if sent.
        session: Option<String>,
        /// `MCP-Protocol-Version`.
        version: VersionHeader,
        /// The parsed body.
        body: Body,
        /// `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` (2026-07-28).
        mirrored: Mirrored,
    },
    /// GET: open the standalone stream or resume one.
    Get {
        /// `Mcp-Session-Id`, if sent.
        session: Option<String>,
        /// `MCP-Protocol-Version`.
        version: VersionHeader,
        /// `Last-Event-ID`, if sent.
        last_event_id: Option<String>,
    },
    /// DELETE: end the session.
    Delete {
        /// `Mcp-Session-Id`, if sent.
        session: Option<String>,
        /// `MCP-Protocol-Version`.
        version: VersionHeader,
    },
}

/// The request metadata headers of the 2026-07-28 era (H-HDR-1..3), raw:
/// they are checked against the body only for modern requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mirrored {
    /// `Mcp-Method`.
    pub method: Option<String>,
    /// `Mcp-Name`, still encoded.
    pub name: Option<String>,
    /// `Mcp-Param-*` as (lower-case header name, encoded value).
    pub params: Vec<(String, String)>,
    /// A mirrored header that was sent more than once.
    pub repeated: Option<&'static str>,
}

impl Mirrored {
    pub(crate) fn read(headers: &HeaderMap) -> Mirrored {
        let mut m = Mirrored::default();
        let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        for (name, key, header) in [
            (mirror::METHOD_HEADER, &METHOD_NAME, &mut m.method),
            (mirror::NAME_HEADER, &NAME_NAME, &mut m.name),
        ] {
            let mut values = headers.get_all(key).iter();
            *header = values.next().map(text);
            if values.next().is_some() {
                m.repeated = Some(name);
            }
        }
        for (name, value) in headers {
            if name.as_str().starts_with(mirror::PARAM_HEADER_PREFIX) {
                if m.params.iter().any(|(n, _)| n == name.as_str()) {
                    m.repeated = Some("Mcp-Param-*");
                }
                m.params.push((name.as_str().to_owned(), text(value)));
            }
        }
        m
    }
}

/// A refusal: status, optional `Allow` or `Retry-After`, optional id-less
/// JSON-RPC error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The status code.
    pub status: StatusCode,
    /// The JSON-RPC error for the body, if any.
    pub error: Option<ErrorObject>,
    /// `Allow` for 405.
    pub allow: Option<&'static str>,
    /// `Retry-After` (seconds) for a 503 that will pass.
    pub retry_after: Option<u32>,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Refusal {
            status,
            error: Some(ErrorObject::new(code, message)),
            allow: None,
            retry_after: None,
        }
    }

    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            error: Some(ErrorObject::new(code::SERVER_ERROR, "Method not allowed")),
            allow: Some(allow),
            retry_after: None,
        }
    }
}

/// Classify and validate `req` against `config`. With `read_mirrored: false` a POST's
/// [`Classified::Post::mirrored`] is left empty, for a caller that reads the
/// 2026-07-28 metadata headers (with [`Mirrored::read`]) only for requests
/// of that era: legacy requests, most of them, skip the lookups.
pub(crate) fn classify_with(
    config: &Config,
    req: &Request<Bytes>,
    read_mirrored: bool,
) -> Result<Classified, Refusal> {
    let headers = req.headers();
    let method = req.method();
    if method != Method::POST && method != Method::GET && method != Method::DELETE {
        return Err(Refusal::method_not_allowed("GET, POST, DELETE"));
    }
    check_host(config, req)?;
    check_origin(config, headers)?;
    let session =
        single(headers, &SESSION_NAME)?.map(|v| v.to_str().map(str::to_owned).unwrap_or_default());
    let version = match single(headers, &VERSION_NAME)? {
        None => VersionHeader::Absent,
        Some(v) => {
            let text = v.to_str().unwrap_or("").trim();
            match ProtocolVersion::parse(text) {
                Some(p) => VersionHeader::Known(p),
                None => VersionHeader::Unknown(String::from_utf8_lossy(v.as_bytes()).into()),
            }
        }
    };
    if method == Method::GET {
        if !accepts(headers, false, true, false) {
            return Err(Refusal::new(
                StatusCode::NOT_ACCEPTABLE,
                code::SERVER_ERROR,
                "Not Acceptable: GET requires Accept: text/event-stream",
            ));
        }
        let last_event_id = single(headers, &LAST_EVENT_ID_NAME)?
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
        return Ok(Classified::Get {
            session,
            version,
            last_event_id,
        });
    }
    if method == Method::DELETE {
        return Ok(Classified::Delete { session, version });
    }
    // POST.
    if !accepts(headers, true, true, true) {
        return Err(Refusal::new(
            StatusCode::NOT_ACCEPTABLE,
            code::SERVER_ERROR,
            "Not Acceptable: Accept must allow application/json and text/event-stream",
        ));
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let essence = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::SERVER_ERROR,
                "Unsupported Media Type: Content-Type must be application/json",
            ));
        }
    }
    if req.body().len() > config.max_body_bytes {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::SERVER_ERROR,
            format!(
                "Payload Too Large: the limit is {} bytes",
                config.max_body_bytes
            ),
        ));
    }
    let body = jsonrpc::parse_body(req.body()).map_err(|e| Refusal {
        status: StatusCode::BAD_REQUEST,
        error: Some(e.to_error()),
        allow: None,
        retry_after: None,
    })?;
    Ok(Classified::Post {
        session,
        version,
        body,
        mirrored: if read_mirrored {
            Mirrored::read(headers)
        } else {
            Mirrored::default()
        },
    })
}

/// At most one value of `name` (X-20: a repeated session header is an error).
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a http::HeaderValue>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::SERVER_ERROR,
            format!("Bad Request: repeated {name} header"),
        ));
    }
    Ok(first)
}

/// Whether `Accept` allows JSON and/or SSE as required. An absent header
/// accepts anything (RFC 9110) when `absent_ok`; wildcards count.
fn accepts(headers: &HeaderMap, need_json: bool, need_sse: bool, absent_ok: bool) -> bool {
    let mut any = false;
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        any = true;
        let Ok(text) = value.to_str() else { continue };
        // Byte splits: these lists are short, and `str::split` sets up a
        // memchr search per item (this runs on every POST).
        for item in text.as_bytes().split(|&b| b == b',') {
            let mut parts = item.split(|&b| b == b';');
            let range = parts.next().unwrap_or_default().trim_ascii();
            let refused = parts.any(|p| {
                p.trim_ascii().strip_prefix(b"q=").is_some_and(|q| {
                    std::str::from_utf8(q)
                        .ok()
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        == Some(0.0)
                })
            });
            if refused {
                continue;
            }
            // Media types are case-insensitive; compared without a
            // lower-cased copy.
            let is = |t: &[u8]| range.eq_ignore_ascii_case(t);
            if range == b"*/*" {
                json = true;
                sse = true;
            } else if is(b"application/json") || is(b"application/*") {
                json = true;
            } else if is(b"text/event-stream") || is(b"text/*") {
                sse = true;
            }
        }
    }
    if !any {
        return absent_ok;
    }
    (!need_json || json) && (!need_sse || sse)
}

fn host_name(authority: &str) -> &str {
    let authority = authority.trim();
    if authority.starts_with('[') {
        // [v6]:port
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or(authority)
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "127.0.0.1"
        || host == "[::1]"
        || host.eq_ignore_ascii_case("[0:0:0:0:0:0:0:1]")
}

fn check_host(config: &Config, req: &Request<Bytes>) -> Result<(), Refusal> {
    let authority = match req.headers().get(header::HOST) {
        Some(v) => Some(v.to_str().unwrap_or("\u{0}")),
        // R-HOST-1 (RFC 9112 §3.2): HTTP/1.1 requires Host, even with an
        // absolute-form target. HTTP/1.0 has no such rule, and HTTP/2 carries
        // the authority in `:authority`, which the adapter's hyper puts in
        // the URI.
        None if req.version() == Version::HTTP_11 => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                code::SERVER_ERROR,
                "Bad Request: an HTTP/1.1 request must carry a Host header",
            ));
        }
        None => req.uri().authority().map(|a| a.as_str()),
    };
    // A request without any authority cannot be the product of DNS
    // rebinding (browsers always send Host), so it passes.
    let Some(authority) = authority else {
        return Ok(());
    };
    let host = host_name(authority);
    let ok = match &config.hosts {
        HostPolicy::Any => true,
        HostPolicy::Loopback => is_loopback_name(host),
        HostPolicy::List(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            code::SERVER_ERROR,
            "Forbidden: Host not allowed",
        ))
    }
}

fn check_origin(config: &Config, headers: &HeaderMap) -> Result<(), Refusal> {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let Some(origin) = values.next() else {
        return Ok(());
    };
    let refuse = || {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            code::SERVER_ERROR,
            "Forbidden: Origin not allowed",
        ))
    };
    if values.next().is_some() {
        return refuse();
    }
    let Ok(origin) = origin.to_str() else {
        return refuse();
    };
    let ok = match &config.origins {
        OriginPolicy::Any => true,
        OriginPolicy::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        OriginPolicy::Loopback => origin
            .split_once("://")
            .is_some_and(|(_, rest)| is_loopback_name(host_name(rest.trim_end_matches('/')))),
    };
    if ok { Ok(()) } else { refuse() }
}
