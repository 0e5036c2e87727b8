//! Assembling what one streamed model call said about tools: tool-call fragments arrive by
//! index (id and name first, arguments in pieces) and usage may arrive per call.

use std::collections::BTreeMap;

use crate::llm::{FunctionOut, ToolCallOut, ToolKind, Usage};

/// A tool call assembled from streamed fragments.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct PendingCall {
    /// The call id the model gave (or one we made up when it gave none).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The JSON-encoded arguments.
    pub arguments: String,
}

impl PendingCall {
    /// The call as sent back to the gateway in the assistant message.
    pub fn to_wire(&self) -> ToolCallOut {
        ToolCallOut {
            id: self.id.clone(),
            kind: ToolKind::Function,
            function: FunctionOut {
                name: self.name.clone(),
                arguments: self.arguments.clone(),
            },
        }
    }
}

/// The tool calls of one model call, keyed by their stream index.
#[derive(Debug, Default)]
pub(super) struct Calls {
    by_index: BTreeMap<u32, PendingCall>,
}

impl Calls {
    /// Adds one streamed fragment of call `index`.
    pub fn add(
        &mut self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: Option<String>,
    ) {
        let call = self.by_index.entry(index).or_default();
        if let Some(id) = id {
            call.id = id;
        }
        if let Some(name) = name {
            call.name.push_str(&name);
        }
        if let Some(arguments) = arguments {
            call.arguments.push_str(&arguments);
        }
    }

    /// Whether the model called no tool.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// The calls in stream order: a missing id becomes `call_{iteration}_{i}`, missing
    /// arguments `{}`, and valid JSON arguments are re-encoded compactly (clients get compact
    /// JSON whatever spacing the model streamed).
    pub fn finish(self, iteration: u32) -> Vec<PendingCall> {
        self.by_index
            .into_values()
            .enumerate()
            .map(|(i, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{iteration}_{i}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".to_string();
                } else if let Ok(value) = serde_json::from_str::<serde_json::Value>(&call.arguments)
                {
                    call.arguments = value.to_string();
                }
                call
            })
            .collect()
    }
}

/// Adds one call's usage to the turn's total.
pub(super) fn add_usage(total: &mut Option<Usage>, usage: Usage) {
    let total = total.get_or_insert_with(Usage::default);
    total.prompt_tokens += usage.prompt_tokens;
    total.completion_tokens += usage.completion_tokens;
    if let Some(cost) = usage.cost_usd {
        *total.cost_usd.get_or_insert(0.0) += cost;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_join_by_index_in_stream_order() {
        let mut calls = Calls::default();
        calls.add(
            1,
            Some("b".into()),
            Some("second".into()),
            Some("{ \"x\"".into()),
        );
        calls.add(0, None, Some("fir".into()), None);
        calls.add(0, None, Some("st".into()), Some("".into()));
        calls.add(1, None, None, Some(" : 1 }".into()));
        calls.add(
            2,
            Some("c".into()),
            Some("third".into()),
            Some("{not json".into()),
        );
        let calls = calls.finish(4);
        assert_eq!(calls.len(), 3);
        assert_eq!(
            (
                calls[0].id.as_str(),
                calls[0].name.as_str(),
                calls[0].arguments.as_str()
            ),
            ("call_4_0", "first", "{}")
        );
        assert_eq!(
            (calls[1].id.as_str(), calls[1].arguments.as_str()),
            ("b", r#"{"x":1}"#)
        );
        assert_eq!(
            calls[2].arguments, "{not json",
            "invalid JSON is passed on as is"
        );
        assert_eq!(calls[1].to_wire().function.arguments, r#"{"x":1}"#);
    }

    #[test]
    fn usage_adds_up_and_cost_appears_once_reported() {
        let mut total = None;
        let usage = |p, c, cost| Usage {
            prompt_tokens: p,
            completion_tokens: c,
            cost_usd: cost,
        };
        add_usage(&mut total, usage(10, 2, None));
        assert_eq!(total.unwrap().cost_usd, None);
        add_usage(&mut total, usage(5, 3, Some(0.25)));
        add_usage(&mut total, usage(1, 1, Some(0.5)));
        assert_eq!(total, Some(usage(16, 6, Some(0.75))));
    }
}
