//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1, RFC 6750 §3, RFC 9728 §5.1):
//! the `Bearer` (or `DPoP`) challenge's `resource_metadata`, `scope` and
//! `error` parameters.

/// The longest `WWW-Authenticate` value read; longer values are ignored.
pub const MAX_CHALLENGE_LEN: usize = 8192;
/// The most auth-params read from one header value.
pub const MAX_CHALLENGE_PARAMS: usize = 32;

/// A `Bearer` or `DPoP` challenge from a 401 or 403 response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// The HTTP status it came with (401 or 403).
    pub status: u16,
    /// The scheme, lower-cased: `bearer` or `dpop`.
    pub scheme: String,
    /// `resource_metadata`: where the protected resource metadata is (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the resource asks for, space-separated.
    pub scope: Option<String>,
    /// `error`, e.g. `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
}

impl Challenge {
    /// Whether this is a step-up challenge: a 403 with `error="insufficient_scope"`.
    pub fn is_insufficient_scope(&self) -> bool {
        self.status == 403 && self.error.as_deref() == Some("insufficient_scope")
    }

    /// The `Bearer` (preferred) or `DPoP` challenge among `values` (the
    /// response's `WWW-Authenticate` header values). `None` when there is
    /// none, which is how a 401 from something that is not an OAuth
    /// resource server is told apart.
    pub fn parse<'a>(status: u16, values: impl IntoIterator<Item = &'a [u8]>) -> Option<Challenge> {
        let mut found: Option<Challenge> = None;
        for value in values.into_iter().take(8) {
            if value.len() > MAX_CHALLENGE_LEN {
                continue;
            }
            let Ok(text) = std::str::from_utf8(value) else {
                continue;
            };
            for c in parse_all(text) {
                let better = match &found {
                    None => true,
                    Some(f) => f.scheme != "bearer" && c.scheme == "bearer",
                };
                if (c.scheme == "bearer" || c.scheme == "dpop") && better {
                    found = Some(Challenge { status, ..c });
                }
            }
        }
        found
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<&str> {
        let start = self.i;
        while self.i < self.s.len() && is_tchar(self.s[self.i]) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|t| !t.is_empty())
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn quoted(&mut self) -> Option<String> {
        // at the opening quote
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = self.peek()?;
                    self.i += 1;
                    out.push(c);
                }
                _ => out.push(b),
            }
        }
        None
    }
}

/// Every challenge of one header value (lenient: stops at the first
/// malformed part, keeping what came before).
fn parse_all(text: &str) -> Vec<Challenge> {
    let mut lx = Lexer {
        s: text.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    let mut params = 0;
    loop {
        lx.skip_ws();
        while lx.peek() == Some(b',') {
            lx.i += 1;
            lx.skip_ws();
        }
        let Some(tok) = lx.token().map(str::to_owned) else {
            // not a token (token68 characters, stray bytes): skip one byte
            if lx.peek().is_none() {
                break;
            }
            lx.i += 1;
            continue;
        };
        lx.skip_ws();
        if lx.peek() == Some(b'=') {
            // an auth-param of the current challenge (or token68 padding)
            lx.i += 1;
            lx.skip_ws();
            let value = match lx.peek() {
                Some(b'"') => lx.quoted(),
                _ => lx.token().map(str::to_owned),
            };
            let Some(value) = value else {
                // token68 ending in '=' or a malformed value
                while lx.peek() == Some(b'=') {
                    lx.i += 1;
                }
                continue;
            };
            params += 1;
            if params > MAX_CHALLENGE_PARAMS {
                break;
            }
            if let Some(c) = out.last_mut() {
                let slot = match tok.to_ascii_lowercase().as_str() {
                    "resource_metadata" => &mut c.resource_metadata,
                    "scope" => &mut c.scope,
                    "error" => &mut c.error,
                    _ => continue,
                };
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
        } else {
            if out.len() >= 8 {
                break;
            }
            out.push(Challenge {
                scheme: tok.to_ascii_lowercase(),
                ..Challenge::default()
            });
        }
    }
    out
}
