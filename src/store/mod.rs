//! Durable storage of conversations, participants, sessions, messages and knowledge.
//!
//! [`Store`] is the seam every backend implements; [`sqlite::SqliteStore`] is the embedded
//! default (a WAL-mode file, or an in-memory database for `SMOOTH_AGENT_STORAGE=memory`),
//! [`postgres::PostgresStore`] the shared database of several processes, and [`open`] builds
//! the one the settings name (both pass the same contract suite, `tests/store_contract.rs`).
//! Storage is the truth: handlers read sessions from here, never from process memory.
//! Timestamps come from an injected [`clock::Clock`].

pub mod acl;
pub mod agent;
mod cached;
pub mod clock;
mod codec;
mod open;
pub mod postgres;
mod records;
pub mod sqlite;
mod timed;
mod vector;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::protocol::{ClientError, ErrorCode, Message, Session};
use agent::AgentDefinition;

pub use cached::{cached, Cached, FRESH_FOR};
pub use open::{open, open_with_clock};
pub use records::*;
pub use timed::{timed, Timed};

/// A new id for a stored row (session, conversation, participant, message): a UUID v7, whose
/// text sorts by creation time, so each index on an id takes its new entries at its right
/// edge, in pages already cached and dirty, instead of one random page per insert (a session
/// create inserts into seven such indexes). Its 62 random bits keep ids unguessable; every
/// action still checks the session's owner.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A shared handle to the configured store.
pub type DynStore = Arc<dyn Store>;

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

impl StoreError {
    /// The `STORAGE_ERROR` a client is told, with `message` for the client and the backend
    /// failure as the log-only detail.
    pub fn to_client(&self, message: impl Into<String>) -> ClientError {
        ClientError::new(ErrorCode::StorageError, message).with_detail(self.to_string())
    }
}

/// The storage seam: one implementation per backend, all with the same observable behaviour.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Persists the conversation, both participants and the session atomically.
    async fn create_session(&self, new: NewSession) -> Result<Session, StoreError>;

    /// Persists a new session in the existing conversation `new.conversation_id`, reusing the
    /// participants `new` names (only the session is created); a `Some` `new.supports` replaces
    /// the conversation's capabilities, `None` keeps them.
    async fn resume_session(&self, new: NewSession) -> Result<Session, StoreError>;

    /// The most recently created session of a conversation.
    async fn latest_session(&self, conversation_id: Uuid) -> Result<Option<Session>, StoreError>;

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

    /// Reads a knowledge document's record.
    async fn get_document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError>;

    /// Stores a document and its chunks atomically, replacing any previous version (its
    /// `created_at` is kept).
    async fn put_document(&self, document: NewDocument) -> Result<DocumentRecord, StoreError>;

    /// Every document, sorted by source.
    async fn list_documents(&self) -> Result<Vec<DocumentRecord>, StoreError>;

    /// Deletes a document and its chunks; `false` when it did not exist.
    async fn delete_document(&self, id: &str) -> Result<bool, StoreError>;

    /// How many documents exist.
    async fn document_count(&self) -> Result<u64, StoreError>;

    /// Full-text search: the best `limit` chunks matching the FTS expression that `reader` may
    /// read, best first.
    async fn search_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError>;

    /// Dense search: the `limit` chunks embedded with `model` closest (cosine) to `vector` that
    /// `reader` may read, best first.
    async fn search_vector(
        &self,
        vector: &[f32],
        model: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError>;

    /// Stores an agent definition, replacing the one with the same id (its `created_at` is
    /// kept).
    async fn put_agent(&self, agent: &AgentDefinition) -> Result<AgentRecord, StoreError>;

    /// Reads an agent definition.
    async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError>;

    /// Agent definitions sorted by id: one organisation's, or every one with `None`.
    async fn list_agents(
        &self,
        organization_id: Option<&str>,
    ) -> Result<Vec<AgentRecord>, StoreError>;

    /// Deletes an agent definition; `false` when it did not exist.
    async fn delete_agent(&self, id: &str) -> Result<bool, StoreError>;

    /// Sets (or, with `None`, clears) an organisation's gateway key.
    async fn set_gateway_key(
        &self,
        organization_id: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError>;

    /// An organisation's gateway key, when one is set.
    async fn gateway_key(&self, organization_id: &str) -> Result<Option<String>, StoreError>;

    /// One page of conversations, newest first; `true` when more follow.
    async fn list_conversations(
        &self,
        query: ConversationQuery,
    ) -> Result<(Vec<ConversationRecord>, bool), StoreError>;

    /// Reads a conversation.
    async fn get_conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError>;

    /// Sets a conversation's title (and its `updated_at` to now); `false` when it does not exist.
    async fn rename_conversation(&self, id: Uuid, title: &str) -> Result<bool, StoreError>;

    /// Stores the session's one-time code, replacing any earlier one.
    async fn put_otp(&self, record: &OtpRecord) -> Result<(), StoreError>;

    /// The session's pending one-time code.
    async fn get_otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError>;

    /// Uses up one attempt of the session's code, atomically; the code as it is afterwards, or
    /// `None` when there is no code or no attempt left.
    async fn spend_otp_attempt(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError>;

    /// Records that the turn waiting for the session's code is alive (now).
    async fn otp_heartbeat(&self, session_id: Uuid) -> Result<(), StoreError>;

    /// Removes the session's one-time code.
    async fn delete_otp(&self, session_id: Uuid) -> Result<(), StoreError>;

    /// Stores the end-user contact an identity intake collected: each given value replaces the
    /// session's name, e-mail or phone; `None` keeps it.
    async fn set_contact(
        &self,
        session_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Records that the session's end user passed a one-time code (now).
    async fn mark_otp_verified(&self, session_id: Uuid) -> Result<(), StoreError>;

    /// Stores the session's workflow position: the step id and the turns spent on it.
    async fn set_workflow_step(
        &self,
        session_id: Uuid,
        step: &str,
        turns: u32,
    ) -> Result<(), StoreError>;

    /// The server-wide secret `name`, created from `candidate` when it does not exist yet (every
    /// process on this store then uses the same value).
    async fn ensure_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
}
