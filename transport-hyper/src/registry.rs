//! A small registry so a realistic MCP server is a few lines: tools,
//! resources, resource templates, prompts and completions, with
//! `initialize` capabilities derived from what is registered, plus
//! `logging/setLevel` and resource subscriptions.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use streamable_core::mirror::{ParamHeader, param_headers};
use streamable_core::{CloseReason, ErrorObject, RawJson, SessionKey, jsonrpc::code};

use crate::context::{LogLevel, RequestContext, ServerHandle, Session};
use crate::handler::{Handler, Outcome};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type ToolFn =
    dyn Fn(RequestContext, Value) -> BoxFuture<Result<ToolResult, ErrorObject>> + Send + Sync;
type ReadFn = dyn Fn(
        RequestContext,
        String,
        BTreeMap<String, String>,
    ) -> BoxFuture<Result<Vec<Value>, ErrorObject>>
    + Send
    + Sync;
type PromptFn = dyn Fn(RequestContext, Map<String, Value>) -> BoxFuture<Result<Vec<Value>, ErrorObject>>
    + Send
    + Sync;
type CompleteFn =
    dyn Fn(RequestContext, Value) -> BoxFuture<Result<Vec<String>, ErrorObject>> + Send + Sync;

/// The result of a tool call (`CallToolResult`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolResult {
    /// Content blocks (`{"type": "text", "text": ..}`, images, ...).
    pub content: Vec<Value>,
    /// `structuredContent`, for tools with an output schema.
    pub structured: Option<Value>,
    /// A tool-level failure the model should see (`isError: true`).
    pub is_error: bool,
}

impl ToolResult {
    /// One text block.
    ///
    /// ```
    /// let r = streamable_hyper::ToolResult::text("hi");
    /// assert_eq!(r.to_value()["content"][0]["text"], "hi");
    /// ```
    pub fn text(text: impl Into<String>) -> Self {
        ToolResult {
            content: vec![json!({"type": "text", "text": text.into()})],
            ..Default::default()
        }
    }

    /// A result made of these content blocks (text, image, audio, embedded
    /// resource, resource link, ...).
    ///
    /// ```
    /// use serde_json::json;
    /// let r = streamable_hyper::ToolResult::from_content(vec![
    ///     json!({"type": "text", "text": "a picture:"}),
    ///     json!({"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}),
    /// ]);
    /// assert_eq!(r.to_value()["content"][1]["type"], "image");
    /// assert!(r.to_value().get("isError").is_none());
    /// ```
    pub fn from_content(content: Vec<Value>) -> Self {
        ToolResult {
            content,
            ..Default::default()
        }
    }

    /// A tool error (`isError: true`) with a text explanation.
    pub fn error(text: impl Into<String>) -> Self {
        ToolResult {
            is_error: true,
            ..ToolResult::text(text)
        }
    }

    /// Structured content, also serialized as a text block for older clients.
    pub fn json(value: Value) -> Self {
        ToolResult {
            content: vec![json!({"type": "text", "text": value.to_string()})],
            structured: Some(value),
            is_error: false,
        }
    }

    /// The wire form as a `Value` (the handler path serialises a result
    /// directly, see its `Serialize` impl).
    pub fn to_value(&self) -> Value {
        let mut v = json!({"content": self.content});
        if let Some(s) = &self.structured {
            v["structuredContent"] = s.clone();
        }
        if self.is_error {
            v["isError"] = json!(true);
        }
        v
    }
}

/// The wire form, written without building a `Value` first: members in
/// the order of [`ToolResult::to_value`] (sorted, as a `Value` prints them).
impl Serialize for ToolResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("content", &self.content)?;
        if self.is_error {
            m.serialize_entry("isError", &true)?;
        }
        if let Some(s) = &self.structured {
            m.serialize_entry("structuredContent", s)?;
        }
        m.end()
    }
}

/// A tool: name, description, JSON Schema of its arguments, and an async
/// function. Arguments are checked against the schema (a practical subset:
/// `type`, `properties`, `required`, `enum`, `items`, `minimum`, `maximum`,
/// `additionalProperties: false`) before the function runs; a mismatch is a
/// tool error (`isError: true`) the model can correct.
#[derive(Clone)]
pub struct Tool {
    meta: Value,
    schema: Value,
    /// `schema` compiled for the per-call check.
    checks: Arc<Schema>,
    run: Arc<ToolFn>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool").field("meta", &self.meta).finish()
    }
}

impl Tool {
    /// A tool named `name` whose arguments follow `input_schema`.
    pub fn new<F, Fut>(name: &str, description: &str, input_schema: Value, run: F) -> Self
    where
        F: Fn(RequestContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ToolResult, ErrorObject>> + Send + 'static,
    {
        Tool {
            meta: json!({"name": name, "description": description, "inputSchema": input_schema}),
            checks: Arc::new(Schema::compile(&input_schema)),
            schema: input_schema,
            run: Arc::new(move |ctx, args| Box::pin(run(ctx, args))),
        }
    }

    /// A human-readable title.
    pub fn title(mut self, title: &str) -> Self {
        self.meta["title"] = json!(title);
        self
    }

    /// The JSON Schema of `structuredContent`.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.meta["outputSchema"] = schema;
        self
    }

    /// Tool annotations (`readOnlyHint`, ...).
    pub fn annotations(mut self, annotations: Value) -> Self {
        self.meta["annotations"] = annotations;
        self
    }

    fn name(&self) -> &str {
        self.meta["name"].as_str().unwrap_or("")
    }
}

/// A resource at a fixed URI.
#[derive(Clone)]
pub struct Resource {
    meta: Value,
    read: Arc<ReadFn>,
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("meta", &self.meta)
            .finish()
    }
}

impl Resource {
    /// A resource whose contents (`[{uri, mimeType, text|blob}]`) come from `read`.
    pub fn new<F, Fut>(uri: &str, name: &str, mime_type: &str, read: F) -> Self
    where
        F: Fn(RequestContext, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        Resource {
            meta: json!({"uri": uri, "name": name, "mimeType": mime_type}),
            read: Arc::new(move |ctx, uri, _| Box::pin(read(ctx, uri))),
        }
    }

    /// A resource with fixed text.
    pub fn text(uri: &str, name: &str, mime_type: &str, text: &str) -> Self {
        let content = json!({"uri": uri, "mimeType": mime_type, "text": text});
        Resource::new(uri, name, mime_type, move |_, _| {
            let c = content.clone();
            async move { Ok(vec![c]) }
        })
    }

    /// A binary resource with fixed contents, given base64-encoded (the
    /// wire form of `blob`).
    ///
    /// ```
    /// use streamable_hyper::Resource;
    /// let r = Resource::blob("mem://one-byte", "one byte", "application/octet-stream", "AA==");
    /// # drop(r);
    /// ```
    pub fn blob(uri: &str, name: &str, mime_type: &str, base64: &str) -> Self {
        let content = json!({"uri": uri, "mimeType": mime_type, "blob": base64});
        Resource::new(uri, name, mime_type, move |_, _| {
            let c = content.clone();
            async move { Ok(vec![c]) }
        })
    }

    /// A description.
    pub fn description(mut self, d: &str) -> Self {
        self.meta["description"] = json!(d);
        self
    }

    /// A human-readable title.
    pub fn title(mut self, title: &str) -> Self {
        self.meta["title"] = json!(title);
        self
    }
}

/// Resources named by an RFC 6570 level-1 URI template (`file:///{path}`);
/// each `{var}` matches a non-empty run of characters other than `/`.
#[derive(Clone)]
pub struct ResourceTemplate {
    meta: Value,
    read: Arc<ReadFn>,
}

impl std::fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceTemplate")
            .field("meta", &self.meta)
            .finish()
    }
}

impl ResourceTemplate {
    /// A template; `read` gets the URI and the matched variables.
    pub fn new<F, Fut>(uri_template: &str, name: &str, mime_type: &str, read: F) -> Self
    where
        F: Fn(RequestContext, String, BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        ResourceTemplate {
            meta: json!({"uriTemplate": uri_template, "name": name, "mimeType": mime_type}),
            read: Arc::new(move |ctx, uri, vars| Box::pin(read(ctx, uri, vars))),
        }
    }

    /// A description.
    pub fn description(mut self, d: &str) -> Self {
        self.meta["description"] = json!(d);
        self
    }

    /// A human-readable title.
    pub fn title(mut self, title: &str) -> Self {
        self.meta["title"] = json!(title);
        self
    }

    fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        match_template(self.meta["uriTemplate"].as_str().unwrap_or(""), uri)
    }
}

/// A prompt: its declared arguments and a function producing its messages.
#[derive(Clone)]
pub struct Prompt {
    meta: Value,
    get: Arc<PromptFn>,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt").field("meta", &self.meta).finish()
    }
}

impl Prompt {
    /// `arguments` is the list of `{name, description, required}` objects.
    pub fn new<F, Fut>(name: &str, description: &str, arguments: Value, get: F) -> Self
    where
        F: Fn(RequestContext, Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        Prompt {
            meta: json!({"name": name, "description": description, "arguments": arguments}),
            get: Arc::new(move |ctx, args| Box::pin(get(ctx, args))),
        }
    }

    /// A human-readable title.
    pub fn title(mut self, title: &str) -> Self {
        self.meta["title"] = json!(title);
        self
    }
}

/// Argument completion (`completion/complete`): gets the request params,
/// returns candidate values (at most 100 are sent).
#[derive(Clone)]
pub struct Completion {
    complete: Arc<CompleteFn>,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Completion")
    }
}

impl Completion {
    /// A completion function.
    pub fn new<F, Fut>(complete: F) -> Self
    where
        F: Fn(RequestContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<String>, ErrorObject>> + Send + 'static,
    {
        Completion {
            complete: Arc::new(move |ctx, p| Box::pin(complete(ctx, p))),
        }
    }
}

#[derive(Default)]
struct Inner {
    info: Value,
    instructions: Option<String>,
    tools: BTreeMap<String, Tool>,
    resources: BTreeMap<String, Resource>,
    templates: Vec<ResourceTemplate>,
    prompts: BTreeMap<String, Prompt>,
    completion: Option<Completion>,
    sessions: Mutex<BTreeMap<SessionKey, Session>>,
    /// For publishing to 2026-07-28 listen streams (set by `attach`).
    server: Mutex<Option<ServerHandle>>,
}

/// An MCP server application built from registrations; implements
/// [`Handler`]. Clone it to keep a handle (e.g. for
/// [`McpServer::resource_updated`]) after giving it to the service.
///
/// ```
/// use serde_json::json;
/// use streamable_hyper::{McpServer, Resource, Tool, ToolResult};
/// let app = McpServer::new("demo", "1.0")
///     .instructions("Try the echo tool.")
///     .tool(Tool::new("echo", "Echo", json!({"type": "object"}), |_ctx, args| async move {
///         Ok(ToolResult::json(args))
///     }))
///     .resource(Resource::text("mem://hello", "hello", "text/plain", "Hello!"));
/// assert_eq!(app.capabilities()["tools"], json!({"listChanged": false}));
/// assert!(app.capabilities().get("prompts").is_none());
/// ```
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer")
            .field("info", &self.inner.info)
            .finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server reporting `serverInfo: {name, version}`.
    pub fn new(name: &str, version: &str) -> Self {
        McpServer {
            inner: Arc::new(Inner {
                info: json!({"name": name, "version": version}),
                ..Default::default()
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        // Registration happens before the server is shared; if it has been
        // cloned already, registrations go to a fresh copy of the tables.
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => {
                let old = &self.inner;
                let mut inner = Inner {
                    info: old.info.clone(),
                    instructions: old.instructions.clone(),
                    tools: old.tools.clone(),
                    resources: old.resources.clone(),
                    templates: old.templates.clone(),
                    prompts: old.prompts.clone(),
                    completion: old.completion.clone(),
                    sessions: Mutex::default(),
                    server: Mutex::default(),
                };
                f(&mut inner);
                self.inner = Arc::new(inner);
            }
        }
        self
    }

    /// `instructions` in the initialize result.
    pub fn instructions(self, text: &str) -> Self {
        let text = text.to_owned();
        self.edit(|i| i.instructions = Some(text))
    }

    /// Register a tool (replacing one of the same name).
    pub fn tool(self, tool: Tool) -> Self {
        self.edit(|i| {
            i.tools.insert(tool.name().to_owned(), tool);
        })
    }

    /// Register a resource.
    pub fn resource(self, r: Resource) -> Self {
        self.edit(|i| {
            let uri = r.meta["uri"].as_str().unwrap_or("").to_owned();
            i.resources.insert(uri, r);
        })
    }

    /// Register a resource template.
    pub fn resource_template(self, t: ResourceTemplate) -> Self {
        self.edit(|i| i.templates.push(t))
    }

    /// Register a prompt.
    pub fn prompt(self, p: Prompt) -> Self {
        self.edit(|i| {
            let name = p.meta["name"].as_str().unwrap_or("").to_owned();
            i.prompts.insert(name, p);
        })
    }

    /// Register the completion function.
    pub fn completion(self, c: Completion) -> Self {
        self.edit(|i| i.completion = Some(c))
    }

    /// The `capabilities` of the initialize result, derived from what is
    /// registered (`logging` always).
    pub fn capabilities(&self) -> Value {
        let i = &self.inner;
        let mut caps = json!({"logging": {}});
        if !i.tools.is_empty() {
            caps["tools"] = json!({"listChanged": false});
        }
        if !i.resources.is_empty() || !i.templates.is_empty() {
            caps["resources"] = json!({"subscribe": true, "listChanged": false});
        }
        if !i.prompts.is_empty() {
            caps["prompts"] = json!({"listChanged": false});
        }
        if i.completion.is_some() {
            caps["completions"] = json!({});
        }
        caps
    }

    /// Send `notifications/resources/updated` to every session subscribed to
    /// `uri` (on its GET stream) and to every 2026-07-28 listen stream that
    /// subscribed to it; returns how many it reached.
    pub async fn resource_updated(&self, uri: &str) -> usize {
        let server = self.inner.server.lock().ok().and_then(|g| g.clone());
        let mut n = match server {
            Some(h) => h
                .publish("notifications/resources/updated", Some(json!({"uri": uri})))
                .await
                .unwrap_or(0),
            None => 0,
        };
        let sessions: Vec<Session> = match self.inner.sessions.lock() {
            Ok(g) => g
                .values()
                .filter(|s| s.data().is_subscribed(uri))
                .cloned()
                .collect(),
            Err(_) => return 0,
        };
        for s in sessions {
            if s.notify("notifications/resources/updated", Some(json!({"uri": uri})))
                .await
                .is_ok()
            {
                n += 1;
            }
        }
        n
    }

    async fn dispatch(&self, ctx: RequestContext, method: &str, params: Value) -> Outcome {
        let i = &self.inner;
        let ok = |v: Value| Ok(RawJson::from_value(&v));
        match method {
            "initialize" => {
                ctx.session().data().set_client(params);
                if let (Some(key), Ok(mut g)) = (ctx.session().key(), i.sessions.lock()) {
                    g.insert(key, ctx.session().clone());
                }
                let mut r = json!({"capabilities": self.capabilities(), "serverInfo": i.info});
                if let Some(text) = &i.instructions {
                    r["instructions"] = json!(text);
                }
                ok(r)
            }
            "server/discover" => {
                // The transport adds `supportedVersions` and `resultType`.
                let mut r = json!({
                    "capabilities": self.capabilities(),
                    "_meta": {"io.modelcontextprotocol/serverInfo": i.info},
                });
                if let Some(text) = &i.instructions {
                    r["instructions"] = json!(text);
                }
                ok(r)
            }
            "logging/setLevel" => {
                let level = params["level"]
                    .as_str()
                    .and_then(LogLevel::parse)
                    .ok_or_else(|| invalid("unknown log level"))?;
                ctx.session().data().set_log_level(level);
                ok(json!({}))
            }
            "tools/list" if !i.tools.is_empty() => {
                let tools: Vec<&Value> = i.tools.values().map(|t| &t.meta).collect();
                ok(json!({"tools": tools}))
            }
            "resources/list" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let list: Vec<&Value> = i.resources.values().map(|r| &r.meta).collect();
                ok(json!({"resources": list}))
            }
            "resources/templates/list" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let list: Vec<&Value> = i.templates.iter().map(|r| &r.meta).collect();
                ok(json!({"resourceTemplates": list}))
            }
            "resources/read" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let uri = params["uri"].as_str().unwrap_or("").to_owned();
                let contents = if let Some(r) = i.resources.get(&uri) {
                    (r.read)(ctx, uri, BTreeMap::new()).await?
                } else if let Some((t, vars)) = i
                    .templates
                    .iter()
                    .find_map(|t| t.matches(&uri).map(|v| (t, v)))
                {
                    (t.read)(ctx, uri, vars).await?
                } else {
                    // The spec's "resource not found" code.
                    return Err(ErrorObject::new(
                        -32002,
                        format!("Resource not found: {uri}"),
                    ));
                };
                ok(json!({"contents": contents}))
            }
            "resources/subscribe" | "resources/unsubscribe"
                if !i.resources.is_empty() || !i.templates.is_empty() =>
            {
                let uri = params["uri"]
                    .as_str()
                    .ok_or_else(|| invalid("uri is required"))?;
                if method == "resources/subscribe" {
                    ctx.session().data().subscribe(uri);
                } else {
                    ctx.session().data().unsubscribe(uri);
                }
                ok(json!({}))
            }
            "prompts/list" if !i.prompts.is_empty() => {
                let list: Vec<&Value> = i.prompts.values().map(|p| &p.meta).collect();
                ok(json!({"prompts": list}))
            }
            "prompts/get" if !i.prompts.is_empty() => {
                let name = params["name"].as_str().unwrap_or("");
                let p = i
                    .prompts
                    .get(name)
                    .ok_or_else(|| invalid(&format!("Unknown prompt: {name}")))?;
                let args = params["arguments"].as_object().cloned().unwrap_or_default();
                for a in p.meta["arguments"].as_array().into_iter().flatten() {
                    let required = a["required"].as_bool().unwrap_or(false);
                    let an = a["name"].as_str().unwrap_or("");
                    if required && !args.contains_key(an) {
                        return Err(invalid(&format!("Missing required argument: {an}")));
                    }
                }
                let messages = (p.get)(ctx, args).await?;
                let mut r = json!({"messages": messages});
                if let Some(d) = p.meta.get("description") {
                    r["description"] = d.clone();
                }
                ok(r)
            }
            "completion/complete" if i.completion.is_some() => {
                let c = i.completion.as_ref().map(|c| c.complete.clone());
                let Some(c) = c else {
                    return unreachable_method(method);
                };
                let mut values = c(ctx, params).await?;
                let total = values.len();
                values.truncate(100);
                ok(
                    json!({"completion": {"values": values, "total": total, "hasMore": total > 100}}),
                )
            }
            _ => unreachable_method(method),
        }
    }
}

impl McpServer {
    /// `tools/call`, the hot path: the tool's arguments are parsed once,
    /// straight from the params the core sliced out of the body (no `Value`
    /// of the whole params, no copy of the arguments), and the result is
    /// serialised once, straight to the text the core writes.
    async fn call_tool(&self, ctx: RequestContext, params: Option<&RawJson>) -> Outcome {
        let (name, args) = call_params(params);
        let tool = self
            .inner
            .tools
            .get(&*name)
            .ok_or_else(|| invalid(&format!("Unknown tool: {name}")))?;
        if let Err(e) = tool.checks.validate(&args, Path::Root("arguments")) {
            return tool_outcome(&ToolResult::error(format!("Invalid arguments: {e}")));
        }
        let r = (tool.run)(ctx, args).await?;
        tool_outcome(&r)
    }
}

/// The `name` and `arguments` of `tools/call` params (`{}` when absent or
/// null).
fn call_params(params: Option<&RawJson>) -> (Cow<'_, str>, Value) {
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        arguments: Option<Value>,
    }
    if let Some(p) = params
        && p.as_bytes().first() == Some(&b'{')
        && let Ok(c) = p.deserialize::<Call<'_>>()
    {
        return (
            c.name,
            c.arguments.unwrap_or_else(|| Value::Object(Map::new())),
        );
    }
    // Anything unusual (no params, an array, a name that is not a string, a
    // repeated member) is read as a `Value`, like every other method's
    // params, so it gets the same answer as before: an unknown tool `""`.
    let v = params.map_or(Value::Null, RawJson::to_value);
    let name = v["name"].as_str().unwrap_or("").to_owned();
    let args = match v.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a) => a.clone(),
    };
    (Cow::Owned(name), args)
}

fn tool_outcome(r: &ToolResult) -> Outcome {
    RawJson::from_serialize(r).map_err(|e| {
        ErrorObject::new(
            code::INTERNAL_ERROR,
            format!("Internal error: the tool result is not JSON: {e}"),
        )
    })
}

fn unreachable_method(method: &str) -> Outcome {
    Err(ErrorObject::new(
        code::METHOD_NOT_FOUND,
        format!("Method not found: {method}"),
    ))
}

fn invalid(msg: &str) -> ErrorObject {
    ErrorObject::new(code::INVALID_PARAMS, msg)
}

impl Handler for McpServer {
    async fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> Outcome {
        if method == "tools/call" && !self.inner.tools.is_empty() {
            return self.call_tool(ctx, params.as_ref()).await;
        }
        let params = params.map(|p| p.to_value()).unwrap_or(Value::Null);
        self.dispatch(ctx, &method, params).await
    }

    fn session_closed(&self, session: SessionKey, _reason: CloseReason) {
        if let Ok(mut g) = self.inner.sessions.lock() {
            g.remove(&session);
        }
    }

    fn attach(&self, server: ServerHandle) {
        if let Ok(mut g) = self.inner.server.lock() {
            *g = Some(server);
        }
    }

    fn tool_param_headers(&self) -> Vec<(String, Vec<ParamHeader>)> {
        self.inner
            .tools
            .iter()
            .filter_map(|(name, tool)| match param_headers(&tool.schema) {
                Ok(p) if !p.is_empty() => Some((name.clone(), p)),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(tool = %name, "{e}; its Mcp-Param headers are not checked");
                    None
                }
            })
            .collect()
    }
}

/// Match `uri` against a level-1 URI template.
fn match_template(template: &str, uri: &str) -> Option<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    let mut rest = uri;
    let mut t = template;
    loop {
        match t.find('{') {
            None => return (rest == t).then_some(vars),
            Some(open) => {
                let lit = &t[..open];
                rest = rest.strip_prefix(lit)?;
                let close = t[open..].find('}')? + open;
                let name = &t[open + 1..close];
                t = &t[close + 1..];
                // The variable runs to the next literal (or '/', or the end).
                let next_lit = &t[..t.find('{').unwrap_or(t.len())];
                let end = if next_lit.is_empty() {
                    rest.find('/').unwrap_or(rest.len())
                } else {
                    rest.find(next_lit)?
                };
                let value = &rest[..end];
                if value.is_empty() || value.contains('/') {
                    return None;
                }
                vars.insert(name.to_owned(), value.to_owned());
                rest = &rest[end..];
            }
        }
    }
}

/// Where a value sits in the arguments, for error messages. Built on the
/// stack as validation descends and printed only when a check fails, so a
/// valid call allocates nothing here.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, n) => write!(f, "{parent}[{n}]"),
        }
    }
}

/// A JSON Schema compiled once, when the tool is registered, into what the
/// checks need: a call then reads fields instead of looking keywords up in
/// JSON maps at every level of its arguments. The practical subset:
/// `type`, `enum`, `minimum`, `maximum`, `properties`, `required`,
/// `additionalProperties: false`, `items`; a schema that is not an object
/// accepts everything.
#[derive(Debug, Default)]
struct Schema {
    /// `None`: not an object schema, nothing to check.
    checks: Option<Box<Checks>>,
}

#[derive(Debug)]
struct Checks {
    /// The string entries of `type` (none: no type check).
    types: Vec<String>,
    /// `enum`, when it is an array.
    options: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    /// `properties`, when it is an object.
    properties: Option<BTreeMap<String, Schema>>,
    /// The string entries of `required`.
    required: Vec<String>,
    /// `additionalProperties: false`.
    closed: bool,
    items: Option<Schema>,
}

impl Schema {
    fn compile(schema: &Value) -> Schema {
        let Some(s) = schema.as_object() else {
            return Schema::default();
        };
        let strings = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(one)) => vec![one.clone()],
                Some(Value::Array(many)) => many
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            }
        };
        Schema {
            checks: Some(Box::new(Checks {
                types: strings(s.get("type")),
                options: s.get("enum").and_then(Value::as_array).cloned(),
                minimum: s.get("minimum").and_then(Value::as_f64),
                maximum: s.get("maximum").and_then(Value::as_f64),
                properties: s.get("properties").and_then(Value::as_object).map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), Schema::compile(v)))
                        .collect()
                }),
                // `required` must be an array; a lone string is ignored.
                required: match s.get("required") {
                    Some(r @ Value::Array(_)) => strings(Some(r)),
                    _ => Vec::new(),
                },
                closed: s.get("additionalProperties") == Some(&Value::Bool(false)),
                items: s.get("items").map(Schema::compile),
            })),
        }
    }

    /// Check `v`; the error names where it failed.
    fn validate(&self, v: &Value, path: Path<'_>) -> Result<(), String> {
        let Some(c) = &self.checks else {
            return Ok(());
        };
        if !c.types.is_empty() && !c.types.iter().any(|t| type_matches(t, v)) {
            return Err(format!("{path} must be {}", c.types.join(" or ")));
        }
        if let Some(options) = &c.options
            && !options.contains(v)
        {
            return Err(format!(
                "{path} must be one of {}",
                Value::Array(options.clone())
            ));
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = c.minimum
                && n < min
            {
                return Err(format!("{path} must be >= {min}"));
            }
            if let Some(max) = c.maximum
                && n > max
            {
                return Err(format!("{path} must be <= {max}"));
            }
        }
        if let Some(obj) = v.as_object() {
            for r in &c.required {
                if !obj.contains_key(r) {
                    return Err(format!("{path}.{r} is required"));
                }
            }
            for (k, val) in obj {
                match c.properties.as_ref().and_then(|p| p.get(k)) {
                    Some(ps) => ps.validate(val, Path::Key(&path, k))?,
                    None if c.closed => return Err(format!("{path}.{k} is not allowed")),
                    None => {}
                }
            }
        }
        if let (Some(items), Some(arr)) = (&c.items, v.as_array()) {
            for (n, item) in arr.iter().enumerate() {
                items.validate(item, Path::Index(&path, n))?;
            }
        }
        Ok(())
    }
}

/// Check `v` against `schema` (compiled on the spot; tools compile theirs
/// once).
#[cfg(test)]
fn validate(schema: &Value, v: &Value, path: Path<'_>) -> Result<(), String> {
    Schema::compile(schema).validate(v, path)
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match() {
        let m = match_template("file:///{dir}/{name}.txt", "file:///a/b.txt").unwrap();
        assert_eq!(m["dir"], "a");
        assert_eq!(m["name"], "b");
        assert!(match_template("file:///{dir}/{name}.txt", "file:///a/b/c.txt").is_none());
        assert!(match_template("mem://{id}", "mem://").is_none());
        assert_eq!(match_template("mem://x", "mem://x"), Some(BTreeMap::new()));
    }

    #[test]
    fn schema_subset() {
        let s = json!({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]});
        assert!(validate(&s, &json!({"n": 3}), Path::Root("a")).is_ok());
        assert!(validate(&s, &json!({}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!({"n": 0}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!({"n": "x"}), Path::Root("a")).is_err());
        assert!(validate(&s, &json!([1]), Path::Root("a")).is_err());
    }

    #[test]
    fn schema_errors_name_the_path() {
        let s = json!({"type": "object", "properties": {
            "n": {"type": "integer", "minimum": 1},
            "list": {"type": "array", "items": {"type": ["string", "null"]}},
            "inner": {"type": "object", "additionalProperties": false, "properties": {}}
        }});
        let err = |v| validate(&s, &v, Path::Root("arguments")).unwrap_err();
        assert_eq!(err(json!({"n": 0})), "arguments.n must be >= 1");
        assert_eq!(
            err(json!({"list": ["a", 2]})),
            "arguments.list[1] must be string or null"
        );
        assert_eq!(
            err(json!({"inner": {"x": 1}})),
            "arguments.inner.x is not allowed"
        );
        assert!(validate(&s, &json!({"list": ["a", null]}), Path::Root("arguments")).is_ok());
    }

    /// The one-pass reading of `tools/call` params gives what reading them
    /// as a `Value` gives, for odd params too.
    #[test]
    fn call_params_agree_with_a_value_reading() {
        let reference = |p: Option<&RawJson>| {
            let v = p.map_or(Value::Null, RawJson::to_value);
            let name = v["name"].as_str().unwrap_or("").to_owned();
            let args = match v.get("arguments") {
                None | Some(Value::Null) => json!({}),
                Some(a) => a.clone(),
            };
            (name, args)
        };
        let cases = [
            r#"{"name":"echo","arguments":{"text":"hi"}}"#,
            r#"{"name":"echo"}"#,
            r#"{"name":"echo","arguments":null}"#,
            r#"{"name":"echo","arguments":"text"}"#,
            r#"{"name":"e\u0063ho","arguments":{},"_meta":{"progressToken":1}}"#,
            r#"{"name":7,"arguments":{}}"#,
            r#"{"arguments":{}}"#,
            r#"{"name":"a","name":"b"}"#,
            r#"["echo",{"text":"hi"}]"#,
            r#"{}"#,
        ];
        for case in cases {
            let raw = RawJson::parse(case.as_bytes().to_vec()).unwrap();
            let (name, args) = call_params(Some(&raw));
            assert_eq!((name.into_owned(), args), reference(Some(&raw)), "{case}");
        }
        let (name, args) = call_params(None);
        assert_eq!((name.into_owned(), args), reference(None));
    }

    #[test]
    fn tool_results_serialise_like_their_value() {
        for r in [
            ToolResult::text("hi"),
            ToolResult::error("no"),
            ToolResult::json(json!({"a": [1, 2]})),
        ] {
            let direct = RawJson::from_serialize(&r).unwrap();
            assert_eq!(direct.as_str(), RawJson::from_value(&r.to_value()).as_str());
        }
    }
}
