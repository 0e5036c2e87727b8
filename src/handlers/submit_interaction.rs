//! `submit_interaction`: delivers the user's answer to the interaction the session's turn is
//! parked on — here, or on the pod running the turn. The answer is checked against the pending
//! interaction before it is consumed (`runtime::submit`): a different id or kind is
//! `INTERACTION_MISMATCH` and invalid values answer `interaction_invalid`, both leaving the turn
//! waiting; valid values or a decline are acknowledged with 200 before the resumed turn streams
//! on.

use serde_json::Value;

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::backplane::{PodReply, PodRequest};
use crate::protocol::{
    events, ClientError, ErrorCode, SubmitInteractionRequest, SubmitInteractionResponse,
};
use crate::runtime::interaction;
use crate::runtime::park::NotDelivered;
use crate::runtime::submit::{self, Accepted, Refusal, Submission, SubmitError};

/// Answers the pending interaction of `req.session_id`.
pub async fn handle(ctx: &Context, req: SubmitInteractionRequest) -> HandlerResult {
    let session_id = req.session_id;
    let nothing_pending = || {
        ClientError::new(
            ErrorCode::NoPendingInteraction,
            format!("no interaction is waiting for an answer in session '{session_id}'"),
        )
    };
    let turn_gone = || {
        ClientError::new(
            ErrorCode::NoPendingInteraction,
            format!("the turn waiting in session '{session_id}' is no longer active"),
        )
    };
    // Unknown and foreign sessions read exactly like a session with nothing pending.
    let session = match owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await {
        Ok(session) => session,
        Err(e) if e.code == ErrorCode::SessionNotFound => return Err(nothing_pending()),
        Err(e) => return Err(e),
    };
    ctx.attach(&session);
    let submission = Submission {
        interaction_id: req.interaction_id.as_str(),
        kind: req.kind.as_ref().map(|k| k.as_str()),
        values: req.values.as_ref(),
        declined: req.declined == Some(true),
    };
    let local = submit::submit(
        &ctx.runtime.interactions,
        session_id,
        submission,
        Some(ctx.events.clone()),
    );
    // Fired once the acknowledgement is queued: the turn may resume.
    let (release, accepted): (Box<dyn FnOnce() + Send>, Accepted) = match local {
        Ok((ack, accepted)) => (
            Box::new(move || {
                let _ = ack.send(());
            }),
            accepted,
        ),
        Err(SubmitError::NotDelivered(NotDelivered::TurnGone)) => return Err(turn_gone()),
        Err(SubmitError::Refused(refusal)) => return refuse(ctx, &req, refusal).await,
        Err(SubmitError::NotDelivered(NotDelivered::NothingPending)) => {
            let request = PodRequest::Submit {
                session_id,
                interaction_id: req.interaction_id.to_string(),
                kind: req.kind.as_ref().map(|k| k.to_string()),
                values: req.values.clone(),
                declined: submission.declined,
            };
            let remote = match ctx.runtime.ask_turn_pod(session_id, request).await {
                Ok(Some(remote)) => remote,
                Ok(None) => return Err(nothing_pending()),
                Err(e) => return Err(super::pod_unreachable(ErrorCode::NoPendingInteraction, e)),
            };
            match remote.reply {
                PodReply::Delivered { answer_id, detail } => {
                    let accepted = serde_json::from_value::<Accepted>(detail).map_err(|e| {
                        ClientError::new(
                            ErrorCode::InternalError,
                            "the answer could not be confirmed",
                        )
                        .with_detail(format!("unreadable Delivered detail: {e}"))
                    })?;
                    let runtime = ctx.runtime.clone();
                    let pod = remote.pod;
                    (
                        Box::new(move || runtime.acknowledge_remote(pod, answer_id)),
                        accepted,
                    )
                }
                PodReply::Refused { detail } => match serde_json::from_value::<Refusal>(detail) {
                    Ok(refusal) => return refuse(ctx, &req, refusal).await,
                    Err(_) => return Err(nothing_pending()),
                },
                PodReply::TurnGone => return Err(turn_gone()),
                _ => return Err(nothing_pending()),
            }
        }
    };
    let interaction_id = req.interaction_id.to_string();
    let (message, payload) = match accepted.values {
        Some(Value::Object(values)) => (
            "Interaction submitted",
            SubmitInteractionResponse {
                session_id,
                interaction_id,
                kind: Some(accepted.kind),
                values,
                declined: None,
            },
        ),
        _ => (
            "Interaction declined",
            SubmitInteractionResponse {
                session_id,
                interaction_id,
                kind: None,
                values: Default::default(),
                declined: Some(true),
            },
        ),
    };
    ctx.send(events::immediate(
        Some(req.request_id),
        200,
        message,
        &payload,
    ))
    .await;
    release();
    Ok(())
}

/// Tells the client why its answer was not taken (the turn keeps waiting).
async fn refuse(ctx: &Context, req: &SubmitInteractionRequest, refusal: Refusal) -> HandlerResult {
    match refusal {
        Refusal::Mismatch { message } => {
            Err(ClientError::new(ErrorCode::InteractionMismatch, message))
        }
        Refusal::MissingValues => Err(ClientError::validation(
            "missing 'values': give the answer, or set 'declined' to true",
        )),
        Refusal::Invalid {
            interaction_id,
            kind,
            errors,
        } => {
            ctx.send(events::interaction_invalid(
                Some(req.request_id.clone()),
                &interaction_id,
                &kind,
                errors,
                interaction::INVALID_MESSAGE,
            ))
            .await;
            Ok(())
        }
    }
}
