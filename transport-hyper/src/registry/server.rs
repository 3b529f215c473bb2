//! The [`McpServer`] itself: its tables, the registration builder and the
//! capabilities derived from what is registered.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use serde_json::{Value, json};
use streamable_core::{RawJson, SessionKey};

use super::cache::{CacheHint, CacheHints};
use super::items::{Completion, Prompt, Resource, ResourceTemplate, Tool};
use crate::context::{RequestContext, ServerHandle, Session};
use crate::handler::Outcome;
use crate::tasks::{TaskSettings, TaskStore, Tasks};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// [`McpServer::fallback`]'s function.
pub(super) type FallbackFn =
    dyn Fn(RequestContext, String, Option<RawJson>) -> BoxFuture<Outcome> + Send + Sync;
/// [`McpServer::on_notification`]'s function.
pub(super) type NotifyFn = dyn Fn(Session, String, Option<RawJson>) -> BoxFuture<()> + Send + Sync;

/// What every clone of a registry shares, whenever it was cloned (KIT-5):
/// the sessions, the handle of the service it was given to, and the tables
/// that service serves.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) sessions: Mutex<BTreeMap<SessionKey, Session>>,
    /// For publishing to 2026-07-28 listen streams (set by `attach`).
    pub(super) server: Mutex<Option<ServerHandle>>,
    /// The tables of the copy a service was built with (set by `attach`).
    pub(super) served: Mutex<Weak<Inner>>,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) info: Value,
    pub(super) instructions: Option<String>,
    pub(super) tools: BTreeMap<String, Tool>,
    pub(super) resources: BTreeMap<String, Resource>,
    pub(super) templates: Vec<ResourceTemplate>,
    pub(super) prompts: BTreeMap<String, Prompt>,
    pub(super) completion: Option<Completion>,
    /// Caching hints of 2026-07-28 results.
    pub(super) cache: CacheHints,
    /// The tasks extension's runtime (used by task-supporting tools).
    pub(super) tasks: Arc<Tasks>,
    /// Custom methods (KIT-4).
    pub(super) fallback: Option<Arc<FallbackFn>>,
    /// Client notifications (KIT-4).
    pub(super) notify: Option<Arc<NotifyFn>>,
    /// Shared by every clone.
    pub(super) shared: Arc<Shared>,
}

/// An MCP server application built from registrations (the *registry*);
/// implements [`Handler`](crate::Handler). Clone it to keep a handle (e.g.
/// for [`McpServer::resource_updated`]) after giving it to the service:
/// every clone, taken before or after the last registration, is the same
/// registry (the sessions, the service's handle, and the tables the service
/// serves are shared, KIT-5). Methods it does not answer go to
/// [`McpServer::fallback`], so custom methods need no wrapping `Handler`.
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
    pub(super) inner: Arc<Inner>,
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
        // cloned already, registrations go to a fresh copy of the tables,
        // and the clones keep sharing everything else (`Shared`): sessions,
        // the service's handle, and which tables the service serves.
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
                    cache: old.cache,
                    tasks: old.tasks.clone(),
                    fallback: old.fallback.clone(),
                    notify: old.notify.clone(),
                    shared: old.shared.clone(),
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

    /// Register a tool (replacing one of the same name). A tool whose input
    /// schema does not compile is registered (so it is listed as given) but
    /// every call of it gets an internal error; the reason is logged here
    /// and given by [`Tool::schema_error`].
    pub fn tool(self, tool: Tool) -> Self {
        if let Some(e) = tool.schema_error() {
            tracing::error!(
                tool = tool.name(),
                "the tool's inputSchema does not compile: {e}; its calls will fail"
            );
        }
        self.edit(|i| {
            i.tools.insert(tool.name().to_owned(), tool);
        })
    }

    /// Register a resource.
    pub fn resource(self, r: Resource) -> Self {
        self.edit(|i| {
            i.resources.insert(r.uri().to_owned(), r);
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

    /// The caching hints (`ttlMs`, `cacheScope`) of every cacheable
    /// 2026-07-28 result: `server/discover`, the four lists and
    /// `resources/read` (CACHE-1). Default: [`CacheHint::DEFAULT`]
    /// (private, 5 s). [`McpServer::cache_for`] and
    /// [`Resource::cache`](crate::Resource::cache) override it.
    pub fn cache(self, hint: CacheHint) -> Self {
        self.edit(|i| i.cache.all = Some(hint))
    }

    /// The caching hints of one method's results: `server/discover`,
    /// `tools/list`, `prompts/list`, `resources/list`,
    /// `resources/templates/list` or `resources/read` (reads of a resource
    /// or template with its own hint keep theirs). Any other method has no
    /// hints; naming one is logged and ignored.
    ///
    /// ```
    /// use streamable_hyper::{CacheHint, McpServer};
    /// let app = McpServer::new("demo", "1")
    ///     .cache_for("tools/list", CacheHint::public(300_000));
    /// # drop(app);
    /// ```
    pub fn cache_for(self, method: &str, hint: CacheHint) -> Self {
        let method = method.to_owned();
        self.edit(move |i| {
            let slot = match method.as_str() {
                "server/discover" => &mut i.cache.discover,
                "tools/list" => &mut i.cache.tools,
                "prompts/list" => &mut i.cache.prompts,
                "resources/list" => &mut i.cache.resources,
                "resources/templates/list" => &mut i.cache.templates,
                "resources/read" => &mut i.cache.read,
                other => {
                    tracing::warn!(method = other, "no caching hints for this method; ignored");
                    return;
                }
            };
            *slot = Some(hint);
        })
    }

    /// Keep the tasks of task-supporting tools in `store` with `settings`
    /// (by default a [`MemoryStore`](crate::MemoryStore) of
    /// [`DEFAULT_MAX_TASKS`](crate::DEFAULT_MAX_TASKS) and
    /// [`TaskSettings::default`]).
    pub fn task_store(self, store: Arc<dyn TaskStore>, settings: TaskSettings) -> Self {
        self.edit(|i| i.tasks = Arc::new(Tasks::new(store, settings)))
    }

    /// Whether some tool runs as a task (then the tasks extension is
    /// advertised and `tasks/*` answered).
    pub(super) fn has_tasks(&self) -> bool {
        self.inner.tools.values().any(|t| t.task_support.is_some())
    }

    /// Answer every method the registry does not (custom methods, or
    /// standard ones for which nothing is registered) with `f`, instead of
    /// -32601. With this, a server with custom methods needs no `Handler`
    /// of its own around the registry (one that would have to forward
    /// `attach`, `session_closed` and notifications, KIT-4).
    ///
    /// ```
    /// use streamable_core::{ErrorObject, RawJson, code};
    /// use streamable_hyper::McpServer;
    /// let app = McpServer::new("demo", "1").fallback(|_ctx, method, params| async move {
    ///     match method.as_str() {
    ///         "demo/echo" => Ok(params.unwrap_or_else(RawJson::empty_object)),
    ///         _ => Err(ErrorObject::new(code::METHOD_NOT_FOUND, format!("Method not found: {method}"))),
    ///     }
    /// });
    /// # drop(app);
    /// ```
    pub fn fallback<F, Fut>(self, f: F) -> Self
    where
        F: Fn(RequestContext, String, Option<RawJson>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let f: Arc<FallbackFn> = Arc::new(move |ctx, m, p| Box::pin(f(ctx, m, p)));
        self.edit(|i| i.fallback = Some(f))
    }

    /// Receive the client's notifications (`notifications/initialized`,
    /// `notifications/roots/list_changed`, ...; cancellations arrive
    /// through [`RequestContext::cancelled`] instead).
    pub fn on_notification<F, Fut>(self, f: F) -> Self
    where
        F: Fn(Session, String, Option<RawJson>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f: Arc<NotifyFn> = Arc::new(move |s, m, p| Box::pin(f(s, m, p)));
        self.edit(|i| i.notify = Some(f))
    }

    /// How many legacy-era sessions are open (initialized and not yet
    /// closed).
    pub fn open_sessions(&self) -> usize {
        self.inner.shared.sessions.lock().map_or(0, |g| g.len())
    }

    /// The tables the service serves (this copy's until one is attached).
    fn served(&self) -> Arc<Inner> {
        self.inner
            .shared
            .served
            .lock()
            .ok()
            .and_then(|g| g.upgrade())
            .unwrap_or_else(|| self.inner.clone())
    }

    /// Register the completion function.
    pub fn completion(self, c: Completion) -> Self {
        self.edit(|i| i.completion = Some(c))
    }

    /// The `capabilities` of the initialize result, derived from what is
    /// registered (`logging` always).
    pub fn capabilities(&self) -> Value {
        let served = self.served();
        let i = &*served;
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
        let server = self.inner.shared.server.lock().ok().and_then(|g| g.clone());
        let mut n = match server {
            Some(h) => h
                .publish("notifications/resources/updated", Some(json!({"uri": uri})))
                .await
                .unwrap_or(0),
            None => 0,
        };
        let sessions: Vec<Session> = match self.inner.shared.sessions.lock() {
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
}
