//! The application side: what the driver calls for each delivery.

use std::future::Future;
use std::pin::Pin;

use streamable_core::mirror::ParamHeader;
use streamable_core::{CloseReason, ErrorObject, RawJson, SessionKey};

use crate::context::{RequestContext, ServerHandle, Session};

/// The outcome of a request: a result or a JSON-RPC error.
pub type Outcome = Result<RawJson, ErrorObject>;

/// An MCP application: it receives the client's requests and notifications.
///
/// Each request runs as its own task; answering is returning. A handler that
/// panics is answered with a JSON-RPC internal error (-32603); the session
/// lives on. `initialize` arrives here like any request (answer with
/// `serverInfo`, `capabilities`, `instructions`; the core fixes
/// `protocolVersion`). `ping` never does: the core answers it.
///
/// Most servers use [`McpServer`](crate::McpServer) (tools, resources,
/// prompts) instead of implementing this directly.
///
/// ```
/// use streamable_hyper::{Handler, RequestContext, Outcome};
/// use streamable_core::{ErrorObject, RawJson, code};
///
/// struct Echo;
/// impl Handler for Echo {
///     async fn request(&self, _ctx: RequestContext, method: String, params: Option<RawJson>) -> Outcome {
///         match method.as_str() {
///             "initialize" => Ok(RawJson::from_value(&serde_json::json!({
///                 "capabilities": {}, "serverInfo": {"name": "echo", "version": "1"}
///             }))),
///             "echo" => Ok(params.unwrap_or_else(RawJson::empty_object)),
///             _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
///         }
///     }
/// }
/// let _service = streamable_hyper::McpService::new(Echo);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Handle one request; the returned outcome is the response.
    fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> impl Future<Output = Outcome> + Send;

    /// A notification from the client (`notifications/initialized`,
    /// `notifications/roots/list_changed`, ...) in a session. Cancellations
    /// arrive through [`RequestContext::cancelled`] instead. The 2026-07-28
    /// era defines no client notifications over HTTP (H-POST-6); such POSTs
    /// are acknowledged with 202 and not passed on. Default: ignore.
    fn notification(
        &self,
        session: Session,
        method: String,
        params: Option<RawJson>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, method, params);
        async {}
    }

    /// A session ended (deleted, timed out, closed). Its running requests
    /// have been signalled as cancelled. Default: nothing.
    fn session_closed(&self, session: SessionKey, reason: CloseReason) {
        let _ = (session, reason);
    }

    /// Called once when the service is built, with a handle for
    /// server-initiated work that belongs to no request: publishing change
    /// notifications to 2026-07-28 `subscriptions/listen` streams. Default:
    /// nothing.
    fn attach(&self, server: ServerHandle) {
        let _ = server;
    }

    /// The `x-mcp-header` annotations of the tools this handler serves, by
    /// tool name (see [`streamable_core::mirror::param_headers`]), so that
    /// 2026-07-28 `tools/call` requests are checked against their
    /// `Mcp-Param-*` headers (H-HDR-5). Read once when the service is built.
    /// Default: none.
    fn tool_param_headers(&self) -> Vec<(String, Vec<ParamHeader>)> {
        Vec::new()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe form of [`Handler`], so the service is not generic.
pub(crate) trait DynHandler: Send + Sync + 'static {
    fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> BoxFuture<'_, Outcome>;
    fn notification(
        &self,
        session: Session,
        method: String,
        params: Option<RawJson>,
    ) -> BoxFuture<'_, ()>;
    fn session_closed(&self, session: SessionKey, reason: CloseReason);
    fn attach(&self, server: ServerHandle);
    fn tool_param_headers(&self) -> Vec<(String, Vec<ParamHeader>)>;
}

impl<H: Handler> DynHandler for H {
    fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> BoxFuture<'_, Outcome> {
        Box::pin(Handler::request(self, ctx, method, params))
    }
    fn notification(
        &self,
        session: Session,
        method: String,
        params: Option<RawJson>,
    ) -> BoxFuture<'_, ()> {
        Box::pin(Handler::notification(self, session, method, params))
    }
    fn session_closed(&self, session: SessionKey, reason: CloseReason) {
        Handler::session_closed(self, session, reason)
    }
    fn attach(&self, server: ServerHandle) {
        Handler::attach(self, server)
    }
    fn tool_param_headers(&self) -> Vec<(String, Vec<ParamHeader>)> {
        Handler::tool_param_headers(self)
    }
}

/// A [`Handler`] from a closure: `handler_fn(|ctx, method, params| async move { .. })`.
///
/// ```
/// use streamable_hyper::{handler_fn, McpService};
/// use streamable_core::{RawJson, ErrorObject, code};
/// let service = McpService::new(handler_fn(|_ctx, method, _params| async move {
///     match method.as_str() {
///         "initialize" => Ok(RawJson::from_value(&serde_json::json!({
///             "capabilities": {}, "serverInfo": {"name": "fn", "version": "1"}
///         }))),
///         _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, "Method not found")),
///     }
/// }));
/// # drop(service);
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(RequestContext, String, Option<RawJson>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    FnHandler(f)
}

/// See [`handler_fn`].
#[derive(Clone, Debug)]
pub struct FnHandler<F>(F);

impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(RequestContext, String, Option<RawJson>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> impl Future<Output = Outcome> + Send {
        (self.0)(ctx, method, params)
    }
}
