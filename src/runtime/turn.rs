//! One agent turn: replay memory, stream model calls (looping through tool calls up to the
//! iteration cap), then persist the reply and finish with `eventual_response` — or `cancelled`,
//! or `error` AGENT_ERROR.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::confirm::Decision;
use super::gateway::{
    ChatMessage, ChatRequest, Delta, FunctionOut, Gateway, GatewayError, ToolCallOut, Usage,
};
use super::sink::TurnSink;
use super::tools::{parse_arguments, preview, ToolOutcome, ToolSet};
use super::Runtime;
use crate::knowledge::acl::Access;
use crate::protocol::validate::bounded;
use crate::protocol::{
    Citation, ErrorCode, GeneralAgentResponse, GeneralAgentResponseResolutionStatus,
    MessageDirection, SendMessageResponse, Session,
};
use crate::store::{ChunkHit, DynStore, NewMessage, Reader, StoreError};

/// Knowledge chunks injected as context before the first model call.
const AUTO_CONTEXT_HITS: u32 = 3;
/// Most citations on one reply.
const MAX_CITATIONS: usize = 8;
/// Longest citation snippet, in characters (an ellipsis is added when cut).
const SNIPPET_CHARS: usize = 280;
/// Longest argument summary in a confirmation prompt.
const DESCRIPTION_ARGS_CHARS: usize = 400;
/// Result the model sees when a person rejects a call.
const DENIED: &str = "blocked by hook: User denied: user rejected the action";
/// Result the model sees when nobody answers a confirmation in time.
const UNCONFIRMED: &str = "blocked by hook: confirmation timeout";

/// Said to the model on the last allowed step, so it answers instead of calling more tools.
const LAST_STEP_NOTE: &str = "You have used all the steps available for this reply. Answer the \
user now with what you already know, without calling tools, and say what you could not check.";

/// What a turn needs to run.
pub struct TurnInput {
    /// The session the turn runs in.
    pub session: Session,
    /// Model id for every call of this turn.
    pub model: String,
    /// The turn's id in the registry.
    pub turn_id: Uuid,
    /// The user's message (the retrieval query).
    pub message: String,
    /// Whose documents retrieval may read.
    pub access: Access,
}

/// What the model phase produced.
#[derive(Debug, Default)]
struct ModelOutput {
    reply: String,
    usage: Option<Usage>,
    /// Knowledge that grounded the turn: auto-context first, then tool results.
    sources: Vec<ChunkHit>,
}

/// Why the model phase failed; the client sees only a generic message.
#[derive(Debug, thiserror::Error)]
enum TurnError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the model returned an empty reply")]
    EmptyReply,
}

impl TurnError {
    fn client_message(&self) -> &'static str {
        match self {
            TurnError::Gateway(GatewayError::Timeout(_)) => {
                "agent turn failed: the model gateway timed out"
            }
            TurnError::Gateway(_) => {
                "agent turn failed: the model gateway did not answer correctly"
            }
            TurnError::Store(_) => "agent turn failed: storage error",
            TurnError::EmptyReply => "agent turn failed: the model returned an empty reply",
        }
    }
}

/// Runs a whole turn to its terminal event; never panics on gateway or storage failures.
pub async fn run(
    runtime: Arc<Runtime>,
    store: DynStore,
    sink: TurnSink,
    input: TurnInput,
    cancel: CancellationToken,
) {
    let session_id = input.session.session_id;
    let keepalive = Duration::from_secs(runtime.config.keepalive_secs);
    let outcome = tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        result = model_phase(&runtime, &store, &sink, &input) => Some(result),
        () = sink.keepalive_loop(keepalive) => None,
    };
    // After this, `cancel` finds no turn; a cancel that raced in before still wins below.
    runtime.turns.finish(session_id, input.turn_id);
    if cancel.is_cancelled() || outcome.is_none() {
        tracing::info!(session = %session_id, request = sink.request_id(), "turn cancelled");
        sink.cancelled().await;
        return;
    }
    let result = match outcome {
        Some(Ok(output)) => finish(&store, &sink, &input.session, output).await,
        Some(Err(e)) => Err(e),
        None => return,
    };
    if let Err(e) = result {
        tracing::error!(session = %session_id, request = sink.request_id(), error = %e, "turn failed");
        sink.error(ErrorCode::AgentError, e.client_message()).await;
    }
}

/// Persists the reply and sends `eventual_response`.
async fn finish(
    store: &DynStore,
    sink: &TurnSink,
    session: &Session,
    output: ModelOutput,
) -> Result<(), TurnError> {
    let reply = output.reply;
    if reply.trim().is_empty() {
        return Err(TurnError::EmptyReply);
    }
    let stored = store
        .append_message(NewMessage {
            id: Uuid::new_v4(),
            conversation_id: session.conversation_id,
            organization_id: session.organization_id.clone(),
            direction: MessageDirection::Outbound,
            text: Some(reply.clone()),
            structured_response: None,
            from_participant_id: Some(session.agent_participant_id),
            to_participant_id: Some(session.user_participant_id),
        })
        .await?;
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
    })
    .await;
    Ok(())
}

/// Citations from the turn's sources: deduplicated by document (first wins), at most
/// [`MAX_CITATIONS`], snippets cut to [`SNIPPET_CHARS`], `url` only for http(s) links.
fn citations(sources: Vec<ChunkHit>) -> Vec<Citation> {
    let mut seen = std::collections::HashSet::new();
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
            .filter(|u| crate::knowledge::is_http_url(u));
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

/// A confirmation prompt a person can judge: the tool and the arguments it would run with.
fn describe(name: &str, arguments: &str) -> String {
    let arguments = parse_arguments(arguments).unwrap_or_default();
    if arguments.is_empty() {
        return format!("Tool '{name}' requires confirmation. Allow?");
    }
    let parts: Vec<String> = arguments
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => format!("{key} = \"{s}\""),
            other => format!("{key} = {other}"),
        })
        .collect();
    format!(
        "Tool '{name}' requires confirmation to run with {}. Allow?",
        bounded(&parts.join(", "), DESCRIPTION_ARGS_CHARS)
    )
}

/// Builds the model's context: system prompt, then the newest stored messages in order (the
/// user's new message, already stored, is the last of them).
async fn context(
    runtime: &Runtime,
    store: &DynStore,
    session: &Session,
) -> Result<Vec<ChatMessage>, StoreError> {
    let history = store
        .recent_messages(session.conversation_id, runtime.config.history_messages)
        .await?;
    let mut messages = Vec::with_capacity(history.len() + 1);
    messages.push(ChatMessage::text("system", runtime.system_prompt()));
    for message in history {
        let Some(text) = message.content.text.filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let role = match message.direction {
            MessageDirection::Inbound => "user",
            MessageDirection::Outbound => "assistant",
        };
        messages.push(ChatMessage::text(role, text));
    }
    Ok(messages)
}

/// A tool call assembled from streamed fragments.
#[derive(Debug, Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

async fn model_phase(
    runtime: &Runtime,
    store: &DynStore,
    sink: &TurnSink,
    input: &TurnInput,
) -> Result<ModelOutput, TurnError> {
    let gateway: &Gateway = runtime
        .gateway
        .as_ref()
        .ok_or(GatewayError::Connect("no gateway configured".to_string()))?;
    let mut messages = context(runtime, store, &input.session).await?;
    let has_documents = runtime.knowledge.has_documents().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not count knowledge documents");
        false
    });
    let mut sources: Vec<ChunkHit> = Vec::new();
    if has_documents {
        let reader = Reader::As(&input.access);
        match runtime
            .knowledge
            .search(&input.message, AUTO_CONTEXT_HITS, reader)
            .await
        {
            Ok(hits) if !hits.is_empty() => {
                let at = messages
                    .iter()
                    .rposition(|m| m.role == "user")
                    .unwrap_or(messages.len());
                messages.insert(at, ChatMessage::text("system", knowledge_message(&hits)));
                sources.extend(hits);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "knowledge retrieval failed; answering without"),
        }
    }
    let tools = ToolSet::new(
        runtime.tools.clone(),
        has_documents.then(|| (runtime.knowledge.clone(), input.access.clone())),
    );
    let mut usage: Option<Usage> = None;
    let max_iterations = runtime.config.max_iterations;
    let mut reply = String::new();
    for iteration in 1..=max_iterations {
        let last = iteration == max_iterations;
        let offered = tools.specs().to_vec();
        let final_step = last && !offered.is_empty();
        if final_step && iteration > 1 {
            messages.push(ChatMessage::text("system", LAST_STEP_NOTE));
        }
        let mut stream = gateway.stream(ChatRequest {
            model: input.model.clone(),
            messages: messages.clone(),
            tools: offered,
            tool_choice: final_step.then_some("none"),
        });
        reply.clear();
        let mut calls: BTreeMap<u32, PendingCall> = BTreeMap::new();
        while let Some(delta) = stream.next().await {
            match delta? {
                Delta::Text(text) => {
                    reply.push_str(&text);
                    sink.token(&text).await;
                }
                Delta::Reasoning(text) => sink.reasoning(&text).await,
                Delta::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => {
                    let call = calls.entry(index).or_default();
                    if let Some(id) = id {
                        call.id = id;
                    }
                    if let Some(name) = name {
                        call.name.push_str(&name);
                    }
                    if let Some(arguments) = arguments {
                        call.arguments.push_str(&arguments);
                    }
                }
                Delta::Usage(u) => {
                    let total = usage.get_or_insert_with(Usage::default);
                    total.prompt_tokens += u.prompt_tokens;
                    total.completion_tokens += u.completion_tokens;
                    if let Some(cost) = u.cost_usd {
                        *total.cost_usd.get_or_insert(0.0) += cost;
                    }
                }
            }
        }
        if calls.is_empty() || last {
            // On the last step tool calls are not run: the cap is reached.
            return Ok(ModelOutput {
                reply,
                usage,
                sources,
            });
        }
        let calls: Vec<PendingCall> = calls
            .into_values()
            .enumerate()
            .map(|(i, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{iteration}_{i}");
                }
                if call.arguments.trim().is_empty() {
                    call.arguments = "{}".to_string();
                } else if let Ok(value) = serde_json::from_str::<serde_json::Value>(&call.arguments)
                {
                    // Clients get compact JSON whatever spacing the model streamed.
                    call.arguments = value.to_string();
                }
                call
            })
            .collect();
        messages.push(ChatMessage {
            role: "assistant",
            content: (!reply.is_empty()).then(|| reply.clone()),
            tool_calls: calls
                .iter()
                .map(|c| ToolCallOut {
                    id: c.id.clone(),
                    kind: "function",
                    function: FunctionOut {
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                    },
                })
                .collect(),
            tool_call_id: None,
        });
        for call in calls {
            let outcome = run_call(runtime, sink, input, &tools, &call).await;
            sink.tool_result(&call.name, outcome.is_error, &preview(&outcome.text))
                .await;
            sources.extend(outcome.hits);
            messages.push(ChatMessage {
                role: "tool",
                content: Some(outcome.text),
                tool_calls: Vec::new(),
                tool_call_id: Some(call.id),
            });
        }
    }
    Ok(ModelOutput {
        reply,
        usage,
        sources,
    })
}

/// Announces and runs one call. A call that needs approval parks first: the prompt, then the
/// call's toolCall chunk, then the wait (the order clients rely on, by construction).
async fn run_call(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    tools: &ToolSet,
    call: &PendingCall,
) -> ToolOutcome {
    let prepared = match tools.prepare(&call.name, &call.arguments) {
        Ok(prepared) => prepared,
        Err(refusal) => {
            // Unknown tools and malformed arguments are refused before anyone is asked.
            sink.tool_call(&call.name, &call.arguments).await;
            return refusal;
        }
    };
    if !runtime.needs_confirmation(&call.name) {
        sink.tool_call(&call.name, &call.arguments).await;
        return timed(&call.name, tools.run(prepared)).await;
    }
    let session_id = input.session.session_id;
    let parked = runtime.confirmations.park(session_id, input.turn_id);
    sink.confirmation_required(&call.name, &describe(&call.name, &call.arguments))
        .await;
    sink.tool_call(&call.name, &call.arguments).await;
    let timeout = Duration::from_secs(runtime.config.confirm_timeout_secs);
    let (decision, answered_from) = parked.wait(timeout).await;
    tracing::info!(session = %session_id, tool = %call.name, ?decision, "tool confirmation");
    if let Some(other) = answered_from {
        if sink.adopt_if_orphaned(&other) {
            tracing::info!(session = %session_id, "turn's client left; streaming the rest to the confirming connection");
        }
    }
    match decision {
        Decision::Approved => timed(&call.name, tools.run(prepared)).await,
        Decision::Denied => ToolOutcome::error(DENIED.to_string()),
        Decision::TimedOut => ToolOutcome::error(UNCONFIRMED.to_string()),
    }
}

/// Runs a tool call and logs its name, outcome and duration (never its arguments or result,
/// which may hold personal data).
async fn timed(name: &str, run: impl std::future::Future<Output = ToolOutcome>) -> ToolOutcome {
    let started = std::time::Instant::now();
    let outcome = run.await;
    tracing::info!(
        tool = %name,
        is_error = outcome.is_error,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "tool call finished"
    );
    outcome
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

    #[test]
    fn prompts_name_the_tool_and_its_arguments() {
        assert_eq!(
            describe("delete_record", ""),
            "Tool 'delete_record' requires confirmation. Allow?"
        );
        let text = describe("delete_record", r#"{"id":"123","force":true}"#);
        assert!(text.contains("'delete_record'"), "{text}");
        assert!(text.contains("id = \"123\""), "{text}");
        assert!(text.contains("force = true"), "{text}");
        let long = describe("t", &format!(r#"{{"note":"{}"}}"#, "n".repeat(2000)));
        assert!(long.chars().count() < 500, "{}", long.len());
    }
}
