//! The shared store: PostgreSQL through sqlx, migrated on open (`migrations/postgres`, the same
//! schema as SQLite's in Postgres types). Every process on one database sees the same sessions,
//! messages, knowledge, agents and codes. Behaviour equals [`super::sqlite::SqliteStore`]'s
//! exactly; `tests/store_contract.rs` runs one suite against both. Conversations live in
//! [`sessions`], knowledge in [`knowledge`] and [`fulltext`]; the [`Store`] impl only forwards.
//!
//! Postgres `text` cannot hold U+0000, which clients may send (JSON allows `\u0000`): free text
//! (message text, participant names, titles, chunk text, e-mails, request ids) is stored with
//! NUL escaped by [`escape_nul`] and read back through [`unescape_nul`], so it round-trips
//! exactly. Identifiers (organisation, owner and document ids) are stored as given; one holding
//! a NUL fails as a [`StoreError::Backend`] (sources with control characters are refused at
//! ingest already).
//!
//! A lost connection is a [`StoreError::Backend`] (clients see `STORAGE_ERROR`); the pool tests
//! connections before handing them out and opens new ones, so it recovers by itself.

mod fulltext;
mod knowledge;
mod sessions;
mod tenancy;
mod verification;

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Timelike, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use uuid::Uuid;

use super::agent::AgentDefinition;
use super::clock::{self, DynClock};
use super::{
    AgentRecord, ChunkHit, ConversationQuery, ConversationRecord, DocumentRecord, MessagePage,
    NewDocument, NewMessage, NewSession, OtpRecord, PageRequest, Reader, Store, StoreError,
};
use crate::protocol::{Message, Session};

/// How long a query waits for a connection before it fails (and readiness answers 503).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections one process holds.
const MAX_CONNECTIONS: u32 = 10;

/// A PostgreSQL-backed [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// Where `createdAt` / `updatedAt` come from.
    clock: DynClock,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://…`) and applies pending migrations (under
    /// an advisory lock, so processes starting together migrate once).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            clock: clock::system(),
        })
    }

    /// The same store taking its timestamps from `clock`.
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// "Now" from the clock, at the microsecond precision the database keeps.
    fn now(&self) -> DateTime<Utc> {
        micros(self.clock.now())
    }
}

/// `t` cut to whole microseconds (toward the past), as SQLite's text timestamps are.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// The escape character of [`escape_nul`] (a noncharacter, so text rarely holds it).
const ESCAPE: char = '\u{FFFF}';

/// `text` with NUL written as `ESCAPE 0` and `ESCAPE` itself doubled (unchanged, and not
/// copied, when it holds neither).
pub(super) fn escape_nul(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\0' => {
                out.push(ESCAPE);
                out.push('0');
            }
            ESCAPE => {
                out.push(ESCAPE);
                out.push(ESCAPE);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`escape_nul`] of an optional text, owned (for binding).
pub(super) fn escape_opt(text: Option<&str>) -> Option<String> {
    text.map(|t| escape_nul(t).into_owned())
}

/// The text [`escape_nul`] was given.
pub(super) fn unescape_nul(text: String) -> String {
    if !text.contains(ESCAPE) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some(ESCAPE) => out.push(ESCAPE),
            // Not written by escape_nul: keep it as it is.
            Some(other) => {
                out.push(ESCAPE);
                out.push(other);
            }
            None => out.push(ESCAPE),
        }
    }
    out
}

/// [`unescape_nul`] of an optional text.
pub(super) fn unescape_opt(text: Option<String>) -> Option<String> {
    text.map(unescape_nul)
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_session(&self, new: NewSession) -> Result<Session, StoreError> {
        self.insert_session(new).await
    }

    async fn resume_session(&self, new: NewSession) -> Result<Session, StoreError> {
        self.insert_resumed_session(new).await
    }

    async fn latest_session(&self, conversation_id: Uuid) -> Result<Option<Session>, StoreError> {
        self.newest_session_of(conversation_id).await
    }

    async fn get_session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        self.session(session_id).await
    }

    async fn append_message(&self, message: NewMessage) -> Result<Message, StoreError> {
        self.insert_message(message).await
    }

    async fn list_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<MessagePage, StoreError> {
        self.message_page(conversation_id, page).await
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        self.recent(conversation_id, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get_document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        self.document(id).await
    }

    async fn put_document(&self, document: NewDocument) -> Result<DocumentRecord, StoreError> {
        self.replace_document(document).await
    }

    async fn list_documents(&self) -> Result<Vec<DocumentRecord>, StoreError> {
        self.documents().await
    }

    async fn delete_document(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_document(id).await
    }

    async fn document_count(&self) -> Result<u64, StoreError> {
        self.count_documents().await
    }

    async fn search_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        self.full_text(expression, reader, limit).await
    }

    async fn search_vector(
        &self,
        vector: &[f32],
        model: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        self.nearest(vector, model, reader, limit).await
    }

    async fn put_agent(&self, agent: &AgentDefinition) -> Result<AgentRecord, StoreError> {
        self.upsert_agent(agent).await
    }

    async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.agent(id).await
    }

    async fn list_agents(
        &self,
        organization_id: Option<&str>,
    ) -> Result<Vec<AgentRecord>, StoreError> {
        self.agents(organization_id).await
    }

    async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        self.remove_agent(id).await
    }

    async fn set_gateway_key(
        &self,
        organization_id: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store_gateway_key(organization_id, key).await
    }

    async fn gateway_key(&self, organization_id: &str) -> Result<Option<String>, StoreError> {
        self.org_gateway_key(organization_id).await
    }

    async fn list_conversations(
        &self,
        query: ConversationQuery,
    ) -> Result<(Vec<ConversationRecord>, bool), StoreError> {
        self.conversations(query).await
    }

    async fn get_conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError> {
        self.conversation(id).await
    }

    async fn rename_conversation(&self, id: Uuid, title: &str) -> Result<bool, StoreError> {
        self.retitle_conversation(id, title).await
    }

    async fn set_contact(
        &self,
        session_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store_contact(session_id, name, email, phone).await
    }

    async fn put_otp(&self, record: &OtpRecord) -> Result<(), StoreError> {
        self.replace_otp(record).await
    }

    async fn get_otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        self.otp(session_id).await
    }

    async fn spend_otp_attempt(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        self.spend_attempt(session_id).await
    }

    async fn otp_heartbeat(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.heartbeat(session_id).await
    }

    async fn delete_otp(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.remove_otp(session_id).await
    }

    async fn mark_otp_verified(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.otp_verified(session_id).await
    }

    async fn set_workflow_step(
        &self,
        session_id: Uuid,
        step: &str,
        turns: u32,
    ) -> Result<(), StoreError> {
        self.workflow_step(session_id, step, turns).await
    }

    async fn ensure_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.secret(name, candidate).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escaping_round_trips() {
        for text in [
            "",
            "plain",
            "a\0b",
            "\0\0",
            "x\u{FFFF}y",
            "\u{FFFF}0",
            "\u{FFFF}",
            "\0\u{FFFF}\0",
        ] {
            let escaped = escape_nul(text);
            assert!(!escaped.contains('\0'), "{text:?}");
            assert_eq!(unescape_nul(escaped.into_owned()), text, "{text:?}");
        }
        assert!(matches!(escape_nul("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn timestamps_are_cut_to_microseconds() {
        let t = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(micros(t).to_rfc3339(), "2024-05-06T07:08:09.123456+00:00");
        let before_1970 = DateTime::parse_from_rfc3339("1960-01-01T00:00:00.000000999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(micros(before_1970).timestamp_subsec_nanos(), 0);
    }
}
