//! [`ClientError`]: the one shape of every failure a client is told about, on the WebSocket (an
//! `error` event) and over HTTP (the same envelope as the body). What the client sees and what
//! only the log sees are kept apart: `message` is sent, `detail` never is.

use super::{events, ErrorCode, Event};

/// A failure reported to a client: a catalogued code, a client-safe message, and an optional
/// internal detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ClientError {
    /// The code sent to the client (every code is in `spec/events/error.schema.json`).
    pub code: ErrorCode,
    /// The client-safe message.
    pub message: String,
    /// Internal detail for the log, never sent.
    pub detail: Option<String>,
}

impl ClientError {
    /// An error with a client message and no log detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// A `VALIDATION_ERROR` with the given message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    /// Attaches an internal detail that is logged but never sent.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The `error` event telling the client, echoing `request_id`.
    pub fn to_event(&self, request_id: Option<String>) -> Event {
        events::error(request_id, self.code, self.message.clone())
    }
}
