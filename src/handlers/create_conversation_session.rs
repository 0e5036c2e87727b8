//! `create_conversation_session`: checks the agent's widget policy (origin, signed
//! `authContext`), decides the session's organisation and owner, persists a conversation, its
//! two participants and a session, then answers with the new ids. With `conversationId` it
//! resumes that conversation instead (owner-checked, same agent): only a new session is stored,
//! and the conversation's participants, organisation and (unless `supports` is given)
//! capabilities carry over. A refused check creates nothing.

use super::{Context, HandlerResult};
use crate::auth::owned_conversation;
use crate::auth::widget::{self, AuthContext};
use crate::protocol::{
    events, ClientError, CreateConversationSessionRequest, CreateConversationSessionResponse,
};
use crate::runtime::KNOWN_CAPABILITIES;
use crate::store::agent::DEFAULT_AGENT_NAME;
use crate::store::{self, NewSession};

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
    // Only the capabilities this server acts on are kept; unknown ones are ignored.
    let supports = req.supports.as_ref().map(|declared| {
        let mut known: Vec<String> = Vec::new();
        for capability in declared.iter() {
            let capability = capability.trim();
            if KNOWN_CAPABILITIES.contains(&capability) && !known.iter().any(|k| k == capability) {
                known.push(capability.to_string());
            }
        }
        known
    });
    let previous = match req.conversation_id {
        None => None,
        Some(conversation_id) => {
            owned_conversation(ctx.store().as_ref(), &ctx.principal, conversation_id).await?;
            let previous = ctx
                .store()
                .latest_session(conversation_id)
                .await
                .map_err(|e| e.to_client("could not read the conversation"))?
                .ok_or_else(|| {
                    ClientError::new(
                        crate::protocol::ErrorCode::ConversationNotFound,
                        format!("conversation '{conversation_id}' not found"),
                    )
                })?;
            if previous.agent_id != agent_id {
                return Err(ClientError::validation(format!(
                    "conversation '{conversation_id}' is with another agent; resume it with that \
                     agent's id"
                )));
            }
            Some(previous)
        }
    };
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
    // A resumed conversation keeps its organisation; otherwise the widget policy's, else the
    // token's, else the agent's, else the default.
    let organization_id = previous
        .as_ref()
        .and_then(|p| p.organization_id.clone())
        .or(admission.organization_id)
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
    let user_email = req
        .user_email
        .map(String::from)
        .or_else(|| previous.as_ref().and_then(|p| p.contact_email.clone()));
    let new = NewSession {
        session_id: store::new_id(),
        conversation_id: previous
            .as_ref()
            .map_or_else(store::new_id, |p| p.conversation_id),
        user_participant_id: previous
            .as_ref()
            .map_or_else(store::new_id, |p| p.user_participant_id),
        agent_participant_id: previous
            .as_ref()
            .map_or_else(store::new_id, |p| p.agent_participant_id),
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
        user_email,
        browser_fingerprint: req.browser_fingerprint.map(String::from),
        metadata: req.metadata,
        supports,
    };
    let stored = if previous.is_some() {
        ctx.store().resume_session(new).await
    } else {
        ctx.store().create_session(new).await
    };
    let session = stored.map_err(|e| e.to_client("could not create the session"))?;
    tracing::debug!(connection = %ctx.connection_id, session = %session.session_id,
                   conversation = %session.conversation_id, resumed = previous.is_some(), "session created");
    ctx.attach(&session);
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
