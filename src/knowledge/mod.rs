//! The knowledge base behind grounded answers: ingest (chunk, optionally embed, store) and search
//! (full-text, fused with dense search by reciprocal rank when embeddings are configured).

pub mod acl;
pub mod chunk;
pub mod files;
pub mod query;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::AgentConfig;
use crate::runtime::gateway::{Gateway, GatewaySettings};
use crate::store::{ChunkHit, DocumentRecord, DynStore, NewChunk, NewDocument, Reader, StoreError};
use acl::Acl;

/// Longest accepted document source, in characters.
pub const MAX_SOURCE_CHARS: usize = 1024;
/// Reciprocal-rank-fusion constant.
const RRF_K: f64 = 60.0;
/// Dense hits below this cosine similarity are not considered relevant.
const MIN_COSINE: f64 = 0.25;
/// Texts sent per embeddings request.
const EMBED_BATCH: usize = 64;

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

/// Computes embeddings through the gateway.
#[derive(Clone)]
pub struct Embedder {
    gateway: Gateway,
    model: String,
}

impl Embedder {
    /// The embeddings model.
    pub fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let vectors = self
                .gateway
                .embed(&self.model, batch)
                .await
                .map_err(|e| e.to_string())?;
            out.extend(vectors);
        }
        Ok(out)
    }
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
        let model = config
            .embedding_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let embedder = match (model, config.effective_gateway_url()) {
            (Some(model), Some(base_url)) => Some(Embedder {
                gateway: Gateway::new(GatewaySettings {
                    // Ingest and retrieval fall back to full text instead of retrying.
                    retries: 0,
                    ..GatewaySettings::from_config(config, base_url)
                })?,
                model: model.to_string(),
            }),
            (Some(_), None) => {
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

    /// Ingests one document. Same source with the same content, url and ACL writes nothing
    /// (unless its chunks lack embeddings for the configured model and embedding now
    /// succeeds); a changed one replaces the old chunks. Embedding failures are logged and
    /// leave the document searchable by full text only. Ingests of one source are serialised,
    /// so concurrent identical posts create it once.
    pub async fn ingest(&self, input: DocumentInput) -> Result<Ingested, KnowledgeError> {
        let source = input.source.trim().to_string();
        if source.is_empty() {
            return Err(KnowledgeError::Invalid(
                "'source' must not be blank".to_string(),
            ));
        }
        if source.chars().count() > MAX_SOURCE_CHARS {
            return Err(KnowledgeError::Invalid(format!(
                "'source' is longer than {MAX_SOURCE_CHARS} characters"
            )));
        }
        if source.chars().any(char::is_control) {
            return Err(KnowledgeError::Invalid(
                "'source' must not contain control characters".to_string(),
            ));
        }
        if input.content.trim().is_empty() {
            return Err(KnowledgeError::Invalid(
                "'content' must not be blank".to_string(),
            ));
        }
        let url = match input
            .url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(url) => {
                if !is_http_url(url) {
                    return Err(KnowledgeError::Invalid(
                        "'url' must be an absolute http or https URL".to_string(),
                    ));
                }
                Some(url.to_string())
            }
            None => is_http_url(&source).then(|| source.clone()),
        };
        let acl = input.acl.map(Acl::normalized);
        let content_hash = format!("{:x}", Sha256::digest(input.content.as_bytes()));
        let wanted_model = self.embedder.as_ref().map(|e| e.model.clone());
        let _serialised = self.ingest_lock(&source).lock().await;
        let existing = self.store.get_document(&source).await?;
        // Same text, link and access list: only missing embeddings could still be worth a write.
        let mut backfill_only = false;
        if let Some(existing) = &existing {
            if existing.content_hash == content_hash && existing.url == url && existing.acl == acl {
                if wanted_model.is_none() || existing.embedding_model == wanted_model {
                    return Ok(Ingested {
                        outcome: Outcome::Unchanged,
                        document: existing.clone(),
                    });
                }
                backfill_only = true;
            }
        }
        let texts = chunk::chunk(&input.content);
        let mut embedding_model = None;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        if let Some(embedder) = &self.embedder {
            match embedder.embed(&texts).await {
                Ok(found) => {
                    vectors = found.into_iter().map(Some).collect();
                    embedding_model = Some(embedder.model.clone());
                }
                Err(e) => tracing::warn!(
                    source = %source, error = %e,
                    "embedding failed; the document is searchable by full text only"
                ),
            }
        }
        if backfill_only && embedding_model.is_none() {
            // Embedding failed again: the stored document is still exactly what was posted.
            if let Some(existing) = existing {
                return Ok(Ingested {
                    outcome: Outcome::Unchanged,
                    document: existing,
                });
            }
        }
        let document = self
            .store
            .put_document(NewDocument {
                id: source.clone(),
                source: source.clone(),
                title: source,
                url,
                acl,
                origin: input.origin.as_str().to_string(),
                content_hash,
                embedding_model,
                chunks: texts
                    .into_iter()
                    .zip(vectors)
                    .map(|(text, embedding)| NewChunk { text, embedding })
                    .collect(),
            })
            .await?;
        let outcome = if existing.is_some() {
            Outcome::Updated
        } else {
            Outcome::Created
        };
        Ok(Ingested { outcome, document })
    }

    /// The best `limit` chunks for `query` that `reader` may read, best first. Full-text always;
    /// with an embedder, dense results are fused in by reciprocal rank (a failed query
    /// embedding falls back to full-text only).
    pub async fn search(
        &self,
        query: &str,
        limit: u32,
        reader: Reader<'_>,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        let limit = limit.max(1);
        let fetch = (limit * 4).max(20);
        let lexical = match query::match_expression(query) {
            Some(expression) => self.store.search_text(&expression, reader, fetch).await?,
            None => Vec::new(),
        };
        let dense = match &self.embedder {
            Some(embedder) if !query.trim().is_empty() => {
                match embedder.embed(&[query.to_string()]).await {
                    Ok(mut vectors) => match vectors.pop() {
                        Some(vector) => {
                            let mut hits = self
                                .store
                                .search_vector(&vector, &embedder.model, reader, fetch)
                                .await?;
                            hits.retain(|h| h.score >= MIN_COSINE);
                            hits
                        }
                        None => Vec::new(),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "query embedding failed; full-text only");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        let mut hits = if dense.is_empty() {
            lexical
        } else {
            fuse(&[lexical, dense])
        };
        hits.truncate(limit as usize);
        Ok(hits)
    }
}

/// Reciprocal rank fusion: each list contributes `1 / (k + rank)` per chunk; best first.
pub fn fuse(lists: &[Vec<ChunkHit>]) -> Vec<ChunkHit> {
    let mut fused: Vec<ChunkHit> = Vec::new();
    for list in lists {
        for (rank, hit) in list.iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f64 + 1.0);
            match fused.iter_mut().find(|h| h.chunk_id == hit.chunk_id) {
                Some(existing) => existing.score += add,
                None => fused.push(ChunkHit {
                    score: add,
                    ..hit.clone()
                }),
            }
        }
    }
    crate::store::sort_best_first(&mut fused);
    fused
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

    fn hit(id: i64, score: f64) -> ChunkHit {
        ChunkHit {
            chunk_id: id,
            document_id: format!("d{id}"),
            source: format!("d{id}"),
            title: format!("d{id}"),
            url: None,
            text: String::new(),
            score,
        }
    }

    #[test]
    fn fusion_rewards_agreement() {
        let lexical = vec![hit(1, 9.0), hit(2, 5.0), hit(3, 1.0)];
        let dense = vec![hit(2, 0.9), hit(3, 0.8), hit(4, 0.7)];
        let order: Vec<i64> = fuse(&[lexical, dense]).iter().map(|h| h.chunk_id).collect();
        // 2 ranks 2nd and 1st, 3 ranks 3rd and 2nd; 1 (1st) and 4 (3rd) appear in one list only.
        assert_eq!(order, [2, 3, 1, 4]);
    }

    #[test]
    fn http_urls() {
        assert!(is_http_url("https://example.com/a"));
        assert!(is_http_url("http://example.com"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("guides/returns.md"));
        assert!(!is_http_url("https://"));
    }
}
