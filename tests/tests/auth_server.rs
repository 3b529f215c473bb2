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
