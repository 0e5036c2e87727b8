//! `list_conversations`: the caller's own conversations, most recently active first, with a
//! title (the given one, else the start of the first message), the last activity and the message
//! count. An anonymous connection owns none (anonymous conversations are reachable only by id).

use super::{Context, HandlerResult};
use crate::protocol::{
    events, ListConversationsRequest, ListConversationsResponse, ListConversationsSummary,
};
use crate::store::ConversationQuery;

/// Conversations answered when the client gives no `limit`.
const DEFAULT_LIMIT: u32 = 50;
/// Most conversations answered at once.
const MAX_LIMIT: u32 = 100;
/// Characters of the first message a default title keeps.
const TITLE_CHARS: usize = 60;
/// The title of a conversation nothing has been said in yet.
const UNTITLED: &str = "New conversation";

/// Answers with the caller's conversations.
pub async fn handle(ctx: &Context, req: ListConversationsRequest) -> HandlerResult {
    let limit = req
        .limit
        .map_or(DEFAULT_LIMIT, |l| l.get().min(u64::from(MAX_LIMIT)) as u32);
    let conversations = match ctx.principal.user_id() {
        None => Vec::new(),
        Some(user) => {
            let (records, _more) = ctx
                .store()
                .list_conversations(ConversationQuery {
                    organization_id: None,
                    owner: Some((user.to_string(), ctx.principal.org_id().map(str::to_string))),
                    limit,
                    offset: 0,
                    by_activity: true,
                })
                .await
                .map_err(|e| e.to_client("could not list the conversations"))?;
            records
                .into_iter()
                .map(|record| ListConversationsSummary {
                    conversation_id: record.id,
                    title: title(record.title.as_deref()),
                    updated_at: record.updated_at,
                    message_count: record.message_count,
                })
                .collect()
        }
    };
    let payload = ListConversationsResponse { conversations };
    ctx.send(events::immediate(
        req.request_id,
        200,
        "Conversations",
        &payload,
    ))
    .await;
    Ok(())
}

/// A conversation's display title: its text with whitespace collapsed, cut to
/// [`TITLE_CHARS`] characters (marked with an ellipsis), or [`UNTITLED`] when there is none.
pub(super) fn title(text: Option<&str>) -> String {
    let words: Vec<&str> = text.unwrap_or_default().split_whitespace().collect();
    if words.is_empty() {
        return UNTITLED.to_string();
    }
    let joined = words.join(" ");
    if joined.chars().count() <= TITLE_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(TITLE_CHARS).collect();
    cut = cut.trim_end().to_string();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::title;

    #[test]
    fn titles_collapse_whitespace_and_cut_long_text() {
        assert_eq!(title(None), "New conversation");
        assert_eq!(title(Some("  \n ")), "New conversation");
        assert_eq!(title(Some("Where is\n  my order?")), "Where is my order?");
        let long = "é".repeat(80);
        let cut = title(Some(&long));
        assert_eq!(cut.chars().count(), 61);
        assert!(cut.ends_with('…'));
    }
}
