//! Who may trigger a tool (SERVER.md §10.3, without upstream's holes): an agent's
//! `enabledTools[].authLevel` and `visibility` against the connection's principal and the
//! session's verified end user.

use super::principal::{Principal, Role};
use crate::protocol::Session;
use crate::store::agent::{AgentDefinition, AuthLevel, Visibility};

/// What the gate decides for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The tool may run.
    Allowed,
    /// An `admin` tool on a public agent, and the principal is not an admin.
    AdminOnly,
    /// An `end_user` tool, and the session's end user is not verified yet.
    NeedsVerifiedUser,
}

/// Whether the session's end user is verified: a signed-in principal, a widget `authContext`
/// that verified when the session was created, or a one-time code passed.
pub fn end_user_verified(principal: &Principal, session: &Session) -> bool {
    principal.identity().is_some()
        || session.verified_user_id.is_some()
        || session.otp_verified_at.is_some()
}

/// The gate for a call of `tool` by the agent (none: every tool runs), given whether the end
/// user is verified. Internal agents run everything.
pub fn decide(
    agent: Option<&AgentDefinition>,
    tool: &str,
    principal: &Principal,
    verified: bool,
) -> Gate {
    let Some(agent) = agent else {
        return Gate::Allowed;
    };
    if agent.visibility == Visibility::Internal {
        return Gate::Allowed;
    }
    let level = agent
        .enabled_tools
        .iter()
        .find(|t| t.tool_id == tool)
        .map(|t| t.auth_level)
        .unwrap_or_default();
    match level {
        AuthLevel::None => Gate::Allowed,
        AuthLevel::Admin => {
            if principal.identity().is_some_and(|i| i.role == Role::Admin) {
                Gate::Allowed
            } else {
                Gate::AdminOnly
            }
        }
        AuthLevel::EndUser if verified => Gate::Allowed,
        AuthLevel::EndUser => Gate::NeedsVerifiedUser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::Identity;
    use serde_json::json;

    fn agent(visibility: &str) -> AgentDefinition {
        AgentDefinition::from_value(json!({
            "id": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11",
            "visibility": visibility,
            "enabledTools": [
                {"toolId": "open", "authLevel": "none"},
                {"toolId": "mine", "authLevel": "end_user"},
                {"toolId": "root", "authLevel": "admin"}
            ]
        }))
        .unwrap()
    }

    fn user(role: Role) -> Principal {
        Principal::User(Identity {
            user_id: "u".into(),
            org_id: None,
            role,
            name: None,
            email: None,
            groups: Vec::new(),
        })
    }

    #[test]
    fn every_cell_of_the_matrix() {
        let public = agent("public");
        let internal = agent("internal");
        let anon = Principal::Anonymous;
        let admin = user(Role::Admin);
        let basic = user(Role::Basic);
        let d = |a: &AgentDefinition, tool, p: &Principal, v| decide(Some(a), tool, p, v);
        // Internal agents run everything, for anyone.
        for tool in ["open", "mine", "root"] {
            assert_eq!(d(&internal, tool, &anon, false), Gate::Allowed, "{tool}");
        }
        assert_eq!(d(&public, "open", &anon, false), Gate::Allowed);
        assert_eq!(d(&public, "mine", &anon, false), Gate::NeedsVerifiedUser);
        assert_eq!(d(&public, "mine", &anon, true), Gate::Allowed);
        assert_eq!(d(&public, "root", &anon, true), Gate::AdminOnly);
        assert_eq!(d(&public, "root", &basic, true), Gate::AdminOnly);
        assert_eq!(d(&public, "root", &admin, true), Gate::Allowed);
        // No agent definition: nothing is gated.
        assert_eq!(decide(None, "root", &anon, false), Gate::Allowed);
    }
}
