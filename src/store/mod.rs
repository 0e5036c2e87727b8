//! Durable storage of conversations, participants, sessions and messages.
//!
//! [`Store`] is the seam every backend implements; [`sqlite::SqliteStore`] is the embedded
//! default (a WAL-mode file, or an in-memory database for `SMOOTH_AGENT_STORAGE=memory`).
//! Storage is the truth: handlers read sessions from here, never from process memory.

pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::protocol::{ConversationMessage, Message, MessageDirection, Session};

/// A shared handle to the configured store.
pub type DynStore = Arc<dyn Store>;

/// Everything needed to open a new session: its conversation, two participants and the session.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Id of the session to create.
    pub session_id: Uuid,
    /// Id of the conversation to create.
    pub conversation_id: Uuid,
    /// Id of the user's participant record.
    pub user_participant_id: Uuid,
    /// Id of the agent's participant record.
    pub agent_participant_id: Uuid,
    /// The agent the user talks to.
    pub agent_id: String,
    /// The agent's display name.
    pub agent_name: String,
    /// The organization, when known.
    pub organization_id: Option<String>,
    /// The authenticated creator, `None` for anonymous sessions.
    pub owner_id: Option<String>,
    /// The user's display name.
    pub user_name: String,
    /// The user's e-mail, when given.
    pub user_email: Option<String>,
    /// The widget's browser fingerprint, when given.
    pub browser_fingerprint: Option<String>,
    /// Free-form conversation metadata.
    pub metadata: Map<String, Value>,
}

/// A message to append to a conversation.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Id of the message.
    pub id: Uuid,
    /// The conversation it belongs to.
    pub conversation_id: Uuid,
    /// The organization, when known.
    pub organization_id: Option<String>,
    /// Who wrote it: the user (inbound) or the agent (outbound).
    pub direction: MessageDirection,
    /// The text, when any.
    pub text: Option<String>,
    /// Structured agent output, when any.
    pub structured_response: Option<Map<String, Value>>,
    /// The sending participant.
    pub from_participant_id: Option<Uuid>,
    /// The receiving participant.
    pub to_participant_id: Option<Uuid>,
}

/// Where a history page starts.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Most messages to return.
    pub limit: u32,
    /// Only messages older than this message (a message id).
    pub cursor: Option<String>,
    /// Only messages created strictly before this instant.
    pub before: Option<DateTime<Utc>>,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// The messages in wire form.
    pub messages: Vec<ConversationMessage>,
    /// Whether older messages exist below this page.
    pub has_more: bool,
}

/// A storage failure: a client-safe kind plus the backend detail for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The cursor does not name a message of the conversation.
    #[error("cursor does not name a message of this conversation")]
    UnknownCursor,
    /// The backend failed; the detail is for logs only.
    #[error("storage backend failed: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// The storage seam: one implementation per backend, all with the same observable behaviour.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Persists the conversation, both participants and the session atomically.
    async fn create_session(&self, new: NewSession) -> Result<Session, StoreError>;

    /// Reads a session by id.
    async fn get_session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError>;

    /// Appends a message to its conversation and returns it as stored.
    async fn append_message(&self, message: NewMessage) -> Result<Message, StoreError>;

    /// Reads one page of a conversation's history, newest first.
    async fn list_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<MessagePage, StoreError>;

    /// The newest `limit` messages of a conversation, in chronological order (for memory).
    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;

    /// Checks the backend is reachable (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
