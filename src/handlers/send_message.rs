//! `send_message`: validates, stores the user's message, acknowledges with 202, and starts the
//! turn as a task off the socket reader.

use uuid::Uuid;

use super::{HandlerError, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{events, ErrorCode, MessageDirection, SendMessageRequest};
use crate::runtime::registry::ActiveTurn;
use crate::runtime::sink::TurnSink;
use crate::runtime::turn::{self, TurnInput};
use crate::server::connection::Connection;
use crate::store::NewMessage;

/// Validates the turn and starts it.
pub async fn handle(conn: &Connection, req: SendMessageRequest) -> HandlerResult {
    let state = &conn.state;
    let runtime = &state.runtime;
    if req.message.trim().is_empty() {
        return Err(HandlerError::validation("missing or empty 'message'"));
    }
    let session = owned_session(conn, req.session_id).await?;
    if runtime.gateway.is_none() {
        return Err(HandlerError::new(
            ErrorCode::LlmUnavailable,
            "no model gateway is configured on this server (set SMOOAI_GATEWAY_URL and/or \
             SMOOAI_GATEWAY_KEY)",
        ));
    }
    let model = match req
        .model
        .as_ref()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        None => runtime.config.model.clone(),
        Some(model) => {
            let mut allowed = runtime
                .config
                .allowed_models
                .iter()
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .peekable();
            if allowed.peek().is_some() && !allowed.any(|a| a == model) {
                return Err(HandlerError::validation(format!(
                    "model '{model}' is not allowed on this server"
                )));
            }
            model.to_string()
        }
    };
    if state.shutdown.is_cancelled() {
        return Err(HandlerError::new(
            ErrorCode::Overloaded,
            "the server is shutting down; retry on another connection",
        ));
    }
    let turn_id = Uuid::new_v4();
    let cancel = tokio_util::sync::CancellationToken::new();
    let registered = runtime.turns.try_start(
        session.session_id,
        ActiveTurn {
            turn_id,
            request_id: req.request_id.clone(),
            connection_id: conn.id,
            cancel: cancel.clone(),
        },
    );
    if !registered {
        return Err(HandlerError::new(
            ErrorCode::TurnInProgress,
            "this session already has a running turn; wait for it or cancel it",
        ));
    }
    // The user's message is durable before the turn is acknowledged.
    let stored = state
        .store
        .append_message(NewMessage {
            id: Uuid::new_v4(),
            conversation_id: session.conversation_id,
            organization_id: session.organization_id.clone(),
            direction: MessageDirection::Inbound,
            text: Some(req.message.to_string()),
            structured_response: None,
            from_participant_id: Some(session.user_participant_id),
            to_participant_id: Some(session.agent_participant_id),
        })
        .await;
    if let Err(e) = stored {
        runtime.turns.finish(session.session_id, turn_id);
        return Err(
            HandlerError::new(ErrorCode::StorageError, "could not store the message")
                .with_detail(e.to_string()),
        );
    }
    conn.send(events::immediate(
        Some(req.request_id.clone()),
        202,
        "Processing your request...",
        &serde_json::Map::new(),
    ))
    .await;
    let sink = TurnSink::new(conn.out.clone(), req.request_id, req.stream);
    let task = turn::run(
        runtime.clone(),
        state.store.clone(),
        sink,
        TurnInput {
            session,
            model,
            turn_id,
            message: req.message.to_string(),
            access: conn.principal.access(),
        },
        cancel,
    );
    // Tracked twice: by the connection (to close it after its turns on shutdown) and by the
    // server (to drain turns whose client already left).
    tokio::spawn(state.turns.track_future(conn.turns.track_future(task)));
    Ok(())
}
