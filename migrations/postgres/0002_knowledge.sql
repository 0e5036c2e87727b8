-- The knowledge base: documents, their chunks, and a full-text index over the chunks (the
-- PostgreSQL twin of migrations/sqlite/0002_knowledge.sql). acl is NULL (readable by everyone)
-- or {"public":bool,"users":[..],"groups":[..]}.
--
-- Full text matches SQLite's FTS5 `porter unicode61 remove_diacritics 2`: the store writes each
-- chunk's words (alphanumeric runs, lowercased, Latin diacritics removed) to search_text, space
-- separated, and smooth_agent_lexemes stems them as FTS5's porter tokenizer does: with the
-- Porter stemmer, no stop words, and only words of 3 to 64 bytes (others are kept as they are).
-- token_count is the number of words, for BM25's length normalisation.

CREATE TEXT SEARCH DICTIONARY smooth_agent_porter (TEMPLATE = snowball, LANGUAGE = porter);

-- Lexemes are already stemmed: this configuration only lowercases and positions them.
CREATE TEXT SEARCH CONFIGURATION smooth_agent (PARSER = default);

ALTER TEXT SEARCH CONFIGURATION smooth_agent ADD MAPPING FOR
    asciiword, word, numword, asciihword, hword, numhword, hword_asciipart, hword_part,
    hword_numpart, email, protocol, url, host, url_path, file, sfloat, float, int, uint,
    version, tag, entity
    WITH simple;

-- The tsvector of space-separated words: each word of 3 to 64 bytes Porter-stemmed, the others
-- verbatim, at the position of the word.
CREATE FUNCTION smooth_agent_lexemes(words text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsvector('smooth_agent'::regconfig, coalesce(string_agg(
               CASE WHEN octet_length(w) BETWEEN 3 AND 64
                    THEN coalesce((ts_lexize('smooth_agent_porter'::regdictionary, w))[1], w)
                    ELSE w END,
               ' ' ORDER BY n), ''))
    FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY AS t(w, n)
$$;

CREATE TABLE documents (
    id               text COLLATE "C" PRIMARY KEY,
    source           text COLLATE "C" NOT NULL,
    title            text NOT NULL,
    url              text,
    acl              jsonb,
    organization_id  text,
    origin           text NOT NULL,
    content_hash     text NOT NULL,
    embedding_model  text COLLATE "C",
    chunk_count      integer NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id  text COLLATE "C" NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal      integer NOT NULL,
    text         text NOT NULL,
    embedding    real[],
    search_text  text NOT NULL,
    token_count  integer NOT NULL,
    tsv          tsvector GENERATED ALWAYS AS (smooth_agent_lexemes(search_text)) STORED
);

CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);
CREATE INDEX chunks_fts ON chunks USING gin (tsv);
