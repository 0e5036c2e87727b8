//! `/admin`: the HTTP API for operators. Mounted when `SMOOTH_AGENT_ADMIN_TOKEN` is set or a
//! token verifier is configured. A request carries `Authorization: Bearer <token>`: the admin
//! token (a full admin of every organisation) or a token the verifier accepts, whose role and
//! organisation then scope what it may do.
//!
//! - [`documents`]: knowledge documents and search (curator);
//! - [`agents`]: agent definitions (admin);
//! - [`orgs`]: per-organisation gateway keys (admin, write-only);
//! - [`conversations`]: conversations and their messages (basic: own only);
//! - [`publish`]: an event to every socket of a session or agent, on every pod (admin);
//! - `GET /admin/me`: who the caller is.

mod agents;
mod conversations;
mod documents;
mod orgs;
mod publish;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::auth::{Identity, Role, TokenError};
use crate::protocol::{ClientError, ErrorCode};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The holder of `SMOOTH_AGENT_ADMIN_TOKEN`: an admin of every organisation.
    Root,
    /// A verified user, scoped to its organisation.
    User {
        /// The verified identity.
        identity: Identity,
        /// Its organisation (the default organisation when the token names none).
        org: String,
    },
}

impl Caller {
    /// The caller's role.
    pub fn role(&self) -> Role {
        match self {
            Caller::Root => Role::Admin,
            Caller::User { identity, .. } => identity.role,
        }
    }

    /// `FORBIDDEN` unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ClientError> {
        if self.role() >= role {
            Ok(())
        } else {
            let name = match role {
                Role::Basic => "basic",
                Role::Curator => "curator",
                Role::Admin => "admin",
            };
            Err(ClientError::new(
                ErrorCode::Forbidden,
                format!("this needs the {name} role"),
            ))
        }
    }

    /// The organisation the caller is limited to; `None` for the admin token (every one).
    pub fn org(&self) -> Option<&str> {
        match self {
            Caller::Root => None,
            Caller::User { org, .. } => Some(org),
        }
    }

    /// Whether the caller may see data of organisation `org`.
    pub fn sees(&self, org: Option<&str>) -> bool {
        match self.org() {
            None => true,
            Some(mine) => org == Some(mine),
        }
    }
}

/// The `/admin` routes, or `None` when neither an admin token nor a verifier is configured.
pub fn routes(state: &AppState) -> Option<Router<AppState>> {
    if state.config.admin_token.is_none() && !state.auth.verifier.is_enabled() {
        return None;
    }
    let router = Router::new()
        .route("/admin/me", get(me))
        .merge(documents::routes())
        .merge(agents::routes())
        .merge(orgs::routes())
        .merge(conversations::routes())
        .merge(publish::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authorize));
    Some(router)
}

/// Resolves the caller from the bearer token and hands it to the route as an extension.
async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = super::bearer(request.headers(), None).map(str::to_string);
    let caller = match caller(&state, token.as_deref()).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

async fn caller(state: &AppState, token: Option<&str>) -> Result<Caller, ClientError> {
    let org_of = |identity: Identity| {
        let org = identity
            .org_id
            .clone()
            .unwrap_or_else(|| state.auth.default_org.clone());
        Caller::User { identity, org }
    };
    let Some(token) = token else {
        // In development mode (`AUTH_MODE=none`) nobody needs a token.
        if let Some(identity) = state.auth.verifier.without_token().identity() {
            return Ok(org_of(identity.clone()));
        }
        return Err(ClientError::new(
            ErrorCode::Unauthenticated,
            "an 'Authorization: Bearer <token>' header is required",
        ));
    };
    if let Some(admin) = &state.config.admin_token {
        if bool::from(token.as_bytes().ct_eq(admin.expose().as_bytes())) {
            return Ok(Caller::Root);
        }
    }
    match state.auth.verifier.verify(token).await {
        Ok(identity) => Ok(org_of(identity)),
        Err(e) => {
            if !matches!(e, TokenError::Disabled) {
                tracing::warn!(reason = %e, "admin request with a refused token");
            } else {
                tracing::warn!("admin request with a wrong token");
            }
            let message = if state.config.admin_token.is_some() && !state.auth.verifier.is_enabled()
            {
                "the admin token is not valid"
            } else {
                "the token is not valid"
            };
            Err(ClientError::new(ErrorCode::InvalidToken, message))
        }
    }
}

/// `GET /admin/me` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Me<'a> {
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
}

async fn me(Extension(caller): Extension<Caller>) -> Response {
    let me = match &caller {
        Caller::Root => Me {
            user_id: "admin-token",
            org_id: None,
            role: Role::Admin,
            display_name: None,
            email: None,
            groups: &[],
        },
        Caller::User { identity, org } => Me {
            user_id: &identity.user_id,
            org_id: Some(org),
            role: identity.role,
            display_name: identity.name.as_deref(),
            email: identity.email.as_deref(),
            groups: &identity.groups,
        },
    };
    Json(me).into_response()
}
