//! The knowledge base behind grounded answers: [`ingest`] (chunk, optionally embed, store),
//! [`search`] (full text, fused with dense search by reciprocal rank when embeddings are
//! configured), [`files`] (folders and files), [`chunk`] and [`query`] (text to FTS terms).
//! Access lists live in [`crate::store::acl`], because storage enforces them.

pub mod chunk;
mod embedder;
pub mod files;
mod ingest;
pub mod query;
mod search;

use std::sync::Arc;

use crate::config::AgentConfig;
use crate::llm::{Gateway, GatewaySettings};
use crate::store::acl::Acl;
use crate::store::{DocumentRecord, DynStore, StoreError};

pub use embedder::Embedder;
pub use ingest::{normalize_source, MAX_SOURCE_CHARS};
pub use search::fuse;

/// How a document came in; kept so a folder re-scan removes only what the folder put there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `SMOOTH_AGENT_KNOWLEDGE_DIR` at start-up.
    Dir,
    /// The `ingest` subcommand.
    Cli,
    /// `POST /admin/documents`.
    Admin,
}

impl Origin {
    /// The stored label.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Dir => "dir",
            Origin::Cli => "cli",
            Origin::Admin => "admin",
        }
    }
}

/// A document to ingest.
#[derive(Debug, Clone)]
pub struct DocumentInput {
    /// Source label; also the document's id and title.
    pub source: String,
    /// The text.
    pub content: String,
    /// Citation link (http or https); defaults to the source when the source is a URL.
    pub url: Option<String>,
    /// Who may read it; `None` means everyone.
    pub acl: Option<Acl>,
    /// How it came in.
    pub origin: Origin,
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new document.
    Created,
    /// The document existed with other content, url or ACL, and was replaced.
    Updated,
    /// The document existed exactly like this; nothing was written.
    Unchanged,
}

impl Outcome {
    /// Lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// An ingest's result.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// What happened.
    pub outcome: Outcome,
    /// The document as stored now.
    pub document: DocumentRecord,
}

/// Why an ingest or search failed.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The input is not acceptable; the message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or folder could not be read.
    #[error("{0}")]
    Io(String),
}

/// Lock stripes serialising ingests of the same source (read, compare, write).
const INGEST_STRIPES: usize = 64;

/// The knowledge base: a store plus an optional embedder.
#[derive(Clone)]
pub struct Knowledge {
    store: DynStore,
    embedder: Option<Embedder>,
    ingest_locks: Arc<Vec<tokio::sync::Mutex<()>>>,
}

/// A shared handle to the knowledge base.
pub type DynKnowledge = Arc<Knowledge>;

impl Knowledge {
    /// A knowledge base over `store`, embedding with `embedder` when given.
    pub fn new(store: DynStore, embedder: Option<Embedder>) -> Self {
        Self {
            store,
            embedder,
            ingest_locks: Arc::new((0..INGEST_STRIPES).map(|_| Default::default()).collect()),
        }
    }

    /// The lock guarding ingests of `source`.
    fn ingest_lock(&self, source: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        source.hash(&mut hasher);
        &self.ingest_locks[(hasher.finish() as usize) % INGEST_STRIPES]
    }

    /// Builds the knowledge base the settings describe (embeddings only when both a gateway and
    /// `SMOOTH_AGENT_EMBEDDING_MODEL` are configured).
    pub fn from_config(config: &AgentConfig, store: DynStore) -> anyhow::Result<Self> {
        let embedder = match (&config.embedding_model, config.gateway_configured()) {
            (Some(model), true) => Some(Embedder::new(
                Gateway::new(GatewaySettings {
                    // Ingest and retrieval fall back to full text instead of retrying.
                    retries: 0,
                    ..GatewaySettings::from_config(config)
                })?,
                model.clone(),
            )),
            (Some(_), false) => {
                tracing::warn!(
                    "SMOOTH_AGENT_EMBEDDING_MODEL is set but no gateway is configured; \
                     retrieval is full-text only"
                );
                None
            }
            _ => None,
        };
        Ok(Self::new(store, embedder))
    }

    /// The store documents live in.
    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// The embedder, when configured.
    pub fn embedder(&self) -> Option<&Embedder> {
        self.embedder.as_ref()
    }

    /// Whether any document exists.
    pub async fn has_documents(&self) -> Result<bool, StoreError> {
        Ok(self.store.document_count().await? > 0)
    }
}

/// Whether `text` is an absolute http(s) URL with a host.
pub fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        assert!(is_http_url("https://example.com/a"));
        assert!(is_http_url("http://example.com"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("guides/returns.md"));
        assert!(!is_http_url("https://"));
    }
}
