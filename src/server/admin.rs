//! `/admin`: the knowledge-base HTTP API (ingest, list, read, delete, search), mounted only when
//! `SMOOTH_AGENT_ADMIN_TOKEN` is set and guarded by that token as a Bearer token.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::knowledge::acl::Acl;
use crate::knowledge::{DocumentInput, KnowledgeError, Origin, Outcome};
use crate::protocol::now_ms;
use crate::store::{DocumentRecord, Reader};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The `/admin` routes, or `None` when no admin token is configured.
pub fn routes(state: &AppState) -> Option<Router<AppState>> {
    let token = state
        .config
        .admin_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())?
        .to_string();
    let router = Router::new()
        .route("/admin/documents", get(list).post(ingest))
        .route("/admin/documents/{*id}", get(read).delete(remove))
        .route("/admin/search", get(search))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let token = token.clone();
            async move { authorize(&token, request, next).await }
        }));
    Some(router)
}

/// An error answer in the protocol's error envelope.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let detail = json!({"code": code, "message": message.into()});
    (
        status,
        Json(json!({
            "type": "error",
            "error": detail,
            "data": {"error": detail},
            "timestamp": now_ms(),
        })),
    )
        .into_response()
}

async fn authorize(token: &str, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "an 'Authorization: Bearer <admin token>' header is required",
        ),
        Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => {
            next.run(request).await
        }
        Some(_) => {
            tracing::warn!("admin request with a wrong token");
            error(
                StatusCode::UNAUTHORIZED,
                "INVALID_TOKEN",
                "the admin token is not valid",
            )
        }
    }
}

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

fn document_json(document: &DocumentRecord) -> Value {
    let mut value = json!({
        "id": document.id,
        "source": document.source,
        "title": document.title,
        "chunks": document.chunk_count,
        "contentHash": document.content_hash,
        "origin": document.origin,
        "createdAt": document.created_at,
        "updatedAt": document.updated_at,
    });
    if let Some(url) = &document.url {
        value["url"] = json!(url);
    }
    if let Some(acl) = &document.acl {
        value["acl"] = json!(acl);
    }
    if let Some(model) = &document.embedding_model {
        value["embeddingModel"] = json!(model);
    }
    value
}

fn storage_failure(detail: impl std::fmt::Display) -> Response {
    tracing::error!(error = %detail, "admin storage failure");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "storage failed",
    )
}

async fn ingest(State(state): State<AppState>, body: Bytes) -> Response {
    let body: IngestBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                format!("invalid document: {e}"),
            )
        }
    };
    let result = state
        .runtime
        .knowledge
        .ingest(DocumentInput {
            source: body.source,
            content: body.content,
            url: body.url,
            acl: body.acl,
            origin: Origin::Admin,
        })
        .await;
    match result {
        Ok(ingested) => {
            let status = if ingested.outcome == Outcome::Created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            tracing::info!(source = %ingested.document.source, outcome = ingested.outcome.as_str(), "document ingested");
            (
                status,
                Json(json!({
                    "outcome": ingested.outcome.as_str(),
                    "document": document_json(&ingested.document),
                })),
            )
                .into_response()
        }
        Err(KnowledgeError::Invalid(message)) => {
            error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
        }
        Err(e) => storage_failure(e),
    }
}

async fn list(State(state): State<AppState>) -> Response {
    match state.store.list_documents().await {
        Ok(documents) => Json(json!({
            "documents": documents.iter().map(document_json).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => storage_failure(e),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "no document with id '{}'",
            crate::protocol::validate::bounded(id, 200)
        ),
    )
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.get_document(&id).await {
        Ok(Some(document)) => Json(json!({"document": document_json(&document)})).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => storage_failure(e),
    }
}

async fn remove(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store.delete_document(&id).await {
        Ok(true) => {
            tracing::info!(id = %id, "document deleted");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(&id),
        Err(e) => storage_failure(e),
    }
}

/// `GET /admin/search` parameters.
#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
    limit: Option<String>,
}

async fn search(State(state): State<AppState>, Query(params): Query<SearchParams>) -> Response {
    let Some(q) = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "the 'q' parameter is required",
        );
    };
    let limit = match params.limit.as_deref().map(str::trim) {
        None | Some("") => 5,
        Some(text) => match text.parse::<i64>() {
            Ok(n) => n.clamp(1, 50) as u32,
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "'limit' must be an integer",
                )
            }
        },
    };
    match state
        .runtime
        .knowledge
        .search(q, limit, Reader::Admin)
        .await
    {
        Ok(hits) => Json(json!({
            "results": hits.iter().map(|h| {
                let mut value = json!({
                    "documentId": h.document_id,
                    "source": h.source,
                    "title": h.title,
                    "chunk": h.text,
                    "score": h.score,
                });
                if let Some(url) = &h.url {
                    value["url"] = json!(url);
                }
                value
            }).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => storage_failure(e),
    }
}
