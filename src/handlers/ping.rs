//! `ping` → `pong` with the server clock.

use super::HandlerResult;
use crate::protocol::{events, PingRequest};
use crate::server::connection::Connection;

/// Answers a ping.
pub async fn handle(conn: &Connection, req: PingRequest) -> HandlerResult {
    conn.send(events::pong(req.request_id)).await;
    Ok(())
}
