//! The client's OAuth flow (`streamable_core::client::auth`) against
//! recorded metadata variants: every branch of discovery, registration,
//! scope selection, the authorization response checks and token endpoint
//! authentication, and arbitrary bytes in every response (AUTH-C-*).

use std::collections::BTreeMap;

use base64::Engine as _;
use proptest::prelude::*;
use streamable_core::client::auth::{
    AuthConfig, AuthError, AuthFlow, AuthStep, Challenge, ClientCredentials, Entropy, Grant,
    Registration, TokenAuthMethod, pkce_challenge,
};

const SERVER: &str = "http://mcp.test/mcp";
const AS: &str = "http://as.test";
const REDIRECT: &str = "http://localhost:3000/callback";

fn entropy() -> Entropy {
    Entropy {
        verifier: [7; 32],
        state: [9; 16],
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn params(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// How the recorded authorization server answers the authorization request.
#[derive(Clone, Copy, PartialEq)]
enum Iss {
    Correct,
    Omit,
    Wrong,
    TrailingSlash,
}

/// A recorded world: `METHOD URL` → (status, body), the redirect behaviour,
/// and what the client sent.
struct World {
    routes: BTreeMap<String, (u16, String)>,
    iss: Iss,
    issuer: String,
    sent: Vec<String>,
    bodies: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    authorize_query: Option<BTreeMap<String, String>>,
}

fn as_meta(issuer: &str, extra: serde_json::Value) -> String {
    let mut m = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            m.as_object_mut().unwrap().remove(k);
        } else {
            m[k] = v.clone();
        }
    }
    m.to_string()
}

impl World {
    /// The default: PRM path-aware, AS at the root with RFC 8414 metadata,
    /// DCR, a token.
    fn new() -> World {
        let mut w = World {
            routes: BTreeMap::new(),
            iss: Iss::Correct,
            issuer: AS.into(),
            sent: Vec::new(),
            bodies: BTreeMap::new(),
            headers: BTreeMap::new(),
            authorize_query: None,
        };
        w.route(
            "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
            200,
            &serde_json::json!({"resource": SERVER, "authorization_servers": [AS]}).to_string(),
        );
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(AS, serde_json::json!({})),
        );
        w.route(
            "POST http://as.test/register",
            201,
            r#"{"client_id":"dcr-client"}"#,
        );
        w.route(
            "POST http://as.test/token",
            200,
            r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600,"refresh_token":"ref-1"}"#,
        );
        w
    }

    fn route(&mut self, key: &str, status: u16, body: &str) {
        self.routes.insert(key.into(), (status, body.into()));
    }

    fn run(
        &mut self,
        config: AuthConfig,
        challenge: &Challenge,
        previous: Option<Grant>,
    ) -> Result<Grant, AuthError> {
        let (flow, step) = AuthFlow::start(config, challenge, previous, entropy());
        self.drive(flow, step)
    }

    fn drive(&mut self, mut flow: AuthFlow, mut step: AuthStep) -> Result<Grant, AuthError> {
        for _ in 0..32 {
            step = match step {
                AuthStep::Done(g) => return Ok(g),
                AuthStep::Failed(e) => return Err(e),
                AuthStep::Sign(_) => flow.on_signed("h.c.s"),
                AuthStep::Send(req) => {
                    let key = format!("{} {}", req.method(), req.uri());
                    self.sent.push(key.clone());
                    self.bodies
                        .insert(key.clone(), String::from_utf8(req.body().to_vec()).unwrap());
                    if let Some(v) = req.headers().get("authorization") {
                        self.headers.insert(key.clone(), v.to_str().unwrap().into());
                    }
                    let (status, body) = self
                        .routes
                        .get(&key)
                        .cloned()
                        .unwrap_or((404, String::new()));
                    flow.on_response(1000, status, &http::HeaderMap::new(), body.as_bytes())
                }
                AuthStep::Authorize(url) => {
                    self.sent
                        .push(format!("AUTHORIZE {}", url.split('?').next().unwrap()));
                    let q = params(url.split_once('?').unwrap().1);
                    let mut redirect =
                        format!("{}?code=the-code&state={}", q["redirect_uri"], q["state"]);
                    match self.iss {
                        Iss::Correct => redirect += &format!("&iss={}", self.issuer),
                        Iss::Omit => {}
                        Iss::Wrong => redirect += "&iss=https%3A%2F%2Fevil.example.com",
                        Iss::TrailingSlash => redirect += &format!("&iss={}/", self.issuer),
                    }
                    self.authorize_query = Some(q);
                    flow.on_redirect(&redirect)
                }
            };
        }
        panic!("the flow did not end");
    }

    fn authorized(&self) -> bool {
        self.sent.iter().any(|s| s.starts_with("AUTHORIZE"))
    }
}

fn config() -> AuthConfig {
    AuthConfig::new(SERVER, REDIRECT)
}

fn bearer(status: u16, header: &str) -> Challenge {
    Challenge::parse(status, [header.as_bytes()]).expect("a Bearer challenge")
}

fn plain() -> Challenge {
    bearer(401, "Bearer")
}

// ---- AUTH-C-1: protected resource metadata discovery ----

#[test]
fn auth_c_1_resource_metadata_from_the_challenge_comes_first() {
    let mut w = World::new();
    w.route(
        "GET http://mcp.test/custom/prm.json",
        200,
        &serde_json::json!({"resource": SERVER, "authorization_servers": [AS]}).to_string(),
    );
    let ch = bearer(
        401,
        r#"Bearer resource_metadata="http://mcp.test/custom/prm.json""#,
    );
    w.run(config(), &ch, None).unwrap();
    assert_eq!(w.sent[0], "GET http://mcp.test/custom/prm.json");
    assert!(
        !w.sent
            .iter()
            .any(|s| s.contains("oauth-protected-resource"))
    );
}

#[test]
fn auth_c_1_path_aware_then_root_well_known() {
    let mut w = World::new();
    w.routes
        .remove("GET http://mcp.test/.well-known/oauth-protected-resource/mcp");
    w.route(
        "GET http://mcp.test/.well-known/oauth-protected-resource",
        200,
        &serde_json::json!({"resource": "http://mcp.test", "authorization_servers": [AS]})
            .to_string(),
    );
    let g = w.run(config(), &plain(), None).unwrap();
    assert_eq!(
        &w.sent[..2],
        [
            "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
            "GET http://mcp.test/.well-known/oauth-protected-resource"
        ]
    );
    // The resource indicator is the metadata's `resource`, verbatim (AUTH-C-3).
    assert_eq!(g.resource, "http://mcp.test");
}

#[test]
fn auth_c_1_no_metadata_anywhere_fails() {
    let mut w = World::new();
    w.routes.clear();
    assert_eq!(
        w.run(config(), &plain(), None),
        Err(AuthError::NoResourceMetadata)
    );
}

// ---- AUTH-C-2: authorization server metadata ----

#[test]
fn auth_c_2_path_issuer_order_is_8414_oidc_inserted_oidc_appended() {
    let mut w = World::new();
    let issuer = "http://as.test/tenant1";
    w.issuer = issuer.into();
    w.route(
        "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
        200,
        &serde_json::json!({"resource": SERVER, "authorization_servers": [issuer]}).to_string(),
    );
    w.route(
        "GET http://as.test/tenant1/.well-known/openid-configuration",
        200,
        &as_meta(issuer, serde_json::json!({})),
    );
    w.route(
        "POST http://as.test/tenant1/register",
        201,
        r#"{"client_id":"c"}"#,
    );
    w.route(
        "POST http://as.test/tenant1/token",
        200,
        r#"{"access_token":"t","token_type":"bearer"}"#,
    );
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(
        &w.sent[1..4],
        [
            "GET http://as.test/.well-known/oauth-authorization-server/tenant1",
            "GET http://as.test/.well-known/openid-configuration/tenant1",
            "GET http://as.test/tenant1/.well-known/openid-configuration",
        ]
    );
    assert!(
        !w.sent
            .contains(&"GET http://as.test/.well-known/oauth-authorization-server".to_owned())
    );
}

#[test]
fn auth_c_2_root_issuer_falls_back_to_oidc_discovery() {
    let mut w = World::new();
    let meta = w
        .routes
        .remove("GET http://as.test/.well-known/oauth-authorization-server")
        .unwrap();
    w.route(
        "GET http://as.test/.well-known/openid-configuration",
        200,
        &meta.1,
    );
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(
        w.sent[2],
        "GET http://as.test/.well-known/openid-configuration"
    );
}

#[test]
fn auth_c_2_metadata_issuer_mismatch_is_refused_before_any_endpoint_is_used() {
    let mut w = World::new();
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta("https://attacker.example.com", serde_json::json!({})),
    );
    let e = w.run(config(), &plain(), None).unwrap_err();
    assert!(matches!(e, AuthError::IssuerMismatch { .. }), "{e:?}");
    assert!(
        !w.sent
            .iter()
            .any(|s| s.starts_with("POST") || s.starts_with("AUTHORIZE"))
    );
}

// ---- AUTH-C-3: resource ----

#[test]
fn auth_c_3_resource_that_does_not_cover_the_server_is_refused() {
    for resource in [
        "https://evil.example.com/mcp",
        "http://mcp.test/other",
        "http://mcp.test/mc",
    ] {
        let mut w = World::new();
        w.route(
            "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
            200,
            &serde_json::json!({"resource": resource, "authorization_servers": [AS]}).to_string(),
        );
        assert!(matches!(
            w.run(config(), &plain(), None),
            Err(AuthError::ResourceMismatch(_))
        ));
        assert!(!w.authorized(), "{resource}");
    }
}

#[test]
fn auth_c_3_resource_is_sent_in_authorization_and_token_requests() {
    let mut w = World::new();
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(w.authorize_query.as_ref().unwrap()["resource"], SERVER);
    let token = params(&w.bodies["POST http://as.test/token"]);
    assert_eq!(token["resource"], SERVER);
}

// ---- AUTH-C-4: client identity ----

#[test]
fn auth_c_4_dynamic_registration_document() {
    let mut w = World::new();
    w.run(config(), &plain(), None).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&w.bodies["POST http://as.test/register"]).unwrap();
    assert_eq!(doc["redirect_uris"], serde_json::json!([REDIRECT]));
    assert_eq!(doc["application_type"], "native");
    assert_eq!(
        doc["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        w.authorize_query.as_ref().unwrap()["client_id"],
        "dcr-client"
    );
    // A server that lists its grant types: refresh_token only if listed.
    for (listed, want) in [
        (
            serde_json::json!(["authorization_code"]),
            serde_json::json!(["authorization_code"]),
        ),
        (
            serde_json::json!(["authorization_code", "refresh_token"]),
            serde_json::json!(["authorization_code", "refresh_token"]),
        ),
    ] {
        let mut w = World::new();
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(AS, serde_json::json!({"grant_types_supported": listed})),
        );
        w.run(config(), &plain(), None).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&w.bodies["POST http://as.test/register"]).unwrap();
        assert_eq!(doc["grant_types"], want, "{listed}");
    }
}

#[test]
fn auth_c_4_client_id_metadata_document_when_supported() {
    let mut w = World::new();
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(
            AS,
            serde_json::json!({"client_id_metadata_document_supported": true}),
        ),
    );
    let mut c = config();
    c.client_metadata_url = Some("https://client.test/meta.json".into());
    w.run(c, &plain(), None).unwrap();
    assert!(!w.sent.iter().any(|s| s.contains("/register")));
    assert_eq!(
        w.authorize_query.as_ref().unwrap()["client_id"],
        "https://client.test/meta.json"
    );
}

#[test]
fn auth_c_4_pre_registered_credentials_without_registration_endpoint() {
    let mut w = World::new();
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(
            AS,
            serde_json::json!({"registration_endpoint": null,
            "token_endpoint_auth_methods_supported": ["client_secret_basic"]}),
        ),
    );
    let mut c = config();
    c.pre_registered = Some(ClientCredentials {
        client_id: "pre".into(),
        client_secret: Some("s3cret".into()),
    });
    let g = w.run(c, &plain(), None).unwrap();
    assert_eq!(g.client.method, TokenAuthMethod::ClientSecretBasic);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pre:s3cret")
    );
    assert_eq!(w.headers["POST http://as.test/token"], expected);
}

#[test]
fn auth_c_4_no_way_to_a_client_id_fails() {
    let mut w = World::new();
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(AS, serde_json::json!({"registration_endpoint": null})),
    );
    assert_eq!(
        w.run(config(), &plain(), None),
        Err(AuthError::NoRegistration)
    );
}

#[test]
fn auth_c_4_registration_is_reused_with_its_issuer_and_never_with_another() {
    let mut w = World::new();
    let first = w.run(config(), &plain(), None).unwrap();
    // Same issuer: no second registration.
    let mut w2 = World::new();
    w2.run(config(), &plain(), Some(first.clone())).unwrap();
    assert!(!w2.sent.iter().any(|s| s.contains("/register")));
    // The PRM now names another authorization server: register there.
    let mut w3 = World::new();
    let as2 = "http://as2.test";
    w3.issuer = as2.into();
    w3.route(
        "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
        200,
        &serde_json::json!({"resource": SERVER, "authorization_servers": [as2]}).to_string(),
    );
    w3.route(
        "GET http://as2.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(as2, serde_json::json!({})),
    );
    w3.route(
        "POST http://as2.test/register",
        201,
        r#"{"client_id":"as2-client"}"#,
    );
    w3.route(
        "POST http://as2.test/token",
        200,
        r#"{"access_token":"t2","token_type":"Bearer"}"#,
    );
    let g = w3.run(config(), &plain(), Some(first)).unwrap();
    assert!(
        w3.sent
            .contains(&"POST http://as2.test/register".to_owned())
    );
    assert_eq!(
        w3.authorize_query.as_ref().unwrap()["client_id"],
        "as2-client"
    );
    assert_eq!(g.client.issuer, as2);
}

#[test]
fn auth_c_4_failed_registration_stops_the_flow() {
    let mut w = World::new();
    w.route(
        "POST http://as.test/register",
        400,
        r#"{"error":"invalid_client_metadata"}"#,
    );
    let e = w.run(config(), &plain(), None).unwrap_err();
    assert_eq!(
        e,
        AuthError::Registration("HTTP 400: invalid_client_metadata".into())
    );
}

// ---- AUTH-C-5: PKCE ----

#[test]
fn auth_c_5_pkce_s256_challenge_matches_the_verifier() {
    let mut w = World::new();
    w.run(config(), &plain(), None).unwrap();
    let q = w.authorize_query.clone().unwrap();
    assert_eq!(q["code_challenge_method"], "S256");
    let token = params(&w.bodies["POST http://as.test/token"]);
    assert_eq!(pkce_challenge(&token["code_verifier"]), q["code_challenge"]);
    assert_eq!(token["code_verifier"].len(), 43);
}

#[test]
fn auth_c_5_server_without_s256_is_refused() {
    for methods in [serde_json::Value::Null, serde_json::json!(["plain"])] {
        let mut w = World::new();
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(
                AS,
                serde_json::json!({"code_challenge_methods_supported": methods}),
            ),
        );
        assert_eq!(w.run(config(), &plain(), None), Err(AuthError::NoPkce));
    }
}

// ---- AUTH-C-6: scopes ----

fn with_prm_scopes(w: &mut World, scopes: serde_json::Value) {
    w.route(
        "GET http://mcp.test/.well-known/oauth-protected-resource/mcp",
        200,
        &serde_json::json!({"resource": SERVER, "authorization_servers": [AS], "scopes_supported": scopes}).to_string(),
    );
}

#[test]
fn auth_c_6_scope_from_the_challenge_first() {
    let mut w = World::new();
    with_prm_scopes(&mut w, serde_json::json!(["a", "b"]));
    w.run(config(), &bearer(401, r#"Bearer scope="mcp:basic""#), None)
        .unwrap();
    assert_eq!(w.authorize_query.unwrap()["scope"], "mcp:basic");
}

#[test]
fn auth_c_6_scope_from_scopes_supported_else_omitted() {
    let mut w = World::new();
    with_prm_scopes(&mut w, serde_json::json!(["mcp:basic", "mcp:read"]));
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(w.authorize_query.unwrap()["scope"], "mcp:basic mcp:read");
    let mut w = World::new();
    w.run(config(), &plain(), None).unwrap();
    assert!(!w.authorize_query.unwrap().contains_key("scope"));
}

#[test]
fn auth_c_6_step_up_unites_previous_and_challenged_scopes() {
    let mut w = World::new();
    let first = w
        .run(config(), &bearer(401, r#"Bearer scope="mcp:basic""#), None)
        .unwrap();
    let ch = bearer(
        403,
        r#"Bearer error="insufficient_scope", scope="mcp:write""#,
    );
    assert!(ch.is_insufficient_scope());
    let mut w = World::new();
    let second = w.run(config(), &ch, Some(first)).unwrap();
    assert_eq!(w.authorize_query.unwrap()["scope"], "mcp:basic mcp:write");
    assert_eq!(second.scope.as_deref(), Some("mcp:basic mcp:write"));
}

#[test]
fn auth_c_6_offline_access_only_when_the_server_lists_it() {
    let mut w = World::new();
    with_prm_scopes(&mut w, serde_json::json!(["mcp:basic"]));
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(
            AS,
            serde_json::json!({"scopes_supported": ["mcp:basic", "offline_access"]}),
        ),
    );
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(
        w.authorize_query.unwrap()["scope"],
        "mcp:basic offline_access"
    );
    let mut w = World::new();
    with_prm_scopes(&mut w, serde_json::json!(["mcp:basic", "offline_access"]));
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(w.authorize_query.unwrap()["scope"], "mcp:basic");
    // A server listing other scopes only.
    let mut w = World::new();
    with_prm_scopes(&mut w, serde_json::json!(["mcp:basic"]));
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(
            AS,
            serde_json::json!({"scopes_supported": ["mcp:basic", "x"]}),
        ),
    );
    w.run(config(), &plain(), None).unwrap();
    assert_eq!(w.authorize_query.unwrap()["scope"], "mcp:basic");
}

// ---- AUTH-C-7: the authorization response ----

#[test]
fn auth_c_7_iss_checks() {
    let cases = [
        (true, Iss::Correct, None),
        (true, Iss::Omit, Some(AuthError::IssMissing)),
        (true, Iss::Wrong, Some(AuthError::IssMismatch)),
        (true, Iss::TrailingSlash, Some(AuthError::IssMismatch)),
        (false, Iss::Omit, None),
        (false, Iss::Wrong, Some(AuthError::IssMismatch)),
    ];
    for (advertised, iss, want) in cases {
        let mut w = World::new();
        w.iss = iss;
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(
                AS,
                serde_json::json!({"authorization_response_iss_parameter_supported":
                if advertised { serde_json::Value::Bool(true) } else { serde_json::Value::Null }}),
            ),
        );
        let got = w.run(config(), &plain(), None);
        assert_eq!(got.err(), want);
        let token_sent = w.sent.iter().any(|s| s.ends_with("/token"));
        assert_eq!(token_sent, want.is_none());
    }
}

#[test]
fn auth_c_7_state_error_and_foreign_redirects_are_refused() {
    let start = || {
        let mut w = World::new();
        let (mut flow, mut step) = AuthFlow::start(config(), &plain(), None, entropy());
        loop {
            step = match step {
                AuthStep::Send(req) => {
                    let key = format!("{} {}", req.method(), req.uri());
                    let (s, b) = w.routes.get(&key).cloned().unwrap_or((404, String::new()));
                    flow.on_response(0, s, &http::HeaderMap::new(), b.as_bytes())
                }
                AuthStep::Authorize(_) => break,
                other => panic!("{other:?}"),
            };
        }
        w.sent.clear();
        flow
    };
    let state = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 16]);
    let cases = [
        (
            format!("{REDIRECT}?code=c&state=other&iss={AS}"),
            AuthError::StateMismatch,
        ),
        (
            format!("{REDIRECT}?error=access_denied&state={state}"),
            AuthError::Authorization("access_denied".into()),
        ),
        (
            format!("http://evil.test/cb?code=c&state={state}&iss={AS}"),
            AuthError::Authorization("not at the redirect URI".into()),
        ),
        (
            format!("{REDIRECT}?state={state}&iss={AS}"),
            AuthError::Authorization("no code".into()),
        ),
    ];
    for (redirect, want) in cases {
        let mut flow = start();
        match flow.on_redirect(&redirect) {
            AuthStep::Failed(e) => assert_eq!(e, want, "{redirect}"),
            other => panic!("{redirect}: {other:?}"),
        }
    }
    // The length limit is inclusive.
    let max = streamable_core::client::auth::MAX_URL_LEN;
    let good = format!("{REDIRECT}?code=c&state={state}&iss={AS}&pad=");
    let at_limit = format!("{good}{}", "x".repeat(max - good.len()));
    assert!(matches!(start().on_redirect(&at_limit), AuthStep::Send(_)));
    let over = format!("{at_limit}x");
    assert!(matches!(
        start().on_redirect(&over),
        AuthStep::Failed(AuthError::Authorization(why)) if why == "not at the redirect URI"
    ));
}

// ---- AUTH-C-8: token endpoint authentication and refresh ----

#[test]
fn auth_c_8_token_endpoint_auth_methods() {
    let cases = [
        (
            r#"{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"client_secret_post"}"#,
            TokenAuthMethod::ClientSecretPost,
        ),
        (
            r#"{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"client_secret_basic"}"#,
            TokenAuthMethod::ClientSecretBasic,
        ),
        (
            r#"{"client_id":"c","token_endpoint_auth_method":"none"}"#,
            TokenAuthMethod::None,
        ),
        // A method that needs a secret, registered without one: public.
        (
            r#"{"client_id":"c","token_endpoint_auth_method":"client_secret_post"}"#,
            TokenAuthMethod::None,
        ),
        // A secret the server's metadata gives no way to use: a public client.
        (
            r#"{"client_id":"c","client_secret":"s"}"#,
            TokenAuthMethod::None,
        ),
    ];
    for (registered, want) in cases {
        let mut w = World::new();
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(
                AS,
                serde_json::json!({"token_endpoint_auth_methods_supported": ["none"]}),
            ),
        );
        w.route("POST http://as.test/register", 201, registered);
        let g = w.run(config(), &plain(), None).unwrap();
        assert_eq!(g.client.method, want);
        let body = params(&w.bodies["POST http://as.test/token"]);
        let header = w.headers.get("POST http://as.test/token");
        match want {
            TokenAuthMethod::ClientSecretPost => {
                assert_eq!(body["client_secret"], "s");
                assert!(header.is_none());
            }
            TokenAuthMethod::ClientSecretBasic => {
                assert!(header.unwrap().starts_with("Basic "));
                assert!(!body.contains_key("client_secret"));
            }
            TokenAuthMethod::PrivateKeyJwt => unreachable!("not registered here"),
            TokenAuthMethod::None => {
                assert_eq!(body["client_id"], "c");
                assert!(!body.contains_key("client_secret") && header.is_none());
            }
        }
    }
}

#[test]
fn auth_c_8_refresh_keeps_the_refresh_token_and_resource() {
    let mut w = World::new();
    let g = w.run(config(), &plain(), None).unwrap();
    assert_eq!(g.expires_at, Some(1000 + 3600));
    assert!(g.expired(1000 + 3600 - 10) && !g.expired(1000));
    w.route(
        "POST http://as.test/token",
        200,
        r#"{"access_token":"tok-2","token_type":"Bearer"}"#,
    );
    let (flow, step) = AuthFlow::refresh(config(), &g);
    let fresh = w.drive(flow, step).unwrap();
    assert_eq!(fresh.access_token, "tok-2");
    assert_eq!(fresh.refresh_token.as_deref(), Some("ref-1"));
    let body = params(&w.bodies["POST http://as.test/token"]);
    assert_eq!(body["grant_type"], "refresh_token");
    assert_eq!(body["refresh_token"], "ref-1");
    assert_eq!(body["resource"], SERVER);
    // A refused refresh is an error the caller answers with a full flow.
    w.route(
        "POST http://as.test/token",
        400,
        r#"{"error":"invalid_grant"}"#,
    );
    let (flow, step) = AuthFlow::refresh(config(), &g);
    assert_eq!(
        w.drive(flow, step),
        Err(AuthError::Token("HTTP 400: invalid_grant".into()))
    );
}

#[test]
fn auth_c_8_token_errors_and_odd_tokens_are_refused() {
    for body in [
        r#"{"error":"invalid_grant"}"#,
        r#"{"access_token":"a b","token_type":"Bearer"}"#,
        r#"{"access_token":"a","token_type":"mac"}"#,
        "not json",
    ] {
        let mut w = World::new();
        w.route("POST http://as.test/token", 200, body);
        assert!(
            matches!(w.run(config(), &plain(), None), Err(AuthError::Token(_))),
            "{body}"
        );
    }
}

// ---- AUTH-C-10: hostile input ----

#[test]
fn auth_c_10_challenge_parsing() {
    let c = bearer(
        401,
        r#"Basic realm="x", Bearer realm="mcp", scope="a b", resource_metadata="http://m/p", error="invalid_token""#,
    );
    assert_eq!(c.scope.as_deref(), Some("a b"));
    assert_eq!(c.resource_metadata.as_deref(), Some("http://m/p"));
    assert_eq!(c.error.as_deref(), Some("invalid_token"));
    assert!(Challenge::parse(401, [b"Basic realm=\"x\"".as_slice()]).is_none());
    assert!(Challenge::parse(401, [b"Basic dXNlcjpwYXNz/+==, Bearer".as_slice()]).is_some());
    let escaped = bearer(403, r#"Bearer error="insufficient_scope", scope="a\"b""#);
    assert_eq!(escaped.scope.as_deref(), Some("a\"b"));
    assert!(escaped.is_insufficient_scope());
    // Step-up is a 403 with insufficient_scope, nothing else.
    assert!(!bearer(401, r#"Bearer error="insufficient_scope""#).is_insufficient_scope());
    assert!(!bearer(403, r#"Bearer error="invalid_token""#).is_insufficient_scope());
    // Spaces and tabs around the parts.
    let spaced = bearer(401, "Bearer \t scope = \"a\" ,\t error=\"e\"  ");
    assert_eq!(spaced.scope.as_deref(), Some("a"));
    assert_eq!(spaced.error.as_deref(), Some("e"));
    // The first Bearer wins; a DPoP challenge only when there is no Bearer.
    let two = |a: &str, b: &str| Challenge::parse(401, [a.as_bytes(), b.as_bytes()]).unwrap();
    let c = two(r#"Bearer scope="1""#, r#"Bearer scope="2""#);
    assert_eq!(c.scope.as_deref(), Some("1"));
    let c = two(r#"DPoP scope="1""#, r#"DPoP scope="2""#);
    assert_eq!(c.scope.as_deref(), Some("1"));
    let c = two(r#"DPoP scope="1""#, r#"Bearer scope="2""#);
    assert_eq!(
        (c.scheme.as_str(), c.scope.as_deref()),
        ("bearer", Some("2"))
    );
    let c = two(r#"Bearer scope="1""#, r#"DPoP scope="2""#);
    assert_eq!(
        (c.scheme.as_str(), c.scope.as_deref()),
        ("bearer", Some("1"))
    );
    // A token68 ending in '=' before the next challenge.
    let c = Challenge::parse(401, [br#"Basic abc=, Bearer scope="s""#.as_slice()]).unwrap();
    assert_eq!(c.scope.as_deref(), Some("s"));
    // At most MAX_CHALLENGE_PARAMS parameters are read.
    let limit = streamable_core::client::auth::MAX_CHALLENGE_PARAMS;
    let with_filler = |n: usize| {
        let filler: Vec<String> = (0..n).map(|i| format!("p{i}=v")).collect();
        format!(r#"Bearer {}, scope="s""#, filler.join(", "))
    };
    assert_eq!(
        bearer(401, &with_filler(limit - 1)).scope.as_deref(),
        Some("s")
    );
    assert_eq!(bearer(401, &with_filler(limit)).scope, None);
    // A value of exactly the length limit is read; one byte more is not.
    let max = streamable_core::client::auth::MAX_CHALLENGE_LEN;
    let head = r#"Bearer scope="a", error=""#;
    let at_limit = format!("{head}{}\"", "x".repeat(max - head.len() - 1));
    assert_eq!(at_limit.len(), max);
    assert!(Challenge::parse(401, [at_limit.as_bytes()]).is_some());
    let over = format!("{head}{}\"", "x".repeat(max - head.len()));
    assert!(Challenge::parse(401, [over.as_bytes()]).is_none());
}

#[test]
fn auth_c_10_debug_never_shows_secrets() {
    let mut w = World::new();
    let g = w.run(config(), &plain(), None).unwrap();
    let shown = format!("{g:?}");
    assert!(
        !shown.contains("tok-1") && !shown.contains("ref-1"),
        "{shown}"
    );
    let r = Registration {
        issuer: AS.into(),
        client_id: "c".into(),
        client_secret: Some("hunter2".into()),
        method: TokenAuthMethod::ClientSecretPost,
    };
    assert!(!format!("{r:?}").contains("hunter2"));
    // What the Debug forms do show, to tell one grant from another.
    assert!(
        shown.contains("Bearer") && shown.contains(SERVER),
        "{shown}"
    );
    assert!(format!("{r:?}").contains("ClientSecretPost"));
    assert_eq!(g.authorization(), "Bearer tok-1");
    let (flow, _) = AuthFlow::start(config(), &plain(), None, entropy());
    let flow_shown = format!("{flow:?}");
    assert_eq!(flow_shown, "AuthFlow { .. }");
}

#[test]
fn auth_c_5_pkce_matches_the_rfc_7636_example() {
    // RFC 7636 Appendix B.
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn auth_c_1_a_resource_metadata_url_that_is_not_a_url_is_skipped() {
    // Neither an absolute URL nor a relative reference is fetched.
    for bad in ["not a url", "/prm.json"] {
        let mut w = World::new();
        let ch = bearer(401, &format!(r#"Bearer resource_metadata="{bad}""#));
        w.run(config(), &ch, None).unwrap();
        assert!(
            w.sent[0].contains("oauth-protected-resource"),
            "{:?}",
            w.sent
        );
    }
}

#[test]
fn auth_errors_say_what_went_wrong() {
    for (e, needle) in [
        (AuthError::NoResourceMetadata, "protected resource metadata"),
        (AuthError::ResourceMismatch("x".into()), "\"x\""),
        (AuthError::NoServerMetadata("i".into()), "metadata for i"),
        (
            AuthError::IssuerMismatch {
                expected: "a".into(),
                found: "b".into(),
            },
            "\"b\" is not \"a\"",
        ),
        (AuthError::NoPkce, "PKCE"),
        (AuthError::NoRegistration, "client id"),
        (
            AuthError::Registration("r".into()),
            "registration failed: r",
        ),
        (
            AuthError::Authorization("z".into()),
            "authorization failed: z",
        ),
        (AuthError::StateMismatch, "state"),
        (AuthError::IssMissing, "lacks"),
        (AuthError::IssMismatch, "iss is not"),
        (AuthError::Token("t".into()), "token request failed: t"),
        (AuthError::InvalidUrl, "invalid URL"),
        (AuthError::OutOfOrder, "out of order"),
    ] {
        assert!(e.to_string().contains(needle), "{e:?}: {e}");
    }
}

fn arbitrary_run(bodies: &[(u16, Vec<u8>)], header: &[u8], redirect: &str) {
    let ch = Challenge::parse(401, [header]).unwrap_or_default();
    let mut c = config();
    c.client_metadata_url = Some("https://client.test/m".into());
    let (mut flow, mut step) = AuthFlow::start(c, &ch, None, entropy());
    let mut i = 0;
    for _ in 0..40 {
        step = match step {
            AuthStep::Done(_) | AuthStep::Failed(_) => return,
            AuthStep::Send(_) => {
                let (status, body) = bodies.get(i).cloned().unwrap_or((500, Vec::new()));
                i += 1;
                flow.on_response(0, status, &http::HeaderMap::new(), &body)
            }
            AuthStep::Authorize(_) => flow.on_redirect(redirect),
            AuthStep::Sign(_) => flow.on_signed(redirect),
        };
    }
    panic!("the flow did not end");
}

proptest! {
    #[test]
    fn auth_c_10_arbitrary_bytes_never_panic(
        bodies in proptest::collection::vec((prop_oneof![Just(200u16), Just(201), Just(404), any::<u16>()], proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
        header in proptest::collection::vec(any::<u8>(), 0..200),
        redirect in ".{0,200}",
    ) {
        arbitrary_run(&bodies, &header, &redirect);
    }

    #[test]
    fn auth_c_10_arbitrary_json_shapes_never_panic(
        resource in prop_oneof![Just(SERVER.to_owned()), ".{0,40}"],
        servers in proptest::collection::vec(prop_oneof![Just(AS.to_owned()), "http://[a-z]{1,5}(/[a-z%]{0,5}){0,2}", ".{0,20}"], 0..3),
        issuer in prop_oneof![Just(AS.to_owned()), ".{0,30}"],
        endpoint in prop_oneof![Just("http://as.test/x".to_owned()), ".{0,30}"],
        token in prop_oneof![Just(serde_json::json!("t")), Just(serde_json::json!(3)), Just(serde_json::Value::Null)],
        redirect in prop_oneof![Just(format!("{REDIRECT}?code=c&iss={AS}")), ".{0,80}"],
    ) {
        let prm = serde_json::json!({"resource": resource, "authorization_servers": servers}).to_string();
        let meta = serde_json::json!({"issuer": issuer, "authorization_endpoint": endpoint,
            "token_endpoint": endpoint, "registration_endpoint": endpoint,
            "code_challenge_methods_supported": ["S256"]}).to_string();
        let token = serde_json::json!({"access_token": token, "token_type": "Bearer"}).to_string();
        let bodies = [
            (200, prm.into_bytes()),
            (200, meta.clone().into_bytes()),
            (200, meta.into_bytes()),
            (201, br#"{"client_id":"c"}"#.to_vec()),
            (200, token.into_bytes()),
        ];
        arbitrary_run(&bodies, b"Bearer", &redirect);
    }
}

// ---- AUTH-C-11: grants without a user agent ----

#[test]
fn auth_c_11_client_credentials_go_straight_to_the_token_endpoint() {
    let mut w = World::new();
    w.route(
        "GET http://as.test/.well-known/oauth-authorization-server",
        200,
        &as_meta(
            AS,
            serde_json::json!({"grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": null}),
        ),
    );
    let mut c = config();
    c.grant = streamable_core::client::auth::GrantKind::ClientCredentials;
    // Without credentials there is nothing to authenticate with.
    assert_eq!(
        w.run(c.clone(), &plain(), None),
        Err(AuthError::NoRegistration)
    );
    c.pre_registered = Some(ClientCredentials {
        client_id: "machine".into(),
        client_secret: Some("s".into()),
    });
    let mut w2 = World::new();
    w2.routes = w.routes.clone();
    w2.run(c, &bearer(401, r#"Bearer scope="mcp:basic""#), None)
        .unwrap();
    assert!(!w2.authorized() && !w2.sent.iter().any(|s| s.contains("/register")));
    let body = params(&w2.bodies["POST http://as.test/token"]);
    assert_eq!(body["grant_type"], "client_credentials");
    assert_eq!(body["scope"], "mcp:basic");
    assert_eq!(body["resource"], SERVER);
    assert!(w2.headers["POST http://as.test/token"].starts_with("Basic "));
}

#[test]
fn auth_c_11_jwt_bearer_sends_the_assertion() {
    let mut w = World::new();
    let mut c = config();
    c.grant = streamable_core::client::auth::GrantKind::JwtBearer {
        assertion: "e30.e30.sig".into(),
    };
    assert_eq!(format!("{:?}", c.grant), "JwtBearer");
    w.run(c, &plain(), None).unwrap();
    assert!(!w.authorized());
    let body = params(&w.bodies["POST http://as.test/token"]);
    assert_eq!(
        body["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(body["assertion"], "e30.e30.sig");
    assert!(!body.contains_key("client_id"));
}

#[test]
fn auth_c_11_private_key_jwt_asks_the_caller_to_sign_then_sends_the_assertion() {
    let mut w = World::new();
    let mut c = config();
    c.grant = streamable_core::client::auth::GrantKind::ClientCredentials;
    c.private_key_jwt = true;
    c.pre_registered = Some(ClientCredentials {
        client_id: "machine".into(),
        client_secret: None,
    });
    let (mut flow, mut step) = AuthFlow::start(c, &plain(), None, entropy());
    let mut claims = None;
    for _ in 0..10 {
        step = match step {
            AuthStep::Send(req) => {
                let key = format!("{} {}", req.method(), req.uri());
                w.bodies
                    .insert(key.clone(), String::from_utf8(req.body().to_vec()).unwrap());
                let (s, b) = w.routes.get(&key).cloned().unwrap_or((404, String::new()));
                flow.on_response(1000, s, &http::HeaderMap::new(), b.as_bytes())
            }
            AuthStep::Sign(c) => {
                claims = Some(c);
                flow.on_signed("h.c.s")
            }
            AuthStep::Done(_) => break,
            other => panic!("{other:?}"),
        };
    }
    let claims = claims.expect("a signing step");
    assert_eq!(claims["iss"], "machine");
    assert_eq!(claims["sub"], "machine");
    assert_eq!(claims["aud"], AS);
    assert_eq!(claims["iat"], 1000);
    assert_eq!(claims["exp"], 1300);
    let body = params(&w.bodies["POST http://as.test/token"]);
    assert_eq!(body["client_assertion"], "h.c.s");
    assert_eq!(
        body["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(body["grant_type"], "client_credentials");
    // A signature fed at the wrong time is refused.
    assert!(matches!(
        flow.on_signed("x"),
        AuthStep::Failed(AuthError::OutOfOrder)
    ));
}

#[test]
fn auth_c_8_methods_follow_the_servers_list() {
    // (listed, asked for at registration, used with a secret registered
    // without a method)
    let cases = [
        (None, "none", TokenAuthMethod::ClientSecretBasic),
        (
            Some(serde_json::json!(["client_secret_basic", "none"])),
            "none",
            TokenAuthMethod::ClientSecretBasic,
        ),
        (
            Some(serde_json::json!(["client_secret_basic"])),
            "client_secret_basic",
            TokenAuthMethod::ClientSecretBasic,
        ),
        (
            Some(serde_json::json!(["client_secret_post"])),
            "client_secret_post",
            TokenAuthMethod::ClientSecretPost,
        ),
        (
            Some(serde_json::json!([
                "client_secret_post",
                "client_secret_basic"
            ])),
            "client_secret_basic",
            TokenAuthMethod::ClientSecretBasic,
        ),
        (
            Some(serde_json::json!(["tls_client_auth"])),
            "none",
            TokenAuthMethod::None,
        ),
    ];
    for (listed, asked, used) in cases {
        let mut w = World::new();
        let extra = match &listed {
            Some(l) => serde_json::json!({ "token_endpoint_auth_methods_supported": l }),
            None => serde_json::json!({ "token_endpoint_auth_methods_supported": null }),
        };
        w.route(
            "GET http://as.test/.well-known/oauth-authorization-server",
            200,
            &as_meta(AS, extra),
        );
        w.route(
            "POST http://as.test/register",
            201,
            r#"{"client_id":"c","client_secret":"s"}"#,
        );
        let g = w.run(config(), &plain(), None).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&w.bodies["POST http://as.test/register"]).unwrap();
        assert_eq!(doc["token_endpoint_auth_method"], asked, "{listed:?}");
        assert_eq!(g.client.method, used, "{listed:?}");
    }
}
