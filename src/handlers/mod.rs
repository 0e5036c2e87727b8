//! One file per action; [`dispatch`] routes a decoded frame with an exhaustive `match`, so a new
//! action schema fails to compile until a handler exists for it.

mod cancel;
mod confirm_tool_action;
mod create_conversation_session;
mod get_conversation_messages;
mod get_session;
mod ping;
mod send_message;

use crate::protocol::{events, Action, ErrorCode, Inbound};
use crate::server::connection::Connection;

/// A failed action: what the client is told, and what only the log sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// The error code sent to the client.
    pub code: ErrorCode,
    /// The client-safe message.
    pub message: String,
    /// Internal detail for the log, never sent.
    pub detail: Option<String>,
}

impl HandlerError {
    /// An error with a client message and no log detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Attaches an internal detail that is logged but never sent.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A `VALIDATION_ERROR` with the given message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }
}

/// What a handler returns; on `Err` the dispatcher sends one `error` event.
pub type HandlerResult = Result<(), HandlerError>;

/// Runs the handler for one decoded frame and reports its failure, if any, to the client.
pub async fn dispatch(conn: &Connection, inbound: Inbound) {
    let Inbound { request_id, action } = inbound;
    let name = action.name();
    let result = match action {
        Action::Ping(req) => ping::handle(conn, req).await,
        Action::CreateConversationSession(req) => {
            create_conversation_session::handle(conn, req).await
        }
        Action::GetSession(req) => get_session::handle(conn, req).await,
        Action::GetConversationMessages(req) => get_conversation_messages::handle(conn, req).await,
        Action::SendMessage(req) => send_message::handle(conn, req).await,
        Action::Cancel(req) => cancel::handle(conn, req).await,
        Action::ConfirmToolAction(req) => confirm_tool_action::handle(conn, req).await,
    };
    if let Err(err) = result {
        match &err.detail {
            Some(detail) => tracing::error!(
                connection = %conn.id, action = name, code = %err.code, %detail, "action failed"
            ),
            None => tracing::debug!(
                connection = %conn.id, action = name, code = %err.code, message = %err.message, "action rejected"
            ),
        }
        conn.send(events::error(request_id, err.code, err.message))
            .await;
    }
}
