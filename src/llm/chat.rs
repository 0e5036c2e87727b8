//! Streamed chat completions: one call yields [`Delta`]s (text, reasoning in either spelling,
//! tool-call fragments, usage). Retries are bounded and happen only before anything was
//! yielded, so a client never sees a token twice; the HTTP reader feeds the turn through a
//! bounded channel, and dropping the stream drops the request.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use super::request::{answer_of, describe, line_capped};
use super::wire::{StreamOptions, WireChunk, WireRequest, WireTool};
use super::{ChatMessage, Gateway, GatewayError, ToolChoice, ToolKind, ToolSpec};
use crate::telemetry::{self, LlmAnswer, LlmOperation};

/// One streamed call: what to send.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Model id for this call.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// `tool_choice` to send (e.g. [`ToolChoice::None`] on the last allowed step).
    pub tool_choice: Option<ToolChoice>,
    /// `max_tokens` of this call instead of the configured one.
    pub max_tokens: Option<u32>,
}

/// Token counts reported by the gateway for one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Cost in USD when the gateway reported one (LiteLLM's `x-litellm-response-cost`).
    pub cost_usd: Option<f64>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// Answer text.
    Text(String),
    /// Reasoning text.
    Reasoning(String),
    /// A fragment of tool call number `index`.
    ToolCall {
        /// Position of the call in this response.
        index: u32,
        /// Call id (first fragment).
        id: Option<String>,
        /// Tool name (first fragment).
        name: Option<String>,
        /// A piece of the JSON-encoded arguments.
        arguments: Option<String>,
    },
    /// Usage for the whole call.
    Usage(Usage),
}

/// A stream of deltas for one call.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, GatewayError>> + Send>>;

/// The producer side of a [`DeltaStream`].
type DeltaSender = tokio::sync::mpsc::Sender<Result<Delta, GatewayError>>;

/// Deltas buffered between the HTTP reader and the turn.
const DELTA_BUFFER: usize = 64;

impl Gateway {
    /// Starts one streamed call, retrying retryable failures that happen before the first
    /// delta (bounded, with backoff).
    pub fn stream(&self, request: ChatRequest) -> DeltaStream {
        let this = self.clone();
        Box::pin(async_stream(move |tx| async move {
            let mut attempt = 0u32;
            loop {
                let mut yielded = false;
                let result = this.attempt(&request, &tx, &mut yielded).await;
                match result {
                    Ok(()) => return,
                    Err(e) if !yielded && e.retryable() && attempt < this.settings.retries => {
                        attempt += 1;
                        let backoff = Duration::from_millis(250 * (1 << attempt.min(5)));
                        tracing::warn!(error = %e, attempt, "gateway call failed; retrying");
                        tokio::time::sleep(backoff).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        }))
    }

    async fn attempt(
        &self,
        request: &ChatRequest,
        tx: &DeltaSender,
        yielded: &mut bool,
    ) -> Result<(), GatewayError> {
        let body = WireRequest {
            model: &request.model,
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: request.max_tokens.unwrap_or(self.settings.max_tokens),
            temperature: self.settings.temperature,
            tools: request
                .tools
                .iter()
                .map(|function| WireTool {
                    kind: ToolKind::Function,
                    function,
                })
                .collect(),
            tool_choice: request.tool_choice,
        };
        let builder = self
            .post("chat/completions")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        let read_timeout = self.settings.read_timeout;
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout(read_timeout, builder.send()).await;
        let answer = sent.as_ref().map_or(LlmAnswer::Timeout, answer_of);
        telemetry::llm_request(LlmOperation::Chat, answer, started.elapsed());
        let response = sent
            .map_err(|_| GatewayError::Timeout(read_timeout))?
            .map_err(|e| GatewayError::Connect(describe(e)))?;
        if !response.status().is_success() {
            return Err(self.status_error(response, read_timeout).await);
        }
        let cost = response
            .headers()
            .get("x-litellm-response-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|c| c.is_finite() && *c >= 0.0);
        let mut events = line_capped(response.bytes_stream()).eventsource();
        let mut finished = false;
        loop {
            let next = tokio::time::timeout(read_timeout, events.next())
                .await
                .map_err(|_| GatewayError::Timeout(read_timeout))?;
            let Some(event) = next else { break };
            let event = event.map_err(|e| GatewayError::Protocol(e.to_string()))?;
            let data = event.data.trim();
            if data.is_empty() {
                continue;
            }
            if data == "[DONE]" {
                finished = true;
                break;
            }
            let chunk: WireChunk = serde_json::from_str(data).map_err(|e| {
                GatewayError::Protocol(format!("event is not a completion chunk: {e}"))
            })?;
            if let Some(error) = chunk.error {
                return Err(GatewayError::Protocol(format!("gateway reported {error}")));
            }
            for choice in chunk.choices {
                if let Some(delta) = choice.delta {
                    for piece in delta.split() {
                        *yielded = true;
                        if tx.send(Ok(piece)).await.is_err() {
                            return Ok(()); // the consumer went away
                        }
                    }
                }
                if choice.finish_reason.is_some() {
                    finished = true;
                }
            }
            if let Some(usage) = chunk.usage {
                let usage = Usage {
                    prompt_tokens: usage.prompt_tokens,
                    completion_tokens: usage.completion_tokens,
                    cost_usd: cost,
                };
                if tx.send(Ok(Delta::Usage(usage))).await.is_err() {
                    return Ok(());
                }
            }
        }
        if finished {
            Ok(())
        } else {
            Err(GatewayError::Truncated)
        }
    }
}

/// Runs `producer` on a task feeding a bounded channel and exposes the channel as a stream;
/// dropping the stream stops the producer (and so drops the HTTP request).
fn async_stream<F, Fut>(producer: F) -> impl Stream<Item = Result<Delta, GatewayError>> + Send
where
    F: FnOnce(DeltaSender) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(DELTA_BUFFER);
    let task = tokio::spawn(producer(tx));
    let guard = AbortOnDrop(task);
    futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
