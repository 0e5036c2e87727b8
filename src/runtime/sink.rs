//! Where a turn's events go. The runtime defines the [`EventSink`] seam and the server's
//! per-connection outbound queue implements it, so nothing here knows about sockets.
//!
//! A turn whose client disconnected keeps running; its events go to the session's other
//! connections, on this pod or another, through the backplane (dropped when there are none).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, Either};

use uuid::Uuid;

use crate::backplane::{DynBackplane, Target};
use crate::protocol::{events, ClientError, Event, SendMessageResponse};
use crate::telemetry::{TurnMeter, TurnOutcome};

/// A client's event queue: the one way the runtime and the handlers reach a connection.
pub trait EventSink: Send + Sync + std::fmt::Debug + 'static {
    /// Queues an event; `false` when it could not be queued (the client is gone or stuck).
    ///
    /// A plain fn returning the boxed future, not an `async fn`: an implementation can take
    /// what it needs of `event` before the future is made, so the box holds only the wait.
    fn send(&self, event: Event) -> BoxFuture<'_, bool>;
    /// How long ago something was last queued (drives keepalives).
    fn idle_for(&self) -> Duration;
    /// Whether the client is gone or going away (nothing queued now would be delivered).
    fn is_closed(&self) -> bool;
}

/// A shared handle to a client's event queue.
pub type DynSink = Arc<dyn EventSink>;

/// Emits the events of one turn, tagged with its requestId, and measures the turn: started when
/// created, first token, finished by its terminal event (recorded before the event is queued, so
/// a client that saw it sees the turn finished in `/metrics` too).
#[derive(Clone, Debug)]
pub struct TurnSink {
    /// The connection the events go to; replaced when the turn's client left and another
    /// connection of the session resumed it.
    out: Arc<Mutex<DynSink>>,
    request_id: String,
    stream: bool,
    /// Where events go once `out` is closed: the session's connections on every pod.
    fallback: Option<(Uuid, DynBackplane)>,
    meter: Arc<TurnMeter>,
}

impl TurnSink {
    /// A sink for the turn started by `request_id`; `stream == false` suppresses stream events.
    pub fn new(out: DynSink, request_id: String, stream: bool) -> Self {
        Self {
            out: Arc::new(Mutex::new(out)),
            request_id,
            stream,
            fallback: None,
            meter: Arc::new(TurnMeter::start()),
        }
    }

    /// Once the turn's own connection is gone, publishes its events for `session_id`'s other
    /// connections on every pod.
    pub fn with_fallback(mut self, session_id: Uuid, backplane: DynBackplane) -> Self {
        self.fallback = Some((session_id, backplane));
        self
    }

    fn outbound(&self) -> DynSink {
        self.out.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends the rest of the turn to `other` when the turn's own connection is gone (a client
    /// that reconnected and answered a confirmation). Returns whether it switched.
    pub fn adopt_if_orphaned(&self, other: &DynSink) -> bool {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.is_closed() && !other.is_closed() {
            *out = other.clone();
            true
        } else {
            false
        }
    }

    /// Whether nobody would receive the turn's events (its client left).
    pub fn is_orphaned(&self) -> bool {
        self.outbound().is_closed()
    }

    /// Whether the turn streams (`send_message.stream`, default true).
    pub fn streams(&self) -> bool {
        self.stream
    }

    /// The turn's requestId.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Queues `event` for the turn's client, or publishes it for the session's other connections
    /// once that client is gone.
    ///
    /// Every event method builds its event at once and returns this one future. An `async fn`
    /// keeps its arguments twice across an await (as captures and as locals), and a wrapper
    /// `async fn` per event kind held the 304-byte event up to three times: each turn's future
    /// carried that for every kind of event it may send, parked or not.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn emit(&self, event: Event) -> impl Future<Output = ()> + Send + '_ {
        async move {
            // A closed connection is not an error for the turn: it finishes and persists anyway.
            let out = self.outbound();
            if !out.is_closed() {
                let _ = out.send(event).await;
                return;
            }
            if let Some((session_id, backplane)) = &self.fallback {
                if let Err(e) = backplane
                    .publish(Target::SessionId(*session_id), &event)
                    .await
                {
                    tracing::debug!(session = %session_id, error = %e, "orphaned turn event not published");
                }
            }
        }
    }

    /// [`Self::emit`] of `event` when there is one.
    fn emit_some(&self, event: Option<Event>) -> impl Future<Output = ()> + Send + '_ {
        match event {
            Some(event) => Either::Left(self.emit(event)),
            None => Either::Right(std::future::ready(())),
        }
    }

    /// A piece of answer text.
    pub fn token(&self, text: &str) -> impl Future<Output = ()> + Send + '_ {
        self.meter.token();
        self.emit_some(
            self.stream
                .then(|| events::stream_token(&self.request_id, text)),
        )
    }

    /// A piece of the preamble line (what the agent is about to do).
    pub fn preamble(&self, text: &str) -> impl Future<Output = ()> + Send + '_ {
        self.emit_some(
            (self.stream && !text.is_empty())
                .then(|| events::stream_preamble(&self.request_id, text)),
        )
    }

    /// A piece of reasoning.
    pub fn reasoning(&self, text: &str) -> impl Future<Output = ()> + Send + '_ {
        self.emit_some(
            self.stream
                .then(|| events::stream_reasoning(&self.request_id, text)),
        )
    }

    /// A tool call is starting.
    pub fn tool_call(&self, name: &str, arguments: &str) -> impl Future<Output = ()> + Send + '_ {
        self.emit_some(
            self.stream
                .then(|| events::tool_call(&self.request_id, name, arguments)),
        )
    }

    /// A tool call is starting, sent even when `stream` is false (a call a person must judge).
    pub fn tool_call_always(
        &self,
        name: &str,
        arguments: &str,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.emit(events::tool_call(&self.request_id, name, arguments))
    }

    /// A tool call waits for approval (sent even when `stream` is false: the client must answer).
    pub fn confirmation_required(
        &self,
        tool: &str,
        description: &str,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.emit(events::write_confirmation_required(
            &self.request_id,
            tool,
            description,
        ))
    }

    /// The turn waits for the user's answer to an interaction (sent even when `stream` is false:
    /// the client must answer).
    pub fn interaction_required(
        &self,
        interaction_id: uuid::Uuid,
        kind: &str,
        spec: serde_json::Map<String, serde_json::Value>,
        reason: &str,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.emit(events::interaction_required(
            &self.request_id,
            interaction_id,
            kind,
            spec,
            reason,
        ))
    }

    /// The turn waits for the end user's one-time code (sent even when `stream` is false).
    pub fn otp_verification_required(
        &self,
        tool: &str,
        description: &str,
        channels: &[&str],
    ) -> impl Future<Output = ()> + Send + '_ {
        self.emit(events::otp_verification_required(
            &self.request_id,
            tool,
            description,
            channels,
        ))
    }

    /// A one-time code was delivered.
    pub fn otp_sent(&self, channel: &str, masked: &str) -> impl Future<Output = ()> + Send + '_ {
        self.emit(events::otp_sent(&self.request_id, channel, masked))
    }

    /// A tool call finished.
    pub fn tool_result(
        &self,
        name: &str,
        is_error: bool,
        result: &str,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.emit_some(
            self.stream
                .then(|| events::tool_result(&self.request_id, name, is_error, result)),
        )
    }

    /// The turn succeeded.
    pub fn eventual(&self, payload: SendMessageResponse) -> impl Future<Output = ()> + Send + '_ {
        self.meter.finish(TurnOutcome::Completed);
        self.emit(events::eventual_response(&self.request_id, payload))
    }

    /// The turn was cancelled.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + '_ {
        self.meter.finish(TurnOutcome::Cancelled);
        self.emit(events::cancelled(&self.request_id))
    }

    /// The turn failed after its acknowledgement (its terminal event; see [`Self::notice`]).
    pub fn error(&self, error: &ClientError) -> impl Future<Output = ()> + Send + '_ {
        self.meter.finish(TurnOutcome::Failed);
        self.emit(error.to_event(Some(self.request_id.clone())))
    }

    /// An error the client must hear about that does not end the turn (a one-time code that
    /// could not be sent: the turn goes on without the tool).
    pub fn notice(&self, error: &ClientError) -> impl Future<Output = ()> + Send + '_ {
        self.emit(error.to_event(Some(self.request_id.clone())))
    }

    /// Sends a keepalive whenever the connection has been silent for `every`; never returns.
    pub async fn keepalive_loop(&self, every: Duration) {
        if !self.stream {
            return std::future::pending().await;
        }
        loop {
            let idle = self.outbound().idle_for();
            if idle >= every {
                self.emit(events::keepalive(&self.request_id)).await;
                tokio::time::sleep(every).await;
            } else {
                tokio::time::sleep(every - idle).await;
            }
        }
    }
}
