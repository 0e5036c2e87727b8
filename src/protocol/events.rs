//! Constructors for the events handlers send, so no handler assembles frames by hand.

use serde::Serialize;

use super::{
    now_ms, ErrorCode, ErrorDetail, ErrorEvent, ErrorEventData, Event, ImmediateResponseEvent,
    PongEvent, PongEventData,
};

/// A `pong` answering a `ping`; the same instant at the top level and in `data`.
pub fn pong(request_id: Option<String>) -> Event {
    let timestamp = now_ms();
    Event::Pong(PongEvent {
        request_id,
        data: PongEventData { timestamp },
        timestamp,
    })
}

/// An `immediate_response` carrying a typed payload as `data`.
pub fn immediate<T: Serialize>(
    request_id: Option<String>,
    status: i64,
    message: &str,
    payload: &T,
) -> Event {
    let data = match serde_json::to_value(payload) {
        Ok(serde_json::Value::Object(map)) => map,
        // Payloads are generated object types; anything else is a server bug.
        other => panic!("immediate_response payload must be an object, got {other:?}"),
    };
    Event::ImmediateResponse(ImmediateResponseEvent {
        request_id,
        status,
        message: message.to_string(),
        data,
        timestamp: now_ms(),
    })
}

/// An `error` event; the descriptor appears at the top level and in `data`.
pub fn error(request_id: Option<String>, code: ErrorCode, message: impl Into<String>) -> Event {
    let detail = ErrorDetail {
        code,
        message: message.into(),
    };
    Event::Error(ErrorEvent {
        data: ErrorEventData {
            error: detail.clone(),
            request_id: request_id.clone(),
        },
        error: detail,
        request_id,
        timestamp: now_ms(),
    })
}
