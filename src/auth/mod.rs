//! Who is on a connection, and what they may touch: plain functions over the store and a
//! [`Principal`], with no socket or handler types, so every layer above can ask.

use uuid::Uuid;

use crate::protocol::{ClientError, ErrorCode, Session};
use crate::store::acl::Access;
use crate::store::Store;

/// The identity behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No verified identity.
    Anonymous,
    /// A verified user.
    User {
        /// The user's id.
        user_id: String,
    },
}

impl Principal {
    /// The user id, when authenticated.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::User { user_id } => Some(user_id),
        }
    }

    /// The identity knowledge retrieval runs with (anonymous readers see only unrestricted
    /// documents).
    pub fn access(&self) -> Access {
        match self {
            Principal::Anonymous => Access::anonymous(),
            Principal::User { user_id } => Access {
                user_id: Some(user_id.clone()),
                groups: Vec::new(),
            },
        }
    }

    /// Whether this principal may act on `session`: sessions created by an authenticated user
    /// belong to that user alone; anonymous sessions are reachable by whoever holds the id.
    pub fn may_access(&self, session: &Session) -> bool {
        match &session.owner_id {
            None => true,
            Some(owner) => self.user_id() == Some(owner.as_str()),
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
            agent_id: "agent".into(),
            agent_name: "smooth-agent".into(),
            user_participant_id: Uuid::new_v4(),
            agent_participant_id: Uuid::new_v4(),
            thread_id: "t".into(),
            status: SessionStatus::Active,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn owned_sessions_are_private_to_their_owner() {
        let alice = Principal::User {
            user_id: "alice".into(),
        };
        let bob = Principal::User {
            user_id: "bob".into(),
        };
        let owned = session(Some("alice"));
        assert!(alice.may_access(&owned));
        assert!(!bob.may_access(&owned));
        assert!(!Principal::Anonymous.may_access(&owned));
    }

    #[test]
    fn anonymous_sessions_are_reachable_by_id() {
        let open = session(None);
        assert!(Principal::Anonymous.may_access(&open));
        assert!(Principal::User {
            user_id: "x".into()
        }
        .may_access(&open));
    }
}
