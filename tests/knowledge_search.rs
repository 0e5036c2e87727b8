//! The knowledge base through the library API on a real SQLite file: access lists enforced in
//! search for every kind of reader, stemming and stop words, and that updates and deletes leave
//! nothing stale in the full-text index.

use std::sync::Arc;

use smooth_operator::knowledge::{DocumentInput, Knowledge, Origin, Outcome};
use smooth_operator::store::acl::{Access, Acl};
use smooth_operator::store::sqlite::SqliteStore;
use smooth_operator::store::{DynStore, Reader};

async fn knowledge() -> (tempfile::TempDir, Knowledge) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kb.db");
    let store: DynStore = Arc::new(
        SqliteStore::open_file(&path.display().to_string())
            .await
            .unwrap(),
    );
    (dir, Knowledge::new(store, None))
}

async fn put(k: &Knowledge, source: &str, content: &str, acl: Option<Acl>) -> Outcome {
    k.ingest(DocumentInput {
        source: source.into(),
        content: content.into(),
        url: None,
        acl,
        origin: Origin::Admin,
    })
    .await
    .unwrap()
    .outcome
}

async fn sources(k: &Knowledge, query: &str, reader: Reader<'_>) -> Vec<String> {
    let mut found: Vec<String> = k
        .search(query, 10, reader)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.document_id)
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn access_lists_filter_every_reader() {
    let (_dir, k) = knowledge().await;
    let text = "The warehouse inventory procedure for pallets.";
    put(&k, "open.md", text, None).await;
    put(
        &k,
        "public.md",
        text,
        Some(Acl {
            public: true,
            ..Acl::default()
        }),
    )
    .await;
    put(
        &k,
        "staff.md",
        text,
        Some(Acl {
            groups: vec!["staff".into()],
            ..Acl::default()
        }),
    )
    .await;
    put(
        &k,
        "alice.md",
        text,
        Some(Acl {
            users: vec!["alice".into()],
            ..Acl::default()
        }),
    )
    .await;
    put(&k, "locked.md", text, Some(Acl::default())).await;

    let anonymous = Access::anonymous();
    let alice = Access {
        user_id: Some("alice".into()),
        groups: vec![],
    };
    let bob_staff = Access {
        user_id: Some("bob".into()),
        groups: vec!["staff".into(), "sales".into()],
    };
    let query = "warehouse pallets";
    assert_eq!(
        sources(&k, query, Reader::As(&anonymous)).await,
        ["open.md", "public.md"]
    );
    assert_eq!(
        sources(&k, query, Reader::As(&alice)).await,
        ["alice.md", "open.md", "public.md"]
    );
    assert_eq!(
        sources(&k, query, Reader::As(&bob_staff)).await,
        ["open.md", "public.md", "staff.md"]
    );
    assert_eq!(
        sources(&k, query, Reader::Admin).await,
        ["alice.md", "locked.md", "open.md", "public.md", "staff.md"]
    );
}

#[tokio::test]
async fn restricted_matches_never_crowd_out_readable_ones() {
    // Many restricted chunks rank above the one public chunk; the reader still gets it.
    let (_dir, k) = knowledge().await;
    let staff_only = Some(Acl {
        groups: vec!["staff".into()],
        ..Acl::default()
    });
    for i in 0..120 {
        put(
            &k,
            &format!("internal/{i}.md"),
            "refund refund refund refund escalation",
            staff_only.clone(),
        )
        .await;
    }
    put(
        &k,
        "faq.md",
        "Customers ask about the refund for a damaged parcel, among many other unrelated things \
         such as delivery, invoices, accounts, passwords, gift cards and store opening hours.",
        None,
    )
    .await;
    let anonymous = Access::anonymous();
    let hits = k.search("refund", 3, Reader::As(&anonymous)).await.unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].document_id, "faq.md");
}

#[tokio::test]
async fn a_reader_gets_the_admin_ranking_without_what_they_may_not_read() {
    // However restricted and readable matches interleave in the ranking, and whether the best
    // matches alone hold enough readable ones or not, a reader's results are the admin's
    // ranking with the restricted documents left out.
    let staff_only = Some(Acl {
        groups: vec!["staff".into()],
        ..Acl::default()
    });
    let anonymous = Access::anonymous();
    for layout in ["interleaved", "restricted first"] {
        let (_dir, k) = knowledge().await;
        let mut restricted = std::collections::HashSet::new();
        for i in 0..60 {
            let locked = if layout == "interleaved" {
                i % 3 == 0
            } else {
                i < 30
            };
            // One match in a longer text each time: document i ranks i-th.
            let filler: Vec<String> = (0..=i).map(|j| format!("word{j}")).collect();
            let source = format!("doc-{i:02}.md");
            if locked {
                restricted.insert(source.clone());
            }
            let content = format!("refund {}", filler.join(" "));
            put(
                &k,
                &source,
                &content,
                locked.then(|| staff_only.clone()).flatten(),
            )
            .await;
        }
        let ranking: Vec<String> = k
            .search("refund", 100, Reader::Admin)
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.document_id)
            .collect();
        let expected: Vec<String> = (0..60).map(|i| format!("doc-{i:02}.md")).collect();
        assert_eq!(
            ranking, expected,
            "{layout}: the admin sees every match, best first"
        );
        for limit in [1, 3, 8, 25] {
            let got: Vec<String> = k
                .search("refund", limit, Reader::As(&anonymous))
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.document_id)
                .collect();
            let want: Vec<String> = ranking
                .iter()
                .filter(|source| !restricted.contains(*source))
                .take(limit as usize)
                .cloned()
                .collect();
            assert_eq!(got, want, "{layout}, limit {limit}");
        }
    }
}

#[tokio::test]
async fn stemming_stop_words_and_ranking() {
    let (_dir, k) = knowledge().await;
    put(
        &k,
        "returns.md",
        "Returns are accepted within 17 days of delivery.",
        None,
    )
    .await;
    put(
        &k,
        "shipping.md",
        "Shipping takes three to five days.",
        None,
    )
    .await;
    let anonymous = Access::anonymous();
    // "returning" stems to "return"; stop words alone match nothing.
    let hits = k
        .search("Can I be returning my order?", 3, Reader::As(&anonymous))
        .await
        .unwrap();
    assert_eq!(hits[0].document_id, "returns.md");
    assert!(k
        .search("what is the", 3, Reader::As(&anonymous))
        .await
        .unwrap()
        .is_empty());
    // Punctuation and FTS operators in user text are plain words, never syntax errors.
    for hostile in [
        "\"returns",
        "returns AND NOT (",
        "NEAR(returns days",
        "*",
        "col:returns",
    ] {
        k.search(hostile, 3, Reader::As(&anonymous))
            .await
            .unwrap_or_else(|e| panic!("{hostile:?} failed: {e}"));
    }
    let both = k.search("days", 3, Reader::As(&anonymous)).await.unwrap();
    assert_eq!(both.len(), 2);
    assert!(both[0].score >= both[1].score);
}

#[tokio::test]
async fn updates_and_deletes_leave_nothing_stale() {
    let (_dir, k) = knowledge().await;
    assert_eq!(
        put(&k, "policy.md", "Old wording about zebras.", None).await,
        Outcome::Created
    );
    assert_eq!(
        put(&k, "policy.md", "Old wording about zebras.", None).await,
        Outcome::Unchanged
    );
    assert_eq!(
        put(&k, "policy.md", "New wording about giraffes.", None).await,
        Outcome::Updated
    );
    let anonymous = Access::anonymous();
    assert!(k
        .search("zebras", 3, Reader::Admin)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        k.search("giraffes", 3, Reader::As(&anonymous))
            .await
            .unwrap()
            .len(),
        1
    );
    // Changing only the ACL is an update, and takes effect at once.
    assert_eq!(
        put(
            &k,
            "policy.md",
            "New wording about giraffes.",
            Some(Acl::default())
        )
        .await,
        Outcome::Updated
    );
    assert!(k
        .search("giraffes", 3, Reader::As(&anonymous))
        .await
        .unwrap()
        .is_empty());
    assert!(k.store().delete_document("policy.md").await.unwrap());
    assert!(k
        .search("giraffes", 3, Reader::Admin)
        .await
        .unwrap()
        .is_empty());
    assert!(!k.store().delete_document("policy.md").await.unwrap());
    assert_eq!(k.store().document_count().await.unwrap(), 0);
}

#[tokio::test]
async fn invalid_inputs_are_refused_with_a_reason() {
    let (_dir, k) = knowledge().await;
    for (source, content, url, needle) in [
        ("  ", "text", None, "source"),
        ("a.md", " \n ", None, "content"),
        ("a.md", "text", Some("ftp://example.com/a"), "url"),
        ("a\u{0}b", "text", None, "control"),
    ] {
        let err = k
            .ingest(DocumentInput {
                source: source.into(),
                content: content.into(),
                url: url.map(str::to_string),
                acl: None,
                origin: Origin::Admin,
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
    let long = "s".repeat(1025);
    assert!(k
        .ingest(DocumentInput {
            source: long,
            content: "x".into(),
            url: None,
            acl: None,
            origin: Origin::Admin,
        })
        .await
        .is_err());
    // A URL source is its own citation link.
    let doc = k
        .ingest(DocumentInput {
            source: "https://example.com/help/returns".into(),
            content: "Returns help".into(),
            url: None,
            acl: None,
            origin: Origin::Admin,
        })
        .await
        .unwrap()
        .document;
    assert_eq!(doc.url.as_deref(), Some("https://example.com/help/returns"));
}
