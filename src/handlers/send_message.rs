//! `send_message`: checks the frame and the session's owner, filters its images and files, then
//! hands the turn to
//! [`Runtime::start_turn`](crate::runtime::Runtime::start_turn), which stores the user's message,
//! acknowledges with 202, and runs the turn as a task off the socket reader.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{ClientError, SendMessageRequest};
use crate::runtime::{attachments, TurnRequest};

/// Validates the turn and starts it.
pub async fn handle(ctx: &Context, req: SendMessageRequest) -> HandlerResult {
    if req.message.trim().is_empty() {
        return Err(ClientError::validation("missing or empty 'message'"));
    }
    let session = owned_session(ctx.store().as_ref(), &ctx.principal, req.session_id).await?;
    ctx.attach(&session);
    let request = TurnRequest {
        session,
        request_id: req.request_id,
        message: req.message.to_string(),
        model: req.model.map(String::from),
        stream: req.stream,
        principal: ctx.principal.clone(),
        connection_id: ctx.connection_id,
        skill: req.skill.as_ref().map(|s| s.to_string()),
        images: attachments::usable_images(&req.images),
        files: attachments::tool_files(&req.files),
    };
    ctx.runtime
        .start_turn(request, ctx.events.clone(), &ctx.turns)
        .await
}
