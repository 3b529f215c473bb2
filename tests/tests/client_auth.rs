//! Our client with OAuth (streamable-hyper's `client::auth`) against our
//! server behind a small OAuth guard and a small authorization server, all
//! on loopback (AUTH-C-9). Every wait is bounded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use streamable_hyper::McpService;
use streamable_hyper::client::Client;
use streamable_hyper::client::auth::OAuth;
use streamable_tests::{T, app};
use tokio::time::timeout;

/// What the authorization server and the guard saw, and how they behave.
#[derive(Default)]
struct World {
    base: String,
    registrations: usize,
    authorizations: Vec<String>,
    grants: Vec<String>,
    /// token → the scopes it was granted
    tokens: BTreeMap<String, String>,
    last_scope: String,
    expires_in: u64,
    unauthenticated_mcp: usize,
}

type Shared = Arc<Mutex<World>>;

fn query(uri: &axum::http::Uri) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in uri.query().unwrap_or("").split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            out.insert(k.to_owned(), decode(v));
        }
    }
    out
}

fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON response (axum's `Json` needs a feature the workspace leaves off).
fn json_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn guard(State(w): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let msg: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let base = w.lock().unwrap().base.clone();
    let prm = format!("{base}/.well-known/oauth-protected-resource/mcp");
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let known = token.is_some_and(|t| w.lock().unwrap().tokens.contains_key(&t));
    if !known {
        w.lock().unwrap().unauthenticated_mcp += 1;
        let challenge = format!(r#"Bearer resource_metadata="{prm}", scope="mcp""#);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response();
    };
    if msg["method"] == "tools/call" && msg["params"]["name"] == "countdown" {
        // Whatever the token's scopes: step-up never succeeds here.
        let challenge = format!(
            r#"Bearer error="insufficient_scope", scope="admin", resource_metadata="{prm}""#
        );
        return (
            StatusCode::FORBIDDEN,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

async fn serve() -> (SocketAddr, Shared, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let w: Shared = Arc::new(Mutex::new(World {
        base: base.clone(),
        expires_in: 3600,
        ..World::default()
    }));
    let mcp = McpService::new(app());
    let prm = json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]});
    let meta = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["mcp", "offline_access"],
    });
    let router = Router::new()
        .route_service("/mcp", mcp)
        .route_layer(middleware::from_fn_with_state(w.clone(), guard))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || async move { json_response(prm) }),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { json_response(meta) }),
        )
        .route(
            "/register",
            post(|State(w): State<Shared>| async move {
                w.lock().unwrap().registrations += 1;
                (
                    StatusCode::CREATED,
                    json_response(json!({"client_id": "e2e-client"})),
                )
            }),
        )
        .route(
            "/authorize",
            get(|State(w): State<Shared>, req: Request| async move {
                let q = query(req.uri());
                let mut w = w.lock().unwrap();
                let scope = q.get("scope").cloned().unwrap_or_default();
                w.authorizations.push(scope.clone());
                w.last_scope = scope;
                let location = format!(
                    "{}?code=c{}&state={}&iss={}",
                    q["redirect_uri"],
                    w.authorizations.len(),
                    q["state"],
                    w.base
                );
                (StatusCode::FOUND, [(header::LOCATION, location)])
            }),
        )
        .route(
            "/token",
            post(|State(w): State<Shared>, body: String| async move {
                let mut w = w.lock().unwrap();
                let grant = body
                    .split('&')
                    .find_map(|p| p.strip_prefix("grant_type="))
                    .unwrap_or("")
                    .to_owned();
                w.grants.push(grant);
                let token = format!("tok{}", w.grants.len());
                let scope = w.last_scope.clone();
                w.tokens.insert(token.clone(), scope);
                json_response(json!({"access_token": token, "token_type": "Bearer",
                    "expires_in": w.expires_in, "refresh_token": "r"}))
            }),
        )
        .with_state(w.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, w, task)
}

#[tokio::test]
async fn auth_c_9_authorizes_on_401_then_every_request_carries_the_token() {
    let (addr, w, task) = serve().await;
    let oauth = OAuth::new("http://127.0.0.1:1/callback").follow_redirect();
    let client = timeout(
        T,
        Client::builder(&format!("http://{addr}/mcp"))
            .oauth(oauth)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    let r = timeout(T, client.call_tool("echo", json!({"text": "hi"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["content"][0]["text"], "hi");
    timeout(T, client.list_tools()).await.unwrap().unwrap();
    let w = w.lock().unwrap();
    assert_eq!(w.registrations, 1);
    assert_eq!(w.authorizations, ["mcp offline_access"]);
    assert_eq!(w.grants, ["authorization_code"]);
    // Only the very first request went without a token.
    assert_eq!(w.unauthenticated_mcp, 1);
    drop(w);
    task.abort();
}

#[tokio::test]
async fn auth_c_9_step_up_is_limited_and_the_403_is_delivered() {
    let (addr, w, task) = serve().await;
    let w2 = w.clone();
    // The user-agent step as a callback: approve at once (no browser).
    let oauth = OAuth::new("http://127.0.0.1:1/callback").on_authorize(move |url| {
        let w = w2.clone();
        async move {
            let uri: axum::http::Uri = url.parse().map_err(|_| "bad url".to_owned())?;
            let q = query(&uri);
            let mut w = w.lock().unwrap();
            let scope = q.get("scope").cloned().unwrap_or_default();
            w.authorizations.push(scope.clone());
            w.last_scope = scope;
            Ok(format!(
                "{}?code=x&state={}&iss={}",
                q["redirect_uri"], q["state"], w.base
            ))
        }
    });
    let client = timeout(
        T,
        Client::builder(&format!("http://{addr}/mcp"))
            .oauth(oauth)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    let e = timeout(T, client.call_tool("countdown", json!({"n": 1})))
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("403"), "{e}");
    let w = w.lock().unwrap();
    // One flow for the 401 of initialize, then three step-ups for the call, no more.
    assert_eq!(w.authorizations.len(), 4, "{:?}", w.authorizations);
    assert_eq!(w.authorizations[1], "mcp admin offline_access");
    assert_eq!(
        w.registrations, 1,
        "the registration is reused with the same issuer"
    );
    drop(w);
    task.abort();
}

#[tokio::test]
async fn auth_c_9_an_expired_token_is_refreshed_before_sending() {
    let (addr, w, task) = serve().await;
    w.lock().unwrap().expires_in = 1;
    let oauth = OAuth::new("http://127.0.0.1:1/callback").follow_redirect();
    let client = timeout(
        T,
        Client::builder(&format!("http://{addr}/mcp"))
            .oauth(oauth)
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    timeout(T, client.list_tools()).await.unwrap().unwrap();
    let w = w.lock().unwrap();
    assert_eq!(w.authorizations.len(), 1, "no second authorization");
    assert_eq!(w.grants[0], "authorization_code");
    assert!(
        w.grants[1..].iter().all(|g| g == "refresh_token") && w.grants.len() >= 2,
        "{:?}",
        w.grants
    );
    assert_eq!(w.unauthenticated_mcp, 1);
    drop(w);
    task.abort();
}
