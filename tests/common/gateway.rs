//! A scripted OpenAI-compatible gateway for tests: `POST /v1/chat/completions` on 127.0.0.1,
//! answering one scripted [`Reply`] per request, in order, and recording every request; plus a
//! deterministic `POST /v1/embeddings` (bag of hashed words) whose requests are recorded apart
//! (and which [`MockGateway::fail_embeddings`] turns into a 500 answer).
//!
//! ```ignore
//! let gw = MockGateway::start(vec![Reply::tokens(&["Hel", "lo"])]).await;
//! config.agent.gateway_url = Some(gw.base_url());
//! // … run a turn …
//! assert!(gw.check_expectations().is_empty());
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer. Field names are camelCase in JSON scenario files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reply {
    /// Text deltas (`delta.content`), one chunk each.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Reasoning deltas (`delta.reasoning_content`), sent before the text deltas.
    #[serde(default)]
    pub reasoning: Vec<String>,
    /// When set, a final `{"choices":[],"usage":{…}}` chunk is sent before `[DONE]`.
    #[serde(default)]
    pub usage: Option<ReplyUsage>,
    /// Pause before every delta after the first.
    #[serde(default)]
    pub token_delay_ms: u64,
    /// Pause before the response headers.
    #[serde(default)]
    pub first_byte_delay_ms: u64,
    /// A non-streaming answer with this HTTP status (and `body`).
    #[serde(default)]
    pub status: Option<u16>,
    /// Body of a `status` answer: a JSON string is sent as is, anything else as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// After the deltas, send `data: {not json` and end the body.
    #[serde(default)]
    pub malformed: bool,
    /// After the deltas, end the body without a finish_reason chunk and without `[DONE]`.
    #[serde(default)]
    pub truncate: bool,
    /// Send the headers (and any deltas), then nothing, forever.
    #[serde(default)]
    pub hang: bool,
    /// Tool calls streamed after the text deltas; the reply then finishes with
    /// `finish_reason: "tool_calls"`.
    #[serde(default)]
    pub tool_calls: Vec<ReplyToolCall>,
    /// Assertions on the request this reply answers, checked by [`MockGateway::check_expectations`].
    #[serde(default)]
    pub expect: Option<Expect>,
    /// Answers only requests for this model, in their own order (a side call made at the same
    /// time as the main one, such as the preamble); replies without it answer the rest.
    #[serde(default)]
    pub for_model: Option<String>,
}

impl Reply {
    /// A plain streamed answer made of `tokens`.
    pub fn tokens(tokens: &[&str]) -> Self {
        Self {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            ..Self::default()
        }
    }
}

/// A tool call a reply asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyToolCall {
    /// The function name.
    pub name: String,
    /// The arguments: a JSON string is streamed as is, anything else as compact JSON.
    pub arguments: Value,
    /// The call id (default `call_<index>`).
    #[serde(default)]
    pub id: Option<String>,
}

impl ReplyToolCall {
    /// The arguments text the model "streams".
    fn arguments_text(&self) -> String {
        match &self.arguments {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }
}

/// Usage reported in the final usage chunk.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyUsage {
    /// Sent as `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// Sent as `usage.completion_tokens`.
    pub completion_tokens: u64,
}

/// Assertions on one recorded request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// `model` must equal this.
    #[serde(default)]
    pub model: Option<String>,
    /// `stream` must equal this.
    #[serde(default)]
    pub stream: Option<bool>,
    /// `max_tokens` must equal this.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// The content of the last message with role `user` must equal this.
    #[serde(default)]
    pub last_user_message: Option<String>,
    /// These `{role, content}` pairs must appear in `messages` in this order (not necessarily
    /// adjacent).
    #[serde(default)]
    pub messages_include: Option<Vec<ExpectMessage>>,
    /// The content of the last message with role `user` must equal this JSON exactly: a string,
    /// or the content parts array of a message with images.
    #[serde(default)]
    pub last_user_content: Option<Value>,
    /// `messages` must have exactly this many entries.
    #[serde(default)]
    pub message_count: Option<usize>,
    /// The `Authorization` header must equal this string; `null` means it must be absent.
    #[serde(default, deserialize_with = "present")]
    pub authorization: Option<Value>,
    /// Messages with this role whose string content contains the substring must appear in
    /// `messages` in this order (not necessarily adjacent).
    #[serde(default)]
    pub messages_contain: Option<Vec<ExpectContains>>,
    /// None of these substrings may appear in the content of any message.
    #[serde(default)]
    pub messages_exclude: Option<Vec<String>>,
    /// The sorted names of the offered tools (`tools[].function.name`); `[]` when the request
    /// has no `tools`.
    #[serde(default)]
    pub tools_offered: Option<Vec<String>>,
    /// `tool_choice` must equal this; `null` means it must be absent.
    #[serde(default, deserialize_with = "present")]
    pub tool_choice: Option<Value>,
    /// The request's `tool` messages, in order: exactly as many, each containing its substring.
    #[serde(default)]
    pub tool_messages: Option<Vec<ExpectToolMessage>>,
}

/// Keeps an explicit JSON `null` as `Some(Value::Null)` (a missing key stays `None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A message expected to contain some text.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectContains {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// A substring of the message's content, or several that must all be in the same message.
    pub contains: Substrings,
}

/// One substring or several.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Substrings {
    /// One substring.
    One(String),
    /// Several substrings, all required.
    All(Vec<String>),
}

impl std::fmt::Display for Substrings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Substrings::One(one) => write!(f, "{one:?}"),
            Substrings::All(all) => write!(f, "all of {all:?}"),
        }
    }
}

impl Substrings {
    /// Whether `text` contains every substring.
    pub fn all_in(&self, text: &str) -> bool {
        match self {
            Substrings::One(one) => text.contains(one.as_str()),
            Substrings::All(all) => all.iter().all(|s| text.contains(s.as_str())),
        }
    }
}

/// A `tool` message expected in a request.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectToolMessage {
    /// A substring of the tool message's content.
    pub contains: String,
}

/// A message expected in a request's `messages`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Exact text content.
    pub content: String,
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The JSON body (a JSON string holding the raw text when the body was not JSON).
    pub body: Value,
    /// The `Authorization` header, when present.
    pub authorization: Option<String>,
}

struct Shared {
    replies: Vec<Reply>,
    /// Per request, in arrival order: the index in `replies` it was answered with (`None`
    /// beyond the script).
    answered_with: Mutex<Vec<Option<usize>>>,
    requests: Mutex<Vec<Recorded>>,
    embedding_requests: Mutex<Vec<Recorded>>,
    /// When set, `/v1/embeddings` records the request and answers 500.
    fail_embeddings: AtomicBool,
}

/// A running mock gateway; stops when dropped.
pub struct MockGateway {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for MockGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockGateway {
    /// Binds 127.0.0.1:0 and serves `replies`, one per request, in order (a reply with
    /// `for_model` only for requests of that model, in their own order). Requests beyond the
    /// script are recorded and answered 500.
    pub async fn start(replies: Vec<Reply>) -> MockGateway {
        let shared = Arc::new(Shared {
            replies,
            answered_with: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            embedding_requests: Mutex::new(Vec::new()),
            fail_embeddings: AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock gateway binds");
        let addr = listener.local_addr().expect("mock gateway address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockGateway { addr, shared, task }
    }

    /// The base URL to configure as the server's gateway: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock_requests().clone()
    }

    /// Every `/v1/embeddings` request received so far, in arrival order (never counted as chat
    /// requests).
    pub fn embedding_requests(&self) -> Vec<Recorded> {
        lock(&self.shared.embedding_requests).clone()
    }

    /// Every text sent for embedding so far (each request's `input`, a string or a list of
    /// strings), in arrival order.
    pub fn embedded_inputs(&self) -> Vec<String> {
        self.embedding_requests()
            .iter()
            .flat_map(|request| match &request.body["input"] {
                Value::String(text) => vec![text.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// From now on, every `/v1/embeddings` request is still recorded but answered 500.
    pub fn fail_embeddings(&self) {
        self.shared.fail_embeddings.store(true, Ordering::SeqCst);
    }

    /// How many chat requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.shared.lock_requests().len()
    }

    /// How many replies are scripted.
    pub fn scripted(&self) -> usize {
        self.shared.replies.len()
    }

    /// Checks every reply's `expect` against the request it answered; returns the problems.
    pub fn check_expectations(&self) -> Vec<String> {
        let requests = self.requests();
        let answered_with = lock(&self.shared.answered_with).clone();
        let mut problems = Vec::new();
        for (index, reply) in self.shared.replies.iter().enumerate() {
            let Some(expect) = &reply.expect else {
                continue;
            };
            let request = answered_with
                .iter()
                .position(|r| *r == Some(index))
                .and_then(|at| requests.get(at));
            match request {
                None => problems.push(format!(
                    "gateway request #{index} never arrived, so its `expect` cannot hold"
                )),
                Some(request) => {
                    for problem in expect.check(request) {
                        problems.push(format!(
                            "gateway request #{index}: {problem}\nrequest body: {}",
                            request.body
                        ));
                    }
                }
            }
        }
        problems
    }
}

impl Shared {
    fn lock_requests(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        lock(&self.requests)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A message's content as text: the string itself, `""` when absent or null, JSON otherwise.
fn content_text(message: &Value) -> String {
    match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Expect {
    /// The ways `request` breaks these expectations.
    pub fn check(&self, request: &Recorded) -> Vec<String> {
        let body = &request.body;
        let mut problems = Vec::new();
        if let Some(model) = &self.model {
            if body["model"] != json!(model) {
                problems.push(format!("model is {}, expected {model:?}", body["model"]));
            }
        }
        if let Some(stream) = self.stream {
            if body["stream"] != json!(stream) {
                problems.push(format!("stream is {}, expected {stream}", body["stream"]));
            }
        }
        if let Some(max_tokens) = self.max_tokens {
            if body["max_tokens"] != json!(max_tokens) {
                problems.push(format!(
                    "max_tokens is {}, expected {max_tokens}",
                    body["max_tokens"]
                ));
            }
        }
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(expected) = &self.last_user_message {
            let last = messages.iter().rev().find(|m| m["role"] == "user");
            match last {
                Some(m) if m["content"] == json!(expected) => {}
                Some(m) => problems.push(format!(
                    "last user message is {}, expected {expected:?}",
                    m["content"]
                )),
                None => problems.push("no user message in `messages`".to_string()),
            }
        }
        if let Some(expected) = &self.last_user_content {
            match messages.iter().rev().find(|m| m["role"] == "user") {
                Some(m) if &m["content"] == expected => {}
                Some(m) => problems.push(format!(
                    "last user content is {}, expected {expected}",
                    m["content"]
                )),
                None => problems.push("no user message in `messages`".to_string()),
            }
        }
        if let Some(expected) = &self.messages_include {
            let mut at = 0;
            for want in expected {
                let found = messages[at..].iter().position(|m| {
                    m["role"] == json!(want.role) && m["content"] == json!(want.content)
                });
                match found {
                    Some(offset) => at += offset + 1,
                    None => {
                        problems.push(format!(
                            "messages do not include {{role: {:?}, content: {:?}}} (in order, after \
                             message #{at})",
                            want.role, want.content
                        ));
                        break;
                    }
                }
            }
        }
        if let Some(expected) = &self.messages_contain {
            let mut at = 0;
            for want in expected {
                let found = messages[at..].iter().position(|m| {
                    m["role"] == json!(want.role)
                        && m["content"]
                            .as_str()
                            .is_some_and(|c| want.contains.all_in(c))
                });
                match found {
                    Some(offset) => at += offset + 1,
                    None => {
                        problems.push(format!(
                            "no {:?} message containing {} (in order, after message #{at})",
                            want.role, want.contains
                        ));
                        break;
                    }
                }
            }
        }
        if let Some(excluded) = &self.messages_exclude {
            for text in excluded {
                for (i, m) in messages.iter().enumerate() {
                    if content_text(m).contains(text.as_str()) {
                        problems.push(format!(
                            "message #{i} ({}) contains the excluded text {text:?}",
                            m["role"]
                        ));
                    }
                }
            }
        }
        if let Some(expected) = &self.tools_offered {
            let mut offered: Vec<String> = match body.get("tools") {
                None => Vec::new(),
                Some(Value::Array(tools)) if tools.is_empty() => {
                    vec!["<`tools` is an empty array: omit the key instead>".to_string()]
                }
                Some(Value::Array(tools)) => tools
                    .iter()
                    .map(|t| {
                        t["function"]["name"]
                            .as_str()
                            .map_or_else(|| t["function"]["name"].to_string(), str::to_string)
                    })
                    .collect(),
                Some(other) => vec![format!("<`tools` is not an array: {other}>")],
            };
            offered.sort();
            let mut expected = expected.clone();
            expected.sort();
            if offered != expected {
                problems.push(format!(
                    "tools offered are {offered:?}, expected {expected:?}"
                ));
            }
        }
        if let Some(expected) = &self.tool_choice {
            let actual = body.get("tool_choice").cloned().unwrap_or(Value::Null);
            if &actual != expected {
                problems.push(format!("tool_choice is {actual}, expected {expected}"));
            }
        }
        if let Some(expected) = &self.tool_messages {
            let tools: Vec<String> = messages
                .iter()
                .filter(|m| m["role"] == "tool")
                .map(content_text)
                .collect();
            if tools.len() != expected.len() {
                problems.push(format!(
                    "{} tool message(s), expected {}: {tools:?}",
                    tools.len(),
                    expected.len()
                ));
            }
            for (i, (got, want)) in tools.iter().zip(expected).enumerate() {
                if !got.contains(&want.contains) {
                    problems.push(format!(
                        "tool message #{i} is {got:?}, expected it to contain {:?}",
                        want.contains
                    ));
                }
            }
        }
        if let Some(count) = self.message_count {
            if messages.len() != count {
                problems.push(format!(
                    "messages has {} entries, expected {count}",
                    messages.len()
                ));
            }
        }
        if let Some(expected) = &self.authorization {
            let actual = request
                .authorization
                .as_ref()
                .map_or(Value::Null, |a| json!(a));
            if &actual != expected {
                problems.push(format!(
                    "Authorization header is {actual}, expected {expected}"
                ));
            }
        }
        problems
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let model = body["model"].as_str().map(str::to_string);
    let (index, reply) = {
        let mut requests = shared.lock_requests();
        let mut answered_with = lock(&shared.answered_with);
        // The next unused reply of this request's queue: its model's when the script has one,
        // else the general one.
        let has_own_queue = shared
            .replies
            .iter()
            .any(|r| r.for_model.is_some() && r.for_model == model);
        let chosen = (0..shared.replies.len()).find(|&i| {
            let reply_model = &shared.replies[i].for_model;
            let in_queue = if has_own_queue {
                *reply_model == model
            } else {
                reply_model.is_none()
            };
            in_queue && !answered_with.contains(&Some(i))
        });
        requests.push(Recorded {
            body,
            authorization,
        });
        answered_with.push(chosen);
        (
            requests.len() - 1,
            chosen.map(|i| shared.replies[i].clone()),
        )
    };
    let Some(reply) = reply else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("mock gateway: no scripted reply for request #{index}"),
        )
            .into_response();
    };
    if reply.first_byte_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(reply.first_byte_delay_ms)).await;
    }
    if let Some(status) = reply.status {
        let status = StatusCode::from_u16(status).expect("scripted status is a valid HTTP status");
        let text = match reply.body {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => json!({"error": {"message": "scripted failure", "type": "server_error"}})
                .to_string(),
        };
        return (status, [(header::CONTENT_TYPE, "application/json")], text).into_response();
    }
    let stream = futures_util::stream::iter(sse_frames(&reply)).then(|(delay, frame)| async move {
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Ok::<Bytes, Infallible>(Bytes::from(frame))
    });
    let body = if reply.hang {
        Body::from_stream(stream.chain(futures_util::stream::pending()))
    } else {
        Body::from_stream(stream)
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The SSE frames of a streamed reply, each with the pause to take before it.
fn sse_frames(reply: &Reply) -> Vec<(u64, String)> {
    let event = |value: Value| format!("data: {value}\n\n");
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "x",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    };
    let mut frames = Vec::new();
    let deltas = reply
        .reasoning
        .iter()
        .map(|r| json!({"reasoning_content": r}))
        .chain(reply.tokens.iter().map(|t| json!({"content": t})));
    let calls = reply.tool_calls.iter().enumerate().flat_map(|(i, call)| {
        let id = call.id.clone().unwrap_or_else(|| format!("call_{i}"));
        let head = json!({"tool_calls": [{
            "index": i,
            "id": id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""}
        }]});
        let piece =
            |text: &str| json!({"tool_calls": [{"index": i, "function": {"arguments": text}}]});
        let text = call.arguments_text();
        let chars: Vec<char> = text.chars().collect();
        let mut out = vec![head];
        if chars.len() < 2 {
            out.push(piece(&text));
        } else {
            let (first, second) = chars.split_at(chars.len() / 2);
            out.push(piece(&first.iter().collect::<String>()));
            out.push(piece(&second.iter().collect::<String>()));
        }
        out
    });
    for (i, delta) in deltas.chain(calls).enumerate() {
        let delay = if i == 0 { 0 } else { reply.token_delay_ms };
        frames.push((delay, event(chunk(delta, Value::Null))));
    }
    if reply.malformed {
        frames.push((0, "data: {not json\n\n".to_string()));
        return frames;
    }
    if reply.truncate || reply.hang {
        return frames;
    }
    let finish = if reply.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    frames.push((0, event(chunk(json!({}), json!(finish)))));
    if let Some(usage) = reply.usage {
        frames.push((
            0,
            event(json!({
                "id": "x",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.prompt_tokens + usage.completion_tokens
                }
            })),
        ));
    }
    frames.push((0, "data: [DONE]\n\n".to_string()));
    frames
}

/// Length of the mock's embedding vectors.
pub const EMBEDDING_DIMENSIONS: usize = 64;

/// The mock's embedding of `text`: its lowercase words (split on anything not alphanumeric)
/// hashed with FNV-1a into [`EMBEDDING_DIMENSIONS`] buckets, counted, then L2-normalised (all
/// zeros when the text has no word).
pub fn embed(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; EMBEDDING_DIMENSIONS];
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in word.to_lowercase().bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        vector[(hash % EMBEDDING_DIMENSIONS as u64) as usize] += 1.0;
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in &mut vector {
            *v /= norm;
        }
    }
    vector
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    lock(&shared.embedding_requests).push(Recorded {
        body: body.clone(),
        authorization,
    });
    if shared.fail_embeddings.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {"message": "mock gateway: scripted embeddings failure", "type": "server_error"}})
                .to_string(),
        )
            .into_response();
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"error": {"message": "mock gateway: `input` must be a string or a list of strings", "type": "invalid_request_error"}})
                    .to_string(),
            )
                .into_response()
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": embed(text)}))
        .collect();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 0, "total_tokens": 0}
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}
