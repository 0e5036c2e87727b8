//! `get_session`: the stored descriptor of a session this connection may access.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{events, GetSessionRequest, GetSessionResponse};

/// Reads the session from storage and answers with its descriptor.
pub async fn handle(ctx: &Context, req: GetSessionRequest) -> HandlerResult {
    let session = owned_session(ctx.store().as_ref(), &ctx.principal, req.session_id).await?;
    ctx.attach(&session);
    let payload = GetSessionResponse {
        session_id: session.session_id,
        conversation_id: session.conversation_id,
        agent_id: session.agent_id,
        agent_name: session.agent_name,
        user_participant_id: session.user_participant_id,
        agent_participant_id: session.agent_participant_id,
        thread_id: session.thread_id,
        status: session.status,
    };
    ctx.send(events::immediate(req.request_id, 200, "Session", &payload))
        .await;
    Ok(())
}
