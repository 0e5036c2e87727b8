//! `ping` → `pong` with the server clock.

use super::{Context, HandlerResult};
use crate::protocol::{events, PingRequest};

/// Answers a ping.
pub async fn handle(ctx: &Context, req: PingRequest) -> HandlerResult {
    ctx.send(events::pong(req.request_id)).await;
    Ok(())
}
