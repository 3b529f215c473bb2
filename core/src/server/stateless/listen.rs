//! `subscriptions/listen`, owned by the core: the acknowledgement with the
//! honoured filter first (H-SUB-2), then every published change the filter
//! admits, tagged with the subscription id (H-SUB-1, H-SUB-3), and at the end
//! the completion result (H-SUB-5, X-29).

use std::collections::BTreeSet;

use http::StatusCode;
use serde_json::Value;

use super::{Call, META_CLIENT_CAPABILITIES, META_SUBSCRIPTION_ID, Purpose};
use crate::jsonrpc::{self, Id, RawJson};
use crate::output::{Content, ExchangeId, Output, ResponseHead};
use crate::server::{IdSource, Server};
use crate::task;

/// The change notifications a listener may ask for (the `notifications`
/// filter of `subscriptions/listen`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// `notifications/tools/list_changed`.
    pub tools_list_changed: bool,
    /// `notifications/prompts/list_changed`.
    pub prompts_list_changed: bool,
    /// `notifications/resources/list_changed`.
    pub resources_list_changed: bool,
    /// `notifications/resources/updated` for these URIs.
    pub resource_subscriptions: BTreeSet<String>,
    /// `notifications/tasks` for these task ids (the tasks extension).
    pub task_ids: BTreeSet<String>,
}

impl Filter {
    /// Whether a notification `method` about `uri` (for
    /// `notifications/tasks`, the task id) passes this filter.
    pub fn admits(&self, method: &str, uri: Option<&str>) -> bool {
        match method {
            "notifications/tools/list_changed" => self.tools_list_changed,
            "notifications/prompts/list_changed" => self.prompts_list_changed,
            "notifications/resources/list_changed" => self.resources_list_changed,
            "notifications/resources/updated" => {
                uri.is_some_and(|u| self.resource_subscriptions.contains(u))
            }
            "notifications/tasks" => uri.is_some_and(|t| self.task_ids.contains(t)),
            _ => false,
        }
    }

    fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        if self.tools_list_changed {
            m.insert("toolsListChanged".into(), true.into());
        }
        if self.prompts_list_changed {
            m.insert("promptsListChanged".into(), true.into());
        }
        if self.resources_list_changed {
            m.insert("resourcesListChanged".into(), true.into());
        }
        if !self.resource_subscriptions.is_empty() {
            m.insert(
                "resourceSubscriptions".into(),
                self.resource_subscriptions.iter().cloned().collect(),
            );
        }
        if !self.task_ids.is_empty() {
            m.insert("taskIds".into(), self.task_ids.iter().cloned().collect());
        }
        Value::Object(m)
    }
}

impl<I: IdSource> Server<I> {
    /// `subscriptions/listen`: acknowledge at once with the honoured subset
    /// (H-SUB-2), then keep the stream for [`Server::publish`].
    pub(super) fn listen(&mut self, ex: ExchangeId, id: Id, params: Option<&Value>) {
        let max_uris = self.config.max_resource_subscriptions;
        let requested = params.and_then(|p| p.get("notifications"));
        let flag = |k: &str| {
            requested
                .and_then(|r| r.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let strings = |k: &str| -> BTreeSet<String> {
            requested
                .and_then(|r| r.get(k))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let uris = strings("resourceSubscriptions");
        let task_ids = strings("taskIds");
        if uris.len() > max_uris {
            return self.refuse_invalid_params(
                ex,
                &id,
                format!("Invalid params: at most {max_uris} resource subscriptions per listen"),
            );
        }
        if task_ids.len() > task::MAX_LISTEN_TASK_IDS {
            return self.refuse_invalid_params(
                ex,
                &id,
                format!(
                    "Invalid params: at most {} task ids per listen",
                    task::MAX_LISTEN_TASK_IDS
                ),
            );
        }
        // Task notifications need the tasks extension declared on this
        // request (SEP-2663 §Task Status Notifications, TASK-14).
        let declared = params
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(META_CLIENT_CAPABILITIES))
            .is_some_and(task::declared);
        if !task_ids.is_empty() && !declared {
            return self.refuse_with_id(
                ex,
                StatusCode::BAD_REQUEST,
                Some(&id),
                task::missing_capability(),
            );
        }
        if self.stateless.listeners >= self.config.max_listeners {
            return self.too_many(ex, &id, "subscriptions");
        }
        let support = &self.config.subscriptions;
        let filter = Filter {
            tools_list_changed: support.tools_list_changed && flag("toolsListChanged"),
            prompts_list_changed: support.prompts_list_changed && flag("promptsListChanged"),
            resources_list_changed: support.resources_list_changed && flag("resourcesListChanged"),
            resource_subscriptions: if support.resource_updates {
                uris
            } else {
                BTreeSet::new()
            },
            task_ids: if support.task_status {
                task_ids
            } else {
                BTreeSet::new()
            },
        };
        let mut ack = serde_json::Map::new();
        ack.insert("notifications".into(), filter.to_value());
        let ack = tagged(Value::Object(ack), &id);
        self.outputs.push_back(Output::StreamHead {
            exchange: ex,
            head: ResponseHead::new(StatusCode::OK, Content::EventStream),
        });
        self.emit(ex, |out| {
            jsonrpc::write_notification(out, "notifications/subscriptions/acknowledged", Some(&ack))
        });
        self.stateless.listeners += 1;
        self.stateless.calls.insert(
            ex,
            Call {
                id,
                purpose: Purpose::Listen { filter },
                streaming: true,
                log_level: None,
            },
        );
    }

    /// Notify every listener whose filter asks for `method` (H-SUB-1),
    /// tagged with its subscription id (H-SUB-3). Returns how many
    /// listeners it reached.
    pub(in crate::server) fn stateless_publish(
        &mut self,
        method: &str,
        params: Option<&RawJson>,
    ) -> usize {
        let value = params
            .map(RawJson::to_value)
            .unwrap_or(Value::Object(Default::default()));
        let about = if method == "notifications/tasks" {
            "taskId"
        } else {
            "uri"
        };
        let uri = value.get(about).and_then(Value::as_str).map(str::to_owned);
        let targets: Vec<(ExchangeId, Id)> = self
            .stateless
            .calls
            .iter()
            .filter_map(|(ex, call)| match &call.purpose {
                Purpose::Listen { filter } if filter.admits(method, uri.as_deref()) => {
                    Some((*ex, call.id.clone()))
                }
                _ => None,
            })
            .collect();
        for (ex, id) in &targets {
            let tagged = tagged(value.clone(), id);
            self.emit(*ex, |out| {
                jsonrpc::write_notification(out, method, Some(&tagged))
            });
        }
        targets.len()
    }

    /// End every subscription gracefully: the completion result, then close
    /// (H-SUB-5). Returns how many ended.
    pub(in crate::server) fn stateless_end_subscriptions(&mut self) -> usize {
        let listeners: Vec<(ExchangeId, Id)> = self
            .stateless
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.purpose, Purpose::Listen { .. }))
            .map(|(ex, c)| (*ex, c.id.clone()))
            .collect();
        for (ex, id) in &listeners {
            self.stateless.calls.remove(ex);
            let mut result = serde_json::Map::new();
            result.insert("resultType".into(), "complete".into());
            let result = tagged(Value::Object(result), id);
            self.emit(*ex, |out| jsonrpc::write_result(out, id, &result));
            self.outputs.push_back(Output::Close { exchange: *ex });
        }
        self.stateless.listeners -= listeners.len();
        listeners.len()
    }
}

/// `value` (an object, or made one) with `_meta.subscriptionId` = `id`.
fn tagged(mut value: Value, id: &Id) -> RawJson {
    if !value.is_object() {
        value = Value::Object(Default::default());
    }
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("_meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if !meta.is_object() {
            *meta = Value::Object(Default::default());
        }
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(META_SUBSCRIPTION_ID.into(), id.to_value());
        }
    }
    RawJson::from_value(&value)
}

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn h_sub_3_a_filter_admits_exactly_what_it_names() {
        let f = Filter {
            prompts_list_changed: true,
            resource_subscriptions: ["file:///a".to_owned()].into(),
            task_ids: ["t1".to_owned()].into(),
            ..Filter::default()
        };
        assert!(f.admits("notifications/prompts/list_changed", None));
        assert!(!f.admits("notifications/tools/list_changed", None));
        assert!(!f.admits("notifications/resources/list_changed", None));
        assert!(f.admits("notifications/resources/updated", Some("file:///a")));
        assert!(!f.admits("notifications/resources/updated", Some("file:///b")));
        assert!(!f.admits("notifications/resources/updated", None));
        assert!(f.admits("notifications/tasks", Some("t1")));
        assert!(!f.admits("notifications/tasks", Some("t2")));
        assert!(!f.admits("notifications/progress", None));
    }

    #[test]
    fn h_sub_3_tags_keep_the_meta_that_was_there() {
        use serde_json::json;

        use crate::jsonrpc::Id;
        let id = Id::Int(7);
        let v = super::tagged(json!({"uri": "u", "_meta": {"k": 1}}), &id).to_value();
        assert_eq!(v["_meta"]["k"], 1);
        assert_eq!(v["_meta"][super::META_SUBSCRIPTION_ID], 7);
        assert_eq!(v["uri"], "u");
        let v = super::tagged(json!({"_meta": 5}), &id).to_value();
        assert_eq!(v["_meta"][super::META_SUBSCRIPTION_ID], 7);
        let v = super::tagged(json!([1]), &id).to_value();
        assert_eq!(v["_meta"][super::META_SUBSCRIPTION_ID], 7);
    }
}
