//! One file per action. [`dispatch`] routes a decoded frame with an exhaustive `match`, so a new
//! action schema fails to compile until a handler exists for it.
//!
//! Pattern to follow: **the compiler is the protocol checklist.** Adding
//! `spec/actions/x.schema.json` adds `Action::X`, and the `match` below stops compiling until
//! an arm calls `x::handle`; `tests/compiler_guard.rs` proves this with trybuild (a generated
//! spec with one more action must fail with E0004 in a dispatcher that lacks it). Each handler
//! takes a [`Context`] (never a socket), answers with `protocol::events` constructors, and
//! returns a [`ClientError`] for the one `error` event the dispatcher sends on failure.

mod cancel;
mod confirm_tool_action;
mod create_conversation_session;
mod get_conversation_messages;
mod get_session;
mod list_conversations;
mod ping;
mod rename_conversation;
mod send_message;
mod submit_interaction;
mod verify_otp;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::auth::{Auth, Principal};
use crate::backplane::BackplaneError;
use crate::protocol::{Action, ClientError, ErrorCode, Event, Inbound, Session};
use crate::runtime::sink::DynSink;
use crate::runtime::Runtime;
use crate::store::DynStore;

/// What a handler knows about the connection it serves; the server builds one per connection.
#[derive(Clone)]
pub struct Context {
    /// Random id of the connection, for logs and `cancel`.
    pub connection_id: Uuid,
    /// Who is connected, as verified when the socket was opened.
    pub principal: Principal,
    /// The `Origin` the socket was opened from (checked against widget policies).
    pub origin: Option<String>,
    /// Token verification and widget policies.
    pub auth: Arc<Auth>,
    /// Where this connection's events go.
    pub events: DynSink,
    /// Turns, tools, knowledge and storage.
    pub runtime: Arc<Runtime>,
    /// Turns started on this connection (the server waits for them before closing it on
    /// shutdown).
    pub turns: TaskTracker,
}

impl Context {
    /// Queues an event for this connection (the sink's own future: no wrapper holding the event
    /// again while it waits).
    pub fn send(&self, event: Event) -> BoxFuture<'_, bool> {
        self.events.send(event)
    }

    /// Durable storage.
    pub fn store(&self) -> &DynStore {
        &self.runtime.store
    }

    /// Follows `session` from now on: events for it published on the backplane (its turn's
    /// own connection gone, `/admin/publish`) reach this connection too.
    pub fn attach(&self, session: &Session) {
        self.runtime.attachments.attach(
            session.session_id,
            &session.agent_id,
            self.connection_id,
            &self.events,
        );
    }
}

/// The error for an answer that could not reach the pod running the session's turn (it
/// stopped, or the backplane is down): `code`, said plainly, the cause in the log only.
fn pod_unreachable(code: ErrorCode, error: BackplaneError) -> ClientError {
    ClientError::new(
        code,
        "the server instance running this turn did not answer; it may have stopped — send the          message again",
    )
    .with_detail(error.to_string())
}

/// What a handler returns; on `Err` the dispatcher sends one `error` event.
pub type HandlerResult = Result<(), ClientError>;

/// Runs the handler for one decoded frame and reports its failure, if any, to the client.
pub async fn dispatch(ctx: &Context, inbound: Inbound) {
    let Inbound { request_id, action } = inbound;
    let name = action.name();
    let result = match action {
        Action::Ping(req) => ping::handle(ctx, req).await,
        Action::CreateConversationSession(req) => {
            create_conversation_session::handle(ctx, req).await
        }
        Action::GetSession(req) => get_session::handle(ctx, req).await,
        Action::GetConversationMessages(req) => get_conversation_messages::handle(ctx, req).await,
        Action::SendMessage(req) => send_message::handle(ctx, req).await,
        Action::Cancel(req) => cancel::handle(ctx, req).await,
        Action::ConfirmToolAction(req) => confirm_tool_action::handle(ctx, req).await,
        Action::VerifyOtp(req) => verify_otp::handle(ctx, req).await,
        Action::ListConversations(req) => list_conversations::handle(ctx, req).await,
        Action::RenameConversation(req) => rename_conversation::handle(ctx, req).await,
        Action::SubmitInteraction(req) => submit_interaction::handle(ctx, req).await,
    };
    if let Err(err) = result {
        let connection = ctx.connection_id;
        match &err.detail {
            Some(detail) => tracing::error!(
                %connection, action = name, code = %err.code, %detail, "action failed"
            ),
            None => tracing::debug!(
                %connection, action = name, code = %err.code, message = %err.message, "action rejected"
            ),
        }
        ctx.send(err.to_event(request_id)).await;
    }
}
