//! [`ClientError`] as an HTTP answer: a status chosen by its code and the protocol's error
//! envelope as the body (`{type: "error", error, data: {error}, timestamp}`), built by the same
//! event constructor the WebSocket uses. The detail is logged, never sent.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::protocol::{self, ClientError, ErrorCode};

/// The HTTP status an error code answers with.
fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ValidationError | ErrorCode::UnsupportedAction => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden
        | ErrorCode::OriginNotAllowed
        | ErrorCode::AuthContextInvalid
        | ErrorCode::AgentNotAuthorized => StatusCode::FORBIDDEN,
        ErrorCode::NotFound
        | ErrorCode::SessionNotFound
        | ErrorCode::NoPendingConfirmation
        | ErrorCode::SkillNotFound
        | ErrorCode::ConversationNotFound
        | ErrorCode::NoPendingInteraction => StatusCode::NOT_FOUND,
        ErrorCode::FrameTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::TurnInProgress | ErrorCode::InteractionMismatch => StatusCode::CONFLICT,
        ErrorCode::LlmUnavailable | ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::AgentError
        | ErrorCode::InternalError
        | ErrorCode::StorageError
        | ErrorCode::OtpSendFailed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ClientError {
    fn into_response(self) -> Response {
        crate::telemetry::http_error(self.code);
        if let Some(detail) = &self.detail {
            tracing::error!(code = %self.code, %detail, "HTTP request failed");
        }
        let body = protocol::encode(&self.to_event(None));
        (
            status(self.code),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}
