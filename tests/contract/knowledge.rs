//! Knowledge documents, full-text search (ranking, folding, access lists) and vector search.

use chrono::Duration;
use smooth_operator::knowledge::query::match_expression;
use smooth_operator::store::acl::{Access, Acl};
use smooth_operator::store::{ChunkHit, NewChunk, NewDocument, Reader};

use super::{epoch, micros, Env};

/// A document of one chunk per entry of `chunks`, without embeddings.
pub fn doc(source: &str, chunks: &[&str], acl: Option<Acl>) -> NewDocument {
    NewDocument {
        id: source.to_string(),
        source: source.to_string(),
        title: format!("Title of {source}"),
        url: Some(format!("https://example.com/{source}")),
        acl,
        origin: "admin".to_string(),
        content_hash: format!("hash-{}", chunks.join("|").len()),
        embedding_model: None,
        chunks: chunks
            .iter()
            .map(|text| NewChunk {
                text: text.to_string(),
                embedding: None,
            })
            .collect(),
    }
}

/// Searches `query` as the server does (through `match_expression`).
pub async fn search(env: &Env, query: &str, reader: Reader<'_>, limit: u32) -> Vec<ChunkHit> {
    let expression = match_expression(query).expect("a searchable query");
    env.store
        .search_text(&expression, reader, limit)
        .await
        .expect("search")
}

/// The documents of `hits`, in order.
pub fn sources(hits: &[ChunkHit]) -> Vec<String> {
    hits.iter().map(|h| h.document_id.clone()).collect()
}

pub fn user(id: Option<&str>, groups: &[&str]) -> Access {
    Access {
        user_id: id.map(str::to_string),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

pub async fn documents_replace_keeping_created_at(env: Env) {
    assert_eq!(env.store.document_count().await.unwrap(), 0);
    assert_eq!(env.store.get_document("faq.md").await.unwrap(), None);
    let first = env
        .store
        .put_document(doc("faq.md", &["old words here", "second old chunk"], None))
        .await
        .unwrap();
    assert_eq!(first.created_at, micros(epoch()));
    assert_eq!(first.updated_at, first.created_at);
    assert_eq!(first.chunk_count, 2);
    assert_eq!(first.title, "Title of faq.md");
    assert_eq!(first.origin, "admin");
    assert_eq!(first.acl, None);
    assert_eq!(
        env.store.get_document("faq.md").await.unwrap().as_ref(),
        Some(&first)
    );
    let acl = Acl {
        public: false,
        users: vec!["u1".into()],
        groups: vec!["staff".into()],
    };
    let mut replacement = doc("faq.md", &["brand new text"], Some(acl.clone()));
    replacement.embedding_model = Some("m1".into());
    replacement.url = None;
    let second = env.store.put_document(replacement).await.unwrap();
    assert_eq!(second.created_at, first.created_at, "{}", env.backend);
    assert_eq!(
        second.updated_at,
        micros(epoch() + Duration::milliseconds(1))
    );
    assert_eq!(second.chunk_count, 1);
    assert_eq!(second.acl, Some(acl));
    assert_eq!(second.url, None);
    assert_eq!(second.embedding_model.as_deref(), Some("m1"));
    assert_eq!(env.store.document_count().await.unwrap(), 1);
    assert_eq!(env.store.list_documents().await.unwrap(), vec![second]);
    // The old chunks are gone from the index, the new one is in it.
    assert!(search(&env, "old", Reader::Admin, 10).await.is_empty());
    let hits = search(&env, "brand", Reader::Admin, 10).await;
    assert_eq!(sources(&hits), ["faq.md"]);
    assert_eq!(hits[0].text, "brand new text");
    assert_eq!(hits[0].title, "Title of faq.md");
    assert_eq!(hits[0].url, None);
}

pub async fn documents_list_in_byte_order(env: Env) {
    for source in ["b.md", "B.md", "a.md", "_x.md", "Z.md", "a b.md"] {
        env.store
            .put_document(doc(source, &["text"], None))
            .await
            .unwrap();
    }
    let listed: Vec<String> = env
        .store
        .list_documents()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.source)
        .collect();
    assert_eq!(
        listed,
        ["B.md", "Z.md", "_x.md", "a b.md", "a.md", "b.md"],
        "{}",
        env.backend
    );
    assert_eq!(env.store.document_count().await.unwrap(), 6);
}

/// A small shop's documents.
async fn shop(env: &Env) {
    for (source, text) in [
        (
            "returns.md",
            "Returns are accepted within 30 days of delivery. Refund requests need a receipt.",
        ),
        (
            "shipping.md",
            "Shipping takes 5 days. Express shipping takes 2 days.",
        ),
        (
            "refunds.md",
            "Refund, refund, refund: the refund goes to the original card.",
        ),
        ("about.md", "We are a small shop selling tea."),
    ] {
        env.store
            .put_document(doc(source, &[text], None))
            .await
            .unwrap();
    }
}

pub async fn full_text_ranks_like_bm25(env: Env) {
    shop(&env).await;
    let hits = search(&env, "refund", Reader::Admin, 10).await;
    assert_eq!(
        sources(&hits),
        ["refunds.md", "returns.md"],
        "{}",
        env.backend
    );
    assert!(
        hits[0].score > hits[1].score && hits[1].score > 0.0,
        "{hits:?}"
    );
    let hits = search(&env, "shipping days", Reader::Admin, 10).await;
    assert_eq!(
        sources(&hits),
        ["shipping.md", "returns.md"],
        "{}",
        env.backend
    );
    // A rare word outweighs a common one (inverse document frequency).
    let hits = search(&env, "refund tea", Reader::Admin, 10).await;
    assert_eq!(
        sources(&hits),
        ["about.md", "refunds.md", "returns.md"],
        "{}",
        env.backend
    );
    let hits = search(&env, "refund tea", Reader::Admin, 2).await;
    assert_eq!(sources(&hits), ["about.md", "refunds.md"]);
    assert!(search(&env, "unicorn", Reader::Admin, 10).await.is_empty());
    assert!(search(&env, "refund", Reader::Admin, 0).await.is_empty());
}

pub async fn full_text_folds_case_diacritics_and_stems(env: Env) {
    env.store
        .put_document(doc(
            "dessert.md",
            &["Crème BRÛLÉE recipes: Running, runs. This is not a drill."],
            None,
        ))
        .await
        .unwrap();
    for query in [
        "creme", "brulee", "CRÈME", "recipe", "run", "running", "not", "drill",
    ] {
        let hits = search(&env, query, Reader::Admin, 5).await;
        assert_eq!(sources(&hits), ["dessert.md"], "{}: {query}", env.backend);
    }
    for query in ["cream", "runner", "drillz"] {
        let hits = search(&env, query, Reader::Admin, 5).await;
        assert!(hits.is_empty(), "{}: {query} found {hits:?}", env.backend);
    }
}

/// FTS5's porter tokenizer stems only words of 3 to 64 bytes: `os` is not `o`, and a very long
/// word matches only itself.
pub async fn full_text_stems_only_mid_length_words(env: Env) {
    let long = format!("{}running", "x".repeat(60));
    for (source, text) in [
        ("os.md", "The os boots."),
        ("o.md", "Option o applies."),
        ("gas.md", "The gas price."),
        ("long.md", long.as_str()),
    ] {
        env.store
            .put_document(doc(source, &[text], None))
            .await
            .unwrap();
    }
    for (query, found) in [
        ("os", vec!["os.md"]),
        ("o", vec!["o.md"]),
        ("gas", vec!["gas.md"]),
        ("ga", vec!["gas.md"]),
        (long.as_str(), vec!["long.md"]),
    ] {
        let hits = search(&env, query, Reader::Admin, 5).await;
        assert_eq!(sources(&hits), found, "{}: {query}", env.backend);
    }
    let stem = format!("{}run", "x".repeat(60));
    let hits = search(&env, &stem, Reader::Admin, 5).await;
    assert!(hits.is_empty(), "{}: {stem} found {hits:?}", env.backend);
}

/// Documents every reader finds some of: all contain "secret".
async fn restricted(env: &Env) {
    let acl = |public, users: &[&str], groups: &[&str]| {
        Some(Acl {
            public,
            users: users.iter().map(|u| u.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        })
    };
    for (source, acl) in [
        ("open.md", None),
        ("public.md", acl(true, &[], &[])),
        ("for-u1.md", acl(false, &["u1"], &[])),
        ("for-staff.md", acl(false, &[], &["staff", "ops"])),
        ("locked.md", acl(false, &[], &[])),
    ] {
        env.store
            .put_document(doc(source, &["the secret plan"], acl))
            .await
            .unwrap();
    }
}

pub async fn full_text_filters_by_reader(env: Env) {
    restricted(&env).await;
    let found = |hits: Vec<ChunkHit>| {
        let mut s = sources(&hits);
        s.sort();
        s
    };
    let anonymous = Access::anonymous();
    assert_eq!(
        found(search(&env, "secret", Reader::As(&anonymous), 10).await),
        ["open.md", "public.md"],
        "{}",
        env.backend
    );
    let u1 = user(Some("u1"), &[]);
    assert_eq!(
        found(search(&env, "secret", Reader::As(&u1), 10).await),
        ["for-u1.md", "open.md", "public.md"]
    );
    let staff = user(Some("u2"), &["ops"]);
    assert_eq!(
        found(search(&env, "secret", Reader::As(&staff), 10).await),
        ["for-staff.md", "open.md", "public.md"]
    );
    // A group named like the user does not open the user's document, and vice versa.
    let confused = user(Some("staff"), &["u1"]);
    assert_eq!(
        found(search(&env, "secret", Reader::As(&confused), 10).await),
        ["open.md", "public.md"]
    );
    assert_eq!(
        found(search(&env, "secret", Reader::Admin, 10).await),
        [
            "for-staff.md",
            "for-u1.md",
            "locked.md",
            "open.md",
            "public.md"
        ]
    );
}

pub async fn full_text_widens_past_restricted_matches(env: Env) {
    let staff = Some(Acl {
        public: false,
        users: vec![],
        groups: vec!["staff".into()],
    });
    for i in 0..120 {
        env.store
            .put_document(doc(
                &format!("internal-{i:03}.md"),
                &["alpha alpha alpha"],
                staff.clone(),
            ))
            .await
            .unwrap();
    }
    env.store
        .put_document(doc(
            "public.md",
            &["a long public text that mentions alpha once among many other words"],
            None,
        ))
        .await
        .unwrap();
    let anonymous = Access::anonymous();
    let hits = search(&env, "alpha", Reader::As(&anonymous), 3).await;
    assert_eq!(sources(&hits), ["public.md"], "{}", env.backend);
    let member = user(None, &["staff"]);
    let hits = search(&env, "alpha", Reader::As(&member), 3).await;
    assert_eq!(
        sources(&hits),
        ["internal-000.md", "internal-001.md", "internal-002.md"]
    );
}

pub async fn deleted_documents_leave_the_index(env: Env) {
    shop(&env).await;
    assert!(env.store.delete_document("refunds.md").await.unwrap());
    assert!(!env.store.delete_document("refunds.md").await.unwrap());
    assert_eq!(env.store.get_document("refunds.md").await.unwrap(), None);
    assert_eq!(env.store.document_count().await.unwrap(), 3);
    let hits = search(&env, "refund", Reader::Admin, 10).await;
    assert_eq!(sources(&hits), ["returns.md"], "{}", env.backend);
}

pub async fn vector_search_orders_by_cosine(env: Env) {
    let with_vectors = |source: &str, model: Option<&str>, vectors: &[[f32; 2]], acl| {
        let mut d = doc(
            source,
            &vectors.iter().map(|_| "chunk").collect::<Vec<_>>(),
            acl,
        );
        d.embedding_model = model.map(str::to_string);
        for (chunk, v) in d.chunks.iter_mut().zip(vectors) {
            chunk.embedding = Some(v.to_vec());
            chunk.text = format!("{source} {v:?}");
        }
        d
    };
    let locked = Some(Acl::default());
    for d in [
        with_vectors("a.md", Some("m1"), &[[1.0, 0.0], [0.0, 1.0]], None),
        with_vectors("b.md", Some("m1"), &[[0.7, 0.7], [-1.0, 0.0]], None),
        with_vectors("c.md", Some("m2"), &[[1.0, 0.0]], None),
        with_vectors("d.md", Some("m1"), &[[0.9, 0.1]], locked),
        with_vectors("e.md", None, &[[1.0, 0.0]], None),
    ] {
        env.store.put_document(d).await.unwrap();
    }
    let anonymous = Access::anonymous();
    let hits = env
        .store
        .search_vector(&[2.0, 0.0], "m1", Reader::As(&anonymous), 10)
        .await
        .unwrap();
    let texts: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "a.md [1.0, 0.0]",
            "b.md [0.7, 0.7]",
            "a.md [0.0, 1.0]",
            "b.md [-1.0, 0.0]"
        ],
        "{}",
        env.backend
    );
    assert!((hits[0].score - 1.0).abs() < 1e-9);
    assert!((hits[1].score - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!(hits[2].score.abs() < 1e-9);
    assert!((hits[3].score + 1.0).abs() < 1e-9);
    let admin = env
        .store
        .search_vector(&[2.0, 0.0], "m1", Reader::Admin, 2)
        .await
        .unwrap();
    assert_eq!(sources(&admin), ["a.md", "d.md"]);
    let other = env
        .store
        .search_vector(&[1.0, 0.0], "m2", Reader::Admin, 5)
        .await
        .unwrap();
    assert_eq!(sources(&other), ["c.md"]);
    assert!(env
        .store
        .search_vector(&[1.0, 0.0], "nope", Reader::Admin, 5)
        .await
        .unwrap()
        .is_empty());
}
