//! What an application registers: tools (and their results), resources,
//! resource templates, prompts and completions.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use streamable_core::ErrorObject;

use super::cache::CacheHint;
use super::schema::Schema;
use super::template::match_template;
use crate::context::RequestContext;
use crate::tasks::TaskSupport;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// A tool call's running future.
pub(crate) type ToolFuture = BoxFuture<Result<ToolResult, ErrorObject>>;
pub(crate) type ToolFn = dyn Fn(RequestContext, Value) -> ToolFuture + Send + Sync;
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
/// function.
///
/// The schema is published exactly as given (every keyword kept) and
/// compiled once, here, by a full JSON Schema validator: 2020-12 unless its
/// `$schema` names another draft (SEP-2106). Each call's arguments are
/// checked before the function runs; a mismatch is a tool error
/// (`isError: true`) the model can correct. A schema that does not compile
/// (or that `$ref`s a remote document, which is never fetched) is reported
/// by [`Tool::schema_error`] and logged when the tool is registered; calls
/// of such a tool get an internal error instead of running unchecked.
///
/// ```
/// use serde_json::json;
/// use streamable_hyper::{Tool, ToolResult};
/// let ok = Tool::new("t", "T", json!({"type": "object", "allOf": [{"required": ["a"]}]}),
///     |_ctx, _args| async move { Ok(ToolResult::text("ok")) });
/// assert!(ok.schema_error().is_none());
/// let bad = Tool::new("b", "B", json!({"type": 7}),
///     |_ctx, _args| async move { Ok(ToolResult::text("never")) });
/// assert!(bad.schema_error().is_some());
/// ```
#[derive(Clone)]
pub struct Tool {
    pub(super) meta: Value,
    pub(super) schema: Value,
    /// `schema` compiled for the per-call check.
    pub(super) checks: Arc<Schema>,
    pub(super) run: Arc<ToolFn>,
    /// Client capabilities a call needs (answered -32021 at 2026-07-28
    /// when the request's `_meta` lacks one, ERR-3).
    pub(super) requires: Vec<String>,
    /// Whether (and how) it runs as a task (the tasks extension).
    pub(super) task_support: Option<TaskSupport>,
    /// Whether a task call first runs in its request ([`Tool::defer_task`]).
    pub(super) deferred: bool,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_meta(f, "Tool", &self.meta)
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
            requires: Vec::new(),
            task_support: None,
            deferred: false,
        }
    }

    /// Why the input schema does not compile, if it does not.
    pub fn schema_error(&self) -> Option<&str> {
        self.checks.error()
    }

    /// Declare that a call needs the client capability `capability`
    /// (`"sampling"`, `"elicitation"`, `"roots"`, ...). A 2026-07-28 call
    /// whose `_meta` client capabilities lack it is answered with
    /// `MissingRequiredClientCapabilityError` (-32021, HTTP 400, naming it
    /// in `data.requiredCapabilities`) without running the tool; a legacy
    /// call from a session whose client did not declare it gets a tool
    /// error saying so.
    pub fn requires_client_capability(mut self, capability: &str) -> Self {
        if !self.requires.iter().any(|c| c == capability) {
            self.requires.push(capability.to_owned());
        }
        self
    }

    /// Let it run as a task (SEP-2663): for a 2026-07-28 client that
    /// declared `io.modelcontextprotocol/tasks`, `tools/call` answers with a
    /// `CreateTaskResult` at once and the function runs in the background,
    /// reaching its task through [`RequestContext::task`]. With
    /// [`TaskSupport::Required`], other clients get -32021.
    pub fn task_support(mut self, support: TaskSupport) -> Self {
        self.task_support = Some(support);
        self
    }

    /// Let a task call start as a plain call and become a task only when
    /// the function says so (with [`TaskSupport::Optional`] unless
    /// [`Tool::task_support`] chose otherwise): for a client that declared
    /// the extension the function runs in the request itself, asking its
    /// inputs through the request's multi-round-trip rounds
    /// (`InputRequiredResult`), and when it calls
    /// [`RequestContext::go_async`] the call is answered with a
    /// `CreateTaskResult` and the same function goes on as the task
    /// (SEP-2663's MRTR-then-task composition, TASK-15).
    pub fn defer_task(mut self) -> Self {
        self.task_support.get_or_insert(TaskSupport::Optional);
        self.deferred = true;
        self
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

    /// Its name, the key of `tools/call`.
    pub(super) fn name(&self) -> &str {
        self.meta["name"].as_str().unwrap_or("")
    }
}

/// What a [`Resource`] and a [`ResourceTemplate`] are made of: the entry
/// `resources/list` (or `resources/templates/list`) shows, and the function
/// that reads contents. The two differ only in how a URI finds them: equal
/// to the resource's `uri`, or matching the template's `uriTemplate`.
#[derive(Clone)]
pub(super) struct Readable {
    pub(super) meta: Value,
    pub(super) read: Arc<ReadFn>,
    /// The caching hints of its `resources/read` results (the registry's
    /// when `None`).
    pub(super) cache: Option<CacheHint>,
}

impl Readable {
    /// The entry `{<uri_key>: uri, name, mimeType}`.
    fn new(uri_key: &str, uri: &str, name: &str, mime_type: &str, read: Arc<ReadFn>) -> Self {
        let mut meta = json!({"name": name, "mimeType": mime_type});
        meta[uri_key] = json!(uri);
        Readable {
            meta,
            read,
            cache: None,
        }
    }

    /// Set a string member of the entry (`description`, `title`).
    fn with(mut self, key: &str, value: &str) -> Self {
        self.meta[key] = json!(value);
        self
    }
}

/// The `Debug` form of every item: its listing entry (the functions print
/// nothing useful).
fn debug_meta(f: &mut fmt::Formatter<'_>, item: &str, meta: &Value) -> fmt::Result {
    f.debug_struct(item).field("meta", meta).finish()
}

/// A resource at a fixed URI.
#[derive(Clone)]
pub struct Resource {
    pub(super) entry: Readable,
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_meta(f, "Resource", &self.entry.meta)
    }
}

impl Resource {
    /// A resource whose contents (`[{uri, mimeType, text|blob}]`) come from `read`.
    pub fn new<F, Fut>(uri: &str, name: &str, mime_type: &str, read: F) -> Self
    where
        F: Fn(RequestContext, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        let read: Arc<ReadFn> = Arc::new(move |ctx, uri, _| Box::pin(read(ctx, uri)));
        Resource {
            entry: Readable::new("uri", uri, name, mime_type, read),
        }
    }

    /// A resource with fixed text.
    pub fn text(uri: &str, name: &str, mime_type: &str, text: &str) -> Self {
        Resource::fixed(uri, name, mime_type, "text", text)
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
        Resource::fixed(uri, name, mime_type, "blob", base64)
    }

    /// Fixed contents: `{uri, mimeType, <kind>: data}` (`kind` is `text` or
    /// `blob`).
    fn fixed(uri: &str, name: &str, mime_type: &str, kind: &str, data: &str) -> Self {
        let mut content = json!({"uri": uri, "mimeType": mime_type});
        content[kind] = json!(data);
        Resource::new(uri, name, mime_type, move |_, _| {
            let c = content.clone();
            async move { Ok(vec![c]) }
        })
    }

    /// A description.
    pub fn description(self, d: &str) -> Self {
        Resource {
            entry: self.entry.with("description", d),
        }
    }

    /// A human-readable title.
    pub fn title(self, title: &str) -> Self {
        Resource {
            entry: self.entry.with("title", title),
        }
    }

    /// The caching hints of its `resources/read` results at 2026-07-28
    /// (default: the registry's, see [`McpServer::cache`](crate::McpServer::cache)).
    pub fn cache(mut self, hint: CacheHint) -> Self {
        self.entry.cache = Some(hint);
        self
    }

    /// The URI it answers for.
    pub(super) fn uri(&self) -> &str {
        self.entry.meta["uri"].as_str().unwrap_or("")
    }
}

/// Resources named by an RFC 6570 level-1 URI template (`file:///{path}`);
/// each `{var}` matches a non-empty run of characters other than `/`.
#[derive(Clone)]
pub struct ResourceTemplate {
    pub(super) entry: Readable,
}

impl fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_meta(f, "ResourceTemplate", &self.entry.meta)
    }
}

impl ResourceTemplate {
    /// A template; `read` gets the URI and the matched variables.
    pub fn new<F, Fut>(uri_template: &str, name: &str, mime_type: &str, read: F) -> Self
    where
        F: Fn(RequestContext, String, BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        let read: Arc<ReadFn> = Arc::new(move |ctx, uri, vars| Box::pin(read(ctx, uri, vars)));
        ResourceTemplate {
            entry: Readable::new("uriTemplate", uri_template, name, mime_type, read),
        }
    }

    /// A description.
    pub fn description(self, d: &str) -> Self {
        ResourceTemplate {
            entry: self.entry.with("description", d),
        }
    }

    /// A human-readable title.
    pub fn title(self, title: &str) -> Self {
        ResourceTemplate {
            entry: self.entry.with("title", title),
        }
    }

    /// The caching hints of the `resources/read` results it produces at
    /// 2026-07-28 (default: the registry's).
    pub fn cache(mut self, hint: CacheHint) -> Self {
        self.entry.cache = Some(hint);
        self
    }

    /// The variables of `uri` if it matches the template.
    pub(super) fn matches(&self, uri: &str) -> Option<BTreeMap<String, String>> {
        match_template(self.entry.meta["uriTemplate"].as_str().unwrap_or(""), uri)
    }
}

/// A prompt: its declared arguments and a function producing its messages.
#[derive(Clone)]
pub struct Prompt {
    pub(super) meta: Value,
    pub(super) get: Arc<PromptFn>,
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_meta(f, "Prompt", &self.meta)
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
    pub(super) complete: Arc<CompleteFn>,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

#[cfg(test)]
mod tests {
    use super::*;
    use streamable_core::RawJson;

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
