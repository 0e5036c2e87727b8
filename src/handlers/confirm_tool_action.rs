//! `confirm_tool_action`: delivers a person's verdict to the session's parked tool call, then
//! acknowledges with 200 before the resumed turn streams on.

use super::{HandlerError, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{events, ConfirmToolActionRequest, ConfirmToolActionResponse, ErrorCode};
use crate::runtime::confirm::NotDelivered;
use crate::server::connection::Connection;

/// Answers the pending confirmation of `req.session_id`.
pub async fn handle(conn: &Connection, req: ConfirmToolActionRequest) -> HandlerResult {
    let session_id = req.session_id;
    let nothing_pending = || {
        HandlerError::new(
            ErrorCode::NoPendingConfirmation,
            format!("no tool action is awaiting confirmation for session '{session_id}'"),
        )
    };
    // Unknown and foreign sessions read exactly like a session with nothing pending.
    match owned_session(conn, session_id).await {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::SessionNotFound => return Err(nothing_pending()),
        Err(e) => return Err(e),
    }
    let ack = match conn.state.runtime.confirmations.answer(
        session_id,
        req.approved,
        Some(conn.out.clone()),
    ) {
        Ok(ack) => ack,
        Err(NotDelivered::NothingPending) => return Err(nothing_pending()),
        Err(NotDelivered::TurnGone) => {
            return Err(HandlerError::new(
                ErrorCode::NoPendingConfirmation,
                format!(
                    "the turn awaiting confirmation for session '{session_id}' is no longer active"
                ),
            ))
        }
    };
    let message = if req.approved {
        "Tool action approved"
    } else {
        "Tool action rejected"
    };
    conn.send(events::immediate(
        req.request_id,
        200,
        message,
        &ConfirmToolActionResponse {
            session_id,
            approved: req.approved,
        },
    ))
    .await;
    // The acknowledgement is queued: the turn may resume.
    let _ = ack.send(());
    Ok(())
}
