//! Guided conversations: the agent's `conversationWorkflow` puts the current step into the
//! system prompt, and after each turn with a reply a judge call decides whether the step was
//! reached. Only a clear "yes" advances (to the step's `next`, else the following one; the last
//! step stays); after `maxAttemptsPerStep` turns on one step it advances anyway. The position is
//! stored with the session. A judge failure never fails the turn.

use std::time::Duration;

use futures_util::StreamExt;

use super::TurnInput;
use crate::llm::{ChatMessage, ChatRequest, Delta, Role};
use crate::runtime::Runtime;
use crate::store::agent::{ConversationWorkflow, WorkflowStep};

/// `max_tokens` of a judge call: one word is enough.
const JUDGE_MAX_TOKENS: u32 = 16;
/// Longest a judge call may take before the step simply stays.
const JUDGE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the judge said about a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The step's criteria were clearly met.
    Yes,
    /// They were not.
    No,
    /// Unclear, or the judge's answer was not a verdict.
    Maybe,
}

/// Reads a judge answer by whole words, so "unknown" is not "no" and "yesterday" is not "yes".
pub(super) fn parse_verdict(answer: &str) -> Verdict {
    let words: Vec<String> = answer
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    if has("maybe") {
        Verdict::Maybe
    } else if has("yes") {
        Verdict::Yes
    } else if has("no") {
        Verdict::No
    } else {
        Verdict::Maybe
    }
}

/// The workflow of the turn's agent, and the step the conversation is on.
fn current(input: &TurnInput) -> Option<(&ConversationWorkflow, &WorkflowStep)> {
    let workflow = input.agent.as_ref()?.conversation_workflow.as_ref()?;
    Some((
        workflow,
        workflow.step(input.session.workflow_step.as_deref()),
    ))
}

/// The system-prompt section for the current step, when the agent has a workflow.
pub(super) fn section(input: &TurnInput) -> Option<String> {
    let (workflow, step) = current(input)?;
    let number = workflow
        .steps
        .iter()
        .position(|s| s.id == step.id)
        .unwrap_or(0)
        + 1;
    Some(format!(
        "<Workflow>\nGoal of this conversation: {}\nCurrent step {number} of {} (id {}): {}\n\
         The step is done when: {}\nFocus your reply on this step, without forcing it.\n</Workflow>",
        workflow.goal,
        workflow.steps.len(),
        step.id,
        step.intent,
        step.criteria
    ))
}

/// Judges the finished turn and stores the conversation's new position.
pub(super) async fn advance(runtime: &Runtime, input: &TurnInput, reply: &str) {
    let Some((workflow, step)) = current(input) else {
        return;
    };
    let verdict = match tokio::time::timeout(
        JUDGE_TIMEOUT,
        judge(runtime, input, workflow, step, reply),
    )
    .await
    {
        Ok(Ok(answer)) => parse_verdict(&answer),
        Ok(Err(e)) => {
            tracing::warn!(session = %input.session.session_id, error = %e, "workflow judge failed; the step stays");
            Verdict::Maybe
        }
        Err(_) => {
            tracing::warn!(session = %input.session.session_id, "workflow judge timed out; the step stays");
            Verdict::Maybe
        }
    };
    let turns = u32::try_from(input.session.workflow_step_turns.unwrap_or(0))
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let capped = workflow
        .max_attempts_per_step
        .is_some_and(|max| turns >= max);
    let (next, turns) = if verdict == Verdict::Yes || capped {
        (workflow.after(step), 0)
    } else {
        (step, turns)
    };
    tracing::info!(session = %input.session.session_id, step = %step.id, ?verdict, next = %next.id, "workflow judged");
    if let Err(e) = runtime
        .store
        .set_workflow_step(input.session.session_id, &next.id, turns)
        .await
    {
        tracing::warn!(session = %input.session.session_id, error = %e, "workflow position not stored");
    }
}

/// Asks the judge model whether the turn met the step's criteria; its whole answer.
async fn judge(
    runtime: &Runtime,
    input: &TurnInput,
    workflow: &ConversationWorkflow,
    step: &WorkflowStep,
    reply: &str,
) -> Result<String, crate::llm::GatewayError> {
    let model = runtime
        .config
        .judge_model
        .clone()
        .unwrap_or_else(|| runtime.config.model.clone());
    let messages = vec![
        ChatMessage::text(
            Role::System,
            "You judge one turn of a support conversation that follows a guided workflow. Decide \
             whether the turn met the criteria of the current step. Answer with exactly one \
             word: yes (clearly met), no (not met) or maybe (unclear).",
        ),
        ChatMessage::text(
            Role::User,
            format!(
                "Goal: {}\nStep {}: {}\nCriteria: {}\n\nThe user said:\n{}\n\nThe agent \
                 replied:\n{}\n\nWere the criteria met?",
                workflow.goal, step.id, step.intent, step.criteria, input.message, reply
            ),
        ),
    ];
    let mut stream = input.gateway.stream(ChatRequest {
        model,
        messages,
        tools: Vec::new(),
        tool_choice: None,
        max_tokens: Some(JUDGE_MAX_TOKENS),
    });
    let mut answer = String::new();
    while let Some(delta) = stream.next().await {
        if let Delta::Text(text) = delta? {
            answer.push_str(&text);
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_whole_words() {
        assert_eq!(parse_verdict("Yes."), Verdict::Yes);
        assert_eq!(parse_verdict(" no "), Verdict::No);
        assert_eq!(parse_verdict("NO"), Verdict::No);
        assert_eq!(
            parse_verdict("unknown"),
            Verdict::Maybe,
            "'unknown' is not 'no'"
        );
        assert_eq!(parse_verdict("yesterday"), Verdict::Maybe);
        assert_eq!(parse_verdict("maybe yes"), Verdict::Maybe);
        assert_eq!(parse_verdict(""), Verdict::Maybe);
        assert_eq!(parse_verdict("Yes, the order id was given"), Verdict::Yes);
    }
}
