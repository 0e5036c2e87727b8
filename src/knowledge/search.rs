//! Searching the knowledge base: full text always, fused by reciprocal rank with dense search
//! when embeddings are configured.

use super::{query, Knowledge};
use crate::store::{sort_best_first, ChunkHit, Reader, StoreError};

/// Reciprocal-rank-fusion constant.
const RRF_K: f64 = 60.0;
/// Dense hits below this cosine similarity are not considered relevant.
const MIN_COSINE: f64 = 0.25;

impl Knowledge {
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
                                .search_vector(&vector, embedder.model(), reader, fetch)
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
    sort_best_first(&mut fused);
    fused
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
}
