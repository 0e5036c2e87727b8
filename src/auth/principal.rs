//! Who is on a connection or behind an admin request: nobody in particular, or a verified
//! identity with an organisation, a role and groups.

use serde::Serialize;

use crate::protocol::Session;
use crate::store::acl::Access;

/// What a verified identity may do, lowest first: `basic < curator < admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Chats and reads its own conversations (the claim values `basic` and `user`).
    Basic,
    /// Also curates knowledge documents.
    Curator,
    /// Also manages agents and gateway keys.
    Admin,
}

impl Role {
    /// The role a token claims; `None` for a value that is not a role (the token is invalid).
    pub fn parse(claim: &str) -> Option<Role> {
        match claim {
            "basic" | "user" => Some(Role::Basic),
            "curator" => Some(Role::Curator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// The user id (the token's `sub`).
    pub user_id: String,
    /// The organisation (`org` or `org_id`), when the token names one.
    #[serde(rename = "orgId", skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// Display name (`name`).
    #[serde(rename = "displayName", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E-mail address (`email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Groups (`groups`), which document access lists name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The identity behind a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No verified identity.
    Anonymous,
    /// A verified user.
    User(Identity),
}

impl Principal {
    /// The verified identity, when there is one.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Principal::Anonymous => None,
            Principal::User(identity) => Some(identity),
        }
    }

    /// The user id, when authenticated.
    pub fn user_id(&self) -> Option<&str> {
        self.identity().map(|i| i.user_id.as_str())
    }

    /// The organisation, when authenticated with one.
    pub fn org_id(&self) -> Option<&str> {
        self.identity().and_then(|i| i.org_id.as_deref())
    }

    /// The identity knowledge retrieval runs with (anonymous readers see only unrestricted
    /// documents).
    pub fn access(&self) -> Access {
        match self {
            Principal::Anonymous => Access::anonymous(),
            Principal::User(identity) => Access {
                user_id: Some(identity.user_id.clone()),
                groups: identity.groups.clone(),
            },
        }
    }

    /// Whether this principal may act on `session`: a session created by an authenticated user
    /// belongs to that user in that organisation alone; anonymous sessions are reachable by
    /// whoever holds the id.
    pub fn may_access(&self, session: &Session) -> bool {
        self.may_own(
            session.owner_id.as_deref(),
            session.owner_organization_id.as_deref(),
        )
    }

    /// Whether this principal may act on something owned by `owner` in `owner_org` (`None`:
    /// anonymous, reachable by whoever holds its id).
    pub fn may_own(&self, owner: Option<&str>, owner_org: Option<&str>) -> bool {
        match owner {
            None => true,
            Some(owner) => self.identity().is_some_and(|identity| {
                identity.user_id == owner && identity.org_id.as_deref() == owner_org
            }),
        }
    }
}
