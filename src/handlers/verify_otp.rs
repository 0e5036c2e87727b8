//! `verify_otp`: checks the end user's one-time code for the session, answers `otp_verified`
//! or `otp_invalid`, and releases the turn waiting for it (after the answer is queued, so the
//! answer always precedes the resumed turn's events).

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{events, ClientError, ErrorCode, OtpInvalidReason, VerifyOtpRequest};
use crate::runtime::otp::Checked;
use crate::runtime::park::OtpOutcome;

/// Checks the code of `req.session_id`.
pub async fn handle(ctx: &Context, req: VerifyOtpRequest) -> HandlerResult {
    let session = owned_session(ctx.store().as_ref(), &ctx.principal, req.session_id).await?;
    ctx.attach(&session);
    let checked = ctx
        .runtime
        .otp
        .verify(session.session_id, &req.code)
        .await
        .map_err(|e| e.to_client("could not check the code"))?;
    let request_id = req.request_id;
    let orphaned = match &checked {
        Checked::Verified { orphaned } => orphaned.clone(),
        _ => None,
    };
    let (event, outcome) = match checked {
        Checked::Verified { .. } => (
            events::otp_verified(&request_id, "Identity verified successfully."),
            Some(OtpOutcome::Verified),
        ),
        Checked::Wrong { attempts_left } => (
            events::otp_invalid(
                &request_id,
                Some(OtpInvalidReason::InvalidCode),
                attempts_left,
                &format!("That code is not right. Attempts left: {attempts_left}."),
            ),
            None,
        ),
        Checked::Exhausted => (
            events::otp_invalid(
                &request_id,
                Some(OtpInvalidReason::MaxAttempts),
                0,
                "Too many wrong codes. Ask again to get a new code.",
            ),
            Some(OtpOutcome::Exhausted),
        ),
        Checked::Expired => (
            events::otp_invalid(
                &request_id,
                Some(OtpInvalidReason::Expired),
                0,
                "That code has expired. Ask again to get a new code.",
            ),
            Some(OtpOutcome::Expired),
        ),
        Checked::NothingPending => (
            events::otp_invalid(
                &request_id,
                Some(OtpInvalidReason::NotFound),
                0,
                "No verification is in progress for this session.",
            ),
            None,
        ),
    };
    let Some(outcome) = outcome else {
        ctx.send(event).await;
        return Ok(());
    };
    // A turn on this process waits for the outcome; on another process (or after a restart)
    // nothing waits, and the verified state in the store is what counts.
    let ack = ctx
        .runtime
        .otp
        .waits
        .answer(session.session_id, outcome, Some(ctx.events.clone()));
    ctx.send(event).await;
    if let Ok(ack) = ack {
        let _ = ack.send(());
    } else if let Some(turn) = orphaned {
        // The turn that asked died with its process (a restart): its client would wait for it
        // forever. The session is verified now; sending the message again runs the tool
        // without another code.
        let interrupted = ClientError::new(
            ErrorCode::AgentError,
            "the turn waiting for this verification was interrupted; your identity is verified, \
             please send your message again",
        );
        ctx.send(interrupted.to_event(Some(turn))).await;
    }
    Ok(())
}
