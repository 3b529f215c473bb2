//! How [`McpServer`] answers: the [`Handler`] impl, routing each method to
//! the registered items, with `tools/call` on its own fast path.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use streamable_core::mirror::{ParamHeader, param_headers};
use streamable_core::{CloseReason, ErrorObject, RawJson, SessionKey, code};

use super::cache::CacheHint;
use super::items::{Tool, ToolResult};
use super::schema::Invalid;
use super::server::McpServer;
use crate::context::{
    INPUT_METHODS, LogLevel, RequestContext, ServerHandle, Session, with_input_rounds,
};
use crate::handler::{Handler, Outcome};

impl McpServer {
    async fn dispatch(&self, ctx: RequestContext, method: &str, params: Value) -> Outcome {
        let i = &self.inner;
        let ok = |v: Value| Ok(RawJson::from_value(&v));
        // CACHE-1/CACHE-3: caching hints on cacheable results, at
        // 2026-07-28 only.
        let modern = !ctx.protocol_version().is_legacy();
        let cached = |mut v: Value, hint: CacheHint| {
            if modern && let Some(obj) = v.as_object_mut() {
                hint.apply(obj);
            }
            Ok(RawJson::from_value(&v))
        };
        match method {
            "initialize" => {
                ctx.session().data().set_client(params);
                if let (Some(key), Ok(mut g)) = (ctx.session().key(), i.shared.sessions.lock()) {
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
                // Extensions are a 2026-07-28 notion: advertised here only.
                if self.has_tasks() {
                    r["capabilities"]["extensions"] = json!({streamable_core::task::EXTENSION: {}});
                }
                if let Some(text) = &i.instructions {
                    r["instructions"] = json!(text);
                }
                cached(r, i.cache.of(method))
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
                cached(json!({"tools": tools}), i.cache.of(method))
            }
            "resources/list" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let list: Vec<&Value> = i.resources.values().map(|r| &r.entry.meta).collect();
                cached(json!({"resources": list}), i.cache.of(method))
            }
            "resources/templates/list" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let list: Vec<&Value> = i.templates.iter().map(|t| &t.entry.meta).collect();
                cached(json!({"resourceTemplates": list}), i.cache.of(method))
            }
            "resources/read" if !i.resources.is_empty() || !i.templates.is_empty() => {
                let uri = params["uri"].as_str().unwrap_or("").to_owned();
                let (contents, hint) = if let Some(r) = i.resources.get(&uri) {
                    let hint = r.entry.cache;
                    ((r.entry.read)(ctx, uri, BTreeMap::new()).await?, hint)
                } else if let Some((t, vars)) = i
                    .templates
                    .iter()
                    .find_map(|t| t.matches(&uri).map(|v| (t, v)))
                {
                    let hint = t.entry.cache;
                    ((t.entry.read)(ctx, uri, vars).await?, hint)
                } else {
                    return Err(resource_not_found(modern, &uri));
                };
                cached(
                    json!({"contents": contents}),
                    hint.unwrap_or_else(|| i.cache.of(method)),
                )
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
                cached(json!({"prompts": list}), i.cache.of(method))
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
            // The tasks extension (SEP-2663); `tasks/result` and `tasks/list`
            // do not exist in it and fall through to -32601.
            "tasks/get" | "tasks/update" | "tasks/cancel"
                if ctx.is_stateless() && self.has_tasks() =>
            {
                i.tasks.request(&ctx, method, &params).await
            }
            _ => match &i.fallback {
                Some(f) => {
                    let params = (!params.is_null()).then(|| RawJson::from_value(&params));
                    f(ctx, method.to_owned(), params).await
                }
                None => unreachable_method(method),
            },
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
        if !tool.requires.is_empty()
            && let Some(refusal) = missing_capability(tool, &ctx, params)
        {
            return refusal;
        }
        match tool.checks.validate(&args) {
            Ok(()) => {}
            Err(Invalid::Arguments(e)) => {
                return tool_outcome(&ToolResult::error(format!("Invalid arguments: {e}")));
            }
            Err(Invalid::Schema(e)) => {
                return Err(ErrorObject::new(
                    code::INTERNAL_ERROR,
                    format!("Internal error: the inputSchema of tool {name} does not compile: {e}"),
                ));
            }
        }
        if let Some(support) = tool.task_support {
            let run = tool.run.clone();
            return self
                .inner
                .tasks
                .call_tool(ctx, run, args, support, tool.deferred)
                .await;
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

/// The "resource not found" error of each era (ERR-1, SEP-2164):
/// -32602 at 2026-07-28, -32002 before; `data.uri` names the URI in both.
fn resource_not_found(modern: bool, uri: &str) -> ErrorObject {
    let code = if modern { code::INVALID_PARAMS } else { -32002 };
    ErrorObject::new(code, format!("Resource not found: {uri}"))
        .with_data(RawJson::from_value(&json!({"uri": uri})))
}

/// ERR-3: the client capabilities `tool` needs that this call's client did
/// not declare. At 2026-07-28 that is read from the request's `_meta`
/// and answered with -32021 naming them; in a legacy session it is read
/// from the initialize capabilities and answered with a tool error (the
/// code does not exist there).
fn missing_capability(
    tool: &Tool,
    ctx: &RequestContext,
    params: Option<&RawJson>,
) -> Option<Outcome> {
    let missing: Vec<&String> = if ctx.protocol_version().is_legacy() {
        let data = ctx.session().data();
        tool.requires
            .iter()
            .filter(|c| !data.client_supports(c))
            .collect()
    } else {
        let v = params.map_or(Value::Null, RawJson::to_value);
        let declared = &v["_meta"][streamable_core::META_CLIENT_CAPABILITIES];
        tool.requires
            .iter()
            .filter(|c| !declared.get(c.as_str()).is_some_and(Value::is_object))
            .collect()
    };
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
    if ctx.protocol_version().is_legacy() {
        return Some(tool_outcome(&ToolResult::error(format!(
            "This tool needs the client capability {}, which the client did not declare",
            names.join(", ")
        ))));
    }
    let required: Map<String, Value> = names
        .iter()
        .map(|n| ((*n).to_owned(), Value::Object(Map::new())))
        .collect();
    Some(Err(ErrorObject::new(
        code::MISSING_CAPABILITY,
        format!("Missing required client capability: {}", names.join(", ")),
    )
    .with_data(RawJson::from_value(
        &json!({"requiredCapabilities": required}),
    ))))
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

impl McpServer {
    /// Every method, with `tools/call` on its fast path.
    async fn route(&self, ctx: RequestContext, method: String, params: Option<RawJson>) -> Outcome {
        if method == "tools/call" && !self.inner.tools.is_empty() {
            return self.call_tool(ctx, params.as_ref()).await;
        }
        let params = params.map(|p| p.to_value()).unwrap_or(Value::Null);
        self.dispatch(ctx, &method, params).await
    }
}

impl Handler for McpServer {
    async fn request(
        &self,
        ctx: RequestContext,
        method: String,
        params: Option<RawJson>,
    ) -> Outcome {
        // MRTR (SEP-2322): a stateless tools/call, prompts/get or
        // resources/read runs as one input round (context/input.rs).
        if ctx.is_stateless() && INPUT_METHODS.contains(&method.as_str()) {
            return with_input_rounds(ctx, method, params, |ctx, m, p| self.route(ctx, m, p)).await;
        }
        self.route(ctx, method, params).await
    }

    async fn notification(&self, session: Session, method: String, params: Option<RawJson>) {
        if let Some(f) = &self.inner.notify {
            f(session, method, params).await;
        }
    }

    fn session_closed(&self, session: SessionKey, _reason: CloseReason) {
        if let Ok(mut g) = self.inner.shared.sessions.lock() {
            g.remove(&session);
        }
    }

    fn attach(&self, server: ServerHandle) {
        self.inner.tasks.attach(server.clone());
        let shared = &self.inner.shared;
        if let Ok(mut g) = shared.server.lock() {
            *g = Some(server);
        }
        if let Ok(mut g) = shared.served.lock() {
            *g = std::sync::Arc::downgrade(&self.inner);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
