//! `cancel`: stops a running turn, which then ends with `cancelled`. Nothing is sent when no
//! matching turn runs.

use super::HandlerResult;
use crate::auth::owned_session;
use crate::protocol::CancelRequest;
use crate::server::connection::Connection;

/// Cancels the named session's turn, or this connection's turns.
pub async fn handle(conn: &Connection, req: CancelRequest) -> HandlerResult {
    let registry = &conn.state.runtime.turns;
    let request_id = req.request_id.as_deref();
    let cancelled = match req.session_id {
        Some(session_id) => {
            let session = owned_session(conn, session_id).await?;
            registry.cancel_session(session.session_id, request_id)
        }
        None => registry.cancel_connection(conn.id, request_id),
    };
    tracing::debug!(connection = %conn.id, cancelled, "cancel handled");
    Ok(())
}
