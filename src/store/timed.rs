//! [`Timed`]: a [`Store`] that records how long each operation of the store it wraps takes
//! (`smooth_store_operation_duration_seconds`, labelled with the operation's method name, a
//! fixed set), whatever the backend. The server wraps its store once at start-up.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use uuid::Uuid;

use super::agent::AgentDefinition;
use super::{
    AgentRecord, ChunkHit, ConversationQuery, ConversationRecord, DocumentRecord, DynStore,
    MessagePage, NewDocument, NewMessage, NewSession, OtpRecord, PageRequest, Reader, Store,
    StoreError,
};
use crate::protocol::{Message, Session};
use crate::telemetry;

/// `inner`, with every operation timed.
pub fn timed(inner: DynStore) -> DynStore {
    Arc::new(Timed { inner })
}

/// A store whose operations are timed; built by [`timed`].
pub struct Timed {
    inner: DynStore,
}

/// Runs one operation and records its duration under `operation`.
async fn measure<T>(operation: &'static str, run: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let result = run.await;
    telemetry::store_operation(operation, started.elapsed());
    result
}

#[async_trait]
impl Store for Timed {
    async fn create_session(&self, new: NewSession) -> Result<Session, StoreError> {
        measure("create_session", self.inner.create_session(new)).await
    }

    async fn resume_session(&self, new: NewSession) -> Result<Session, StoreError> {
        measure("resume_session", self.inner.resume_session(new)).await
    }

    async fn latest_session(&self, conversation_id: Uuid) -> Result<Option<Session>, StoreError> {
        measure("latest_session", self.inner.latest_session(conversation_id)).await
    }

    async fn get_session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        measure("get_session", self.inner.get_session(session_id)).await
    }

    async fn append_message(&self, message: NewMessage) -> Result<Message, StoreError> {
        measure("append_message", self.inner.append_message(message)).await
    }

    async fn list_messages(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<MessagePage, StoreError> {
        measure(
            "list_messages",
            self.inner.list_messages(conversation_id, page),
        )
        .await
    }

    async fn recent_messages(
        &self,
        conversation_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        measure(
            "recent_messages",
            self.inner.recent_messages(conversation_id, limit),
        )
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        measure("ping", self.inner.ping()).await
    }

    async fn get_document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        measure("get_document", self.inner.get_document(id)).await
    }

    async fn put_document(&self, document: NewDocument) -> Result<DocumentRecord, StoreError> {
        measure("put_document", self.inner.put_document(document)).await
    }

    async fn list_documents(&self) -> Result<Vec<DocumentRecord>, StoreError> {
        measure("list_documents", self.inner.list_documents()).await
    }

    async fn delete_document(&self, id: &str) -> Result<bool, StoreError> {
        measure("delete_document", self.inner.delete_document(id)).await
    }

    async fn document_count(&self) -> Result<u64, StoreError> {
        measure("document_count", self.inner.document_count()).await
    }

    async fn search_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        measure(
            "search_text",
            self.inner.search_text(expression, reader, limit),
        )
        .await
    }

    async fn search_vector(
        &self,
        vector: &[f32],
        model: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        measure(
            "search_vector",
            self.inner.search_vector(vector, model, reader, limit),
        )
        .await
    }

    async fn put_agent(&self, agent: &AgentDefinition) -> Result<AgentRecord, StoreError> {
        measure("put_agent", self.inner.put_agent(agent)).await
    }

    async fn get_agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        measure("get_agent", self.inner.get_agent(id)).await
    }

    async fn list_agents(
        &self,
        organization_id: Option<&str>,
    ) -> Result<Vec<AgentRecord>, StoreError> {
        measure("list_agents", self.inner.list_agents(organization_id)).await
    }

    async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        measure("delete_agent", self.inner.delete_agent(id)).await
    }

    async fn set_gateway_key(
        &self,
        organization_id: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        measure(
            "set_gateway_key",
            self.inner.set_gateway_key(organization_id, key),
        )
        .await
    }

    async fn gateway_key(&self, organization_id: &str) -> Result<Option<String>, StoreError> {
        measure("gateway_key", self.inner.gateway_key(organization_id)).await
    }

    async fn list_conversations(
        &self,
        query: ConversationQuery,
    ) -> Result<(Vec<ConversationRecord>, bool), StoreError> {
        measure("list_conversations", self.inner.list_conversations(query)).await
    }

    async fn get_conversation(&self, id: Uuid) -> Result<Option<ConversationRecord>, StoreError> {
        measure("get_conversation", self.inner.get_conversation(id)).await
    }

    async fn rename_conversation(&self, id: Uuid, title: &str) -> Result<bool, StoreError> {
        measure(
            "rename_conversation",
            self.inner.rename_conversation(id, title),
        )
        .await
    }

    async fn put_otp(&self, record: &OtpRecord) -> Result<(), StoreError> {
        measure("put_otp", self.inner.put_otp(record)).await
    }

    async fn get_otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        measure("get_otp", self.inner.get_otp(session_id)).await
    }

    async fn spend_otp_attempt(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        measure(
            "spend_otp_attempt",
            self.inner.spend_otp_attempt(session_id),
        )
        .await
    }

    async fn otp_heartbeat(&self, session_id: Uuid) -> Result<(), StoreError> {
        measure("otp_heartbeat", self.inner.otp_heartbeat(session_id)).await
    }

    async fn delete_otp(&self, session_id: Uuid) -> Result<(), StoreError> {
        measure("delete_otp", self.inner.delete_otp(session_id)).await
    }

    async fn set_contact(
        &self,
        session_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        measure(
            "set_contact",
            self.inner.set_contact(session_id, name, email, phone),
        )
        .await
    }

    async fn mark_otp_verified(&self, session_id: Uuid) -> Result<(), StoreError> {
        measure(
            "mark_otp_verified",
            self.inner.mark_otp_verified(session_id),
        )
        .await
    }

    async fn set_workflow_step(
        &self,
        session_id: Uuid,
        step: &str,
        turns: u32,
    ) -> Result<(), StoreError> {
        measure(
            "set_workflow_step",
            self.inner.set_workflow_step(session_id, step, turns),
        )
        .await
    }

    async fn ensure_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        measure("ensure_secret", self.inner.ensure_secret(name, candidate)).await
    }
}
