//! `/admin/conversations`: conversations of the caller's organisation, newest first, and their
//! messages. Curators and admins see the whole organisation; a basic user only what it started.
//! Another organisation's conversation reads as absent.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::documents::storage_failure;
use super::Caller;
use crate::auth::Role;
use crate::protocol::{ClientError, ConversationMessage, ErrorCode};
use crate::server::AppState;
use crate::store::{ConversationQuery, ConversationRecord, PageRequest};

/// Conversations per page when the caller gives no `limit`.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page.
const MAX_LIMIT: u32 = 200;
/// Most messages answered for one conversation.
const MAX_MESSAGES: u32 = 200;

/// The conversation routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/conversations", get(list))
        .route("/admin/conversations/{id}/messages", get(messages))
}

/// `GET /admin/conversations` parameters.
#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

/// A conversation as listed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationView {
    id: Uuid,
    name: String,
    platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ConversationRecord> for ConversationView {
    fn from(record: ConversationRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            platform: record.platform,
            organization_id: record.organization_id,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationList {
    conversations: Vec<ConversationView>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageList {
    conversation_id: Uuid,
    messages: Vec<ConversationMessage>,
}

/// Conversations a basic caller may see are the ones it started.
fn owner_filter(caller: &Caller) -> Option<(String, Option<String>)> {
    match caller {
        Caller::User { identity, .. } if identity.role < Role::Curator => {
            Some((identity.user_id.clone(), identity.org_id.clone()))
        }
        _ => None,
    }
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<ListParams>,
) -> Result<Response, ClientError> {
    caller.require(Role::Basic)?;
    let limit = match params.limit.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| ClientError::validation("'limit' must be an integer"))?
            .clamp(1, i64::from(MAX_LIMIT)) as u32,
    };
    let offset = match params.cursor.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ClientError::validation("'cursor' must be a cursor from a previous page")
        })?,
    };
    let (records, more) = state
        .runtime
        .store
        .list_conversations(ConversationQuery {
            organization_id: caller.org().map(str::to_string),
            owner: owner_filter(&caller),
            limit,
            offset,
            by_activity: false,
        })
        .await
        .map_err(|e| storage_failure(&e))?;
    let next_cursor = more.then(|| (offset + records.len() as u64).to_string());
    let answer = ConversationList {
        conversations: records.into_iter().map(ConversationView::from).collect(),
        next_cursor,
    };
    Ok(Json(answer).into_response())
}

async fn messages(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ClientError> {
    caller.require(Role::Basic)?;
    let not_found = || ClientError::new(ErrorCode::NotFound, "no such conversation");
    let id = Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
    let record = state
        .runtime
        .store
        .get_conversation(id)
        .await
        .map_err(|e| storage_failure(&e))?
        .filter(|r| caller.sees(r.organization_id.as_deref()))
        .ok_or_else(not_found)?;
    if let Some((user, org)) = owner_filter(&caller) {
        if record.owner_id.as_deref() != Some(user.as_str()) || record.owner_org != org {
            return Err(ClientError::new(
                ErrorCode::Forbidden,
                "a basic user can only read its own conversations",
            ));
        }
    }
    let page = state
        .runtime
        .store
        .list_messages(
            id,
            PageRequest {
                limit: MAX_MESSAGES,
                cursor: None,
                before: None,
            },
        )
        .await
        .map_err(|e| storage_failure(&e))?;
    let mut messages = page.messages;
    messages.reverse();
    Ok(Json(MessageList {
        conversation_id: id,
        messages,
    })
    .into_response())
}
