//! `POST /admin/publish {target: {sessionId} | {agentId}, event}`: delivers an event to every
//! socket of a session, or of an agent's sessions, on every pod (through the backplane). Admin
//! only, scoped to the caller's organisation; the event must be a valid event of the spec (a
//! server never sends a frame its clients cannot parse). Answers 202 once published.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::documents::storage_failure;
use super::Caller;
use crate::auth::Role;
use crate::backplane::Target;
use crate::protocol::validate;
use crate::protocol::{ClientError, ErrorCode, Event};
use crate::server::AppState;

/// Largest accepted body, in bytes.
const MAX_PUBLISH_BYTES: usize = 64 * 1024;

/// The publish route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/publish", post(publish))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    target: TargetBody,
    event: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TargetBody {
    session_id: Option<Uuid>,
    agent_id: Option<String>,
}

async fn publish(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ClientError> {
    caller.require(Role::Admin)?;
    if body.len() > MAX_PUBLISH_BYTES {
        return Err(ClientError::validation(format!(
            "the body is larger than {MAX_PUBLISH_BYTES} bytes"
        )));
    }
    let body: Body = serde_json::from_slice(&body).map_err(|e| {
        ClientError::validation(format!(
            "the body must be {{\"target\": {{\"sessionId\"}} or {{\"agentId\"}}, \"event\": {{…}}}}: {e}"
        ))
    })?;
    let store = &state.runtime.store;
    let target = match (body.target.session_id, body.target.agent_id) {
        (Some(session_id), None) => {
            let session = store
                .get_session(session_id)
                .await
                .map_err(|e| storage_failure(&e))?
                .filter(|s| caller.sees(s.organization_id.as_deref()))
                .ok_or_else(|| ClientError::new(ErrorCode::SessionNotFound, "no such session"))?;
            Target::SessionId(session.session_id)
        }
        (None, Some(agent_id)) if !agent_id.trim().is_empty() => {
            let agent = store
                .get_agent(&agent_id)
                .await
                .map_err(|e| storage_failure(&e))?;
            // A stored agent must be the caller's; sessions of an unstored agent id belong to
            // the default configuration, which only the admin token may address.
            let allowed = match &agent {
                Some(record) => caller.sees(record.definition.organization_id.as_deref()),
                None => caller.org().is_none(),
            };
            if !allowed {
                return Err(ClientError::new(ErrorCode::NotFound, "no such agent"));
            }
            Target::AgentId(agent_id)
        }
        _ => {
            return Err(ClientError::validation(
                "'target' must name exactly one of 'sessionId' and 'agentId'",
            ))
        }
    };
    let name = body.event["type"].as_str().unwrap_or_default().to_string();
    if let Err(problems) = validate::check_event(&name, &body.event) {
        let first = problems.into_iter().next().unwrap_or_default();
        return Err(ClientError::validation(format!(
            "'event' is not a valid event of the protocol: {}",
            validate::bounded(&first, 300)
        )));
    }
    let event: Event = serde_json::from_value(body.event).map_err(|e| {
        ClientError::validation(format!("'event' is not a valid event of the protocol: {e}"))
    })?;
    state
        .runtime
        .backplane
        .publish(target, &event)
        .await
        .map_err(|e| {
            ClientError::new(ErrorCode::Overloaded, "the event could not be published")
                .with_detail(e.to_string())
        })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"published": true, "type": name})),
    )
        .into_response())
}
