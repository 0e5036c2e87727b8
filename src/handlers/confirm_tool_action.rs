//! `confirm_tool_action`: delivers a person's verdict to the session's parked tool call — here,
//! or on the pod running the turn — then acknowledges with 200 before the resumed turn streams
//! on.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::backplane::{PodReply, PodRequest};
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
    let turn_gone = || {
        ClientError::new(
            ErrorCode::NoPendingConfirmation,
            format!(
                "the turn awaiting confirmation for session '{session_id}' is no longer active"
            ),
        )
    };
    // Unknown and foreign sessions read exactly like a session with nothing pending.
    let session = match owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await {
        Ok(session) => session,
        Err(e) if e.code == ErrorCode::SessionNotFound => return Err(nothing_pending()),
        Err(e) => return Err(e),
    };
    ctx.attach(&session);
    let local =
        ctx.runtime
            .confirmations
            .answer(session_id, req.approved, Some(ctx.events.clone()));
    // Fired once the acknowledgement is queued: the turn may resume.
    let release: Box<dyn FnOnce() + Send> = match local {
        Ok(ack) => Box::new(move || {
            let _ = ack.send(());
        }),
        Err(NotDelivered::TurnGone) => return Err(turn_gone()),
        Err(NotDelivered::NothingPending) => {
            let request = PodRequest::Confirm {
                session_id,
                approved: req.approved,
            };
            match ctx.runtime.ask_turn_pod(session_id, request).await {
                Ok(None) => return Err(nothing_pending()),
                Ok(Some(remote)) => match remote.reply {
                    PodReply::Delivered { answer_id, .. } => {
                        let runtime = ctx.runtime.clone();
                        Box::new(move || runtime.acknowledge_remote(remote.pod, answer_id))
                    }
                    PodReply::TurnGone => return Err(turn_gone()),
                    _ => return Err(nothing_pending()),
                },
                Err(e) => return Err(super::pod_unreachable(ErrorCode::NoPendingConfirmation, e)),
            }
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
    release();
    Ok(())
}
