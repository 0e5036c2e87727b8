//! Ingesting one document: validate, skip what is unchanged, chunk, embed when configured, and
//! replace the stored version atomically.

use sha2::{Digest, Sha256};

use super::{chunk, is_http_url, DocumentInput, Ingested, Knowledge, KnowledgeError, Outcome};
use crate::store::acl::Acl;
use crate::store::{NewChunk, NewDocument};

/// Longest accepted document source, in characters.
pub const MAX_SOURCE_CHARS: usize = 1024;

/// The source a document is stored under: trimmed, non-blank, at most [`MAX_SOURCE_CHARS`]
/// characters, without control characters. Everything that names documents by source (ingest,
/// the folder scan and its pruning) goes through this one function.
pub fn normalize_source(raw: &str) -> Result<String, KnowledgeError> {
    let source = raw.trim();
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
    Ok(source.to_string())
}

impl Knowledge {
    /// Ingests one document. Same source with the same content, url and ACL writes nothing
    /// (unless its chunks lack embeddings for the configured model and embedding now
    /// succeeds); a changed one replaces the old chunks. Embedding failures are logged and
    /// leave the document searchable by full text only. Ingests of one source are serialised,
    /// so concurrent identical posts create it once.
    pub async fn ingest(&self, input: DocumentInput) -> Result<Ingested, KnowledgeError> {
        let source = normalize_source(&input.source)?;
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
        let wanted_model = self.embedder.as_ref().map(|e| e.model().to_string());
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
                    embedding_model = Some(embedder.model().to_string());
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
}
