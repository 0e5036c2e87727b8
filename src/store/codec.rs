//! How both SQL backends write and read the values they store as text: message directions,
//! JSON objects and capability lists (one definition, so the backends cannot drift apart).

use std::str::FromStr;

use serde_json::{Map, Value};

use super::StoreError;
use crate::protocol::MessageDirection;

/// A stored JSON object (NULL reads as none).
pub(super) fn parse_object(text: Option<String>) -> Result<Option<Map<String, Value>>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("bad stored JSON: {e}"))),
    }
}

/// A message direction as stored.
pub(super) fn direction_text(direction: MessageDirection) -> &'static str {
    match direction {
        MessageDirection::Inbound => "inbound",
        MessageDirection::Outbound => "outbound",
    }
}

/// A stored message direction.
pub(super) fn parse_direction(text: &str) -> Result<MessageDirection, StoreError> {
    MessageDirection::from_str(text)
        .map_err(|_| StoreError::Backend(format!("bad stored direction {text:?}")))
}

/// The stored capability list (a JSON array of strings; NULL reads as none).
pub(super) fn parse_supports(text: Option<String>) -> Result<Vec<String>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Backend(format!("bad stored capabilities: {e}"))),
    }
}

/// The capability list as stored (JSON text).
pub(super) fn supports_text(supports: &[String]) -> String {
    Value::from(supports.to_vec()).to_string()
}
