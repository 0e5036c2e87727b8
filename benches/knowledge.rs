//! Knowledge-base cost: ingest throughput, full-text search latency (what every grounded turn
//! pays once before its first model call), and brute-force dense search over stored vectors.
//!
//! Run: `cargo bench --bench knowledge` (release build, a SQLite file in a temp folder). Prints
//! a table; asserts nothing. `KB_DOCS=<n>` changes the corpus size (default 2000). Under
//! `cargo test` (no `--bench` argument) it is a quick smoke run on 100 documents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smooth_operator::knowledge::{DocumentInput, Knowledge, Origin};
use smooth_operator::store::acl::{Access, Acl};
use smooth_operator::store::sqlite::SqliteStore;
use smooth_operator::store::{DynStore, NewChunk, NewDocument, Reader};

/// Dimensions of the synthetic vectors (text-embedding-3-small size).
const DIM: usize = 1536;
/// Searches measured per case.
const QUERIES: usize = 300;

/// A deterministic pseudo-random generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A vocabulary of 5000 pseudo-words with a skewed (Zipf-like) frequency.
fn vocabulary() -> Vec<String> {
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "fen", "gal",
    ];
    let mut rng = Rng(7);
    (0..5000)
        .map(|_| {
            let n = 2 + rng.below(3);
            (0..n)
                .map(|_| syllables[rng.below(syllables.len())])
                .collect()
        })
        .collect()
}

fn word<'a>(vocab: &'a [String], rng: &mut Rng) -> &'a str {
    // Squaring skews towards the front of the vocabulary.
    let r = rng.below(10_000) as f64 / 10_000.0;
    &vocab[((r * r) * vocab.len() as f64) as usize]
}

/// A ~2 KB document of five paragraphs.
fn document(vocab: &[String], rng: &mut Rng) -> String {
    (0..5)
        .map(|_| {
            (0..60)
                .map(|_| word(vocab, rng))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn line(label: &str, samples: &mut [Duration]) {
    println!(
        "{label:<44} p50 {:>9.2?}  p95 {:>9.2?}  max {:>9.2?}",
        percentile(samples, 0.5),
        percentile(samples, 0.95),
        percentile(samples, 1.0)
    );
}

/// Ingests the deterministic corpus (every tenth document restricted to a group); returns the
/// number of chunks.
async fn ingest_corpus(knowledge: &Knowledge, vocab: &[String], docs: usize) -> u64 {
    let mut rng = Rng(42);
    let mut chunks = 0u64;
    for i in 0..docs {
        let acl = (i % 10 == 0).then(|| Acl {
            groups: vec!["staff".into()],
            ..Acl::default()
        });
        let ingested = knowledge
            .ingest(DocumentInput {
                source: format!("docs/{i:05}.md"),
                content: document(vocab, &mut rng),
                url: None,
                acl,
                origin: Origin::Cli,
            })
            .await
            .expect("ingest");
        chunks += u64::from(ingested.document.chunk_count);
    }
    chunks
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let docs: usize = std::env::var("KB_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if measuring { 2000 } else { 100 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kb.db");
    let store: DynStore = Arc::new(
        SqliteStore::open_file(&path.display().to_string())
            .await
            .expect("store opens"),
    );
    let knowledge = Knowledge::new(store.clone(), None);
    let vocab = vocabulary();

    let started = Instant::now();
    let chunks = ingest_corpus(&knowledge, &vocab, docs).await;
    let elapsed = started.elapsed();
    println!(
        "ingest {docs} documents ({chunks} chunks): {elapsed:.2?} = {:.0} documents/s, {:.0} chunks/s",
        docs as f64 / elapsed.as_secs_f64(),
        chunks as f64 / elapsed.as_secs_f64()
    );
    // Re-ingesting unchanged documents only hashes and compares.
    let started = Instant::now();
    ingest_corpus(&knowledge, &vocab, docs).await;
    let elapsed = started.elapsed();
    println!(
        "re-ingest unchanged: {elapsed:.2?} = {:.0} documents/s",
        docs as f64 / elapsed.as_secs_f64()
    );

    let anonymous = Access::anonymous();
    let staff = Access {
        user_id: Some("u1".into()),
        groups: vec!["staff".into()],
    };
    let mut qrng = Rng(99);
    let queries: Vec<String> = (0..QUERIES)
        .map(|_| {
            let n = 3 + qrng.below(5);
            (0..n)
                .map(|_| word(&vocab, &mut qrng))
                .collect::<Vec<_>>()
                .join(" ")
                + "?"
        })
        .collect();
    for (label, reader) in [
        (
            "full-text top 3, anonymous (ACL in SQL)",
            Reader::As(&anonymous),
        ),
        ("full-text top 3, staff member", Reader::As(&staff)),
        ("full-text top 3, admin (no filter)", Reader::Admin),
    ] {
        let mut samples = Vec::with_capacity(QUERIES);
        for q in &queries {
            let t = Instant::now();
            let hits = knowledge.search(q, 3, reader).await.expect("search");
            samples.push(t.elapsed());
            assert!(hits.len() <= 3);
        }
        line(label, &mut samples);
    }

    // Dense arm: brute-force cosine over stored vectors, on a separate corpus of vectors.
    let vectors = docs.min(2000);
    let mut vrng = Rng(5);
    for i in 0..vectors {
        let embedding: Vec<f32> = (0..DIM)
            .map(|_| (vrng.below(2000) as f32 / 1000.0) - 1.0)
            .collect();
        store
            .put_document(NewDocument {
                id: format!("vec/{i}"),
                source: format!("vec/{i}"),
                title: format!("vec/{i}"),
                url: None,
                acl: None,
                origin: "cli".into(),
                content_hash: format!("{i}"),
                embedding_model: Some("bench".into()),
                chunks: vec![NewChunk {
                    text: format!("vector document {i}"),
                    embedding: Some(embedding),
                }],
            })
            .await
            .expect("put");
    }
    let query: Vec<f32> = (0..DIM).map(|i| (i % 7) as f32 - 3.0).collect();
    let mut samples = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        store
            .search_vector(&query, "bench", Reader::As(&anonymous), 20)
            .await
            .expect("dense");
        samples.push(t.elapsed());
    }
    line(
        &format!("dense top 20 over {vectors} x {DIM}-d vectors"),
        &mut samples,
    );
}
