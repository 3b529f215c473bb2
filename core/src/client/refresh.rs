//! The client's copy of each tool's `x-mcp-header` declarations: learnt
//! from every 2026-07-28 `tools/list` result (H-HDR-4) and refreshed when a
//! `tools/call` is refused with `-32020` about an `Mcp-Param-*` header
//! (H-HDR-6): a hidden `tools/list` of the machine's own, then the waiting
//! calls are sent once more.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Client;
use super::types::{Era, Event, RequestHandle};
use crate::jsonrpc::{ErrorObject, RawJson, code};
use crate::mirror;

/// H-HDR-6: `tools/list` pages one refresh follows (via `nextCursor`)
/// looking for the tools of the waiting calls.
const MAX_REFRESH_PAGES: u32 = 16;

/// H-HDR-6: the `tools/list` the machine sends after a `-32020` about an
/// `Mcp-Param-*` header, and the calls waiting for it.
#[derive(Clone, Debug)]
pub(super) struct Refresh {
    /// The hidden request of the current page.
    pub(super) request: RequestHandle,
    /// Each waiting call, its tool, and what it would have delivered had
    /// there been no refresh (delivered when the refresh fails).
    pub(super) waiting: Vec<(RequestHandle, String, Event)>,
    /// Tools seen in the pages so far.
    seen: BTreeSet<String>,
    /// Pages fetched so far.
    pages: u32,
}

impl Client {
    /// H-HDR-6: a `-32020` about an `Mcp-Param-*` header, to a `tools/call`
    /// of the 2026-07-28 era that has not had its refresh yet.
    pub(super) fn wants_header_retry(&self, h: RequestHandle, e: &ErrorObject) -> bool {
        let about_param = |text: &str| {
            text.to_ascii_lowercase()
                .contains(mirror::PARAM_HEADER_PREFIX)
        };
        self.era == Some(Era::Modern)
            && e.code == code::HEADER_MISMATCH
            && (about_param(&e.message) || e.data.as_ref().is_some_and(|d| about_param(d.as_str())))
            && self
                .requests
                .get(&h)
                .is_some_and(|r| r.method == "tools/call" && !r.header_retried && !r.hidden)
    }

    /// H-HDR-6: park call `h` (its answer, `fallback`, kept for a failed
    /// refresh) until a `tools/list` refresh has taught the tool's current
    /// `x-mcp-header` declarations, then send it once more with a new id.
    /// One refresh serves every call that meets a mismatch meanwhile.
    pub(super) fn start_header_retry(&mut self, h: RequestHandle, fallback: Event) {
        let Some(r) = self.requests.get_mut(&h) else {
            return;
        };
        r.header_retried = true;
        r.wire = None;
        let tool = r
            .params
            .as_ref()
            .and_then(|p| p.to_value().get("name")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        if let Some(refresh) = &mut self.refresh {
            refresh.waiting.push((h, tool, fallback));
            return;
        }
        let request = self.add_request("tools/list", None, true);
        self.refresh = Some(Refresh {
            request,
            waiting: vec![(h, tool, fallback)],
            seen: Default::default(),
            pages: 1,
        });
        self.requeue(request);
    }

    /// H-HDR-6: one page of the refresh arrived (its tools already learnt).
    /// Follow `nextCursor` while a waiting call's tool is still unseen;
    /// then send the waiting calls again.
    pub(super) fn refresh_answered(
        &mut self,
        h: RequestHandle,
        outcome: Result<RawJson, ErrorObject>,
    ) {
        let Some(refresh) = self.refresh.as_mut().filter(|r| r.request == h) else {
            return;
        };
        let Ok(result) = outcome else {
            return self.refresh_failed();
        };
        let value = result.to_value();
        for tool in value
            .get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                refresh.seen.insert(name.to_owned());
            }
        }
        let next = value.get("nextCursor").and_then(Value::as_str);
        let unseen = refresh
            .waiting
            .iter()
            .any(|(_, tool, _)| !refresh.seen.contains(tool));
        if let Some(cursor) = next
            && unseen
            && refresh.pages < MAX_REFRESH_PAGES
        {
            refresh.pages += 1;
            let params = RawJson::from_value(&serde_json::json!({ "cursor": cursor }));
            let request = self.add_request("tools/list", Some(params), true);
            if let Some(refresh) = &mut self.refresh {
                refresh.request = request;
            }
            return self.requeue(request);
        }
        let complete = next.is_none();
        let Some(refresh) = self.refresh.take() else {
            return;
        };
        for (call, tool, _) in refresh.waiting {
            if complete && !refresh.seen.contains(&tool) {
                // The full list no longer has the tool: forget what it
                // declared rather than keep mirroring stale headers.
                self.tools.remove(&tool);
            }
            if self.requests.contains_key(&call) {
                self.requeue(call);
            }
        }
    }

    /// H-HDR-6: the refresh failed; each waiting call gets the answer it
    /// had before the refresh.
    pub(super) fn refresh_failed(&mut self) {
        let Some(refresh) = self.refresh.take() else {
            return;
        };
        for (call, _, answer) in refresh.waiting {
            if self.requests.remove(&call).is_some() {
                self.events.push_back(answer);
            }
        }
    }

    /// H-HDR-4: remember each tool's mirrored parameters; drop (and report)
    /// tools whose annotations are invalid.
    pub(super) fn learn_tools(&mut self, result: RawJson) -> RawJson {
        let mut value = result.to_value();
        let Some(tools) = value.get_mut("tools").and_then(Value::as_array_mut) else {
            return result;
        };
        let before = tools.len();
        let mut warnings = Vec::new();
        let mut learned = Vec::new();
        tools.retain(|tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or("");
            let schema = tool.get("inputSchema").cloned().unwrap_or(Value::Null);
            match mirror::param_headers(&schema) {
                Ok(params) => {
                    learned.push((name.to_owned(), params));
                    true
                }
                Err(why) => {
                    warnings.push(format!("tool {name:?} dropped: {why}"));
                    false
                }
            }
        });
        let dropped = tools.len() != before;
        for (name, params) in learned {
            if params.is_empty() {
                self.tools.remove(&name);
            } else {
                self.tools.insert(name, params);
            }
        }
        self.events.extend(warnings.into_iter().map(Event::Warning));
        if dropped {
            RawJson::from_value(&value)
        } else {
            result
        }
    }
}
