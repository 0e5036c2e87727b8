//! What the model sees before it answers: the system prompt (the agent's instructions and
//! personality, its greeting on the first turn, the turn's skill), the newest stored messages in
//! order (the new one with its images), and —
//! when the knowledge base has documents — the best chunks for the user's message as a context
//! message just before it.

use super::TurnInput;
use crate::llm::{ChatMessage, Role};
use crate::protocol::MessageDirection;
use crate::runtime::Runtime;
use crate::store::{ChunkHit, Reader, StoreError};

/// Knowledge chunks injected as context before the first model call.
const AUTO_CONTEXT_HITS: u32 = 3;

/// The system prompt of a turn: the agent's instructions (else the server's prompt), its
/// personality, and on the conversation's first turn how to greet.
fn system_prompt(runtime: &Runtime, input: &TurnInput, first_turn: bool) -> String {
    let agent = input.agent.as_ref();
    let base = agent
        .and_then(|a| a.instructions.as_deref())
        .unwrap_or_else(|| runtime.system_prompt());
    let mut sections = vec![base.to_string()];
    if let Some(personality) = agent.and_then(|a| a.personality.as_deref()) {
        sections.push(format!("<Personality>\n{personality}\n</Personality>"));
    }
    if first_turn {
        if let Some(greeting) = agent.and_then(|a| a.greeting.as_deref()) {
            sections.push(format!(
                "<Greeting>\nThis is the first message of the conversation. Open your reply \
                 with a natural variant of this greeting (do not repeat it word for word) and do \
                 not introduce yourself again later in the conversation:\n{greeting}\n</Greeting>"
            ));
        }
    }
    if let Some(step) = super::workflow::section(input) {
        sections.push(step);
    }
    if let Some((name, recipe)) = &input.skill {
        sections.push(format!(
            "<Skill name=\"{name}\">\nFollow this recipe for the user's next message.\n{}\n</Skill>",
            recipe.trim()
        ));
    }
    sections.join("\n\n")
}

/// The system prompt, then the newest stored messages in order (the user's new message, already
/// stored, is the last of them).
pub(super) async fn history(
    runtime: &Runtime,
    input: &TurnInput,
) -> Result<Vec<ChatMessage>, StoreError> {
    let window = runtime.config.history_messages;
    // At least two, so whether anything came before the new message is known even when the
    // window replays that message alone.
    let mut history = runtime
        .store
        .recent_messages(input.session.conversation_id, window.max(2))
        .await?;
    // Only the user's new message is stored: nothing was said before it.
    let first_turn = history.len() <= 1;
    let excess = history.len().saturating_sub(window as usize);
    history.drain(..excess);
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(ChatMessage::text(
        Role::System,
        system_prompt(runtime, input, first_turn),
    ));
    for message in history {
        let Some(text) = message.content.text.filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let role = match message.direction {
            MessageDirection::Inbound => Role::User,
            MessageDirection::Outbound => Role::Assistant,
        };
        messages.push(ChatMessage::text(role, text));
    }
    // The images came with the user's new message, the last one stored.
    if !input.images.is_empty() {
        if let Some(last) = messages.iter_mut().rev().find(|m| m.role == Role::User) {
            last.images = input.images.clone();
        }
    }
    Ok(messages)
}

/// Searches the knowledge base for the user's message (as the turn's reader) and, when anything
/// is found, inserts it before the last user message; returns the hits (they become
/// citations). A failed search is logged and the turn answers without.
pub(super) async fn ground(
    runtime: &Runtime,
    input: &TurnInput,
    messages: &mut Vec<ChatMessage>,
) -> Vec<ChunkHit> {
    let reader = Reader::As(&input.access);
    match runtime
        .knowledge
        .search(&input.message, AUTO_CONTEXT_HITS, reader)
        .await
    {
        Ok(hits) if !hits.is_empty() => {
            let at = messages
                .iter()
                .rposition(|m| m.role == Role::User)
                .unwrap_or(messages.len());
            messages.insert(
                at,
                ChatMessage::text(Role::System, knowledge_message(&hits)),
            );
            hits
        }
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "knowledge retrieval failed; answering without");
            Vec::new()
        }
    }
}

/// The context message listing knowledge hits, placed before the user's message.
fn knowledge_message(hits: &[ChunkHit]) -> String {
    let mut text = String::from(
        "[Relevant knowledge]\nExcerpts from the organisation's knowledge base that may help \
         with the next message. Prefer them over general knowledge; if they do not answer it, \
         say so.",
    );
    for (i, hit) in hits.iter().enumerate() {
        text.push_str(&format!(
            "\n\n[{}] source={} (score {:.2})\n{}",
            i + 1,
            hit.source,
            hit.score,
            hit.text
        ));
    }
    text
}
