//! `confirm_tool_action`: delivers a person's verdict to the session's parked tool call, then
//! acknowledges with 200 before the resumed turn streams on.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{
    events, ClientError, ConfirmToolActionRequest, ConfirmToolActionResponse, ErrorCode,
};
use crate::runtime::park::NotDelivered;

/// Answers the pending confirmation of `req.session_id`.
pub async fn handle(ctx: &Context, req: ConfirmToolActionRequest) -> HandlerResult {
    let session_id = req.session_id;
    let nothing_pending = || {
        ClientError::new(
            ErrorCode::NoPendingConfirmation,
            format!("no tool action is awaiting confirmation for session '{session_id}'"),
        )
    };
    // Unknown and foreign sessions read exactly like a session with nothing pending.
    match owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::SessionNotFound => return Err(nothing_pending()),
        Err(e) => return Err(e),
    }
    let ack =
        match ctx
            .runtime
            .confirmations
            .answer(session_id, req.approved, Some(ctx.events.clone()))
        {
            Ok(ack) => ack,
            Err(NotDelivered::NothingPending) => return Err(nothing_pending()),
            Err(NotDelivered::TurnGone) => {
                return Err(ClientError::new(
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
    ctx.send(events::immediate(
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
