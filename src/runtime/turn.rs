//! One agent turn: replay memory, stream model calls (looping through tool calls up to the
//! iteration cap), then persist the reply and finish with `eventual_response` — or `cancelled`,
//! or `error` AGENT_ERROR.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::gateway::{
    ChatMessage, ChatRequest, Delta, FunctionOut, Gateway, GatewayError, ToolCallOut, Usage,
};
use super::sink::TurnSink;
use super::tools::{preview, ToolSet};
use super::Runtime;
use crate::protocol::{
    ErrorCode, GeneralAgentResponse, GeneralAgentResponseResolutionStatus, MessageDirection,
    SendMessageResponse, Session,
};
use crate::store::{DynStore, NewMessage, StoreError};

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
}

/// What the model phase produced.
#[derive(Debug, Default)]
struct ModelOutput {
    reply: String,
    usage: Option<Usage>,
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
        citations: Vec::new(),
    })
    .await;
    Ok(())
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
    let tools = ToolSet::default();
    let mut messages = context(runtime, store, &input.session).await?;
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
            return Ok(ModelOutput { reply, usage });
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
            sink.tool_call(&call.name, &call.arguments).await;
            let outcome = tools.call(&call.name, &call.arguments).await;
            sink.tool_result(&call.name, outcome.is_error, &preview(&outcome.text))
                .await;
            messages.push(ChatMessage {
                role: "tool",
                content: Some(outcome.text),
                tool_calls: Vec::new(),
                tool_call_id: Some(call.id),
            });
        }
    }
    Ok(ModelOutput { reply, usage })
}
