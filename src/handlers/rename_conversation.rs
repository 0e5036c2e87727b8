//! `rename_conversation`: sets the title of a conversation the caller may act on (an unknown or
//! foreign one reads as `CONVERSATION_NOT_FOUND`).

use super::{Context, HandlerResult};
use crate::auth::owned_conversation;
use crate::protocol::{
    events, ClientError, ErrorCode, RenameConversationRequest, RenameConversationResponse,
};

/// Stores the new title and answers with it.
pub async fn handle(ctx: &Context, req: RenameConversationRequest) -> HandlerResult {
    let title = req.title.as_str().trim();
    if title.is_empty() {
        return Err(ClientError::validation(
            "missing 'title': it must contain a non-whitespace character",
        ));
    }
    let record =
        owned_conversation(ctx.store().as_ref(), &ctx.principal, req.conversation_id).await?;
    let renamed = ctx
        .store()
        .rename_conversation(record.id, title)
        .await
        .map_err(|e| e.to_client("could not rename the conversation"))?;
    if !renamed {
        return Err(ClientError::new(
            ErrorCode::ConversationNotFound,
            format!("conversation '{}' not found", record.id),
        ));
    }
    let payload = RenameConversationResponse {
        conversation_id: record.id,
        title: title.to_string(),
    };
    ctx.send(events::immediate(
        req.request_id,
        200,
        "Conversation renamed",
        &payload,
    ))
    .await;
    Ok(())
}
