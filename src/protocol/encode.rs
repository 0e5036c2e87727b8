//! Turning an [`Event`] into the text of one WebSocket frame.

use super::{validate, Event};

/// Serializes an event as compact JSON.
///
/// In debug builds and with the `validate` feature the frame is first checked against its event
/// schema; an invalid outbound frame is a server bug, so this panics (and tests catch it).
pub fn encode(event: &Event) -> String {
    if validate::VALIDATE_FRAMES {
        let value = serde_json::to_value(event).expect("events always serialize");
        if let Err(problems) = validate::check_event(event.name(), &value) {
            panic!(
                "server bug: outbound '{}' event violates the spec: {problems:?}\nframe: {value}",
                event.name()
            );
        }
        return value.to_string();
    }
    serde_json::to_string(event).expect("events always serialize")
}
