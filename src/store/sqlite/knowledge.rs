//! The knowledge half of the SQLite store: documents, chunks, FTS5 full-text search (porter
//! stemming, bm25 ranking) and brute-force cosine search over stored embeddings. Access lists
//! are enforced in SQL, so a reader never sees rows it may not read.

use futures_util::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{parse_ts, ts, SqliteStore};
use crate::store::acl::Acl;
use crate::store::vector::cosine;
use crate::store::{sort_best_first, ChunkHit, DocumentRecord, NewDocument, Reader, StoreError};

/// The columns [`hit_from_row`] reads, over `c` (chunks) and `d` (documents).
const HIT_COLUMNS: &str = "c.id AS chunk_id, c.document_id, c.text, d.source, d.title, d.url";

const DOCUMENT_COLUMNS: &str = "id, source, title, url, acl, origin, content_hash, \
     embedding_model, chunk_count, created_at, updated_at";

/// SQL predicate over `d` (documents) admitting what the reader may read. Binds, in order:
/// admin flag, user id, user id, groups as a JSON array.
const READABLE: &str = "(? = 1 OR d.acl IS NULL OR json_extract(d.acl, '$.public') = 1 \
     OR (? IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(d.acl, '$.users') u WHERE u.value = ?)) \
     OR EXISTS (SELECT 1 FROM json_each(d.acl, '$.groups') g, json_each(?) q WHERE g.value = q.value))";

/// Binds the values of [`READABLE`] for `reader`, as the statement's next placeholders.
fn bind_reader<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    reader: Reader<'_>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let (admin, user, groups) = match reader {
        Reader::Admin => (1i64, None, "[]".to_string()),
        Reader::As(access) => (
            0,
            access.user_id.clone(),
            serde_json::to_string(&access.groups).unwrap_or_else(|_| "[]".to_string()),
        ),
    };
    query.bind(admin).bind(user.clone()).bind(user).bind(groups)
}

fn document_from_row(row: &SqliteRow) -> Result<DocumentRecord, StoreError> {
    let acl: Option<String> = row.try_get("acl")?;
    // Stored ACLs are written by this code; one that does not parse locks the document.
    let acl = acl.map(|text| Acl::parse(&text).unwrap_or_default());
    let chunk_count: i64 = row.try_get("chunk_count")?;
    Ok(DocumentRecord {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        title: row.try_get("title")?,
        url: row.try_get("url")?,
        acl,
        origin: row.try_get("origin")?,
        content_hash: row.try_get("content_hash")?,
        embedding_model: row.try_get("embedding_model")?,
        chunk_count: u32::try_from(chunk_count).unwrap_or(u32::MAX),
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

fn hit_from_row(row: &SqliteRow, score: f64) -> Result<ChunkHit, StoreError> {
    Ok(ChunkHit {
        chunk_id: row.try_get("chunk_id")?,
        document_id: row.try_get("document_id")?,
        source: row.try_get("source")?,
        title: row.try_get("title")?,
        url: row.try_get("url")?,
        text: row.try_get("text")?,
        score,
    })
}

fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn bytes_vector(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

impl SqliteStore {
    pub(super) async fn document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    pub(super) async fn replace_document(
        &self,
        document: NewDocument,
    ) -> Result<DocumentRecord, StoreError> {
        let now = ts(self.clock.now());
        let acl = document
            .acl
            .as_ref()
            .map(|acl| serde_json::to_string(acl).map_err(|e| StoreError::Backend(e.to_string())))
            .transpose()?;
        let chunk_count = i64::try_from(document.chunks.len()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM chunks WHERE document_id = ?")
            .bind(&document.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO documents (id, source, title, url, acl, organization_id, origin, \
             content_hash, embedding_model, chunk_count, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, title = excluded.title, \
             url = excluded.url, acl = excluded.acl, origin = excluded.origin, \
             content_hash = excluded.content_hash, embedding_model = excluded.embedding_model, \
             chunk_count = excluded.chunk_count, updated_at = excluded.updated_at",
        )
        .bind(&document.id)
        .bind(&document.source)
        .bind(&document.title)
        .bind(&document.url)
        .bind(&acl)
        .bind(&document.origin)
        .bind(&document.content_hash)
        .bind(&document.embedding_model)
        .bind(chunk_count)
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        for (ordinal, chunk) in document.chunks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO chunks (document_id, ordinal, text, embedding) VALUES (?, ?, ?, ?)",
            )
            .bind(&document.id)
            .bind(i64::try_from(ordinal).unwrap_or(i64::MAX))
            .bind(&chunk.text)
            .bind(chunk.embedding.as_deref().map(vector_bytes))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.document(&document.id)
            .await?
            .ok_or_else(|| StoreError::Backend("stored document vanished".to_string()))
    }

    pub(super) async fn documents(&self) -> Result<Vec<DocumentRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents ORDER BY source, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(document_from_row).collect()
    }

    pub(super) async fn remove_document(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM chunks WHERE document_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(removed > 0)
    }

    pub(super) async fn count_documents(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(super) async fn full_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Ranking every match is the cost of a search, and it needs the index alone. So the
        // best matches are ranked first with no other table in the query, and only those few
        // are looked up and checked against the access list. When restricted matches crowd the
        // top, the search runs again with the check inside the ranking, so restricted matches
        // never crowd out readable ones.
        let wanted = limit.saturating_mul(2);
        let sql = format!(
            "WITH top(id, score) AS MATERIALIZED \
                 (SELECT rowid, bm25(chunks_fts) AS score FROM chunks_fts \
                  WHERE chunks_fts MATCH ? ORDER BY score, rowid LIMIT ?) \
             SELECT {HIT_COLUMNS}, top.score AS score, (SELECT count(*) FROM top) AS ranked \
             FROM top JOIN chunks c ON c.id = top.id JOIN documents d ON d.id = c.document_id \
             WHERE {READABLE} \
             ORDER BY top.score, top.id"
        );
        let rows = bind_reader(
            sqlx::query(&sql).bind(expression).bind(i64::from(wanted)),
            reader,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut hits = Vec::with_capacity(rows.len().min(limit as usize));
        for row in rows.iter().take(limit as usize) {
            // bm25 is lower-is-better and negative; flip it so higher means more relevant.
            let score: f64 = row.try_get("score")?;
            hits.push(hit_from_row(row, -score)?);
        }
        if hits.len() == limit as usize {
            return Ok(hits);
        }
        // Fewer readable hits than asked for: either every match was ranked (fewer matches than
        // `wanted`), or restricted ones filled the top. With no readable row at all, the count
        // is unknown, and the checked search answers (quickly, when nothing matches).
        let ranked: i64 = match rows.first() {
            Some(row) => row.try_get("ranked")?,
            None => i64::from(wanted),
        };
        if ranked < i64::from(wanted) {
            return Ok(hits);
        }
        self.full_text_checked(expression, reader, limit).await
    }

    /// The best `limit` readable matches, the access list checked for every match before the
    /// cut: slower than ranking alone, for when restricted matches fill the top.
    async fn full_text_checked(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        let sql = format!(
            "SELECT {HIT_COLUMNS}, top.score AS score \
             FROM (SELECT chunks_fts.rowid AS id, bm25(chunks_fts) AS score FROM chunks_fts \
                   JOIN chunks k ON k.id = chunks_fts.rowid \
                   JOIN documents d ON d.id = k.document_id \
                   WHERE chunks_fts MATCH ? AND {READABLE} \
                   ORDER BY score, id LIMIT ?) top \
             JOIN chunks c ON c.id = top.id \
             JOIN documents d ON d.id = c.document_id \
             ORDER BY top.score, c.id"
        );
        let rows = bind_reader(sqlx::query(&sql).bind(expression), reader)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let score: f64 = row.try_get("score")?;
                hit_from_row(row, -score)
            })
            .collect()
    }

    pub(super) async fn nearest(
        &self,
        vector: &[f32],
        model: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        let sql = format!(
            "SELECT {HIT_COLUMNS}, c.embedding \
             FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE {READABLE} AND d.embedding_model = ? AND c.embedding IS NOT NULL"
        );
        // Rows are streamed and only the best `limit` are kept, so memory does not grow with
        // the number of stored vectors.
        let query = bind_reader(sqlx::query(&sql), reader).bind(model);
        let mut rows = query.fetch(&self.pool);
        let mut best = TopK::new(limit as usize);
        while let Some(row) = rows.try_next().await? {
            let bytes: &[u8] = row.try_get("embedding")?;
            let score = cosine(vector, &bytes_vector(bytes));
            if best.admits(score) {
                best.push(hit_from_row(&row, score)?);
            }
        }
        let mut hits = best.into_vec();
        sort_best_first(&mut hits);
        Ok(hits)
    }
}

/// The `k` best hits seen so far (a bounded min-heap by score).
struct TopK {
    k: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Scored>>,
}

/// A hit ordered by score (ties by chunk id, like `sort_best_first`).
struct Scored(ChunkHit);

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0
            .score
            .total_cmp(&other.0.score)
            .then(other.0.chunk_id.cmp(&self.0.chunk_id))
    }
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether a hit with `score` would be kept.
    fn admits(&self, score: f64) -> bool {
        self.k > 0
            && (self.heap.len() < self.k
                || self
                    .heap
                    .peek()
                    .is_some_and(|worst| score >= worst.0 .0.score))
    }

    fn push(&mut self, hit: ChunkHit) {
        self.heap.push(std::cmp::Reverse(Scored(hit)));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn into_vec(self) -> Vec<ChunkHit> {
        self.heap.into_iter().map(|r| r.0 .0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, score: f64) -> ChunkHit {
        ChunkHit {
            chunk_id: id,
            document_id: String::new(),
            source: String::new(),
            title: String::new(),
            url: None,
            text: String::new(),
            score,
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_chunk_id() {
        let mut best = TopK::new(3);
        for (id, score) in [(1, 0.1), (2, 0.9), (3, 0.5), (4, 0.9), (5, 0.2), (6, 0.7)] {
            if best.admits(score) {
                best.push(hit(id, score));
            }
        }
        let mut kept = best.into_vec();
        sort_best_first(&mut kept);
        let ids: Vec<i64> = kept.iter().map(|h| h.chunk_id).collect();
        assert_eq!(ids, [2, 4, 6]);
        assert!(TopK::new(0).into_vec().is_empty());
        assert!(!TopK::new(0).admits(1.0));
    }

    #[test]
    fn vectors_round_trip() {
        let v = vec![0.5f32, -1.25, 3.0];
        assert_eq!(bytes_vector(&vector_bytes(&v)), v);
    }
}
