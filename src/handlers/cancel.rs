//! `cancel`: stops a running turn — here, or on the pod running it — which then ends with
//! `cancelled`. Nothing is sent when no matching turn runs; a turn whose pod does not answer
//! (it died and its lease has not expired yet) is an `AGENT_ERROR`.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::backplane::{PodReply, PodRequest};
use crate::protocol::{CancelRequest, ErrorCode};

/// Cancels the named session's turn, or this connection's turns.
pub async fn handle(ctx: &Context, req: CancelRequest) -> HandlerResult {
    let registry = &ctx.runtime.turns;
    let request_id = req.request_id.as_deref();
    let cancelled = match req.session_id {
        Some(session_id) => {
            let session = owned_session(ctx.store().as_ref(), &ctx.principal, session_id).await?;
            ctx.attach(&session);
            match registry.cancel_session(session.session_id, request_id) {
                0 => {
                    let request = PodRequest::Cancel {
                        session_id,
                        request_id: req.request_id.clone(),
                    };
                    match ctx.runtime.ask_turn_pod(session_id, request).await {
                        Ok(Some(remote)) => match remote.reply {
                            PodReply::Done { count } => count,
                            _ => 0,
                        },
                        Ok(None) => 0,
                        // A turn runs (its lease is held) but its pod does not answer: say so
                        // instead of letting the client wait for a `cancelled` that never comes.
                        Err(e) => return Err(super::pod_unreachable(ErrorCode::AgentError, e)),
                    }
                }
                n => n,
            }
        }
        None => registry.cancel_connection(ctx.connection_id, request_id),
    };
    tracing::debug!(connection = %ctx.connection_id, cancelled, "cancel handled");
    Ok(())
}
