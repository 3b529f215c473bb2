//! Typed tools and prompts: arguments are a Rust type (deserialized with
//! serde), schemas are derived from it with schemars, and a tool's output
//! may be a typed value that fills `structuredContent` and `outputSchema`.
//!
//! Only the call of a typed tool pays for the typing (one deserialize of
//! its arguments, one serialize of its output); untyped tools
//! ([`Tool::new`]) run exactly as before.

use std::future::Future;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use streamable_core::{ErrorObject, code};

use super::items::{Prompt, Tool, ToolResult};
use crate::context::{ContextError, RequestContext};

/// Why a typed tool did not produce its output: a failure the model should
/// see (`isError: true` in the result, [`ToolError::tool`]) or a protocol
/// error (a JSON-RPC error, from an [`ErrorObject`] or a [`ContextError`]
/// through `?`).
///
/// ```
/// use streamable_hyper::ToolError;
/// let e = ToolError::tool("division by zero");
/// assert!(e.is_tool_error());
/// ```
#[derive(Debug)]
pub struct ToolError(Kind);

#[derive(Debug)]
enum Kind {
    Tool(String),
    Protocol(ErrorObject),
}

impl ToolError {
    /// A tool-level failure: the call is answered with `isError: true` and
    /// this text, which the model can read and act on.
    pub fn tool(message: impl Into<String>) -> Self {
        ToolError(Kind::Tool(message.into()))
    }

    /// A protocol error: the call is answered with this JSON-RPC error.
    pub fn protocol(error: ErrorObject) -> Self {
        ToolError(Kind::Protocol(error))
    }

    /// Whether it is a tool-level failure (`isError: true`).
    pub fn is_tool_error(&self) -> bool {
        matches!(self.0, Kind::Tool(_))
    }

    /// The answer: a tool error result, or the JSON-RPC error.
    fn into_outcome(self) -> Result<ToolResult, ErrorObject> {
        match self.0 {
            Kind::Tool(m) => Ok(ToolResult::error(m)),
            Kind::Protocol(e) => Err(e),
        }
    }
}

impl From<ErrorObject> for ToolError {
    fn from(e: ErrorObject) -> Self {
        ToolError::protocol(e)
    }
}

/// A request to the client that failed (or asked for an input round) ends
/// the call the way an untyped tool's `?` does.
impl From<ContextError> for ToolError {
    fn from(e: ContextError) -> Self {
        ToolError::protocol(e.into())
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Kind::Tool(m) => f.write_str(m),
            Kind::Protocol(e) => write!(f, "{} ({})", e.message, e.code),
        }
    }
}

impl std::error::Error for ToolError {}

/// What a typed tool may return: a [`ToolResult`], a text (`String`,
/// `&'static str`), or [`Json`] (structured content with a derived
/// `outputSchema`).
pub trait IntoToolResult: Send + 'static {
    /// The tool's `outputSchema`, if its output is typed.
    fn output_schema() -> Option<Value> {
        None
    }

    /// The result sent to the client.
    fn into_tool_result(self) -> ToolResult;
}

impl IntoToolResult for ToolResult {
    fn into_tool_result(self) -> ToolResult {
        self
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::text(self)
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::text(self)
    }
}

/// A typed tool output: serialized into `structuredContent` (and, for
/// older clients, a text block), its type's schema published as the tool's
/// `outputSchema`.
///
/// ```
/// use streamable_hyper::{IntoToolResult, Json};
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Sum { sum: i64 }
/// let r = Json(Sum { sum: 3 }).into_tool_result();
/// assert_eq!(r.structured, Some(serde_json::json!({"sum": 3})));
/// assert_eq!(<Json<Sum>>::output_schema().unwrap()["type"], "object");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Json<T>(pub T);

impl<T: Serialize + JsonSchema + Send + 'static> IntoToolResult for Json<T> {
    fn output_schema() -> Option<Value> {
        Some(schema_of::<T>())
    }

    fn into_tool_result(self) -> ToolResult {
        match serde_json::to_value(&self.0) {
            Ok(v) => ToolResult::json(v),
            Err(e) => ToolResult::error(format!("the tool's output is not JSON: {e}")),
        }
    }
}

/// The JSON Schema (2020-12) of `T`.
fn schema_of<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

impl Tool {
    /// A tool whose arguments are `A`: the input schema is derived from
    /// `A` (schemars), each call's arguments are checked against it and
    /// then deserialized with serde; arguments that do not fit are answered
    /// like an untyped tool's schema mismatch, as a tool error
    /// (`isError: true`, "Invalid arguments: ...") the model can correct.
    /// The function's output is anything [`IntoToolResult`]; with
    /// [`Json`] the tool also publishes an `outputSchema`. A
    /// [`ToolError::tool`] becomes an `isError` result, a protocol error
    /// (an [`ErrorObject`], or a [`ContextError`] through `?`) a JSON-RPC
    /// error.
    ///
    /// ```
    /// use schemars::JsonSchema;
    /// use serde::{Deserialize, Serialize};
    /// use streamable_hyper::{Json, Tool, ToolError};
    ///
    /// #[derive(Deserialize, JsonSchema)]
    /// struct AddArgs { a: i64, b: i64 }
    /// #[derive(Serialize, JsonSchema)]
    /// struct Sum { sum: i64 }
    ///
    /// let add = Tool::typed("add", "Add two numbers", |_ctx, AddArgs { a, b }| async move {
    ///     let sum = a.checked_add(b).ok_or_else(|| ToolError::tool("overflow"))?;
    ///     Ok(Json(Sum { sum }))
    /// });
    /// assert!(add.schema_error().is_none());
    /// ```
    pub fn typed<A, R, F, Fut>(name: &str, description: &str, run: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: IntoToolResult,
        F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
    {
        let schema = schema_of::<A>();
        if schema["type"] != "object" {
            tracing::warn!(
                tool = name,
                "the tool's argument type is not a struct or map (MCP wants an object schema)"
            );
        }
        let tool = Tool::new(name, description, schema, move |ctx, args: Value| {
            // Deserialized before the future is built, so the function is
            // borrowed, not shared, per call.
            let fut = serde_json::from_value::<A>(args).map(|a| run(ctx, a));
            async move {
                match fut {
                    Ok(fut) => match fut.await {
                        Ok(r) => Ok(r.into_tool_result()),
                        Err(e) => e.into_outcome(),
                    },
                    Err(e) => Ok(ToolResult::error(format!("Invalid arguments: {e}"))),
                }
            }
        });
        match R::output_schema() {
            Some(s) => tool.output_schema(s),
            None => tool,
        }
    }
}

impl Prompt {
    /// A prompt whose arguments are `A`: its `arguments` list (name,
    /// description, required) is derived from `A`'s fields (schemars; the
    /// doc comment of a field is its description), and `prompts/get`
    /// arguments are deserialized into `A`. A missing required argument,
    /// or one that does not fit, is answered with -32602 (invalid params),
    /// as for an untyped prompt. Prompt arguments are strings on the wire,
    /// so `A`'s fields are `String` or `Option<String>`.
    ///
    /// ```
    /// use serde_json::json;
    /// use streamable_hyper::Prompt;
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Review {
    ///     /// The code to review.
    ///     code: String,
    ///     style: Option<String>,
    /// }
    /// let p = Prompt::typed("review", "Review code", |_ctx, r: Review| async move {
    ///     Ok(vec![json!({"role": "user", "content": {"type": "text", "text": r.code}})])
    /// });
    /// # drop(p);
    /// ```
    pub fn typed<A, F, Fut>(name: &str, description: &str, get: F) -> Prompt
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(RequestContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Value>, ErrorObject>> + Send + 'static,
    {
        let arguments = prompt_arguments(&schema_of::<A>());
        Prompt::new(
            name,
            description,
            arguments,
            move |ctx, args: Map<String, Value>| {
                let fut = serde_json::from_value::<A>(Value::Object(args)).map(|a| get(ctx, a));
                async move {
                    match fut {
                        Ok(fut) => fut.await,
                        Err(e) => Err(ErrorObject::new(
                            code::INVALID_PARAMS,
                            format!("Invalid arguments: {e}"),
                        )),
                    }
                }
            },
        )
    }
}

/// The `arguments` of a prompt from its argument type's schema: one entry
/// per property, in the schema's order.
fn prompt_arguments(schema: &Value) -> Value {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let list: Vec<Value> = schema["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, p)| {
            let mut a = json!({"name": name, "required": required.contains(&name.as_str())});
            if let Some(d) = p.get("description") {
                a["description"] = d.clone();
            }
            a
        })
        .collect();
    Value::Array(list)
}
