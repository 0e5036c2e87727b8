//! `/admin/agents`: agent definitions, for admins of the agent's organisation. The widget
//! secret is write-only: answers say whether one is set, never what it is.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::documents::storage_failure;
use super::Caller;
use crate::auth::Role;
use crate::protocol::{ClientError, ErrorCode};
use crate::server::AppState;
use crate::store::agent::AgentDefinition;
use crate::store::AgentRecord;

/// The agent routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/agents", get(list))
        .route("/admin/agents/{id}", get(read).put(write).delete(remove))
}

/// An agent as the admin API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentView {
    #[serde(flatten)]
    definition: AgentDefinition,
    /// Whether the widget block has an `authSecret` (never shown).
    widget_secret_set: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AgentRecord> for AgentView {
    fn from(record: AgentRecord) -> Self {
        let mut definition = record.definition;
        let widget_secret_set = definition
            .widget
            .as_mut()
            .and_then(|w| w.auth_secret.take())
            .is_some();
        Self {
            definition,
            widget_secret_set,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

#[derive(Serialize)]
struct AgentList {
    agents: Vec<AgentView>,
}

#[derive(Serialize)]
struct AgentAnswer {
    agent: AgentView,
}

fn not_found(id: &str) -> ClientError {
    ClientError::new(
        ErrorCode::NotFound,
        format!(
            "no agent with id '{}'",
            crate::protocol::validate::bounded(id, 200)
        ),
    )
}

/// The stored agent `id`, if the caller may see it (another organisation's reads as absent).
async fn visible(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Option<AgentRecord>, ClientError> {
    let record = state
        .runtime
        .store
        .get_agent(id)
        .await
        .map_err(|e| storage_failure(&e))?;
    Ok(record.filter(|r| caller.sees(r.definition.organization_id.as_deref())))
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ClientError> {
    caller.require(Role::Admin)?;
    let agents = state
        .runtime
        .store
        .list_agents(caller.org())
        .await
        .map_err(|e| storage_failure(&e))?;
    let answer = AgentList {
        agents: agents.into_iter().map(AgentView::from).collect(),
    };
    Ok(Json(answer).into_response())
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ClientError> {
    caller.require(Role::Admin)?;
    let record = visible(&state, &caller, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    let answer = AgentAnswer {
        agent: record.into(),
    };
    Ok(Json(answer).into_response())
}

/// `PUT /admin/agents/{id}`: creates (201) or replaces (200) the definition. An organisation
/// admin's agents are in its organisation; a widget block without `authSecret` keeps the
/// stored secret.
async fn write(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ClientError> {
    caller.require(Role::Admin)?;
    let mut value: Value = serde_json::from_slice(&body)
        .map_err(|e| ClientError::validation(format!("invalid agent: {e}")))?;
    let Value::Object(fields) = &mut value else {
        return Err(ClientError::validation(
            "invalid agent: expected a JSON object",
        ));
    };
    match fields.get("id") {
        None => {
            fields.insert("id".into(), Value::String(id.clone()));
        }
        Some(Value::String(given)) if given.trim() == id.trim() => {}
        Some(_) => {
            return Err(ClientError::validation(
                "invalid agent: 'id' must match the id in the path",
            ))
        }
    }
    if let Some(org) = caller.org() {
        match fields.get("organizationId") {
            None | Some(Value::Null) => {
                fields.insert("organizationId".into(), Value::String(org.to_string()));
            }
            Some(Value::String(given)) if given.trim() == org => {}
            Some(_) => {
                return Err(ClientError::new(
                    ErrorCode::Forbidden,
                    "an organisation admin can only define agents of its own organisation",
                ))
            }
        }
    }
    let mut agent = AgentDefinition::from_value(value)
        .map_err(|e| ClientError::validation(format!("invalid agent: {e}")))?;
    let existing = state
        .runtime
        .store
        .get_agent(&agent.id)
        .await
        .map_err(|e| storage_failure(&e))?;
    if let Some(existing) = &existing {
        if !caller.sees(existing.definition.organization_id.as_deref()) {
            // Another organisation's agent: as if it did not exist, and not overwritable.
            return Err(ClientError::new(
                ErrorCode::Forbidden,
                "this agent id is taken by another organisation",
            ));
        }
        if let (Some(widget), Some(old)) = (agent.widget.as_mut(), &existing.definition.widget) {
            if widget.auth_secret.is_none() {
                widget.auth_secret = old.auth_secret.clone();
            }
        }
    }
    let stored = state
        .runtime
        .store
        .put_agent(&agent)
        .await
        .map_err(|e| storage_failure(&e))?;
    tracing::info!(agent = %agent.id, "agent stored");
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let answer = AgentAnswer {
        agent: stored.into(),
    };
    Ok((status, Json(answer)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ClientError> {
    caller.require(Role::Admin)?;
    if visible(&state, &caller, &id).await?.is_none() {
        return Err(not_found(&id));
    }
    state
        .runtime
        .store
        .delete_agent(&id)
        .await
        .map_err(|e| storage_failure(&e))?;
    tracing::info!(agent = %id, "agent deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
