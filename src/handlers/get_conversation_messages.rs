//! `get_conversation_messages`: one page of a session's history, newest first.

use super::{Context, HandlerResult};
use crate::auth::owned_session;
use crate::protocol::{
    events, ClientError, GetConversationMessagesRequest, GetConversationMessagesResponse,
};
use crate::store::{PageRequest, StoreError};

/// Page size when the client gives no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page served; larger limits are capped to it.
pub const MAX_LIMIT: u32 = 100;

/// Reads one page and answers with `{messages, hasMore, nextCursor}`.
pub async fn handle(ctx: &Context, req: GetConversationMessagesRequest) -> HandlerResult {
    let session = owned_session(ctx.store().as_ref(), &ctx.principal, req.session_id).await?;
    ctx.attach(&session);
    let limit = req.limit.map_or(DEFAULT_LIMIT, |limit| {
        u32::try_from(limit.get())
            .unwrap_or(u32::MAX)
            .min(MAX_LIMIT)
    });
    let page = PageRequest {
        limit,
        cursor: req.cursor.map(String::from),
        before: req.before,
    };
    let page = ctx
        .store()
        .list_messages(session.conversation_id, page)
        .await
        .map_err(|e| match e {
            StoreError::UnknownCursor => ClientError::validation(
                "invalid 'cursor': it does not name a message of this conversation",
            ),
            e @ StoreError::Backend(_) => e.to_client("failed to list messages"),
        })?;
    let next_cursor = if page.has_more {
        page.messages.last().map(|m| m.id.to_string())
    } else {
        None
    };
    let payload = GetConversationMessagesResponse {
        has_more: next_cursor.is_some(),
        next_cursor,
        messages: page.messages,
    };
    ctx.send(events::immediate(
        req.request_id,
        200,
        "ConversationMessages",
        &payload,
    ))
    .await;
    Ok(())
}
