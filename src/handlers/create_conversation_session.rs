//! `create_conversation_session`: checks the agent's widget policy (origin, signed
//! `authContext`), decides the session's organisation and owner, persists a conversation, its
//! two participants and a session, then answers with the new ids. A refused check creates
//! nothing.

use uuid::Uuid;

use super::{Context, HandlerResult};
use crate::auth::widget::{self, AuthContext};
use crate::protocol::{
    events, ClientError, CreateConversationSessionRequest, CreateConversationSessionResponse,
};
use crate::store::agent::DEFAULT_AGENT_NAME;
use crate::store::NewSession;

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
    let metadata_bytes = serde_json::to_vec(&req.metadata).map_or(0, |v| v.len());
    let cap = ctx.runtime.config.max_metadata_bytes;
    if metadata_bytes as u64 > cap {
        return Err(ClientError::validation(format!(
            "'metadata' is {metadata_bytes} bytes of JSON; at most {cap} are accepted"
        )));
    }
    let agent = ctx
        .store()
        .get_agent(agent_id)
        .await
        .map_err(|e| e.to_client("could not read the agent"))?
        .map(|record| record.definition);
    let policy = ctx.auth.widgets.policy_for(agent_id, agent.as_ref()).await;
    let context = req.auth_context.as_ref().map(|c| AuthContext {
        user_id: &c.user_id,
        signature: &c.signature,
        timestamp: c.timestamp,
    });
    let admission = widget::admit(
        policy.as_ref(),
        ctx.auth.widgets.strict,
        ctx.origin.as_deref(),
        context.as_ref(),
        chrono::Utc::now().timestamp(),
    )
    .inspect_err(|e| {
        tracing::info!(connection = %ctx.connection_id, agent = %agent_id, code = %e.code,
                       "session refused by the widget policy");
    })?;
    // The widget policy's organisation, else the token's, else the agent's, else the default.
    let organization_id = admission
        .organization_id
        .or_else(|| ctx.principal.org_id().map(str::to_string))
        .or_else(|| agent.as_ref().and_then(|a| a.organization_id.clone()))
        .unwrap_or_else(|| ctx.auth.default_org.clone());
    let user_name = req
        .user_name
        .as_deref()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .unwrap_or(DEFAULT_USER_NAME)
        .to_string();
    let agent_name = agent
        .as_ref()
        .and_then(|a| a.name.clone())
        .unwrap_or_else(|| DEFAULT_AGENT_NAME.to_string());
    let new = NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: Uuid::new_v4(),
        user_participant_id: Uuid::new_v4(),
        agent_participant_id: Uuid::new_v4(),
        agent_id: agent_id.to_string(),
        agent_name,
        organization_id: Some(organization_id),
        owner_id: ctx.principal.user_id().map(str::to_string),
        owner_org: ctx
            .principal
            .user_id()
            .and(ctx.principal.org_id())
            .map(str::to_string),
        verified_user_id: admission.verified_user_id,
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
    tracing::debug!(connection = %ctx.connection_id, session = %session.session_id, "session created");
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
