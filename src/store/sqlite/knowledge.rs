//! The knowledge half of the SQLite store: documents, chunks, FTS5 full-text search (porter
//! stemming, bm25 ranking) and brute-force cosine search over stored embeddings. Access lists
//! are enforced in SQL, so a reader never sees rows it may not read.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{parse_ts, ts, SqliteStore};
use crate::store::acl::Acl;
use crate::store::vector::cosine;
use crate::store::{sort_best_first, ChunkHit, DocumentRecord, NewDocument, Reader, StoreError};

/// Most full-text candidates considered for one search before access filtering.
const MAX_CANDIDATES: u32 = 20_000;

const DOCUMENT_COLUMNS: &str = "id, source, title, url, acl, origin, content_hash, \
     embedding_model, chunk_count, created_at, updated_at";

/// SQL predicate over `d` (documents) admitting what the reader may read. Binds, in order:
/// admin flag, user id, user id, groups as a JSON array.
const READABLE: &str = "(? = 1 OR d.acl IS NULL OR json_extract(d.acl, '$.public') = 1 \
     OR (? IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(d.acl, '$.users') u WHERE u.value = ?)) \
     OR EXISTS (SELECT 1 FROM json_each(d.acl, '$.groups') g, json_each(?) q WHERE g.value = q.value))";

/// Binds the values of [`READABLE`] for `reader` (the predicate must be the statement's first
/// placeholders).
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
        // FTS5 ranks and cuts inside the index (`ORDER BY rank LIMIT`), which is far cheaper
        // than ranking every match through a join. Readability is computed per candidate, so
        // one query tells both which rows survive the ACL and whether every match was seen;
        // the candidate list widens only when too few survive and more matches exist.
        let sql = format!(
            "SELECT c.id AS chunk_id, c.document_id, c.text, d.source, d.title, d.url, \
                    m.rank AS rank, {READABLE} AS readable \
             FROM (SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? \
                   ORDER BY rank LIMIT ?) m \
             JOIN chunks c ON c.id = m.rowid \
             JOIN documents d ON d.id = c.document_id \
             ORDER BY m.rank, c.id"
        );
        let mut candidates = (limit.saturating_mul(5)).max(50);
        let rows = loop {
            // The READABLE placeholders come first in the statement text.
            let rows = bind_reader(sqlx::query(&sql), reader)
                .bind(expression)
                .bind(i64::from(candidates))
                .fetch_all(&self.pool)
                .await?;
            let seen_every_match = rows.len() < candidates as usize;
            let mut readable = Vec::with_capacity(rows.len());
            for row in rows {
                if row.try_get::<bool, _>("readable")? {
                    readable.push(row);
                }
            }
            if readable.len() >= limit as usize || seen_every_match || candidates >= MAX_CANDIDATES
            {
                break readable;
            }
            candidates = candidates.saturating_mul(8).min(MAX_CANDIDATES);
        };
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        rows.iter()
            .map(|row| {
                // bm25 is lower-is-better and negative; flip it so higher means more relevant.
                let rank: f64 = row.try_get("rank")?;
                hit_from_row(row, -rank)
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
            "SELECT c.id AS chunk_id, c.document_id, c.text, c.embedding, d.source, d.title, d.url \
             FROM chunks c JOIN documents d ON d.id = c.document_id \
             WHERE {READABLE} AND d.embedding_model = ? AND c.embedding IS NOT NULL"
        );
        let rows = bind_reader(sqlx::query(&sql), reader)
            .bind(model)
            .fetch_all(&self.pool)
            .await?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let bytes: Vec<u8> = row.try_get("embedding")?;
            let score = cosine(vector, &bytes_vector(&bytes));
            hits.push(hit_from_row(row, score)?);
        }
        sort_best_first(&mut hits);
        hits.truncate(limit as usize);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip() {
        let v = vec![0.5f32, -1.25, 3.0];
        assert_eq!(bytes_vector(&vector_bytes(&v)), v);
    }
}
