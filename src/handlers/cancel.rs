//! `cancel`: stops a running turn, which then ends with `cancelled`. Nothing is sent when no
//! matching turn runs.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::CancelRequest;

/// Cancels the named session's turn, or this connection's turns.
pub async fn handle(ctx: &Context, req: CancelRequest) -> HandlerResult {
    let registry = &ctx.runtime.turns;
    let request_id = req.request_id.as_deref();
    let cancelled = match req.session_id {
        Some(session_id) => {
            let session = owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await?;
            registry.cancel_session(session.session_id, request_id)
        }
        None => registry.cancel_connection(ctx.connection_id, request_id),
    };
    tracing::debug!(connection = %ctx.connection_id, cancelled, "cancel handled");
    Ok(())
}
