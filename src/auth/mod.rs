//! Who is on a connection, and what they may touch: plain functions and values over the store
//! and a [`Principal`], with no socket or handler types, so every layer above can ask.
//!
//! - [`principal`]: principals, roles, and whether one may act on a session;
//! - [`verifier`] (with [`jwks`]): bearer tokens to principals, in the configured mode;
//! - [`widget`]: embeddable-widget policies (origins, signed `authContext`);
//! - [`tool_gate`]: who may trigger a tool (auth levels, verified end users).

pub mod jwks;
pub mod principal;
pub mod tool_gate;
pub mod verifier;
pub mod widget;

use uuid::Uuid;

use crate::config::AuthConfig;
use crate::protocol::{ClientError, ErrorCode, Session};
use crate::store::{ConversationRecord, Store};

pub use principal::{Identity, Principal, Role};
pub use verifier::{TokenError, Verifier};
pub use widget::WidgetPolicies;

/// Everything that decides who someone is: the token verifier and the widget policies.
pub struct Auth {
    /// Bearer tokens to principals.
    pub verifier: Verifier,
    /// Widget policies for new sessions.
    pub widgets: WidgetPolicies,
    /// Refuse WebSocket upgrades without a valid token.
    pub required: bool,
    /// Organisation of sessions nothing else places in one.
    pub default_org: String,
}

impl Auth {
    /// The verifier and policy sources the settings describe.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        Ok(Self {
            verifier: Verifier::from_config(config)?,
            widgets: WidgetPolicies::from_config(config)?,
            required: config.auth_required,
            default_org: config.default_org.clone(),
        })
    }

    /// The principal of a connection presenting `token` (if any); `Err` when the connection
    /// must be refused (`SMOOTH_AGENT_AUTH_REQUIRED` and no valid token). A refused token is
    /// logged with the reason, never the token.
    pub async fn connect(&self, token: Option<&str>) -> Result<Principal, TokenError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            let principal = self.verifier.without_token();
            if self.required && principal == Principal::Anonymous {
                return Err(TokenError::Invalid("no token was presented".into()));
            }
            return Ok(principal);
        };
        match self.verifier.verify(token).await {
            Ok(identity) => Ok(Principal::User(identity)),
            Err(e) if self.required => Err(e),
            Err(e) => {
                tracing::warn!(reason = %e, "connection token refused; continuing anonymously");
                Ok(Principal::Anonymous)
            }
        }
    }
}

/// Loads a session `principal` may act on. Unknown and foreign sessions both read as
/// `SESSION_NOT_FOUND`, so probing never reveals that someone else's session exists.
pub async fn owned_session(
    store: &dyn Store,
    principal: &Principal,
    session_id: Uuid,
) -> Result<Session, ClientError> {
    let session = store
        .get_session(session_id)
        .await
        .map_err(|e| e.to_client("could not read the session"))?;
    match session {
        Some(session) if principal.may_access(&session) => Ok(session),
        Some(_) => {
            tracing::warn!(session = %session_id, user = ?principal.user_id(), "session owned by another user");
            Err(not_found(session_id))
        }
        None => Err(not_found(session_id)),
    }
}

/// Loads a conversation `principal` may act on: like a session, a conversation started by a
/// signed-in user is that user's (in that organisation) alone, and an anonymous one is reachable
/// by whoever holds its id. Unknown and foreign conversations both read as
/// `CONVERSATION_NOT_FOUND`.
pub async fn owned_conversation(
    store: &dyn Store,
    principal: &Principal,
    conversation_id: Uuid,
) -> Result<ConversationRecord, ClientError> {
    let record = store
        .get_conversation(conversation_id)
        .await
        .map_err(|e| e.to_client("could not read the conversation"))?;
    match record {
        Some(record)
            if principal.may_own(record.owner_id.as_deref(), record.owner_org.as_deref()) =>
        {
            Ok(record)
        }
        Some(_) => {
            tracing::warn!(conversation = %conversation_id, user = ?principal.user_id(), "conversation owned by another user");
            Err(conversation_not_found(conversation_id))
        }
        None => Err(conversation_not_found(conversation_id)),
    }
}

fn conversation_not_found(conversation_id: Uuid) -> ClientError {
    ClientError::new(
        ErrorCode::ConversationNotFound,
        format!("conversation '{conversation_id}' not found"),
    )
}

fn not_found(session_id: Uuid) -> ClientError {
    ClientError::new(
        ErrorCode::SessionNotFound,
        format!("session '{session_id}' not found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SessionStatus;

    fn session(owner: Option<&str>) -> Session {
        Session {
            session_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            organization_id: None,
            owner_id: owner.map(str::to_string),
            owner_organization_id: owner.map(|_| "acme".to_string()),
            verified_user_id: None,
            contact_email: None,
            contact_name: None,
            contact_phone: None,
            otp_verified_at: None,
            workflow_step: None,
            workflow_step_turns: None,
            supports: Vec::new(),
            agent_id: "agent".into(),
            agent_name: "smooth-agent".into(),
            user_participant_id: Uuid::new_v4(),
            agent_participant_id: Uuid::new_v4(),
            thread_id: "t".into(),
            status: SessionStatus::Active,
            created_at: chrono::Utc::now(),
        }
    }

    fn user(id: &str, org: Option<&str>) -> Principal {
        Principal::User(Identity {
            user_id: id.into(),
            org_id: org.map(str::to_string),
            role: Role::Basic,
            name: None,
            email: None,
            groups: Vec::new(),
        })
    }

    #[test]
    fn owned_sessions_are_private_to_their_owner() {
        let owned = session(Some("alice"));
        assert!(user("alice", Some("acme")).may_access(&owned));
        assert!(!user("bob", Some("acme")).may_access(&owned));
        // The same user id in another organisation is someone else.
        assert!(!user("alice", Some("globex")).may_access(&owned));
        assert!(!user("alice", None).may_access(&owned));
        assert!(!Principal::Anonymous.may_access(&owned));
    }

    #[test]
    fn anonymous_sessions_are_reachable_by_id() {
        let open = session(None);
        assert!(Principal::Anonymous.may_access(&open));
        assert!(user("x", None).may_access(&open));
    }
}
