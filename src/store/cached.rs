//! [`Cached`]: a [`Store`] that keeps, for a moment, the answers every turn and every new
//! session would otherwise read again: agent definitions, organisations' gateway keys and the
//! knowledge base's document count. Everything else goes straight to the store it wraps.
//!
//! A write through this store forgets what it cached of that kind at once, so this process
//! never serves an answer older than its own last write. A write by another process (another
//! pod, the `ingest` command) is seen within [`FRESH_FOR`]: the price of reading these rows
//! once per second instead of several times per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use uuid::Uuid;

use super::agent::AgentDefinition;
use super::{
    AgentRecord, ChunkHit, ConversationQuery, ConversationRecord, DocumentRecord, DynStore,
    MessagePage, NewDocument, NewMessage, NewSession, OtpRecord, PageRequest, Reader, Store,
    StoreError,
};
use crate::protocol::{Message, Session};

/// How long a cached answer is served before the store is read again.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Entries one cache holds at most; a full cache starts over (client-chosen agent ids must not
/// grow it without bound).
const MAX_ENTRIES: usize = 1024;

/// `inner`, with agents, gateway keys and the document count cached for [`FRESH_FOR`].
pub fn cached(inner: DynStore) -> DynStore {
    std::sync::Arc::new(Cached {
        inner,
        agents: Recent::default(),
        gateway_keys: Recent::default(),
        document_count: Recent::default(),
    })
}

/// A store with a few hot reads cached; built by [`cached`].
pub struct Cached {
    inner: DynStore,
    agents: Recent<Option<AgentRecord>>,
    gateway_keys: Recent<Option<String>>,
    document_count: Recent<u64>,
}

/// Answers read in the last [`FRESH_FOR`], by key, and a count of the writes that emptied it.
struct Recent<T> {
    state: Mutex<RecentState<T>>,
}

struct RecentState<T> {
    entries: HashMap<String, (Instant, T)>,
    /// Bumped by every write: a read that started before a write must not cache its answer.
    epoch: u64,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(RecentState {
                entries: HashMap::new(),
                epoch: 0,
            }),
        }
    }
}

impl<T: Clone> Recent<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecentState<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer for `key` when it is fresh.
    fn get(&self, key: &str) -> Option<T> {
        let state = self.lock();
        let (at, value) = state.entries.get(key)?;
        (at.elapsed() < FRESH_FOR).then(|| value.clone())
    }

    /// The write count now; pass it to [`Recent::put`] with the answer read after it.
    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps `value` for `key`, unless a write happened since `epoch`.
    fn put(&self, key: &str, value: T, epoch: u64) {
        let mut state = self.lock();
        if state.epoch != epoch {
            return;
        }
        if state.entries.len() >= MAX_ENTRIES {
            state.entries.clear();
        }
        state
            .entries
            .insert(key.to_string(), (Instant::now(), value));
    }

    /// The fresh answer for `key`, else what `read` gets from the store (kept for next time).
    async fn read_through<F>(&self, key: &str, read: impl FnOnce() -> F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let epoch = self.epoch();
        let value = read().await?;
        self.put(key, value.clone(), epoch);
        Ok(value)
    }

    /// Forgets everything (after a write of this kind).
    fn forget(&self) {
        let mut state = self.lock();
        state.epoch += 1;
        state.entries.clear();
    }
}

#[async_trait]
impl Store for Cached {
    async fn create_session(&self, new: NewSession) -> Result<Session, StoreError> {
        self.inner.create_session(new).await
    }

    async fn resume_session(&self, new: NewSession) -> Result<Session, StoreError> {
        self.inner.resume_session(new).await
    }

    async fn latest_session(&self, conversation_id: Uuid) -> Result<Option<Session>, StoreError> {
        self.inner.latest_session(conversation_id).await
    }

    async fn get_session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        self.inner.get_session(session_id).await
    }

    async fn append_message(&self, message: NewMessage) -> Result<Message, StoreError> {
        self.inner.append_message(message).await
    }

    async fn list_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<MessagePage, StoreError> {
        self.inner.list_messages(conversation_id, page).await
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        self.inner.recent_messages(conversation_id, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn get_document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        self.inner.get_document(id).await
    }

    async fn put_document(&self, document: NewDocument) -> Result<DocumentRecord, StoreError> {
        let result = self.inner.put_document(document).await;
        self.document_count.forget();
        result
    }

    async fn list_documents(&self) -> Result<Vec<DocumentRecord>, StoreError> {
        self.inner.list_documents().await
    }

    async fn delete_document(&self, id: &str) -> Result<bool, StoreError> {
        let result = self.inner.delete_document(id).await;
        self.document_count.forget();
        result
    }

    async fn document_count(&self) -> Result<u64, StoreError> {
        self.document_count
            .read_through("", || self.inner.document_count())
            .await
    }

    async fn search_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        self.inner.search_text(expression, reader, limit).await
    }

    async fn search_vector(
        &self,
        vector: &[f32],
        model: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        self.inner.search_vector(vector, model, reader, limit).await
    }

    async fn put_agent(&self, agent: &AgentDefinition) -> Result<AgentRecord, StoreError> {
        let result = self.inner.put_agent(agent).await;
        self.agents.forget();
        result
    }

    async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.agents
            .read_through(id, || self.inner.get_agent(id))
            .await
    }

    async fn list_agents(
        &self,
        organization_id: Option<&str>,
    ) -> Result<Vec<AgentRecord>, StoreError> {
        self.inner.list_agents(organization_id).await
    }

    async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        let result = self.inner.delete_agent(id).await;
        self.agents.forget();
        result
    }

    async fn set_gateway_key(
        &self,
        organization_id: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        let result = self.inner.set_gateway_key(organization_id, key).await;
        self.gateway_keys.forget();
        result
    }

    async fn gateway_key(&self, organization_id: &str) -> Result<Option<String>, StoreError> {
        self.gateway_keys
            .read_through(organization_id, || self.inner.gateway_key(organization_id))
            .await
    }

    async fn list_conversations(
        &self,
        query: ConversationQuery,
    ) -> Result<(Vec<ConversationRecord>, bool), StoreError> {
        self.inner.list_conversations(query).await
    }

    async fn get_conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError> {
        self.inner.get_conversation(id).await
    }

    async fn rename_conversation(&self, id: Uuid, title: &str) -> Result<bool, StoreError> {
        self.inner.rename_conversation(id, title).await
    }

    async fn put_otp(&self, record: &OtpRecord) -> Result<(), StoreError> {
        self.inner.put_otp(record).await
    }

    async fn get_otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        self.inner.get_otp(session_id).await
    }

    async fn spend_otp_attempt(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        self.inner.spend_otp_attempt(session_id).await
    }

    async fn otp_heartbeat(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.inner.otp_heartbeat(session_id).await
    }

    async fn delete_otp(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.inner.delete_otp(session_id).await
    }

    async fn set_contact(
        &self,
        session_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_contact(session_id, name, email, phone).await
    }

    async fn mark_otp_verified(&self, session_id: Uuid) -> Result<(), StoreError> {
        self.inner.mark_otp_verified(session_id).await
    }

    async fn set_workflow_step(
        &self,
        session_id: Uuid,
        step: &str,
        turns: u32,
    ) -> Result<(), StoreError> {
        self.inner.set_workflow_step(session_id, step, turns).await
    }

    async fn ensure_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.inner.ensure_secret(name, candidate).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use serde_json::json;

    const AGENT: &str = "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11";

    fn agent(name: &str) -> AgentDefinition {
        AgentDefinition::from_value(json!({"id": AGENT, "name": name})).unwrap()
    }

    fn name(record: Option<AgentRecord>) -> Option<String> {
        record.and_then(|r| r.definition.name)
    }

    #[tokio::test]
    async fn a_read_is_served_from_the_cache_until_this_store_writes() {
        let inner: DynStore = std::sync::Arc::new(SqliteStore::open_memory().await.unwrap());
        let store = cached(inner.clone());
        assert_eq!(name(store.get_agent(AGENT).await.unwrap()), None);
        // Written behind the cache's back (another process): not seen while fresh.
        inner.put_agent(&agent("first")).await.unwrap();
        assert_eq!(name(store.get_agent(AGENT).await.unwrap()), None);
        // Written through it: seen at once.
        store.put_agent(&agent("second")).await.unwrap();
        assert_eq!(
            name(store.get_agent(AGENT).await.unwrap()).as_deref(),
            Some("second")
        );
        store.delete_agent(AGENT).await.unwrap();
        assert_eq!(name(store.get_agent(AGENT).await.unwrap()), None);
    }

    #[tokio::test]
    async fn gateway_keys_and_the_document_count_forget_on_write() {
        let store = cached(std::sync::Arc::new(
            SqliteStore::open_memory().await.unwrap(),
        ));
        assert_eq!(store.gateway_key("org").await.unwrap(), None);
        store.set_gateway_key("org", Some("k-1")).await.unwrap();
        assert_eq!(
            store.gateway_key("org").await.unwrap().as_deref(),
            Some("k-1")
        );
        store.set_gateway_key("org", None).await.unwrap();
        assert_eq!(store.gateway_key("org").await.unwrap(), None);
        assert_eq!(store.document_count().await.unwrap(), 0);
    }

    #[test]
    fn an_answer_read_before_a_write_is_not_kept() {
        let recent: Recent<u32> = Recent::default();
        let epoch = recent.epoch();
        recent.forget();
        recent.put("k", 1, epoch);
        assert_eq!(recent.get("k"), None);
        recent.put("k", 2, recent.epoch());
        assert_eq!(recent.get("k"), Some(2));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let recent: Recent<u32> = Recent::default();
        for i in 0..MAX_ENTRIES as u32 + 1 {
            recent.put(&i.to_string(), i, recent.epoch());
        }
        assert_eq!(recent.lock().entries.len(), 1);
        assert_eq!(recent.get("0"), None);
        assert_eq!(
            recent.get(&MAX_ENTRIES.to_string()),
            Some(MAX_ENTRIES as u32)
        );
    }
}
