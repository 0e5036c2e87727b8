//! `submit_interaction`: delivers the user's answer to the interaction the session's turn is
//! parked on. The answer is checked against the pending interaction before it is consumed: a
//! different id or kind is `INTERACTION_MISMATCH` and invalid values answer
//! `interaction_invalid`, both leaving the turn waiting; valid values or a decline are
//! acknowledged with 200 before the resumed turn streams on.

use serde_json::Value;

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{
    events, ClientError, ErrorCode, SubmitInteractionRequest, SubmitInteractionResponse,
};
use crate::runtime::interaction::{self, Answer, FieldError};
use crate::runtime::park::{CheckRefused, NotDelivered};

/// Why an answer was not taken.
enum Refusal {
    /// Another interaction id or kind than the one waiting.
    Mismatch(String),
    /// No values and not declined.
    MissingValues,
    /// Values the interaction does not accept.
    Invalid {
        interaction_id: String,
        kind: &'static str,
        errors: Vec<FieldError>,
    },
}

/// Answers the pending interaction of `req.session_id`.
pub async fn handle(ctx: &Context, req: SubmitInteractionRequest) -> HandlerResult {
    let session_id = req.session_id;
    let nothing_pending = || {
        ClientError::new(
            ErrorCode::NoPendingInteraction,
            format!("no interaction is waiting for an answer in session '{session_id}'"),
        )
    };
    // Unknown and foreign sessions read exactly like a session with nothing pending.
    match owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await {
        Ok(_) => {}
        Err(e) if e.code == ErrorCode::SessionNotFound => return Err(nothing_pending()),
        Err(e) => return Err(e),
    }
    let declined = req.declined == Some(true);
    let interaction_id = req.interaction_id.as_str();
    let outcome = ctx.runtime.interactions.answer_checked(
        session_id,
        |pending| {
            if pending.interaction_id != interaction_id {
                return Err(Refusal::Mismatch(format!(
                    "interaction '{}' is not the one waiting in this session",
                    crate::protocol::validate::bounded(interaction_id, 64)
                )));
            }
            if let Some(kind) = req
                .kind
                .as_ref()
                .map(|k| k.as_str())
                .filter(|k| *k != pending.kind.wire())
            {
                return Err(Refusal::Mismatch(format!(
                    "the waiting interaction is a {}, not a {}",
                    pending.kind.wire(),
                    crate::protocol::validate::bounded(kind, 64)
                )));
            }
            if declined {
                return Ok((Answer::Declined, (pending.kind.wire(), None)));
            }
            let Some(values) = &req.values else {
                return Err(Refusal::MissingValues);
            };
            match interaction::check_values(
                pending.kind,
                &pending.spec,
                &Value::Object(values.clone()),
            ) {
                Ok(values) => Ok((
                    Answer::Submitted(values.clone()),
                    (pending.kind.wire(), Some(values)),
                )),
                Err(errors) => Err(Refusal::Invalid {
                    interaction_id: pending.interaction_id.clone(),
                    kind: pending.kind.wire(),
                    errors,
                }),
            }
        },
        Some(ctx.events.clone()),
    );
    let (ack, (kind, values)) = match outcome {
        Ok(delivered) => delivered,
        Err(CheckRefused::NotDelivered(NotDelivered::NothingPending)) => {
            return Err(nothing_pending())
        }
        Err(CheckRefused::NotDelivered(NotDelivered::TurnGone)) => {
            return Err(ClientError::new(
                ErrorCode::NoPendingInteraction,
                format!("the turn waiting in session '{session_id}' is no longer active"),
            ))
        }
        Err(CheckRefused::Refused(Refusal::Mismatch(message))) => {
            return Err(ClientError::new(ErrorCode::InteractionMismatch, message))
        }
        Err(CheckRefused::Refused(Refusal::MissingValues)) => {
            return Err(ClientError::validation(
                "missing 'values': give the answer, or set 'declined' to true",
            ))
        }
        Err(CheckRefused::Refused(Refusal::Invalid {
            interaction_id,
            kind,
            errors,
        })) => {
            let errors = errors.into_iter().map(|e| (e.field, e.message)).collect();
            ctx.send(events::interaction_invalid(
                Some(req.request_id.clone()),
                &interaction_id,
                kind,
                errors,
                interaction::INVALID_MESSAGE,
            ))
            .await;
            return Ok(());
        }
    };
    let (message, payload) = match values {
        Some(Value::Object(values)) => (
            "Interaction submitted",
            SubmitInteractionResponse {
                session_id,
                interaction_id: interaction_id.to_string(),
                kind: Some(kind.to_string()),
                values,
                declined: None,
            },
        ),
        _ => (
            "Interaction declined",
            SubmitInteractionResponse {
                session_id,
                interaction_id: interaction_id.to_string(),
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
    // The acknowledgement is queued: the turn may resume.
    let _ = ack.send(());
    Ok(())
}
