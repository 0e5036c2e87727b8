-- The knowledge base: documents, their chunks, and a full-text index over the chunks.
-- A document's id is its source (the dedup key). acl is NULL (readable by everyone) or the JSON
-- {"public":bool,"users":[..],"groups":[..]}. origin says how it came in: dir, cli or admin.

CREATE TABLE documents (
    id               TEXT PRIMARY KEY NOT NULL,
    source           TEXT NOT NULL,
    title            TEXT NOT NULL,
    url              TEXT,
    acl              TEXT,
    organization_id  TEXT,
    origin           TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    embedding_model  TEXT,
    chunk_count      INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal      INTEGER NOT NULL,
    text         TEXT NOT NULL,
    embedding    BLOB
);

CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);

CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text,
    content = 'chunks',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
