//! The knowledge half of the Postgres store: documents, chunks and brute-force cosine search
//! over stored embeddings (full text is in [`super::fulltext`]). Access lists are enforced in
//! SQL ([`READABLE`]), so a reader never sees rows it may not read.

use sqlx::postgres::PgRow;
use sqlx::Row;

use super::fulltext::words;
use super::{escape_nul, unescape_nul, PostgresStore};
use crate::store::acl::Acl;
use crate::store::vector::cosine;
use crate::store::{sort_best_first, ChunkHit, DocumentRecord, NewDocument, Reader, StoreError};

const DOCUMENT_COLUMNS: &str = "id, source, title, url, acl::text AS acl, origin, content_hash, \
     embedding_model, chunk_count, created_at, updated_at";

/// SQL predicate over `d` (documents) admitting what the reader may read, the twin of the SQLite
/// store's: `$1` the admin flag, `$2` the user id (or NULL), `$3` the groups.
pub(super) const READABLE: &str = "($1 OR d.acl IS NULL OR d.acl -> 'public' = 'true'::jsonb \
     OR ($2::text IS NOT NULL AND d.acl -> 'users' ? $2::text) \
     OR d.acl -> 'groups' ?| $3::text[])";

/// The values of [`READABLE`] for `reader`: admin flag, user id, groups.
pub(super) fn reader_binds(reader: Reader<'_>) -> (bool, Option<String>, Vec<String>) {
    match reader {
        Reader::Admin => (true, None, Vec::new()),
        Reader::As(access) => (false, access.user_id.clone(), access.groups.clone()),
    }
}

fn document_from_row(row: &PgRow) -> Result<DocumentRecord, StoreError> {
    let acl: Option<String> = row.try_get("acl")?;
    // Stored ACLs are written by this code; one that does not parse locks the document.
    let acl = acl.map(|text| Acl::parse(&text).unwrap_or_default());
    let chunk_count: i32 = row.try_get("chunk_count")?;
    Ok(DocumentRecord {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        title: unescape_nul(row.try_get("title")?),
        url: row.try_get("url")?,
        acl,
        origin: row.try_get("origin")?,
        content_hash: row.try_get("content_hash")?,
        embedding_model: row.try_get("embedding_model")?,
        chunk_count: u32::try_from(chunk_count).unwrap_or(0),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) fn hit_from_row(row: &PgRow, score: f64) -> Result<ChunkHit, StoreError> {
    Ok(ChunkHit {
        chunk_id: row.try_get("chunk_id")?,
        document_id: row.try_get("document_id")?,
        source: row.try_get("source")?,
        title: unescape_nul(row.try_get("title")?),
        url: row.try_get("url")?,
        text: unescape_nul(row.try_get("text")?),
        score,
    })
}

impl PostgresStore {
    pub(super) async fn document(&self, id: &str) -> Result<Option<DocumentRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"
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
        let now = self.now();
        let acl = document
            .acl
            .as_ref()
            .map(|acl| serde_json::to_string(acl).map_err(|e| StoreError::Backend(e.to_string())))
            .transpose()?;
        let chunk_count = i32::try_from(document.chunks.len()).unwrap_or(i32::MAX);
        let mut tx = self.pool.begin().await?;
        // The upsert comes first: it locks the document's row, so a concurrent replacement of
        // the same document waits here and then removes every chunk this one wrote.
        let row = sqlx::query(&format!(
            "INSERT INTO documents (id, source, title, url, acl, organization_id, origin, \
             content_hash, embedding_model, chunk_count, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5::jsonb, NULL, $6, $7, $8, $9, $10, $10) \
             ON CONFLICT (id) DO UPDATE SET source = excluded.source, title = excluded.title, \
             url = excluded.url, acl = excluded.acl, origin = excluded.origin, \
             content_hash = excluded.content_hash, embedding_model = excluded.embedding_model, \
             chunk_count = excluded.chunk_count, updated_at = excluded.updated_at \
             RETURNING {DOCUMENT_COLUMNS}"
        ))
        .bind(&document.id)
        .bind(&document.source)
        .bind(&*escape_nul(&document.title))
        .bind(&document.url)
        .bind(&acl)
        .bind(&document.origin)
        .bind(&document.content_hash)
        .bind(&document.embedding_model)
        .bind(chunk_count)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let stored = document_from_row(&row)?;
        sqlx::query("DELETE FROM chunks WHERE document_id = $1")
            .bind(&document.id)
            .execute(&mut *tx)
            .await?;
        for (ordinal, chunk) in document.chunks.iter().enumerate() {
            let words = words(&chunk.text);
            sqlx::query(
                "INSERT INTO chunks (document_id, ordinal, text, embedding, search_text, \
                 token_count) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&document.id)
            .bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
            .bind(&*escape_nul(&chunk.text))
            .bind(chunk.embedding.as_deref())
            .bind(words.join(" "))
            .bind(i32::try_from(words.len()).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
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
        // One statement: the chunks go with the document (ON DELETE CASCADE).
        let removed = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    pub(super) async fn count_documents(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
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
             WHERE {READABLE} AND d.embedding_model = $4 AND c.embedding IS NOT NULL"
        );
        let (admin, user, groups) = reader_binds(reader);
        let rows = sqlx::query(&sql)
            .bind(admin)
            .bind(user)
            .bind(groups)
            .bind(model)
            .fetch_all(&self.pool)
            .await?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let embedding: Vec<f32> = row.try_get("embedding")?;
            hits.push(hit_from_row(row, cosine(vector, &embedding))?);
        }
        sort_best_first(&mut hits);
        hits.truncate(limit as usize);
        Ok(hits)
    }
}
