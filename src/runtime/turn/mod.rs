//! One agent turn: replay memory and ground it in knowledge ([`context`]), stream model calls and
//! loop through tool calls up to the iteration cap ([`agent_loop`], assembling streamed tool-call
//! fragments in [`accumulate`] and running each call in [`calls`]), then persist the reply and
//! finish with `eventual_response` ([`reply`]) — or `cancelled`, or `error` AGENT_ERROR. A side
//! call may stream a `stream_preamble` line until the answer starts ([`preamble`]).

mod accumulate;
mod agent_loop;
mod calls;
mod context;
mod preamble;
mod reply;
mod workflow;

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::registry::TurnGuard;
use super::sink::TurnSink;
use super::Runtime;
use crate::auth::Principal;
use crate::llm::{Gateway, GatewayError, ImagePart, Usage};
use crate::protocol::{ClientError, ErrorCode, Session};
use crate::store::acl::Access;
use crate::store::agent::AgentDefinition;
use crate::store::{ChunkHit, StoreError};

/// What a turn needs to run.
pub struct TurnInput {
    /// The session the turn runs in.
    pub session: Session,
    /// The session's agent definition, when it has one.
    pub agent: Option<AgentDefinition>,
    /// The gateway, with the key of the session's organisation.
    pub gateway: Gateway,
    /// Model id for every call of this turn.
    pub model: String,
    /// Most model calls in this turn.
    pub max_iterations: u32,
    /// The turn's id in the registry.
    pub turn_id: Uuid,
    /// The user's message (the retrieval query).
    pub message: String,
    /// Whose documents retrieval may read.
    pub access: Access,
    /// Who started the turn (admin tools need an admin).
    pub principal: Principal,
    /// Whether the session's end user is verified (set when a one-time code passes mid-turn).
    pub end_user_verified: AtomicBool,
    /// The skill of this turn: its name and recipe, added to the system prompt.
    pub skill: Option<(String, String)>,
    /// Images shown to the model with the user's new message.
    pub images: Vec<ImagePart>,
    /// Files handed to the declared tools that accept them.
    pub files: Vec<serde_json::Value>,
}

/// What the model phase produced.
#[derive(Debug, Default)]
struct ModelOutput {
    reply: String,
    usage: Option<Usage>,
    /// Knowledge that grounded the turn: auto-context first, then tool results.
    sources: Vec<ChunkHit>,
    /// The client directive the turn's tools left (the last one set).
    directive: Option<serde_json::Map<String, serde_json::Value>>,
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
    /// The `AGENT_ERROR` the client is told; the cause goes to the log only.
    fn to_client(&self) -> ClientError {
        let message = match self {
            TurnError::Gateway(GatewayError::Timeout(_)) => {
                "agent turn failed: the model gateway timed out"
            }
            TurnError::Gateway(_) => {
                "agent turn failed: the model gateway did not answer correctly"
            }
            TurnError::Store(_) => "agent turn failed: storage error",
            TurnError::EmptyReply => "agent turn failed: the model returned an empty reply",
        };
        ClientError::new(ErrorCode::AgentError, message).with_detail(self.to_string())
    }
}

/// Which limit stopped a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// The turn ran for the whole turn timeout.
    Timeout,
    /// The turn's client was gone for the whole orphan lifetime.
    Orphaned,
}

/// Resolves when the turn has run for `total`, or its client has been gone for `orphan`.
async fn lifetime(sink: &TurnSink, total: Duration, orphan: Duration) -> Limit {
    let started = tokio::time::Instant::now();
    let mut gone_since = None;
    loop {
        let now = tokio::time::Instant::now();
        if now - started >= total {
            return Limit::Timeout;
        }
        if sink.is_orphaned() {
            let since = *gone_since.get_or_insert(now);
            if now - since >= orphan {
                return Limit::Orphaned;
            }
        } else {
            gone_since = None;
        }
        let left = total.saturating_sub(now - started);
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
}

/// Runs a whole turn to its terminal event; never panics on gateway or storage failures.
/// `guard` holds the session for this turn and is released before the terminal event.
///
/// A plain `fn` returning an `async move` block, not an `async fn`: an `async fn` keeps its
/// arguments twice for the whole turn (as captures and as locals; here 1.4 KB of the 7 KB a
/// parked turn's task weighed), where the block uses its captures in place.
#[allow(clippy::manual_async_fn)] // deliberate: see above
pub fn run(
    runtime: Arc<Runtime>,
    sink: TurnSink,
    input: TurnInput,
    mut guard: TurnGuard,
) -> impl Future<Output = ()> + Send {
    async move {
        let session_id = input.session.session_id;
        let keepalive = Duration::from_secs(runtime.config.keepalive_secs);
        let cancel = guard.cancel_token().clone();
        let total = Duration::from_secs(runtime.config.turn_timeout_secs);
        let orphan = Duration::from_secs(
            runtime
                .config
                .orphan_turn_secs
                .unwrap_or(runtime.config.turn_timeout_secs),
        );
        let mut ran_out = None;
        let preamble = preamble::Preamble::start(&runtime, &sink, &input);
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            result = agent_loop::run(&runtime, &sink, &input, &preamble) => Some(result),
            () = sink.keepalive_loop(keepalive) => None,
            limit = lifetime(&sink, total, orphan) => {
                ran_out = Some(limit);
                None
            }
        };
        // Nothing of the preamble may follow the terminal event.
        preamble.stop().await;
        // After this, `cancel` finds no turn (on any pod); a cancel that raced in before still
        // wins below.
        guard.release_everywhere().await;
        if let (Some(limit), false) = (ran_out, cancel.is_cancelled()) {
            tracing::warn!(session = %session_id, request = sink.request_id(), ?limit, "turn stopped at its limit");
            let error = ClientError::new(
                ErrorCode::AgentError,
                format!(
                    "agent turn failed: it ran longer than the server allows ({} s)",
                    total.as_secs()
                ),
            );
            sink.error(&error).await;
            return;
        }
        if cancel.is_cancelled() || outcome.is_none() {
            tracing::info!(session = %session_id, request = sink.request_id(), "turn cancelled");
            sink.cancelled().await;
            return;
        }
        let result = match outcome {
            Some(Ok(output)) => reply::finish(&runtime, &sink, &input, output).await,
            Some(Err(e)) => Err(e),
            None => return,
        };
        if let Err(e) = result {
            tracing::error!(session = %session_id, request = sink.request_id(), error = %e, "turn failed");
            sink.error(&e.to_client()).await;
        }
    }
}
