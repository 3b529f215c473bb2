//! The little URL handling the flow needs, without a URL crate: split an
//! absolute `http(s)` URL, build the RFC 9728 / RFC 8414 well-known URLs,
//! decide whether a protected resource's `resource` covers the server URL,
//! and percent-encode / decode query and form parameters.
//!
//! Every function is total: bad input gives `None` or an empty result,
//! never a panic.

/// The longest URL the flow accepts anywhere (metadata, redirects).
pub const MAX_URL_LEN: usize = 4096;

/// An absolute `http`/`https` URL split into its parts. `path` is `""`
/// or starts with `/`; `query` excludes the `?`; the fragment is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) authority: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: bool,
}

impl<'a> Url<'a> {
    /// Split `s`; `None` unless it is an absolute `http`/`https` URL with a
    /// non-empty authority and no whitespace or control characters.
    pub(crate) fn parse(s: &'a str) -> Option<Url<'a>> {
        if s.len() > MAX_URL_LEN || s.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return None;
        }
        let (scheme, rest) = s.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (rest, fragment) = match rest.split_once('#') {
            Some((r, _)) => (r, true),
            None => (rest, false),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        Some(Url {
            scheme,
            authority,
            path,
            query,
            fragment,
        })
    }

    /// `scheme://authority`, the scheme and host lower-cased.
    pub(crate) fn origin(&self) -> String {
        format!(
            "{}://{}",
            self.scheme.to_ascii_lowercase(),
            self.authority.to_ascii_lowercase()
        )
    }
}

/// The well-known URLs to try for the protected resource metadata of
/// `server` (RFC 9728 §3.1, MCP): path-aware first, then the root. Empty
/// when `server` is not a URL.
pub(crate) fn prm_well_known(server: &str) -> Vec<String> {
    let Some(u) = Url::parse(server) else {
        return Vec::new();
    };
    let origin = u.origin();
    let path = u.path.trim_end_matches('/');
    let mut out = Vec::with_capacity(2);
    if !path.is_empty() {
        out.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    out.push(format!("{origin}/.well-known/oauth-protected-resource"));
    out
}

/// The metadata URLs to try for the authorization server `issuer`, in the
/// order of the MCP specification: with a path, RFC 8414 path insertion,
/// OIDC path insertion, OIDC path appending; without, RFC 8414 then OIDC.
pub(crate) fn as_well_known(issuer: &str) -> Vec<String> {
    let Some(u) = Url::parse(issuer) else {
        return Vec::new();
    };
    if u.query.is_some() || u.fragment {
        // RFC 8414 §2: an issuer has no query or fragment.
        return Vec::new();
    }
    let origin = u.origin();
    let path = u.path.trim_end_matches('/');
    if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    }
}

/// Whether the protected resource identifier `resource` covers the MCP
/// server URL `server`: same scheme, host and port (case-insensitive), and
/// the server's path equal to or below the resource's path, on a segment
/// boundary. A resource with a query or fragment covers nothing.
pub(crate) fn resource_covers(resource: &str, server: &str) -> bool {
    let (Some(r), Some(s)) = (Url::parse(resource), Url::parse(server)) else {
        return false;
    };
    if r.fragment || r.query.is_some() || r.origin() != s.origin() {
        return false;
    }
    let rp = r.path.trim_end_matches('/');
    let sp = s.path;
    rp.is_empty()
        || sp == rp
        || sp
            .strip_prefix(rp)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Percent-encode `s` for a query or form value (`application/x-www-form-urlencoded`
/// with `%20` for space): everything but the RFC 3986 unreserved set.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// `k=v&k=v` of encoded pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode one form/query component (`+` is a space); `None` when the
/// result is not UTF-8 or an escape is malformed.
pub(crate) fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of the first parameter `name` in a query string; `None` when
/// absent. A malformed value counts as present and empty-invalid: `Some(None)`.
pub(crate) fn query_param(query: &str, name: &str) -> Option<Option<String>> {
    for pair in query.split('&').take(64) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k).as_deref() == Some(name) {
            return Some(decode(v));
        }
    }
    None
}

/// `base` with the query parameters `pairs` appended (after `?` or `&`).
pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", form(pairs))
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn auth_c_10_urls_are_bounded_and_free_of_controls() {
        let longest = format!("http://h.test/{}", "p".repeat(MAX_URL_LEN - 14));
        assert_eq!(longest.len(), MAX_URL_LEN);
        assert!(Url::parse(&longest).is_some());
        assert!(Url::parse(&format!("{longest}p")).is_none());
        for bad in [
            "http://h.test/a b",
            "http://h.test/\t",
            "http://h.test/\u{7f}",
            "http://h.test/\u{0}",
        ] {
            assert!(Url::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Url::parse("http://h.test/a!~").is_some());
        // Scheme and authority.
        assert!(Url::parse("HTTPS://h.test").is_some());
        assert!(Url::parse("ftp://h.test/").is_none());
        assert!(Url::parse("http:///path").is_none());
        assert!(Url::parse("http://user@h.test/").is_none());
    }

    #[test]
    fn auth_c_2_an_issuer_with_a_query_or_fragment_has_no_metadata_urls() {
        assert!(as_well_known("http://as.test?x=1").is_empty());
        assert!(as_well_known("http://as.test#f").is_empty());
        assert_eq!(as_well_known("http://as.test").len(), 2);
    }

    #[test]
    fn auth_c_3_a_resource_with_a_query_or_fragment_covers_nothing() {
        let server = "http://mcp.test/mcp";
        assert!(resource_covers("http://mcp.test/mcp", server));
        assert!(!resource_covers("http://mcp.test/mcp?x=1", server));
        assert!(!resource_covers("http://mcp.test/mcp#f", server));
        assert!(!resource_covers("http://other.test/mcp", server));
    }

    #[test]
    fn percent_escapes_decode_in_both_cases() {
        assert_eq!(decode("a%2Fb%2fc+d").as_deref(), Some("a/b/c d"));
        assert_eq!(decode("%41%61%39").as_deref(), Some("Aa9"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
    }
}
