//! The records the store reads and writes: sessions and messages to create, history pages,
//! knowledge documents, chunks and search hits.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::acl::{Access, Acl};
use super::agent::AgentDefinition;
use crate::protocol::{ConversationMessage, MessageDirection};

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
    /// The authenticated creator's organisation, when their token named one.
    pub owner_org: Option<String>,
    /// The end user an embedding site vouched for (a verified `authContext`).
    pub verified_user_id: Option<String>,
    /// The user's display name.
    pub user_name: String,
    /// The user's e-mail, when given.
    pub user_email: Option<String>,
    /// The widget's browser fingerprint, when given.
    pub browser_fingerprint: Option<String>,
    /// Free-form conversation metadata.
    pub metadata: Map<String, Value>,
    /// The render capabilities the client declared; `None` when it declared none (on a resume:
    /// keep the conversation's).
    pub supports: Option<Vec<String>>,
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

/// A knowledge document as stored (without its text).
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentRecord {
    /// Document id (equal to its source).
    pub id: String,
    /// Where the text came from: a relative path, a URL or a label.
    pub source: String,
    /// Display title used in citations.
    pub title: String,
    /// Link shown in citations (only http(s)).
    pub url: Option<String>,
    /// Who may read it; `None` means everyone.
    pub acl: Option<Acl>,
    /// How it came in: `dir`, `cli` or `admin`.
    pub origin: String,
    /// Hex SHA-256 of the text.
    pub content_hash: String,
    /// The model its chunks were embedded with, `None` when they were not.
    pub embedding_model: Option<String>,
    /// Number of chunks.
    pub chunk_count: u32,
    /// When it was first ingested.
    pub created_at: DateTime<Utc>,
    /// When its content, url or ACL last changed.
    pub updated_at: DateTime<Utc>,
}

/// A document to store, replacing any document with the same id.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Document id (equal to its source).
    pub id: String,
    /// Source label.
    pub source: String,
    /// Display title.
    pub title: String,
    /// Citation link.
    pub url: Option<String>,
    /// Access list.
    pub acl: Option<Acl>,
    /// How it came in.
    pub origin: String,
    /// Hex SHA-256 of the text.
    pub content_hash: String,
    /// Model of the chunk embeddings, when every chunk has one.
    pub embedding_model: Option<String>,
    /// The chunks, in order.
    pub chunks: Vec<NewChunk>,
}

/// One chunk of a document to store.
#[derive(Debug, Clone)]
pub struct NewChunk {
    /// The chunk text.
    pub text: String,
    /// Its embedding, when computed.
    pub embedding: Option<Vec<f32>>,
}

/// A chunk found by a search, with its document.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkHit {
    /// Storage id of the chunk.
    pub chunk_id: i64,
    /// Its document's id.
    pub document_id: String,
    /// Its document's source.
    pub source: String,
    /// Its document's title.
    pub title: String,
    /// Its document's link.
    pub url: Option<String>,
    /// The chunk text.
    pub text: String,
    /// Relevance, higher is better (comparable only within one result list).
    pub score: f64,
}

/// Sorts hits by descending score (ties by chunk id, so results are deterministic).
pub fn sort_best_first(hits: &mut [ChunkHit]) {
    hits.sort_by(|a, b| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.chunk_id.cmp(&b.chunk_id))
    });
}

/// Who a search runs for: everyone's documents (the admin API) or one reader's.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// No access filtering.
    Admin,
    /// Only documents this reader may read.
    As(&'a Access),
}

/// A stored agent definition.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    /// The definition as last written.
    pub definition: AgentDefinition,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// A conversation as the admin API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRecord {
    /// The conversation id.
    pub id: Uuid,
    /// Its name (`Session <sessionId>` for sessions created over the WebSocket).
    pub name: String,
    /// Where it was started (`web`).
    pub platform: String,
    /// Its organisation.
    pub organization_id: Option<String>,
    /// The authenticated user who started it, when one did.
    pub owner_id: Option<String>,
    /// That user's organisation.
    pub owner_org: Option<String>,
    /// The title given with `rename_conversation`, else the text of its first user message.
    pub title: Option<String>,
    /// How many messages it holds.
    pub message_count: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed: its newest message, or its last rename.
    pub updated_at: DateTime<Utc>,
}

/// Which conversations to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    /// Only this organisation's (`None`: every organisation).
    pub organization_id: Option<String>,
    /// Only conversations this user (user id, organisation) started.
    pub owner: Option<(String, Option<String>)>,
    /// Most conversations to return.
    pub limit: u32,
    /// How many to skip (the page cursor).
    pub offset: u64,
    /// Newest activity first (`updated_at`) instead of newest created first.
    pub by_activity: bool,
}

/// A one-time code waiting to be verified (only a keyed hash of the code is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct OtpRecord {
    /// The session whose end user is verifying.
    pub session_id: Uuid,
    /// Keyed hash of the code.
    pub code_hash: String,
    /// Where it was sent: `email` or `sms`.
    pub channel: String,
    /// The address it was sent to.
    pub destination: String,
    /// Codes the user may still try.
    pub attempts_left: u32,
    /// When the code stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was sent (for the resend cooldown).
    pub sent_at: DateTime<Utc>,
    /// The requestId of the turn that asked for it.
    pub request_id: String,
    /// The tool that needed the verification.
    pub tool: String,
    /// When the turn waiting for the code last said it is alive.
    pub heartbeat_at: Option<DateTime<Utc>>,
}
