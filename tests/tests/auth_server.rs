//! The server as an OAuth 2.1 resource server (issue 15, AUTH-RS-*), over
//! real loopback sockets: what handlers see of the request and its
//! principal, the bearer-token answers, session binding, and the hostile
//! cases.

use std::net::SocketAddr;

use axum::Router;
use serde_json::{Value, json};
use streamable_hyper::{AuthInfo, McpServer, McpService, Tool, ToolResult};
use streamable_tests::{Client, json_body, modern_request, send};

/// An application whose `whoami` tool reports what the handler sees: the
/// principal (`ctx.auth()`), a request header and the method and path
/// (`ctx.http_request()`).
fn whoami_app() -> McpServer {
    McpServer::new("auth-e2e", "1").tool(Tool::new(
        "whoami",
        "Who is calling",
        json!({"type": "object"}),
        |ctx, _args| async move {
            let parts = ctx.http_request();
            Ok(ToolResult::text(
                json!({
                    "principal": ctx.auth().map(AuthInfo::principal),
                    "scopes": ctx.auth().map(AuthInfo::scopes),
                    "header": parts
                        .and_then(|p| p.headers.get("x-trace"))
                        .and_then(|v| v.to_str().ok()),
                    "method": parts.map(|p| p.method.to_string()),
                    "path": parts.map(|p| p.uri.path().to_owned()),
                })
                .to_string(),
            ))
        },
    ))
}

/// The JSON the `whoami` tool put in its text content.
fn whoami(v: &Value) -> Value {
    let text = v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a tool result: {v}"));
    serde_json::from_str(text).expect("whoami JSON")
}

/// Serve `router` on an ephemeral loopback port.
async fn serve_router(router: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, task)
}

/// An axum middleware standing for any identity layer: the user named in
/// `x-test-user` becomes the request's [`AuthInfo`].
async fn identity_layer(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(user) = req
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    {
        req.extensions_mut()
            .insert(AuthInfo::new(user).with_scopes(["mcp:tools"]));
    }
    next.run(req).await
}

async fn layered_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let mcp = McpService::new(whoami_app());
    let router = Router::new()
        .route_service("/mcp", mcp)
        .layer(axum::middleware::from_fn(identity_layer));
    serve_router(router).await
}

fn with_headers(
    mut req: http::Request<http_body_util::Full<bytes::Bytes>>,
    headers: &[(&'static str, &str)],
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_1_a_layers_identity_and_the_request_parts_reach_the_tool() {
    let (addr, task) = layered_server().await;
    // A 2025 session: initialize and the call as user alice.
    let c = Client {
        addr,
        session: None,
    };
    let init = streamable_tests::post_request(
        addr,
        None,
        &streamable_tests::initialize_body("2025-11-25"),
    );
    let res = send(addr, with_headers(init, &[("x-test-user", "alice")])).await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}});
    let req = streamable_tests::post_request(addr, Some(&sid), &call);
    let res = send(
        addr,
        with_headers(req, &[("x-test-user", "alice"), ("x-trace", "t-1")]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen = whoami(&json_body(res).await);
    assert_eq!(seen["principal"], "alice");
    assert_eq!(seen["scopes"], json!(["mcp:tools"]));
    assert_eq!(seen["header"], "t-1");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/mcp");

    // A 2026-07-28 stateless call sees the same.
    let req = modern_request(
        addr,
        3,
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    );
    let res = send(
        addr,
        with_headers(req, &[("x-test-user", "bob"), ("x-trace", "t-2")]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let seen = whoami(&json_body(res).await);
    assert_eq!(seen["principal"], "bob");
    assert_eq!(seen["header"], "t-2");

    // Without an identity the handler sees none (and still the parts).
    let req = modern_request(
        addr,
        4,
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    );
    let seen = whoami(&json_body(send(addr, req).await).await);
    assert_eq!(seen["principal"], Value::Null);
    assert_eq!(seen["method"], "POST");
    drop(c);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_1_every_call_of_a_batch_sees_the_parts() {
    let (addr, task) = layered_server().await;
    let init = streamable_tests::post_request(
        addr,
        None,
        &streamable_tests::initialize_body("2025-03-26"),
    );
    let res = send(addr, with_headers(init, &[("x-test-user", "carol")])).await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    ]);
    let req = streamable_tests::post_request(addr, Some(&sid), &batch);
    let res = send(addr, with_headers(req, &[("x-test-user", "carol")])).await;
    assert_eq!(res.status(), 200);
    let answers = json_body(res).await;
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2);
    for a in answers {
        assert_eq!(whoami(a)["principal"], "carol", "{a}");
    }
    task.abort();
}

// ------------------------------------------------------------ hostile cases

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use streamable_hyper::auth::{IntrospectionVerifier, JwtVerifier, ResourceServer};

/// Test key A (P-256), published in the JWKS as `k1`.
const KEY_A: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgQj2rPiywHFAb7XY5
blEk6qCStVj0uzet+DmmwIB16lWhRANCAAROmLCbp6wBxSjl4LqpPTw6vTLoOWih
ViH/TEQBp4BaRlcM1yJv6SISppC7JqJ/tW0iyPGGABo8JJwWRqW5OszE
-----END PRIVATE KEY-----";
const KEY_A_XY: (&str, &str) = (
    "Tpiwm6esAcUo5eC6qT08Or0y6DlooVYh_0xEAaeAWkY",
    "VwzXIm_pIhKmkLsmon-1bSLI8YYAGjwknBZGpbk6zMQ",
);
/// Test key B (P-256): not published until a test rotates it in as `k2`.
const KEY_B: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRFPS/q0FX28hne2U
cNqYZy6TBTRm25C5U0hVpP62ToGhRANCAAT+ZDrPJlFB4mxpbjSNVPc5u5dT37VP
lEyr+zfIZWgbhvZ8LFYT7zLLSkIGqrFvkMM5cX2u825/Q32lzH75ZBlE
-----END PRIVATE KEY-----";
const KEY_B_XY: (&str, &str) = (
    "_mQ6zyZRQeJsaW40jVT3ObuXU9-1T5RMq_s3yGVoG4Y",
    "9nwsVhPvMstKQgaqsW-Qwzlxfa7zbn9DfaXMfvlkGUQ",
);
const ISSUER: &str = "https://as.test";

/// Everything the server process logs, at every level (to prove no token
/// is ever in it, AUTH-RS-10).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || LogWriter(w.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_not_logged(secret: &str) {
    let logs = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!logs.is_empty(), "the log capture works");
    assert!(!logs.contains(secret), "a token reached the logs");
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwk(kid: &str, (x, y): (&str, &str)) -> Value {
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": x, "y": y})
}

/// The in-test authorization server on 127.0.0.1: `/jwks` (counted,
/// contents swappable) and `/introspect` (counted; `good-opaque` and
/// `bob-opaque` are active, anything else is not; needs Basic `rs:secret`).
struct As {
    addr: SocketAddr,
    jwks: Arc<Mutex<Value>>,
    jwks_fetches: Arc<AtomicUsize>,
    introspections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for As {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_as(resource: Arc<Mutex<String>>) -> As {
    let jwks = Arc::new(Mutex::new(json!({"keys": [jwk("k1", KEY_A_XY)]})));
    let jwks_fetches = Arc::new(AtomicUsize::new(0));
    let introspections = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (j, jf, ic) = (jwks.clone(), jwks_fetches.clone(), introspections.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((io, _)) = listener.accept().await else {
                return;
            };
            let (j, jf, ic, resource) = (j.clone(), jf.clone(), ic.clone(), resource.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (j, jf, ic, resource) =
                        (j.clone(), jf.clone(), ic.clone(), resource.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let basic = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let answer = if path == "/jwks" {
                            jf.fetch_add(1, Ordering::SeqCst);
                            j.lock().unwrap().clone()
                        } else {
                            ic.fetch_add(1, Ordering::SeqCst);
                            // "rs:secret" in base64.
                            let ok_client = basic.as_deref() == Some("Basic cnM6c2VjcmV0");
                            let body = String::from_utf8_lossy(&body).into_owned();
                            let sub = if body.contains("token=good-opaque&") {
                                Some("alice")
                            } else if body.contains("token=bob-opaque&") {
                                Some("bob")
                            } else {
                                None
                            };
                            match sub {
                                Some(sub) if ok_client => json!({
                                    "active": true, "sub": sub, "scope": "mcp:tools",
                                    "aud": resource.lock().unwrap().clone(),
                                    "exp": now_s() + 300, "iss": ISSUER
                                }),
                                _ => json!({"active": false}),
                            }
                        };
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(bytes::Bytes::from(answer.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
                    .await;
            });
        }
    });
    As {
        addr,
        jwks,
        jwks_fetches,
        introspections,
        task,
    }
}

/// A protected server (the `whoami` app plus an input-asking `greet`) in
/// front of `verifier`, on an ephemeral port; its resource URI.
struct Protected {
    addr: SocketAddr,
    resource: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Protected {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn protected(
    listener: tokio::net::TcpListener,
    verifier: impl streamable_hyper::auth::TokenVerifier,
) -> Protected {
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://127.0.0.1:{}/mcp", addr.port());
    let app = whoami_app().tool(Tool::new(
        "greet",
        "Asks a name",
        json!({"type": "object"}),
        |ctx, _args| async move {
            let a = ctx
                .input(
                    "name",
                    "elicitation/create",
                    Some(
                        json!({"message": "Name?", "requestedSchema": {"type": "object",
                        "properties": {"name": {"type": "string"}}}}),
                    ),
                )
                .await?;
            Ok(ToolResult::text(format!(
                "Hello, {}!",
                a.to_value()["content"]["name"].as_str().unwrap_or("?")
            )))
        },
    ));
    let service = McpService::builder()
        .path("/mcp")
        .auth(
            ResourceServer::new(resource.clone())
                .authorization_server(ISSUER)
                .required_scopes(["mcp:tools"])
                .resource_name("auth e2e")
                .verifier(verifier),
        )
        .build(app);
    let task = tokio::spawn(streamable_hyper::serve(
        listener,
        service,
        std::future::pending(),
    ));
    Protected {
        addr,
        resource,
        task,
    }
}

async fn jwt_setup(refresh: Duration) -> (As, Protected) {
    logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!(
        "http://127.0.0.1:{}/mcp",
        listener.local_addr().unwrap().port()
    );
    let auth = start_as(Arc::new(Mutex::new(resource))).await;
    let verifier =
        JwtVerifier::new(ISSUER, format!("http://{}/jwks", auth.addr)).refresh_interval(refresh);
    let server = protected(listener, verifier).await;
    (auth, server)
}

fn mint(key: &str, kid: &str, claims: Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(key.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn claims(server: &Protected, sub: &str) -> Value {
    json!({"iss": ISSUER, "sub": sub, "aud": server.resource, "exp": now_s() + 300,
        "iat": now_s(), "scope": "mcp:tools"})
}

fn bearer(
    mut req: http::Request<Full<bytes::Bytes>>,
    token: &str,
) -> http::Request<Full<bytes::Bytes>> {
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn list_req(addr: SocketAddr) -> http::Request<Full<bytes::Bytes>> {
    modern_request(addr, 1, "tools/list", json!({}))
}

fn challenge(res: &http::Response<Incoming>) -> String {
    res.headers()
        .get("www-authenticate")
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned()
}

fn metadata_url(server: &Protected) -> String {
    format!(
        "http://127.0.0.1:{}/.well-known/oauth-protected-resource/mcp",
        server.addr.port()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_6_auth_rs_8_no_token_is_401_pointing_at_the_metadata() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let res = send(server.addr, list_req(server.addr)).await;
    assert_eq!(res.status(), 401);
    let c = challenge(&res);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(
        c.contains(&format!("resource_metadata=\"{}\"", metadata_url(&server))),
        "{c}"
    );
    assert!(c.contains("scope=\"mcp:tools\""), "{c}");
    assert!(!c.contains("error="), "no error code without a token: {c}");
    // Another scheme counts as no bearer token.
    let res = send(server.addr, {
        let mut r = list_req(server.addr);
        r.headers_mut()
            .insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
        r
    })
    .await;
    assert_eq!(res.status(), 401);

    // The metadata, without a token, path-aware and at the root.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let req = http::Request::get(format!("http://{}{path}", server.addr))
            .header("host", "127.0.0.1")
            .body(Full::new(bytes::Bytes::new()))
            .unwrap();
        let res = send(server.addr, req).await;
        assert_eq!(res.status(), 200, "{path}");
        let doc = json_body(res).await;
        assert_eq!(doc["resource"], server.resource);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert_eq!(doc["resource_name"], "auth e2e");
    }
    // Another well-known path is not ours.
    let req = http::Request::get(format!(
        "http://{}/.well-known/oauth-protected-resource/other",
        server.addr
    ))
    .header("host", "127.0.0.1")
    .body(Full::new(bytes::Bytes::new()))
    .unwrap();
    assert_eq!(send(server.addr, req).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_3_auth_rs_6_hostile_tokens_are_401_invalid_token_and_the_server_keeps_serving() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let good = claims(&server, "alice");
    let mut cases: Vec<(&str, String)> = Vec::new();
    let mut c = good.clone();
    c["exp"] = json!(now_s() - 3600);
    cases.push(("expired", mint(KEY_A, "k1", c)));
    let mut c = good.clone();
    c["aud"] = json!("https://elsewhere.example/mcp");
    cases.push(("wrong audience", mint(KEY_A, "k1", c)));
    let mut c = good.clone();
    c["aud"] = json!(format!("http://127.0.0.1:{}/other", server.addr.port()));
    cases.push(("another resource of this host", mint(KEY_A, "k1", c)));
    let mut c = good.clone();
    c["iss"] = json!("https://evil.test");
    cases.push(("wrong issuer", mint(KEY_A, "k1", c)));
    cases.push(("bad signature", mint(KEY_B, "k1", good.clone())));
    let mut c = good.clone();
    c["nbf"] = json!(now_s() + 3600);
    cases.push(("not yet valid", mint(KEY_A, "k1", c)));
    let mut c = good.clone();
    c.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", mint(KEY_A, "k1", c)));
    cases.push(("garbage", "not.a.jwt".to_owned()));
    for (what, token) in &cases {
        let res = send(server.addr, bearer(list_req(server.addr), token)).await;
        assert_eq!(res.status(), 401, "{what}");
        let c = challenge(&res);
        assert!(c.contains("error=\"invalid_token\""), "{what}: {c}");
        assert!(c.contains("resource_metadata=\""), "{what}: {c}");
        assert!(c.contains("scope=\"mcp:tools\""), "{what}: {c}");
    }
    // Still serving, and a good token is accepted and seen by the tool.
    let token = mint(KEY_A, "k1", good);
    let req = modern_request(
        server.addr,
        2,
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    );
    let res = send(server.addr, bearer(req, &token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(whoami(&json_body(res).await)["principal"], "alice");
    for (_, t) in &cases {
        assert_not_logged(t);
    }
    assert_not_logged(&token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_7_a_missing_scope_is_403_insufficient_scope() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let mut c = claims(&server, "alice");
    c["scope"] = json!("profile other");
    let res = send(
        server.addr,
        bearer(list_req(server.addr), &mint(KEY_A, "k1", c)),
    )
    .await;
    assert_eq!(res.status(), 403);
    let c = challenge(&res);
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(c.contains("scope=\"mcp:tools\""), "{c}");
    assert!(c.contains("resource_metadata=\""), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_4_unknown_kids_cause_one_refresh_not_a_storm() {
    let (auth, server) = jwt_setup(Duration::from_millis(300)).await;
    let good = mint(KEY_A, "k1", claims(&server, "alice"));
    assert_eq!(
        send(server.addr, bearer(list_req(server.addr), &good))
            .await
            .status(),
        200
    );
    assert_eq!(
        auth.jwks_fetches.load(Ordering::SeqCst),
        1,
        "keys fetched once"
    );
    // Wait out the interval, then a flood of unknown kids: one refresh.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rogue = mint(KEY_B, "k2", claims(&server, "mallory"));
    let mut flood = Vec::new();
    for _ in 0..20 {
        let addr = server.addr;
        let rogue = rogue.clone();
        flood.push(tokio::spawn(async move {
            send(addr, bearer(list_req(addr), &rogue)).await.status()
        }));
    }
    for f in flood {
        assert_eq!(f.await.unwrap(), 401);
    }
    assert_eq!(
        auth.jwks_fetches.load(Ordering::SeqCst),
        2,
        "20 unknown kids within the interval: exactly one refresh"
    );
    // A key rotated in is picked up after the interval.
    auth.jwks.lock().unwrap().as_object_mut().unwrap().insert(
        "keys".into(),
        json!([jwk("k1", KEY_A_XY), jwk("k2", KEY_B_XY)]),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let rotated = mint(KEY_B, "k2", claims(&server, "bob"));
    assert_eq!(
        send(server.addr, bearer(list_req(server.addr), &rotated))
            .await
            .status(),
        200
    );
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), 3);
    // The old key still works, from the cache.
    assert_eq!(
        send(server.addr, bearer(list_req(server.addr), &good))
            .await
            .status(),
        200
    );
    assert_eq!(auth.jwks_fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_9_query_tokens_duplicates_and_oversized_headers_are_400() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let good = mint(KEY_A, "k1", claims(&server, "alice"));
    // In the query string: refused, even with a good header too.
    for with_header in [false, true] {
        let mut req = list_req(server.addr);
        *req.uri_mut() = format!("http://{}/mcp?access_token={good}", server.addr)
            .parse()
            .unwrap();
        if with_header {
            req = bearer(req, &good);
        }
        let res = send(server.addr, req).await;
        assert_eq!(res.status(), 400, "query token (header too: {with_header})");
        assert!(challenge(&res).contains("error=\"invalid_request\""));
    }
    // Two Authorization headers.
    let mut req = bearer(list_req(server.addr), &good);
    req.headers_mut()
        .append("authorization", format!("Bearer {good}").parse().unwrap());
    assert_eq!(send(server.addr, req).await.status(), 400);
    // Oversized.
    let huge = "a".repeat(streamable_hyper::auth::MAX_AUTHORIZATION_BYTES + 1);
    let res = send(server.addr, bearer(list_req(server.addr), &huge)).await;
    assert_eq!(res.status(), 400);
    assert!(challenge(&res).contains("8192"));
    // Still serving.
    assert_eq!(
        send(server.addr, bearer(list_req(server.addr), &good))
            .await
            .status(),
        200
    );
    assert_not_logged(&good);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_11_a_session_used_by_a_second_principal_is_404() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let alice = mint(KEY_A, "k1", claims(&server, "alice"));
    let bob = mint(KEY_A, "k1", claims(&server, "bob"));
    let init = streamable_tests::post_request(
        server.addr,
        None,
        &streamable_tests::initialize_body("2025-11-25"),
    );
    let res = send(server.addr, bearer(init, &alice)).await;
    assert_eq!(res.status(), 200);
    let sid = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "whoami", "arguments": {}}});
    let req = streamable_tests::post_request(server.addr, Some(&sid), &call);
    let res = send(server.addr, bearer(req, &bob)).await;
    assert_eq!(res.status(), 404, "bob cannot use alice's session");
    // Exactly as an unknown session.
    let req = streamable_tests::post_request(
        server.addr,
        Some("0123456789abcdef0123456789abcdef"),
        &call,
    );
    let unknown = send(server.addr, bearer(req, &bob)).await;
    assert_eq!(unknown.status(), 404);
    let req = streamable_tests::post_request(server.addr, Some(&sid), &call);
    let res = send(server.addr, bearer(req, &alice)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(whoami(&json_body(res).await)["principal"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_12_a_request_state_replayed_by_another_principal_is_refused() {
    let (_as, server) = jwt_setup(Duration::from_secs(10)).await;
    let alice = mint(KEY_A, "k1", claims(&server, "alice"));
    let bob = mint(KEY_A, "k1", claims(&server, "bob"));
    let caps = json!({"io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}});
    let args = json!({"name": "greet", "arguments": {}, "_meta": caps});
    let req = modern_request(server.addr, 1, "tools/call", args.clone());
    let v = json_body(send(server.addr, bearer(req, &alice)).await).await;
    assert_eq!(v["result"]["resultType"], "input_required", "{v}");
    let state = v["result"]["requestState"].as_str().unwrap().to_owned();
    let mut retry = args;
    retry["inputResponses"] = json!({"name": {"action": "accept", "content": {"name": "Ada"}}});
    retry["requestState"] = json!(state);
    let req = modern_request(server.addr, 2, "tools/call", retry.clone());
    let v = json_body(send(server.addr, bearer(req, &bob)).await).await;
    assert_eq!(v["error"]["code"], -32602, "bob's replay is refused: {v}");
    let req = modern_request(server.addr, 3, "tools/call", retry);
    let v = json_body(send(server.addr, bearer(req, &alice)).await).await;
    assert_eq!(v["result"]["content"][0]["text"], "Hello, Ada!", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rs_5_introspection_accepts_active_tokens_and_caches_them() {
    logs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!(
        "http://127.0.0.1:{}/mcp",
        listener.local_addr().unwrap().port()
    );
    let auth = start_as(Arc::new(Mutex::new(resource))).await;
    let verifier =
        IntrospectionVerifier::new(format!("http://{}/introspect", auth.addr), "rs", "secret")
            .issuer(ISSUER);
    let server = protected(listener, verifier).await;
    let req = modern_request(
        server.addr,
        1,
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    );
    let res = send(server.addr, bearer(req, "good-opaque")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(whoami(&json_body(res).await)["principal"], "alice");
    assert_eq!(auth.introspections.load(Ordering::SeqCst), 1);
    // Cached: no second introspection.
    let res = send(server.addr, bearer(list_req(server.addr), "good-opaque")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(auth.introspections.load(Ordering::SeqCst), 1);
    // Inactive: 401 invalid_token, and not cached.
    for n in 2..=3 {
        let res = send(server.addr, bearer(list_req(server.addr), "revoked-opaque")).await;
        assert_eq!(res.status(), 401);
        assert!(challenge(&res).contains("error=\"invalid_token\""));
        assert_eq!(auth.introspections.load(Ordering::SeqCst), n);
    }
    assert_not_logged("good-opaque");
    assert_not_logged("revoked-opaque");
}
