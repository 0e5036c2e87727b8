//! The agent loop: stream a model call, relay its text and reasoning, and when it calls tools,
//! run them and call the model again — at most `max_iterations` calls, the last one told to
//! answer without tools.

use futures_util::StreamExt;

use super::accumulate::{add_usage, Calls};
use super::preamble::Preamble;
use super::{calls, context, ModelOutput, TurnError, TurnInput};
use crate::llm::{ChatMessage, ChatRequest, Delta, Role, ToolChoice, Usage};
use crate::runtime::sink::TurnSink;
use crate::runtime::tools::{directive, preview, ToolOutcome, ToolSet};
use crate::runtime::Runtime;
use crate::store::ChunkHit;

/// Said to the model on the last allowed step, so it answers instead of calling more tools.
const LAST_STEP_NOTE: &str = "You have used all the steps available for this reply. Answer the \
user now with what you already know, without calling tools, and say what you could not check.";

/// Runs the model phase of a turn: the reply text, usage, the knowledge that grounded it and
/// the tools' client directive. The `preamble` is stopped before the first answer text.
pub(super) async fn run(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    preamble: &Preamble,
) -> Result<ModelOutput, TurnError> {
    let gateway = &input.gateway;
    let mut messages = context::history(runtime, input).await?;
    let has_documents = runtime.knowledge.has_documents().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not count knowledge documents");
        false
    });
    let mut sources: Vec<ChunkHit> = Vec::new();
    if has_documents {
        // Boxed: the search is the largest thing the loop awaits (1.9 KB), and inline it would
        // size every turn's future for it, parked turns included.
        sources = Box::pin(context::ground(runtime, input, &mut messages)).await;
    }
    let tools = ToolSet::new(
        runtime.tools.clone(),
        has_documents.then(|| (runtime.knowledge.clone(), input.access.clone())),
        input.agent.as_ref(),
        input.files.clone(),
        &input.session,
    );
    let mut usage: Option<Usage> = None;
    let max_iterations = input.max_iterations;
    let mut reply = String::new();
    let mut client_directive = None;
    for iteration in 1..=max_iterations {
        let last = iteration == max_iterations;
        let offered = tools.specs().to_vec();
        let final_step = last && !offered.is_empty();
        if final_step && iteration > 1 {
            messages.push(ChatMessage::text(Role::System, LAST_STEP_NOTE));
        }
        let mut stream = gateway.stream(ChatRequest {
            model: input.model.clone(),
            messages: messages.clone(),
            tools: offered,
            tool_choice: final_step.then_some(ToolChoice::None),
            max_tokens: None,
        });
        reply.clear();
        let mut fragments = Calls::default();
        while let Some(delta) = stream.next().await {
            match delta? {
                Delta::Text(text) => {
                    if !text.is_empty() {
                        preamble.stop().await;
                    }
                    reply.push_str(&text);
                    sink.token(&text).await;
                }
                Delta::Reasoning(text) => sink.reasoning(&text).await,
                Delta::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => fragments.add(index, id, name, arguments),
                Delta::Usage(u) => add_usage(&mut usage, u),
            }
        }
        // The finished call holds its request (a copy of every message) and its response
        // state: free them before the tools run, which may park the turn for minutes.
        drop(stream);
        if fragments.is_empty() || last {
            // On the last step tool calls are not run: the cap is reached.
            return Ok(ModelOutput {
                reply,
                usage,
                sources,
                directive: client_directive,
            });
        }
        let pending = fragments.finish(iteration);
        messages.push(ChatMessage::assistant_calls(
            (!reply.is_empty()).then(|| reply.clone()),
            pending.iter().map(|c| c.to_wire()).collect(),
        ));
        let most = runtime.config.max_tool_calls as usize;
        for (i, call) in pending.into_iter().enumerate() {
            let outcome = if i < most {
                calls::run(runtime, sink, input, &tools, &call).await
            } else {
                sink.tool_call(&call.name, &call.arguments).await;
                ToolOutcome::error(format!(
                    "error: too many tool calls in one response (at most {most}); this one was \
                     not run, call it again if it is still needed"
                ))
            };
            crate::telemetry::tool_call(&call.name, tools.offers(&call.name), outcome.is_error);
            sink.tool_result(&call.name, outcome.is_error, &preview(&outcome.text))
                .await;
            sources.extend(outcome.hits);
            directive::apply(&mut client_directive, outcome.directive);
            messages.push(ChatMessage::tool_result(call.id, outcome.text));
        }
    }
    Ok(ModelOutput {
        reply,
        usage,
        sources,
        directive: client_directive,
    })
}
