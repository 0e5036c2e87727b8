//! `create_conversation_session`: persists a conversation, its two participants and a session,
//! then answers with the new ids.

use uuid::Uuid;

use super::{Context, HandlerResult};
use crate::protocol::{
    events, ClientError, CreateConversationSessionRequest, CreateConversationSessionResponse,
};
use crate::store::NewSession;

/// Display name of the agent participant.
pub const AGENT_NAME: &str = "smooth-agent";

/// Display name used when the client gives none.
const DEFAULT_USER_NAME: &str = "Visitor";

/// Creates the session; nothing is acknowledged before it is durable.
pub async fn handle(ctx: &Context, req: CreateConversationSessionRequest) -> HandlerResult {
    // Echoed exactly as given; it only has to contain something besides whitespace.
    let agent_id = req.agent_id.as_str();
    if agent_id.trim().is_empty() {
        return Err(ClientError::validation(
            "missing 'agentId': it must contain a non-whitespace character",
        ));
    }
    let user_name = req
        .user_name
        .as_deref()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_USER_NAME)
        .to_string();
    let new = NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: Uuid::new_v4(),
        user_participant_id: Uuid::new_v4(),
        agent_participant_id: Uuid::new_v4(),
        agent_id: agent_id.to_string(),
        agent_name: AGENT_NAME.to_string(),
        organization_id: None,
        owner_id: ctx.principal.user_id().map(str::to_string),
        user_name,
        user_email: req.user_email.map(String::from),
        browser_fingerprint: req.browser_fingerprint.map(String::from),
        metadata: req.metadata,
    };
    let session = ctx
        .store()
        .create_session(new)
        .await
        .map_err(|e| e.to_client("could not create the session"))?;
    tracing::info!(connection = %ctx.connection_id, session = %session.session_id, "session created");
    let payload = CreateConversationSessionResponse {
        session_id: session.session_id,
        conversation_id: session.conversation_id,
        agent_id: session.agent_id,
        agent_name: session.agent_name,
        user_participant_id: session.user_participant_id,
        agent_participant_id: session.agent_participant_id,
    };
    ctx.send(events::immediate(
        req.request_id,
        200,
        "Session created",
        &payload,
    ))
    .await;
    Ok(())
}
