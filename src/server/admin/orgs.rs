//! `/admin/orgs/{org}/gateway-key`: an organisation's own model-gateway key, used by its turns
//! instead of `SMOOAI_GATEWAY_KEY`. Write-only: it is never answered or logged.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Extension, Router};
use serde::Deserialize;

use super::documents::storage_failure;
use super::Caller;
use crate::auth::Role;
use crate::protocol::{ClientError, ErrorCode};
use crate::server::AppState;

/// Longest accepted key.
const MAX_KEY_CHARS: usize = 4096;

/// The gateway-key routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/orgs/{org}/gateway-key", put(set).delete(clear))
}

/// `PUT` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    key: String,
}

/// `FORBIDDEN` unless the caller administers `org`.
fn check(caller: &Caller, org: &str) -> Result<(), ClientError> {
    caller.require(Role::Admin)?;
    if !caller.sees(Some(org)) {
        return Err(ClientError::new(
            ErrorCode::Forbidden,
            "an organisation admin can only set its own organisation's key",
        ));
    }
    Ok(())
}

async fn set(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response, ClientError> {
    check(&caller, &org)?;
    // The body's text is never echoed in errors: it holds the key.
    let body: KeyBody = serde_json::from_slice(&body)
        .map_err(|_| ClientError::validation("the body must be {\"key\": \"<gateway key>\"}"))?;
    let key = body.key.trim();
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(ClientError::validation(
            "'key' must be 1 to 4096 printable characters",
        ));
    }
    state
        .runtime
        .store
        .set_gateway_key(&org, Some(key))
        .await
        .map_err(|e| storage_failure(&e))?;
    tracing::info!(%org, "organisation gateway key set");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(org): Path<String>,
) -> Result<Response, ClientError> {
    check(&caller, &org)?;
    state
        .runtime
        .store
        .set_gateway_key(&org, None)
        .await
        .map_err(|e| storage_failure(&e))?;
    tracing::info!(%org, "organisation gateway key cleared");
    Ok(StatusCode::NO_CONTENT.into_response())
}
