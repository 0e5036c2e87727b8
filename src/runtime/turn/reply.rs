//! The end of a successful turn: the reply made durable, the workflow judged, then
//! `eventual_response` with usage and citations.

use std::collections::HashSet;

use super::{ModelOutput, TurnError, TurnInput};
use crate::knowledge::is_http_url;
use crate::protocol::validate::bounded;
use crate::protocol::{
    Citation, GeneralAgentResponse, GeneralAgentResponseResolutionStatus, MessageDirection,
    SendMessageResponse,
};
use crate::runtime::sink::TurnSink;
use crate::runtime::Runtime;
use crate::store::{self, ChunkHit, NewMessage};

/// Most citations on one reply.
const MAX_CITATIONS: usize = 8;
/// Longest citation snippet, in characters (an ellipsis is added when cut).
const SNIPPET_CHARS: usize = 280;

/// Persists the reply and sends `eventual_response`.
pub(super) async fn finish(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    output: ModelOutput,
) -> Result<(), TurnError> {
    let session = &input.session;
    let reply = output.reply;
    if reply.trim().is_empty() {
        return Err(TurnError::EmptyReply);
    }
    let stored = runtime
        .store
        .append_message(NewMessage {
            id: store::new_id(),
            conversation_id: session.conversation_id,
            organization_id: session.organization_id.clone(),
            direction: MessageDirection::Outbound,
            text: Some(reply.clone()),
            structured_response: None,
            from_participant_id: Some(session.agent_participant_id),
            to_participant_id: Some(session.user_participant_id),
        })
        .await?;
    // The judge runs before the final event, so the next turn always sees the new step.
    super::workflow::advance(runtime, input, &reply).await;
    let usage = output.usage.map(|u| crate::protocol::Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        cost_usd: u.cost_usd,
    });
    sink.eventual(SendMessageResponse {
        message_id: stored.id,
        response: GeneralAgentResponse {
            response_parts: vec![reply],
            customer_happiness_score: 0.5,
            needs_satisfaction_score: 0.5,
            request_summary: String::new(),
            resolution_status: GeneralAgentResponseResolutionStatus::InProgress,
            suggested_next_actions: Vec::new(),
        },
        needs_escalation: false,
        escalation_reason: None,
        usage,
        citations: citations(output.sources),
        directive: output.directive,
    })
    .await;
    Ok(())
}

/// Citations from the turn's sources: deduplicated by document (first wins), at most
/// [`MAX_CITATIONS`], snippets cut to [`SNIPPET_CHARS`], `url` only for http(s) links.
fn citations(sources: Vec<ChunkHit>) -> Vec<Citation> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for hit in sources {
        if out.len() == MAX_CITATIONS {
            break;
        }
        if !seen.insert(hit.document_id.clone()) {
            continue;
        }
        let url = hit
            .url
            .clone()
            .or_else(|| Some(hit.source.clone()))
            .filter(|u| is_http_url(u));
        out.push(Citation {
            id: hit.document_id,
            title: hit.title,
            url,
            snippet: bounded(&hit.text, SNIPPET_CHARS)
                .parse()
                .expect("snippets are cut to the schema's length first"),
            score: if hit.score.is_finite() {
                hit.score
            } else {
                0.0
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(document: &str, source: &str, text: &str) -> ChunkHit {
        ChunkHit {
            chunk_id: 0,
            document_id: document.into(),
            source: source.into(),
            title: source.into(),
            url: None,
            text: text.into(),
            score: 1.5,
        }
    }

    #[test]
    fn citations_dedupe_cap_cut_and_link() {
        let mut sources = vec![
            hit("a", "https://example.com/a", "first"),
            hit("b", "guides/b.md", &"x".repeat(300)),
            hit("a", "https://example.com/a", "second chunk of a"),
        ];
        for i in 0..10 {
            sources.push(hit(&format!("d{i}"), &format!("d{i}.md"), "t"));
        }
        let cited = citations(sources);
        assert_eq!(cited.len(), MAX_CITATIONS);
        assert_eq!(cited[0].id, "a");
        assert_eq!(cited[0].snippet.to_string(), "first");
        assert_eq!(cited[0].url.as_deref(), Some("https://example.com/a"));
        assert_eq!(cited[1].url, None);
        let snippet = cited[1].snippet.to_string();
        assert_eq!(snippet.chars().count(), SNIPPET_CHARS + 1);
        assert!(snippet.ends_with('…'));
        assert_eq!(cited[2].id, "d0");
        assert!(citations(Vec::new()).is_empty());
    }
}
