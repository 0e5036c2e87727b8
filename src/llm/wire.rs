//! The JSON the gateway speaks: the request body of a streamed chat call and the chunks that
//! come back, in OpenAI's shape. Roles, `tool_choice` and tool kinds are typed, so a misspelt
//! one does not compile.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chat::Delta;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions and context from the server.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// Whether the model may call tools in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model must answer in text (the last allowed step of a turn).
    None,
    /// The model decides.
    Auto,
}

/// The kind of a tool or tool call; OpenAI-compatible gateways know only functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// A function with JSON arguments.
    Function,
}

/// One chat message in OpenAI form.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// Text content (`None` for an assistant message that only calls tools).
    pub content: Option<String>,
    /// Images the message shows the model; when any, `content` is sent as content parts (the
    /// text part first, then one `image_url` part per image).
    pub images: Vec<ImagePart>,
    /// Tool calls made by an assistant message.
    pub tool_calls: Vec<ToolCallOut>,
    /// For `tool` messages: the call this result answers.
    pub tool_call_id: Option<String>,
}

/// An image shown to the model, as an OpenAI `image_url` content part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagePart {
    /// An https: or data:image/ URL.
    pub url: String,
    /// `low`, `high` or `auto`; the gateway's default when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One OpenAI content part.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart<'a> {
    /// Text.
    Text { text: &'a str },
    /// An image.
    ImageUrl { image_url: &'a ImagePart },
}

impl Serialize for ChatMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", &self.role)?;
        if self.images.is_empty() {
            map.serialize_entry("content", &self.content)?;
        } else {
            let mut parts = Vec::with_capacity(self.images.len() + 1);
            if let Some(text) = &self.content {
                parts.push(ContentPart::Text { text });
            }
            parts.extend(
                self.images
                    .iter()
                    .map(|image| ContentPart::ImageUrl { image_url: image }),
            );
            map.serialize_entry("content", &parts)?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        map.end()
    }
}

impl ChatMessage {
    /// A message with only text.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// An assistant message that calls tools (with any text it streamed before them).
    pub fn assistant_calls(text: Option<String>, calls: Vec<ToolCallOut>) -> Self {
        Self {
            role: Role::Assistant,
            content: text,
            images: Vec::new(),
            tool_calls: calls,
            tool_call_id: None,
        }
    }

    /// A tool's result, answering the call `call_id`.
    pub fn tool_result(call_id: String, result: String) -> Self {
        Self {
            role: Role::Tool,
            content: Some(result),
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id),
        }
    }
}

/// A tool call as sent back to the gateway in an assistant message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolCallOut {
    /// The call id the model gave.
    pub id: String,
    /// Always a function.
    #[serde(rename = "type")]
    pub kind: ToolKind,
    /// Name and JSON-encoded arguments.
    pub function: FunctionOut,
}

/// The function part of a [`ToolCallOut`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionOut {
    /// Tool name.
    pub name: String,
    /// JSON-encoded arguments.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object, shared: every turn offers the same tools, and a
    /// turn parked on a tool keeps its copy of the list for as long as it waits.
    #[serde(serialize_with = "shared_value")]
    pub parameters: Arc<Value>,
}

/// Serialises a shared JSON value as the value.
fn shared_value<S: serde::Serializer>(
    value: &Arc<Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_ref().serialize(serializer)
}

/// The body of a streamed chat call.
#[derive(Serialize)]
pub(super) struct WireRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [ChatMessage],
    pub stream: bool,
    pub stream_options: StreamOptions,
    pub max_tokens: u32,
    pub temperature: f32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

/// `stream_options`: ask for a final usage chunk.
#[derive(Serialize)]
pub(super) struct StreamOptions {
    pub include_usage: bool,
}

/// A tool offered in a request.
#[derive(Serialize)]
pub(super) struct WireTool<'a> {
    #[serde(rename = "type")]
    pub kind: ToolKind,
    pub function: &'a ToolSpec,
}

/// One streamed completion chunk.
#[derive(Deserialize)]
pub(super) struct WireChunk {
    #[serde(default)]
    pub choices: Vec<WireChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(default)]
    pub error: Option<Value>,
}

/// One choice of a chunk.
#[derive(Deserialize)]
pub(super) struct WireChoice {
    #[serde(default)]
    pub delta: Option<WireDelta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// What a choice adds.
#[derive(Deserialize, Default)]
pub(super) struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Token counts of a call.
#[derive(Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
}

impl WireDelta {
    /// The deltas this piece carries, in order: reasoning, text, tool-call fragments.
    pub(super) fn split(self) -> Vec<Delta> {
        let mut out = Vec::new();
        let reasoning = self.reasoning_content.or(self.reasoning);
        if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
            out.push(Delta::Reasoning(text));
        }
        if let Some(text) = self.content.filter(|t| !t.is_empty()) {
            out.push(Delta::Text(text));
        }
        for call in self.tool_calls {
            let (name, arguments) = match call.function {
                Some(f) => (f.name, f.arguments),
                None => (None, None),
            };
            out.push(Delta::ToolCall {
                index: call.index,
                id: call.id,
                name,
                arguments,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> Vec<Delta> {
        let chunk: WireChunk = serde_json::from_str(data).expect("chunk parses");
        chunk
            .choices
            .into_iter()
            .filter_map(|c| c.delta)
            .flat_map(WireDelta::split)
            .collect()
    }

    #[test]
    fn images_turn_the_content_into_parts_and_plain_messages_stay_strings() {
        let plain = serde_json::to_value(ChatMessage::text(Role::User, "hi")).unwrap();
        assert_eq!(plain, serde_json::json!({"role": "user", "content": "hi"}));
        let mut message = ChatMessage::text(Role::User, "what is this?");
        message.images = vec![
            ImagePart {
                url: "https://example.com/a.png".into(),
                detail: Some("high".into()),
            },
            ImagePart {
                url: "data:image/png;base64,AAAA".into(),
                detail: None,
            },
        ];
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            serde_json::json!({"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]})
        );
        let call = ChatMessage::assistant_calls(None, Vec::new());
        assert_eq!(
            serde_json::to_value(call).unwrap(),
            serde_json::json!({"role": "assistant", "content": null})
        );
    }

    #[test]
    fn text_and_both_reasoning_spellings() {
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":"Hi","reasoning_content":"think"}}]}"#),
            vec![Delta::Reasoning("think".into()), Delta::Text("Hi".into())]
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#),
            vec![Delta::Reasoning("hmm".into())]
        );
    }

    #[test]
    fn empty_deltas_and_unknown_fields_are_ignored() {
        assert!(parse(
            r#"{"id":"x","choices":[{"delta":{"content":"","role":"assistant"},"logprobs":null}]}"#
        )
        .is_empty());
        assert!(parse(r#"{"choices":[]}"#).is_empty());
    }

    #[test]
    fn tool_call_fragments_keep_index_id_and_pieces() {
        let deltas = parse(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"id\""}}]}}]}"#,
        );
        assert_eq!(
            deltas,
            vec![Delta::ToolCall {
                index: 1,
                id: Some("call_9".into()),
                name: Some("lookup".into()),
                arguments: Some("{\"id\"".into()),
            }]
        );
    }

    #[test]
    fn request_body_is_openai_shaped() {
        let messages = vec![ChatMessage::text(Role::User, "hi")];
        let body = WireRequest {
            model: "m",
            messages: &messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 10,
            temperature: 1.0,
            tools: Vec::new(),
            tool_choice: None,
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 10,
                "temperature": 1.0
            })
        );
    }

    #[test]
    fn typed_roles_choices_and_kinds_serialize_as_openai_strings() {
        let spec = ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: serde_json::json!({"type": "object"}).into(),
        };
        let call = ChatMessage::assistant_calls(
            None,
            vec![ToolCallOut {
                id: "c1".into(),
                kind: ToolKind::Function,
                function: FunctionOut {
                    name: "t".into(),
                    arguments: "{}".into(),
                },
            }],
        );
        let messages = vec![
            ChatMessage::text(Role::System, "s"),
            call,
            ChatMessage::tool_result("c1".into(), "r".into()),
        ];
        let body = WireRequest {
            model: "m",
            messages: &messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 10,
            temperature: 1.0,
            tools: vec![WireTool {
                kind: ToolKind::Function,
                function: &spec,
            }],
            tool_choice: Some(ToolChoice::None),
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["messages"][0]["role"], "system");
        assert_eq!(value["messages"][1]["role"], "assistant");
        assert_eq!(value["messages"][1]["content"], serde_json::Value::Null);
        assert_eq!(value["messages"][1]["tool_calls"][0]["type"], "function");
        assert_eq!(value["messages"][2]["role"], "tool");
        assert_eq!(value["messages"][2]["tool_call_id"], "c1");
        assert_eq!(value["tools"][0]["type"], "function");
        assert_eq!(value["tool_choice"], "none");
    }
}
