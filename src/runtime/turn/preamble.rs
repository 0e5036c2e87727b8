//! The preamble: with `SMOOTH_AGENT_PREAMBLE_MODEL` set, a fast side model writes one short line
//! ("Let me check the returns policy.") that streams as `stream_preamble` while the main model
//! call starts. It is ephemeral: never stored, never part of the reply, its usage not counted in
//! the turn's, and its failures only logged.
//!
//! Suppression is by construction: the turn calls [`Preamble::stop`] before it sends the first
//! piece of answer text and before any terminal event; `stop` aborts the side task and waits
//! until it has ended, so no preamble piece can follow answer text.

use std::sync::Mutex;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::TurnInput;
use crate::llm::{ChatMessage, ChatRequest, Delta, Role};
use crate::runtime::sink::TurnSink;
use crate::runtime::Runtime;

/// `max_tokens` of the preamble call: one short line.
const PREAMBLE_MAX_TOKENS: u32 = 48;
/// Most preamble text sent to the client, in characters.
const PREAMBLE_MAX_CHARS: usize = 240;
/// Most of the user's message shown to the preamble model, in characters.
const MESSAGE_CHARS: usize = 2000;

/// What the preamble model is asked to do.
const PREAMBLE_PROMPT: &str = "You write the one short line an assistant shows while it \
prepares its answer: what it is about to do for the user's message (for example \"Let me check \
the returns policy.\"). At most 15 words, in the user's language. Do not answer the message, do \
not promise results, no lists or markdown.";

/// The preamble of one turn: a side task streaming `stream_preamble`, until stopped.
pub(super) struct Preamble {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Preamble {
    /// Starts the side call when a preamble model is configured and the turn streams.
    pub(super) fn start(runtime: &Runtime, sink: &TurnSink, input: &TurnInput) -> Self {
        let task = runtime
            .config
            .preamble_model
            .clone()
            .filter(|_| sink.streams())
            .map(|model| {
                let sink = sink.clone();
                let gateway = input.gateway.clone();
                let message: String = input.message.chars().take(MESSAGE_CHARS).collect();
                tokio::spawn(async move {
                    let request = ChatRequest {
                        model,
                        messages: vec![
                            ChatMessage::text(Role::System, PREAMBLE_PROMPT),
                            ChatMessage::text(Role::User, message),
                        ],
                        tools: Vec::new(),
                        tool_choice: None,
                        max_tokens: Some(PREAMBLE_MAX_TOKENS),
                    };
                    let mut stream = gateway.stream(request);
                    let mut left = PREAMBLE_MAX_CHARS;
                    while let Some(delta) = stream.next().await {
                        match delta {
                            Ok(Delta::Text(text)) if left > 0 => {
                                let piece: String = text.chars().take(left).collect();
                                left -= piece.chars().count();
                                sink.preamble(&piece).await;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(error = %e, "preamble call failed");
                                break;
                            }
                        }
                    }
                })
            });
        Self {
            task: Mutex::new(task),
        }
    }

    /// Ends the preamble for good and waits until its task is gone (idempotent).
    pub(super) async fn stop(&self) {
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Preamble {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}
