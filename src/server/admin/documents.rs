//! `/admin/documents` and `/admin/search`: the knowledge-base API (ingest, list, read, delete,
//! search), for curators and admins.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Caller;
use crate::auth::Role;
use crate::knowledge::{DocumentInput, KnowledgeError, Origin, Outcome};
use crate::protocol::validate::bounded;
use crate::protocol::{ClientError, ErrorCode};
use crate::server::AppState;
use crate::store::acl::Acl;
use crate::store::{ChunkHit, DocumentRecord, Reader, StoreError};

/// `POST /admin/documents` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestBody {
    source: String,
    content: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    acl: Option<Acl>,
}

/// A document as the admin API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DocumentView<'a> {
    id: &'a str,
    source: &'a str,
    title: &'a str,
    chunks: u32,
    content_hash: &'a str,
    origin: &'a str,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acl: Option<&'a Acl>,
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding_model: Option<&'a str>,
}

impl<'a> From<&'a DocumentRecord> for DocumentView<'a> {
    fn from(document: &'a DocumentRecord) -> Self {
        Self {
            id: &document.id,
            source: &document.source,
            title: &document.title,
            chunks: document.chunk_count,
            content_hash: &document.content_hash,
            origin: &document.origin,
            created_at: document.created_at,
            updated_at: document.updated_at,
            url: document.url.as_deref(),
            acl: document.acl.as_ref(),
            embedding_model: document.embedding_model.as_deref(),
        }
    }
}

/// `POST /admin/documents` answer.
#[derive(Serialize)]
struct IngestAnswer<'a> {
    outcome: &'static str,
    document: DocumentView<'a>,
}

/// `GET /admin/documents` answer.
#[derive(Serialize)]
struct DocumentList<'a> {
    documents: Vec<DocumentView<'a>>,
}

/// `GET /admin/documents/{id}` answer.
#[derive(Serialize)]
struct DocumentAnswer<'a> {
    document: DocumentView<'a>,
}

/// One `GET /admin/search` result.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchResult<'a> {
    document_id: &'a str,
    source: &'a str,
    title: &'a str,
    chunk: &'a str,
    score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

impl<'a> From<&'a ChunkHit> for SearchResult<'a> {
    fn from(hit: &'a ChunkHit) -> Self {
        Self {
            document_id: &hit.document_id,
            source: &hit.source,
            title: &hit.title,
            chunk: &hit.text,
            score: hit.score,
            url: hit.url.as_deref(),
        }
    }
}

/// `GET /admin/search` answer.
#[derive(Serialize)]
struct SearchAnswer<'a> {
    results: Vec<SearchResult<'a>>,
}

/// The answer to a failed storage call.
pub(super) fn storage_failure(e: &StoreError) -> ClientError {
    e.to_client("storage failed")
}

/// The document and search routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/documents", get(list).post(ingest))
        .route("/admin/documents/{*id}", get(read).delete(remove))
        .route("/admin/search", get(search))
}

async fn ingest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ClientError> {
    caller.require(Role::Curator)?;
    let body: IngestBody = serde_json::from_slice(&body)
        .map_err(|e| ClientError::validation(format!("invalid document: {e}")))?;
    let ingested = state
        .runtime
        .knowledge
        .ingest(DocumentInput {
            source: body.source,
            content: body.content,
            url: body.url,
            acl: body.acl,
            origin: Origin::Admin,
        })
        .await
        .map_err(|e| match e {
            KnowledgeError::Invalid(message) => ClientError::validation(message),
            KnowledgeError::Store(e) => storage_failure(&e),
            KnowledgeError::Io(detail) => {
                ClientError::new(ErrorCode::InternalError, "ingest failed").with_detail(detail)
            }
        })?;
    let status = if ingested.outcome == Outcome::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    tracing::info!(source = %ingested.document.source, outcome = ingested.outcome.as_str(), "document ingested");
    let answer = IngestAnswer {
        outcome: ingested.outcome.as_str(),
        document: (&ingested.document).into(),
    };
    Ok((status, Json(answer)).into_response())
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ClientError> {
    caller.require(Role::Curator)?;
    let documents = state
        .runtime
        .store
        .list_documents()
        .await
        .map_err(|e| storage_failure(&e))?;
    let answer = DocumentList {
        documents: documents.iter().map(DocumentView::from).collect(),
    };
    Ok(Json(answer).into_response())
}

fn not_found(id: &str) -> ClientError {
    ClientError::new(
        ErrorCode::NotFound,
        format!("no document with id '{}'", bounded(id, 200)),
    )
}

async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ClientError> {
    caller.require(Role::Curator)?;
    let document = state
        .runtime
        .store
        .get_document(&id)
        .await
        .map_err(|e| storage_failure(&e))?
        .ok_or_else(|| not_found(&id))?;
    let answer = DocumentAnswer {
        document: (&document).into(),
    };
    Ok(Json(answer).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ClientError> {
    caller.require(Role::Curator)?;
    let removed = state
        .runtime
        .store
        .delete_document(&id)
        .await
        .map_err(|e| storage_failure(&e))?;
    if !removed {
        return Err(not_found(&id));
    }
    tracing::info!(id = %id, "document deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/search` parameters.
#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<SearchParams>,
) -> Result<Response, ClientError> {
    caller.require(Role::Curator)?;
    let Some(q) = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
        return Err(ClientError::validation("the 'q' parameter is required"));
    };
    let limit = match params.limit.as_deref().map(str::trim) {
        None | Some("") => 5,
        Some(text) => match text.parse::<i64>() {
            Ok(n) => n.clamp(1, 50) as u32,
            Err(_) => return Err(ClientError::validation("'limit' must be an integer")),
        },
    };
    let hits = state
        .runtime
        .knowledge
        .search(q, limit, Reader::Admin)
        .await
        .map_err(|e| storage_failure(&e))?;
    let answer = SearchAnswer {
        results: hits.iter().map(SearchResult::from).collect(),
    };
    Ok(Json(answer).into_response())
}
