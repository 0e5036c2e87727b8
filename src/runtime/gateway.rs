//! Client for any OpenAI-compatible `POST {base}/chat/completions` gateway, streamed over SSE.
//!
//! One call yields [`Delta`]s: text, reasoning (`reasoning_content` or `reasoning`), tool-call
//! fragments, usage (requested with `stream_options.include_usage`). Retries are bounded and
//! happen only before anything was yielded, so a client never sees a token twice.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Gateway connection settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Base URL, e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Bearer key; `None` for keyless local gateways.
    pub api_key: Option<String>,
    /// Default model id.
    pub model: String,
    /// `max_tokens` for every call.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence allowed while waiting for the response or between stream events.
    pub read_timeout: Duration,
    /// Extra attempts after a retryable failure that happened before the first delta.
    pub retries: u32,
}

impl GatewaySettings {
    /// The settings `config` describes for the gateway at `base_url`.
    pub fn from_config(config: &crate::config::AgentConfig, base_url: String) -> Self {
        Self {
            base_url,
            api_key: config.gateway_key.clone().filter(|k| !k.trim().is_empty()),
            model: config.model.clone(),
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            connect_timeout: Duration::from_secs(config.gateway_connect_timeout_secs),
            read_timeout: Duration::from_secs(config.gateway_read_timeout_secs),
            retries: config.gateway_retries,
        }
    }
}

/// One chat message in OpenAI form.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: &'static str,
    /// Text content (`None` for an assistant message that only calls tools).
    pub content: Option<String>,
    /// Tool calls made by an assistant message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallOut>,
    /// For `tool` messages: the call this result answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message with only text.
    pub fn text(role: &'static str, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool call as sent back to the gateway in an assistant message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolCallOut {
    /// The call id the model gave.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Name and JSON-encoded arguments.
    pub function: FunctionOut,
}

/// The function part of a [`ToolCallOut`].
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionOut {
    /// Tool name.
    pub name: String,
    /// JSON-encoded arguments.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

/// One streamed call: what to send.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Model id for this call.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// `tool_choice` to send (e.g. `none` on the last allowed step).
    pub tool_choice: Option<&'static str>,
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

/// Why a call failed; `Display` is safe for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Could not connect or send.
    #[error("gateway unreachable: {0}")]
    Connect(String),
    /// The gateway answered with a non-success status.
    #[error("gateway returned HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Nothing arrived for the read timeout.
    #[error("gateway timed out after {0:?} of silence")]
    Timeout(Duration),
    /// The stream was not valid SSE/JSON, or reported an error.
    #[error("gateway stream is malformed: {0}")]
    Protocol(String),
    /// The stream ended before the answer finished.
    #[error("gateway stream ended before the answer finished")]
    Truncated,
}

impl GatewayError {
    fn retryable(&self) -> bool {
        match self {
            GatewayError::Connect(_) | GatewayError::Timeout(_) | GatewayError::Truncated => true,
            GatewayError::Status { status, .. } => {
                *status == 429 || *status == 408 || (500..600).contains(status)
            }
            GatewayError::Protocol(_) => false,
        }
    }
}

/// A stream of deltas for one call.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, GatewayError>> + Send>>;

/// A reusable gateway client (connection pool inside).
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    settings: GatewaySettings,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    stream_options: StreamOptions,
    max_tokens: u32,
    temperature: f32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolSpec,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    delta: Option<WireDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunction>,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl Gateway {
    /// Builds a client; fails only if the TLS stack cannot initialise.
    pub fn new(settings: GatewaySettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self { http, settings })
    }

    /// The settings in use.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

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

    /// Embeds `inputs` with `model` through `{base}/embeddings`, one vector per input, in order.
    pub async fn embed(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Vec<Vec<f32>>, GatewayError> {
        #[derive(Serialize)]
        struct Body<'a> {
            model: &'a str,
            input: &'a [String],
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Vec<Item>,
        }
        #[derive(Deserialize)]
        struct Item {
            index: usize,
            embedding: Vec<f32>,
        }
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let url = format!(
            "{}/embeddings",
            self.settings.base_url.trim_end_matches('/')
        );
        let mut builder = self.http.post(&url).json(&Body {
            model,
            input: inputs,
        });
        if let Some(key) = &self.settings.api_key {
            builder = builder.bearer_auth(key);
        }
        let timeout = self.settings.read_timeout;
        let call = async {
            let response = builder
                .send()
                .await
                .map_err(|e| GatewayError::Connect(e.to_string()))?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(GatewayError::Status {
                    status: status.as_u16(),
                    body: body.chars().take(300).collect(),
                });
            }
            response
                .json::<Answer>()
                .await
                .map_err(|e| GatewayError::Protocol(format!("embeddings answer: {e}")))
        };
        let answer = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| GatewayError::Timeout(timeout))??;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
        for item in answer.data {
            if let Some(slot) = vectors.get_mut(item.index) {
                *slot = Some(item.embedding);
            }
        }
        vectors
            .into_iter()
            .map(|v| {
                v.filter(|v| !v.is_empty()).ok_or_else(|| {
                    GatewayError::Protocol("embeddings answer is missing a vector".to_string())
                })
            })
            .collect()
    }

    async fn attempt(
        &self,
        request: &ChatRequest,
        tx: &DeltaSender,
        yielded: &mut bool,
    ) -> Result<(), GatewayError> {
        let url = format!(
            "{}/chat/completions",
            self.settings.base_url.trim_end_matches('/')
        );
        let body = WireRequest {
            model: &request.model,
            messages: &request.messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: self.settings.max_tokens,
            temperature: self.settings.temperature,
            tools: request
                .tools
                .iter()
                .map(|function| WireTool {
                    kind: "function",
                    function,
                })
                .collect(),
            tool_choice: request.tool_choice,
        };
        let mut builder = self
            .http
            .post(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&body);
        if let Some(key) = &self.settings.api_key {
            builder = builder.bearer_auth(key);
        }
        let read_timeout = self.settings.read_timeout;
        let response = tokio::time::timeout(read_timeout, builder.send())
            .await
            .map_err(|_| GatewayError::Timeout(read_timeout))?
            .map_err(|e| GatewayError::Connect(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = tokio::time::timeout(read_timeout, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            return Err(GatewayError::Status {
                status: status.as_u16(),
                body: body.chars().take(300).collect(),
            });
        }
        let cost = response
            .headers()
            .get("x-litellm-response-cost")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|c| c.is_finite() && *c >= 0.0);
        let mut events = response.bytes_stream().eventsource();
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
                    for piece in split_delta(delta) {
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

fn split_delta(delta: WireDelta) -> Vec<Delta> {
    let mut out = Vec::new();
    let reasoning = delta.reasoning_content.or(delta.reasoning);
    if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
        out.push(Delta::Reasoning(text));
    }
    if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
        out.push(Delta::Text(text));
    }
    for call in delta.tool_calls {
        let (name, arguments) = match call.function {
            Some(f) => (f.name, f.arguments),
            None => (None, None),
        };
        out.push(Delta::ToolCall {
            index: call.index,
            id: call.id,
            name,
            arguments,
        });
    }
    out
}

/// The producer side of a [`DeltaStream`].
type DeltaSender = tokio::sync::mpsc::Sender<Result<Delta, GatewayError>>;

/// Deltas buffered between the HTTP reader and the turn.
const DELTA_BUFFER: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data: &str) -> Vec<Delta> {
        let chunk: WireChunk = serde_json::from_str(data).expect("chunk parses");
        chunk
            .choices
            .into_iter()
            .filter_map(|c| c.delta)
            .flat_map(split_delta)
            .collect()
    }

    #[test]
    fn text_and_both_reasoning_spellings() {
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"content":"Hi","reasoning_content":"think"}}]}"#),
            vec![Delta::Reasoning("think".into()), Delta::Text("Hi".into())]
        );
        assert_eq!(
            parse(r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#),
            vec![Delta::Reasoning("hmm".into())]
        );
    }

    #[test]
    fn empty_deltas_and_unknown_fields_are_ignored() {
        assert!(parse(
            r#"{"id":"x","choices":[{"delta":{"content":"","role":"assistant"},"logprobs":null}]}"#
        )
        .is_empty());
        assert!(parse(r#"{"choices":[]}"#).is_empty());
    }

    #[test]
    fn tool_call_fragments_keep_index_id_and_pieces() {
        let deltas = parse(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"id\""}}]}}]}"#,
        );
        assert_eq!(
            deltas,
            vec![Delta::ToolCall {
                index: 1,
                id: Some("call_9".into()),
                name: Some("lookup".into()),
                arguments: Some("{\"id\"".into()),
            }]
        );
    }

    #[test]
    fn retry_policy_covers_transient_failures_only() {
        let status = |status| GatewayError::Status {
            status,
            body: String::new(),
        };
        assert!(status(429).retryable());
        assert!(status(503).retryable());
        assert!(!status(400).retryable());
        assert!(!status(401).retryable());
        assert!(GatewayError::Connect("refused".into()).retryable());
        assert!(!GatewayError::Protocol("bad".into()).retryable());
    }

    #[test]
    fn request_body_is_openai_shaped() {
        let messages = vec![ChatMessage::text("user", "hi")];
        let body = WireRequest {
            model: "m",
            messages: &messages,
            stream: true,
            stream_options: StreamOptions {
                include_usage: true,
            },
            max_tokens: 10,
            temperature: 1.0,
            tools: Vec::new(),
            tool_choice: None,
        };
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_tokens": 10,
                "temperature": 1.0
            })
        );
    }
}
