//! Constructors for the events handlers send, so no handler assembles frames by hand.

use serde::Serialize;

use super::{
    now_ms, CancelledEvent, CancelledEventData, ErrorCode, ErrorDetail, ErrorEvent, ErrorEventData,
    Event, EventualResponseEvent, EventualResponseEventData, ImmediateResponseEvent,
    InteractionInvalidEvent, InteractionInvalidEventData, InteractionInvalidEventDataData,
    InteractionInvalidFieldError, InteractionRequiredEvent, InteractionRequiredEventData,
    InteractionRequiredEventDataData, KeepaliveEvent, KeepaliveEventData, OtpInvalidEvent,
    OtpInvalidEventData, OtpInvalidEventDataData, OtpInvalidReason, OtpSentEvent, OtpSentEventData,
    OtpSentEventDataData, OtpVerificationRequiredEvent, OtpVerificationRequiredEventData,
    OtpVerificationRequiredEventDataData, OtpVerifiedEvent, OtpVerifiedEventData,
    OtpVerifiedEventDataData, PongEvent, PongEventData, SendMessageResponse, StreamChunkEvent,
    StreamChunkEventData, StreamChunkRawResponse, StreamChunkState, StreamChunkToolCall,
    StreamChunkToolResult, StreamPreambleEvent, StreamPreambleEventData, StreamReasoningEvent,
    StreamReasoningEventData, StreamTokenEvent, StreamTokenEventData,
    WriteConfirmationRequiredEvent, WriteConfirmationRequiredEventData,
    WriteConfirmationRequiredEventDataData,
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

/// A `stream_token` carrying one piece of reply text.
pub fn stream_token(request_id: &str, token: &str) -> Event {
    Event::StreamToken(StreamTokenEvent {
        request_id: request_id.to_string(),
        token: token.to_string(),
        data: StreamTokenEventData {
            request_id: request_id.to_string(),
            token: token.to_string(),
        },
        timestamp: now_ms(),
    })
}

/// A `stream_reasoning` carrying one piece of model reasoning.
pub fn stream_reasoning(request_id: &str, token: &str) -> Event {
    Event::StreamReasoning(StreamReasoningEvent {
        request_id: request_id.to_string(),
        token: token.to_string(),
        data: StreamReasoningEventData {
            request_id: request_id.to_string(),
            token: token.to_string(),
        },
        timestamp: now_ms(),
    })
}

/// A `stream_preamble` carrying one piece of the "what I'm about to do" line.
pub fn stream_preamble(request_id: &str, token: &str) -> Event {
    Event::StreamPreamble(StreamPreambleEvent {
        request_id: request_id.to_string(),
        token: token.to_string(),
        data: StreamPreambleEventData {
            request_id: request_id.to_string(),
            token: token.to_string(),
        },
        timestamp: now_ms(),
    })
}

fn chunk(request_id: &str, node: &str, raw: StreamChunkRawResponse) -> Event {
    Event::StreamChunk(StreamChunkEvent {
        request_id: request_id.to_string(),
        node: node.to_string(),
        data: StreamChunkEventData {
            request_id: request_id.to_string(),
            node: node.to_string(),
            state: StreamChunkState {
                raw_response: Some(raw),
            },
            done: None,
        },
        timestamp: now_ms(),
    })
}

/// A `stream_chunk` announcing a tool call (`arguments` is the JSON-encoded argument string).
pub fn tool_call(request_id: &str, name: &str, arguments: &str) -> Event {
    chunk(
        request_id,
        name,
        StreamChunkRawResponse {
            tool_call: Some(StreamChunkToolCall {
                name: name.to_string(),
                arguments: arguments.to_string(),
            }),
            tool_result: None,
        },
    )
}

/// A `stream_chunk` reporting a finished tool call; `result` must already be cut to 500 chars.
pub fn tool_result(request_id: &str, name: &str, is_error: bool, result: &str) -> Event {
    chunk(
        request_id,
        name,
        StreamChunkRawResponse {
            tool_call: None,
            tool_result: Some(StreamChunkToolResult {
                name: name.to_string(),
                is_error,
                result: result
                    .parse()
                    .expect("tool results are cut to the schema's length first"),
            }),
        },
    )
}

/// The `eventual_response` ending a successful turn.
pub fn eventual_response(request_id: &str, payload: SendMessageResponse) -> Event {
    Event::EventualResponse(EventualResponseEvent {
        request_id: request_id.to_string(),
        status: 200,
        data: EventualResponseEventData {
            request_id: request_id.to_string(),
            status: 200,
            data: payload,
        },
        timestamp: now_ms(),
    })
}

/// A `keepalive` for a running turn.
pub fn keepalive(request_id: &str) -> Event {
    Event::Keepalive(KeepaliveEvent {
        request_id: request_id.to_string(),
        data: KeepaliveEventData {
            request_id: request_id.to_string(),
        },
        timestamp: now_ms(),
    })
}

/// The `cancelled` event ending a cancelled turn (status 499).
pub fn cancelled(request_id: &str) -> Event {
    Event::Cancelled(CancelledEvent {
        request_id: Some(request_id.to_string()),
        status: 499,
        data: CancelledEventData {
            request_id: Some(request_id.to_string()),
            status: 499,
        },
        timestamp: now_ms(),
    })
}

/// A `write_confirmation_required` prompt: the turn waits for a person to approve `tool`.
pub fn write_confirmation_required(request_id: &str, tool: &str, description: &str) -> Event {
    Event::WriteConfirmationRequired(WriteConfirmationRequiredEvent {
        request_id: request_id.to_string(),
        data: WriteConfirmationRequiredEventData {
            request_id: request_id.to_string(),
            data: WriteConfirmationRequiredEventDataData {
                tool_id: tool.to_string(),
                action_description: description.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `otp_verification_required` prompt: the turn waits until the end user proves who they are
/// with a one-time code sent over one of `channels`.
pub fn otp_verification_required(
    request_id: &str,
    tool: &str,
    description: &str,
    channels: &[&str],
) -> Event {
    let channels = channels
        .iter()
        .map(|c| c.parse().expect("channels are spec'd names"))
        .collect();
    Event::OtpVerificationRequired(OtpVerificationRequiredEvent {
        request_id: Some(request_id.to_string()),
        data: OtpVerificationRequiredEventData {
            request_id: request_id.to_string(),
            data: OtpVerificationRequiredEventDataData {
                tool_id: tool.to_string(),
                action_description: description.to_string(),
                available_channels: channels,
                auth_level: "end_user".to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `otp_sent`: a code went to `masked` over `channel`.
pub fn otp_sent(request_id: &str, channel: &str, masked: &str) -> Event {
    Event::OtpSent(OtpSentEvent {
        request_id: Some(request_id.to_string()),
        data: OtpSentEventData {
            request_id: request_id.to_string(),
            data: OtpSentEventDataData {
                channel: channel.parse().expect("channels are spec'd names"),
                masked_destination: masked.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `otp_verified`, answering `verify_otp` `request_id`.
pub fn otp_verified(request_id: &str, message: &str) -> Event {
    Event::OtpVerified(OtpVerifiedEvent {
        request_id: Some(request_id.to_string()),
        data: OtpVerifiedEventData {
            request_id: request_id.to_string(),
            data: OtpVerifiedEventDataData {
                message: message.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `otp_invalid`, answering `verify_otp` `request_id`.
pub fn otp_invalid(
    request_id: &str,
    error: Option<OtpInvalidReason>,
    attempts_remaining: u32,
    message: &str,
) -> Event {
    Event::OtpInvalid(OtpInvalidEvent {
        request_id: Some(request_id.to_string()),
        data: OtpInvalidEventData {
            request_id: request_id.to_string(),
            data: OtpInvalidEventDataData {
                error,
                attempts_remaining: u64::from(attempts_remaining),
                message: message.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `interaction_required` prompt: the turn waits for the user's answer to `interaction_id`.
pub fn interaction_required(
    request_id: &str,
    interaction_id: uuid::Uuid,
    kind: &str,
    spec: serde_json::Map<String, serde_json::Value>,
    reason: &str,
) -> Event {
    Event::InteractionRequired(InteractionRequiredEvent {
        request_id: request_id.to_string(),
        data: InteractionRequiredEventData {
            request_id: request_id.to_string(),
            data: InteractionRequiredEventDataData {
                interaction_id,
                kind: kind.parse().expect("kinds are spec'd names"),
                spec,
                reason: reason.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}

/// An `interaction_invalid`, answering a `submit_interaction` whose values need correcting;
/// `errors` are `(field, message)` pairs (at least one).
pub fn interaction_invalid(
    request_id: Option<String>,
    interaction_id: &str,
    kind: &str,
    errors: Vec<(String, String)>,
    message: &str,
) -> Event {
    Event::InteractionInvalid(InteractionInvalidEvent {
        request_id: request_id.clone(),
        data: InteractionInvalidEventData {
            request_id,
            data: InteractionInvalidEventDataData {
                interaction_id: interaction_id.to_string(),
                kind: kind.to_string(),
                errors: errors
                    .into_iter()
                    .map(|(field, message)| InteractionInvalidFieldError { field, message })
                    .collect(),
                message: message.to_string(),
            },
        },
        timestamp: now_ms(),
    })
}
