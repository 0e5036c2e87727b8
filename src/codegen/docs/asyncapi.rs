//! The AsyncAPI 3.0 document: one WebSocket channel (`/ws`) carrying every action (operations
//! the server receives) and every event (operations it sends), each message with its payload
//! schema and the conformance examples; the schemas themselves under `components.schemas`.

use serde_json::{json, Map, Value};

use super::{Frame, Protocol};

/// The document as pretty JSON with a trailing newline.
pub fn render(p: &Protocol) -> String {
    let mut messages = Map::new();
    let mut channel_messages = Map::new();
    let mut operations = Map::new();
    for (frames, action) in [(&p.actions, "receive"), (&p.events, "send")] {
        for frame in frames {
            let key = frame.schema.clone();
            messages.insert(key.clone(), message(frame));
            channel_messages.insert(
                key.clone(),
                json!({ "$ref": format!("#/components/messages/{key}") }),
            );
            operations.insert(
                format!("{action}{}", pascal(&frame.wire)),
                json!({
                    "action": action,
                    "channel": { "$ref": "#/channels/chat" },
                    "summary": summary(&frame.description),
                    "messages": [{ "$ref": format!("#/channels/chat/messages/{key}") }],
                }),
            );
        }
    }
    let schemas: Map<String, Value> = p
        .schemas
        .iter()
        .map(|(name, schema)| (name.clone(), rewrite_refs(schema)))
        .collect();
    let document = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "smooth-operator chat-agent protocol",
            "version": p.version,
            "description": format!(
                "{}\n\nOne WebSocket channel: clients send actions (told apart by `action`), the \
                 server sends events (told apart by `type`), one JSON object per text frame. \
                 Operations are written from the server's side: it receives actions and sends \
                 events.",
                p.description
            ),
            "license": { "name": "Apache-2.0" },
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:8787",
                "protocol": "ws",
                "description": "The server's default address (`cargo run --release`).",
            }
        },
        "channels": {
            "chat": {
                "address": "/ws",
                "title": "Chat",
                "description": "The chat protocol. Events of a turn carry the requestId of its \
                                send_message; synchronous replies echo the requestId of the \
                                action they answer.",
                "servers": [{ "$ref": "#/servers/local" }],
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "bindingVersion": "0.1.0",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "Optional bearer token (no `Bearer ` prefix)."
                                }
                            }
                        }
                    }
                }
            }
        },
        "operations": operations,
        "components": { "messages": messages, "schemas": schemas },
    });
    let mut text = serde_json::to_string_pretty(&document).expect("a JSON value serialises");
    text.push('\n');
    text
}

fn message(frame: &Frame) -> Value {
    let examples: Vec<Value> = frame
        .examples
        .iter()
        .map(|(name, payload)| {
            json!({
                "name": name.trim_end_matches(".json"),
                "summary": format!("spec/conformance/frames/valid/{name}"),
                "payload": payload,
            })
        })
        .collect();
    let mut message = json!({
        "name": frame.wire,
        "title": frame.wire,
        "summary": summary(&frame.description),
        "description": frame.description,
        "contentType": "application/json",
        "payload": { "$ref": format!("#/components/schemas/{}", frame.schema) },
        "examples": examples,
    });
    if !frame.error_codes.is_empty() {
        message["x-error-codes"] = json!(frame.error_codes);
    }
    if let Some(response) = &frame.response {
        message["x-response"] = json!({ "$ref": format!("#/components/schemas/{response}") });
    }
    message
}

/// The first sentence of a description.
fn summary(description: &str) -> String {
    match description.find(". ") {
        Some(end) => description[..=end].to_string(),
        None => description.to_string(),
    }
}

/// `send_message` → `SendMessage`.
fn pascal(wire: &str) -> String {
    super::super::pascal_case(wire)
}

/// Points every `#/$defs/<name>` reference at `#/components/schemas/<name>`.
fn rewrite_refs(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value.as_str()) {
                        ("$ref", Some(target)) => {
                            Value::String(target.replacen("#/$defs/", "#/components/schemas/", 1))
                        }
                        _ => rewrite_refs(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(rewrite_refs).collect()),
        other => other.clone(),
    }
}
