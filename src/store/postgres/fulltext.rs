//! Full-text search of the Postgres store, ranked exactly as SQLite's FTS5 does: BM25 (k1 1.2,
//! b 0.75, FTS5's IDF floored at 1e-6) over Porter-stemmed words without stop words, computed
//! in SQL from the `tsvector` index. The words are cut here, in Rust, the way FTS5's
//! `unicode61 remove_diacritics 2` tokenizer cuts them, and stemmed in SQL
//! (`smooth_agent_lexemes`, migrations/postgres/0002) only when 3 to 64 bytes long, as FTS5's
//! porter tokenizer does, so both backends index the same tokens.

use sqlx::Row;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use super::knowledge::{hit_from_row, reader_binds, READABLE};
use super::PostgresStore;
use crate::store::{ChunkHit, Reader, StoreError};

/// Whether `c` is a Latin letter, whose diacritics the index drops (`é` is found as `e`).
fn is_latin(c: char) -> bool {
    matches!(c as u32, 0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF)
}

/// The words of `text` as the index sees them: runs of letters and digits (with their
/// combining marks), lowercased, Latin diacritics removed.
pub(super) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut after_latin = false;
    for c in text.chars() {
        if !(c.is_alphanumeric() || is_combining_mark(c)) {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            after_latin = false;
            continue;
        }
        for lower in c.to_lowercase() {
            if is_combining_mark(lower) {
                if !after_latin {
                    current.push(lower);
                }
            } else if is_latin(lower) {
                decompose_canonical(lower, |d| {
                    if !is_combining_mark(d) {
                        current.push(d);
                    }
                });
                after_latin = true;
            } else {
                current.push(lower);
                after_latin = false;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The terms of an expression built by `knowledge::query::match_expression` (quoted words
/// joined by `OR`), as index words; each is one phrase of the OR query.
fn expression_terms(expression: &str) -> Vec<String> {
    expression
        .split('"')
        .skip(1)
        .step_by(2)
        .flat_map(words)
        .collect()
}

/// BM25 of every readable chunk matching any term, best first. Binds: `$1`–`$3` the reader
/// ([`READABLE`]), `$4` the terms, `$5` the limit.
const SEARCH: &str = "WITH terms AS ( \
         SELECT t.ord, (SELECT l.lexeme FROM unnest(smooth_agent_lexemes(t.term)) l \
                        ORDER BY l.positions[1] LIMIT 1) AS lexeme \
         FROM unnest($4::text[]) WITH ORDINALITY AS t(term, ord)), \
     phrases AS (SELECT ord, lexeme, quote_literal(lexeme)::tsquery AS query \
                 FROM terms WHERE lexeme IS NOT NULL), \
     totals AS (SELECT count(*)::float8 AS n, coalesce(sum(token_count), 0)::float8 AS tokens \
                FROM chunks), \
     weights AS (SELECT p.ord, p.lexeme, \
                        ln((t.n - h.hits + 0.5) / (h.hits + 0.5)) AS idf \
                 FROM phrases p CROSS JOIN totals t CROSS JOIN LATERAL ( \
                     SELECT count(*)::float8 AS hits FROM chunks c WHERE c.tsv @@ p.query) h), \
     matches AS (SELECT c.id, c.document_id, c.text, c.token_count, c.tsv, \
                        d.source, d.title, d.url \
                 FROM chunks c JOIN documents d ON d.id = c.document_id \
                 WHERE c.tsv @@ (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery \
                                 FROM phrases) \
                   AND {READABLE}) \
     SELECT m.id AS chunk_id, m.document_id, m.text, m.source, m.title, m.url, \
            sum(CASE WHEN w.idf > 0 THEN w.idf ELSE 1e-6 END * f.freq * 2.2 \
                / (f.freq + 1.2 * (0.25 + 0.75 * m.token_count / (t.tokens / t.n)))) AS score \
     FROM matches m CROSS JOIN weights w CROSS JOIN totals t \
     CROSS JOIN LATERAL (SELECT coalesce((SELECT cardinality(u.positions) FROM unnest(m.tsv) u \
                                          WHERE u.lexeme = w.lexeme), 0)::float8 AS freq) f \
     GROUP BY m.id, m.document_id, m.text, m.source, m.title, m.url \
     ORDER BY score DESC, m.id \
     LIMIT $5";

impl PostgresStore {
    pub(super) async fn full_text(
        &self,
        expression: &str,
        reader: Reader<'_>,
        limit: u32,
    ) -> Result<Vec<ChunkHit>, StoreError> {
        let terms = expression_terms(expression);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        // The access list filters inside the query, so restricted matches never crowd out
        // readable ones (SQLite widens its candidate list to the same effect).
        let (admin, user, groups) = reader_binds(reader);
        let rows = sqlx::query(&SEARCH.replace("{READABLE}", READABLE))
            .bind(admin)
            .bind(user)
            .bind(groups)
            .bind(terms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let score: f64 = row.try_get("score")?;
                hit_from_row(row, score)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_like_fts5_unicode61() {
        assert_eq!(
            words("Café-au-lait, CRÈME brûlée & 17 v2.5!"),
            ["cafe", "au", "lait", "creme", "brulee", "17", "v2", "5"]
        );
        // Already decomposed input loses its Latin marks too; other scripts keep theirs.
        assert_eq!(words("Cafe\u{301} Ελλάδα"), ["cafe", "ελλάδα"]);
        assert_eq!(words("  \t"), Vec::<String>::new());
    }

    #[test]
    fn expression_terms_are_the_quoted_words() {
        assert_eq!(
            expression_terms("\"refund\" OR \"Window\" OR \"café\" OR \"os\""),
            ["refund", "window", "cafe", "os"]
        );
        assert!(expression_terms("").is_empty());
    }
}
