//! A scripted OpenAI-compatible gateway for tests: `POST /v1/chat/completions` on 127.0.0.1,
//! answering one scripted [`Reply`] per request, in order, and recording every request.
//!
//! ```ignore
//! let gw = MockGateway::start(vec![Reply::tokens(&["Hel", "lo"])]).await;
//! config.agent.gateway_url = Some(gw.base_url());
//! // … run a turn …
//! assert!(gw.check_expectations().is_empty());
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde::Deserialize;
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
    /// Assertions on the request this reply answers, checked by [`MockGateway::check_expectations`].
    #[serde(default)]
    pub expect: Option<Expect>,
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
    /// The content of the last message with role `user` must equal this.
    #[serde(default)]
    pub last_user_message: Option<String>,
    /// These `{role, content}` pairs must appear in `messages` in this order (not necessarily
    /// adjacent).
    #[serde(default)]
    pub messages_include: Option<Vec<ExpectMessage>>,
    /// `messages` must have exactly this many entries.
    #[serde(default)]
    pub message_count: Option<usize>,
    /// The `Authorization` header must equal this string; `null` means it must be absent.
    #[serde(default)]
    pub authorization: Option<Value>,
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
    requests: Mutex<Vec<Recorded>>,
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
    /// Binds 127.0.0.1:0 and serves `replies`, one per request, in order. Requests beyond the
    /// script are recorded and answered 500.
    pub async fn start(replies: Vec<Reply>) -> MockGateway {
        let shared = Arc::new(Shared {
            replies,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
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

    /// How many requests arrived so far.
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
        let mut problems = Vec::new();
        for (index, reply) in self.shared.replies.iter().enumerate() {
            let Some(expect) = &reply.expect else {
                continue;
            };
            match requests.get(index) {
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
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    let index = {
        let mut requests = shared.lock_requests();
        requests.push(Recorded {
            body,
            authorization,
        });
        requests.len() - 1
    };
    let Some(reply) = shared.replies.get(index).cloned() else {
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
    for (i, delta) in deltas.enumerate() {
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
    frames.push((0, event(chunk(json!({}), json!("stop")))));
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
