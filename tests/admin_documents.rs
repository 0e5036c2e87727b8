//! The `/admin` HTTP API: auth, document ingest/list/read/delete, search and chunking.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;

async fn admin_server() -> (smooth_operator::server::ServerHandle, Admin) {
    let server = start_with(admin_config()).await;
    let admin = Admin::new(&server);
    (server, admin)
}

/// An admin server whose store clock moves on at every write, so each stored timestamp is
/// later than the one before.
async fn admin_server_stepping() -> (smooth_operator::server::ServerHandle, Admin) {
    let server = start_with_clock(admin_config(), SteppingClock::shared()).await;
    let admin = Admin::new(&server);
    (server, admin)
}

fn sources(documents: &[Value]) -> Vec<String> {
    documents
        .iter()
        .map(|d| d["source"].as_str().expect("source").to_string())
        .collect()
}

fn result_ids(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["documentId"].as_str().expect("documentId").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mounting and authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_paths_answer_404_without_an_admin_token() {
    let server = start_memory().await;
    for token in [None, Some(ADMIN_TOKEN), Some("")] {
        let admin = Admin::with_token(&server, token);
        let answers = [
            admin.get("/admin/documents").await,
            admin
                .post_document(&json!({"source": "a", "content": "b"}))
                .await,
            admin.get("/admin/documents/a").await,
            admin.delete("/admin/documents/a").await,
            admin.get("/admin/search?q=hello").await,
            admin.get("/admin").await,
        ];
        for answer in answers {
            assert_eq!(answer.status, 404, "token {token:?}: {answer:?}");
        }
    }
    // The server still serves its other routes.
    let health = Admin::with_token(&server, None).get("/healthz").await;
    assert_eq!(health.status, 200, "{health:?}");
}

#[tokio::test]
async fn blank_admin_token_does_not_enable_the_api() {
    // A token that is only whitespace must not make "Bearer " (or "Bearer   ") valid.
    let mut config = Config::for_tests();
    config.admin_token = Some("   ".into());
    let server = start_with(config).await;
    for token in [Some(""), Some("   "), None] {
        let answer = Admin::with_token(&server, token)
            .get("/admin/documents")
            .await;
        assert_ne!(answer.status, 200, "token {token:?}: {answer:?}");
    }
}

#[tokio::test]
async fn missing_authorization_is_unauthenticated_on_every_route() {
    let (server, _admin) = admin_server().await;
    let anonymous = Admin::with_token(&server, None);
    let answers = [
        ("list", anonymous.get("/admin/documents").await),
        (
            "post",
            anonymous
                .post_document(&json!({"source": "a.md", "content": "text"}))
                .await,
        ),
        ("read", anonymous.get("/admin/documents/a.md").await),
        ("delete", anonymous.delete("/admin/documents/a.md").await),
        ("search", anonymous.get("/admin/search?q=text").await),
    ];
    for (route, answer) in answers {
        let message = assert_http_error(&answer, 401, "UNAUTHENTICATED");
        assert!(!message.is_empty(), "{route}");
    }
    // Nothing was written by the unauthenticated POST.
    assert!(Admin::new(&server).documents().await.is_empty());
}

#[tokio::test]
async fn wrong_tokens_are_rejected_never_200() {
    let (server, admin) = admin_server().await;
    admin
        .ingest(
            &json!({"source": "kept.md", "content": "kept text"}),
            "created",
        )
        .await;
    let prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let extension = format!("{ADMIN_TOKEN}x");
    let upper = ADMIN_TOKEN.to_uppercase();
    let wrong_tokens = [
        "wrong",
        prefix,
        extension.as_str(),
        upper.as_str(),
        "t",
        "test-admin-token-7f3b",
    ];
    for token in wrong_tokens {
        let client = Admin::with_token(&server, Some(token));
        let answers = [
            client.get("/admin/documents").await,
            client
                .post_document(&json!({"source": "evil.md", "content": "evil"}))
                .await,
            client.get("/admin/documents/kept.md").await,
            client.delete("/admin/documents/kept.md").await,
            client.get("/admin/search?q=kept").await,
        ];
        for answer in answers {
            assert_http_error(&answer, 401, "INVALID_TOKEN");
        }
    }
    // Other schemes or a bare token are never accepted either.
    for header in [
        format!("Basic {ADMIN_TOKEN}"),
        ADMIN_TOKEN.to_string(),
        format!("Token {ADMIN_TOKEN}"),
        "Bearer".to_string(),
        "Bearer ".to_string(),
    ] {
        let answer = admin
            .send(
                admin
                    .http
                    .get(format!("{}/admin/documents", admin.base))
                    .header("authorization", header.clone()),
            )
            .await;
        assert_eq!(answer.status, 401, "header {header:?}: {answer:?}");
        assert_eq!(answer.body["type"], "error", "{answer:?}");
    }
    // The wrong-token requests changed nothing.
    let documents = admin.documents().await;
    assert_eq!(sources(&documents), vec!["kept.md"]);
}

// ---------------------------------------------------------------------------------------------
// Ingest outcomes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn created_then_unchanged_then_updated() {
    let (_server, admin) = admin_server_stepping().await;
    let content = "Our returns policy lets you send items back within 30 days.";
    let body = json!({"source": "policies/returns.md", "content": content});

    let created = admin.ingest(&body, "created").await;
    assert_document(&created, "policies/returns.md", content, "admin");
    assert_eq!(
        created["chunks"], 1,
        "short content is one chunk: {created}"
    );
    assert!(created.get("url").is_none(), "no url given: {created}");
    assert!(created.get("acl").is_none(), "no acl given: {created}");

    // Identical re-post: unchanged, same descriptor (same updatedAt; a rewrite would move it).
    let unchanged = admin.ingest(&body, "unchanged").await;
    assert_eq!(unchanged, created, "unchanged document must be identical");

    // Changed content: updated, new hash, same createdAt, later updatedAt.
    let content2 = "Our returns policy lets you send items back within 60 days.";
    let updated = admin
        .ingest(
            &json!({"source": "policies/returns.md", "content": content2}),
            "updated",
        )
        .await;
    assert_document(&updated, "policies/returns.md", content2, "admin");
    assert_ne!(updated["contentHash"], created["contentHash"]);
    assert_eq!(
        doc_time(&updated, "createdAt"),
        doc_time(&created, "createdAt")
    );
    assert!(
        doc_time(&updated, "updatedAt") > doc_time(&created, "updatedAt"),
        "updatedAt must advance: {created} -> {updated}"
    );

    // The stored copy matches, and the old text is gone from search.
    let read = admin.get("/admin/documents/policies/returns.md").await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["document"], updated);
    let hits = admin.search("60 days", None).await;
    assert_eq!(result_ids(&hits), vec!["policies/returns.md"]);
    assert!(hits[0]["chunk"].as_str().unwrap().contains("60 days"));
    assert!(
        admin
            .search("30", None)
            .await
            .iter()
            .all(|h| !h["chunk"].as_str().unwrap().contains("30 days")),
        "old content still searchable"
    );
    assert_eq!(admin.documents().await.len(), 1, "no duplicate document");
}

#[tokio::test]
async fn url_and_acl_changes_are_updates() {
    let (_server, admin) = admin_server_stepping().await;
    let content = "Shipping takes three business days.";
    let base = json!({"source": "shipping.md", "content": content});
    let first = admin.ingest(&base, "created").await;

    // Adding a url is an update and the url shows.
    let with_url = json!({"source": "shipping.md", "content": content,
                          "url": "https://example.com/shipping"});
    let doc = admin.ingest(&with_url, "updated").await;
    assert_eq!(doc["url"], "https://example.com/shipping", "{doc}");
    assert_eq!(doc["contentHash"], first["contentHash"]);
    assert!(doc_time(&doc, "updatedAt") > doc_time(&first, "updatedAt"));
    let same = admin.ingest(&with_url, "unchanged").await;
    assert_eq!(same, doc);

    // Adding an acl is an update; the acl shows.
    let acl = json!({"public": false, "groups": ["staff"]});
    let with_acl = json!({"source": "shipping.md", "content": content,
                          "url": "https://example.com/shipping", "acl": acl});
    let doc = admin.ingest(&with_acl, "updated").await;
    assert_acl(&doc, &acl);
    assert_eq!(doc["url"], "https://example.com/shipping");
    let same = admin.ingest(&with_acl, "unchanged").await;
    assert_eq!(same, doc);

    // Changing only the acl's groups is an update.
    let acl2 = json!({"public": false, "groups": ["staff", "managers"]});
    let doc = admin
        .ingest(
            &json!({"source": "shipping.md", "content": content,
                    "url": "https://example.com/shipping", "acl": acl2}),
            "updated",
        )
        .await;
    assert_acl(&doc, &acl2);

    // Making it public is an update.
    let acl3 = json!({"public": true});
    let doc = admin
        .ingest(
            &json!({"source": "shipping.md", "content": content,
                    "url": "https://example.com/shipping", "acl": acl3}),
            "updated",
        )
        .await;
    assert_acl(&doc, &acl3);

    // Dropping url and acl (acl: null) is an update and both disappear.
    let doc = admin
        .ingest(
            &json!({"source": "shipping.md", "content": content, "acl": null}),
            "updated",
        )
        .await;
    assert!(doc.get("url").is_none(), "url dropped: {doc}");
    assert!(doc.get("acl").is_none(), "acl dropped: {doc}");
    assert_eq!(doc_time(&doc, "createdAt"), doc_time(&first, "createdAt"));
    assert_eq!(admin.documents().await.len(), 1);
}

#[tokio::test]
async fn url_comes_from_an_http_source_and_only_then() {
    let (_server, admin) = admin_server().await;
    let doc = admin
        .ingest(
            &json!({"source": "https://example.com/faq", "content": "Frequently asked."}),
            "created",
        )
        .await;
    assert_document(
        &doc,
        "https://example.com/faq",
        "Frequently asked.",
        "admin",
    );
    assert_eq!(doc["url"], "https://example.com/faq", "{doc}");

    let doc = admin
        .ingest(
            &json!({"source": "http://example.com/plain", "content": "Plain http."}),
            "created",
        )
        .await;
    assert_eq!(doc["url"], "http://example.com/plain", "{doc}");

    let doc = admin
        .ingest(
            &json!({"source": "notes/ftp-guide.md", "content": "See ftp://files.example.com."}),
            "created",
        )
        .await;
    assert!(doc.get("url").is_none(), "{doc}");

    // An explicit url wins over the source.
    let doc = admin
        .ingest(
            &json!({"source": "https://example.com/a", "content": "A.",
                    "url": "https://example.com/canonical-a"}),
            "created",
        )
        .await;
    assert_eq!(doc["url"], "https://example.com/canonical-a", "{doc}");

    // The url shows up in search results too.
    let hits = admin.search("frequently", None).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["url"], "https://example.com/faq");
    let hits = admin.search("ftp guide", None).await;
    assert!(
        hits.iter().all(|h| h.get("url").is_none()),
        "no url for a non-http source: {hits:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_bodies_are_validation_errors() {
    let (_server, admin) = admin_server().await;
    let long_source = "s".repeat(1025);
    // (body, words of which at least one must appear in the message, lowercased)
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({}), &["source", "content", "missing"]),
        (json!({"source": "a.md"}), &["content"]),
        (json!({"content": "text"}), &["source"]),
        (json!({"source": "", "content": "text"}), &["source"]),
        (json!({"source": "   ", "content": "text"}), &["source"]),
        (json!({"source": "a.md", "content": ""}), &["content"]),
        (json!({"source": "a.md", "content": " \n\t "}), &["content"]),
        (
            json!({"source": long_source, "content": "text"}),
            &["source", "1024", "long"],
        ),
        (
            json!({"source": 5, "content": "text"}),
            &["source", "string", "type"],
        ),
        (
            json!({"source": "a.md", "content": ["text"]}),
            &["content", "string", "type"],
        ),
        (
            json!({"source": null, "content": "text"}),
            &["source", "null"],
        ),
        (
            json!({"source": "a.md", "content": "text", "url": "ftp://example.com/x"}),
            &["url"],
        ),
        (
            json!({"source": "a.md", "content": "text", "url": "not a url"}),
            &["url"],
        ),
        (
            json!({"source": "a.md", "content": "text", "url": "javascript:alert(1)"}),
            &["url"],
        ),
        (
            json!({"source": "a.md", "content": "text", "url": 7}),
            &["url", "string", "type"],
        ),
        (
            json!({"source": "a.md", "content": "text", "extra": 1}),
            &["extra", "unknown"],
        ),
        (
            json!({"source": "a.md", "content": "text", "Source": "b"}),
            &["source", "unknown"],
        ),
        (
            json!({"source": "a.md", "content": "text", "acl": "public"}),
            &["acl"],
        ),
        (
            json!({"source": "a.md", "content": "text", "acl": {"public": "yes"}}),
            &["public", "bool", "acl"],
        ),
        (
            json!({"source": "a.md", "content": "text", "acl": {"users": "bob"}}),
            &["users", "sequence", "array", "acl"],
        ),
        (
            json!({"source": "a.md", "content": "text", "acl": {"groups": [1]}}),
            &["groups", "string", "acl"],
        ),
        (
            json!({"source": "a.md", "content": "text", "acl": {"public": true, "roles": ["x"]}}),
            &["roles", "unknown", "acl"],
        ),
        (
            json!([{"source": "a.md", "content": "text"}]),
            &["sequence", "array", "object", "map"],
        ),
        (json!("a.md"), &["string", "object", "map"]),
        (Value::Null, &["null", "object", "map"]),
    ];
    for (body, words) in cases {
        let answer = admin.post_document(&body).await;
        let message = assert_http_error(&answer, 400, "VALIDATION_ERROR").to_lowercase();
        assert!(
            words.iter().any(|w| message.contains(w)),
            "message for {body} should name the problem (one of {words:?}): {message}"
        );
    }
    for raw in [
        "{\"source\":",
        "not json at all",
        "",
        "{\"source\": \"a\", \"content\": \"b\",}",
    ] {
        let answer = admin.post_raw(raw.to_string()).await;
        assert_http_error(&answer, 400, "VALIDATION_ERROR");
    }
    assert!(
        admin.documents().await.is_empty(),
        "no invalid body created a document"
    );

    // Boundaries that are valid.
    let source = "s".repeat(1024);
    let doc = admin
        .ingest(&json!({"source": source, "content": "x"}), "created")
        .await;
    assert_document(&doc, &source, "x", "admin");
    admin
        .ingest(
            &json!({"source": "empty-acl.md", "content": "text", "acl": {}}),
            "created",
        )
        .await;
    admin
        .ingest(
            &json!({"source": "plain-http.md", "content": "text", "url": "http://example.com/p"}),
            "created",
        )
        .await;
}

#[tokio::test]
async fn body_limit_is_16_mib() {
    let (_server, admin) = admin_server().await;
    // Over the limit: 413, nothing stored.
    let huge = "word ".repeat(17 * 1024 * 1024 / 5);
    let body = json!({"source": "huge.md", "content": huge}).to_string();
    assert!(body.len() > 16 * 1024 * 1024);
    let answer = admin.post_raw(body).await;
    assert_eq!(
        answer.status, 413,
        "status {} body {:.200}",
        answer.status, answer.text
    );
    assert!(admin.documents().await.is_empty());

    // Above axum's 2 MiB default but under 16 MiB: accepted, many chunks.
    let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.";
    let big = vec![paragraph; 3 * 1024 * 1024 / (paragraph.len() + 2)].join("\n\n");
    assert!(big.len() > 2 * 1024 * 1024);
    let doc = admin
        .ingest(&json!({"source": "big.md", "content": big}), "created")
        .await;
    assert_document(&doc, "big.md", &big, "admin");
    let chunks = doc["chunks"].as_u64().unwrap();
    assert!(
        chunks as usize >= big.len() / 1100,
        "{chunks} chunks for {} chars",
        big.len()
    );
}

// ---------------------------------------------------------------------------------------------
// List, read, delete
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn list_is_sorted_by_source() {
    let (_server, admin) = admin_server().await;
    assert!(admin.documents().await.is_empty());
    let names = [
        "zeta.md",
        "alpha.md",
        "guides/beta.md",
        "mid.txt",
        "guides/alpha.md",
    ];
    for name in names {
        admin
            .ingest(
                &json!({"source": name, "content": format!("content of {name}")}),
                "created",
            )
            .await;
    }
    let documents = admin.documents().await;
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(sources(&documents), expected);
    for doc in &documents {
        let source = doc["source"].as_str().unwrap();
        assert_document(doc, source, &format!("content of {source}"), "admin");
    }
}

#[tokio::test]
async fn documents_are_read_by_ids_with_slashes() {
    let (_server, admin) = admin_server().await;
    let created = admin
        .ingest(
            &json!({"source": "guides/returns.md", "content": "Return guide."}),
            "created",
        )
        .await;
    let spaced = admin
        .ingest(
            &json!({"source": "my notes/day one.md", "content": "Notes."}),
            "created",
        )
        .await;
    for path in [
        "/admin/documents/guides/returns.md",
        "/admin/documents/guides%2Freturns.md",
        "/admin/documents/guides%2freturns.md",
    ] {
        let answer = admin.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        assert_eq!(answer.body["document"], created, "{path}");
    }
    let answer = admin.get("/admin/documents/my%20notes/day%20one.md").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["document"], spaced);

    for path in [
        "/admin/documents/guides",
        "/admin/documents/returns.md",
        "/admin/documents/guides/returns.md/extra",
        "/admin/documents/nope",
    ] {
        let answer = admin.get(path).await;
        assert_http_error(&answer, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn delete_removes_the_document_and_its_content() {
    let (_server, admin) = admin_server().await;
    admin
        .ingest(
            &json!({"source": "guides/xylo.md",
                    "content": "The xylophonic instrument guide.\n\nSecond paragraph on xylophonic tuning."}),
            "created",
        )
        .await;
    let other = admin
        .ingest(
            &json!({"source": "other.md", "content": "An unrelated marimba page."}),
            "created",
        )
        .await;
    assert_eq!(
        result_ids(&admin.search("xylophonic", None).await),
        vec!["guides/xylo.md"]
    );

    let answer = admin.delete("/admin/documents/guides%2Fxylo.md").await;
    assert_eq!(answer.status, 204, "{answer:?}");
    assert!(answer.text.is_empty(), "204 has no body: {answer:?}");

    assert_http_error(
        &admin.get("/admin/documents/guides/xylo.md").await,
        404,
        "NOT_FOUND",
    );
    assert!(
        admin.search("xylophonic", None).await.is_empty(),
        "deleted content is still retrievable"
    );
    assert_eq!(sources(&admin.documents().await), vec!["other.md"]);
    assert_http_error(
        &admin.delete("/admin/documents/guides/xylo.md").await,
        404,
        "NOT_FOUND",
    );
    // The other document is untouched.
    let read = admin.get("/admin/documents/other.md").await;
    assert_eq!(read.body["document"], other);
    assert_eq!(
        result_ids(&admin.search("marimba", None).await),
        vec!["other.md"]
    );

    // Re-posting a deleted source creates it anew.
    admin
        .ingest(
            &json!({"source": "guides/xylo.md", "content": "Back again, xylophonic."}),
            "created",
        )
        .await;
    assert_eq!(
        result_ids(&admin.search("xylophonic", None).await),
        vec!["guides/xylo.md"]
    );
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn search_stems_ranks_and_reports_fields() {
    let (_server, admin) = admin_server().await;
    admin
        .ingest(
            &json!({"source": "returns.md",
                    "content": "Returns are accepted for 30 days. Items returned late are refused.",
                    "url": "https://example.com/returns"}),
            "created",
        )
        .await;
    admin
        .ingest(
            &json!({"source": "shipping.md",
                    "content": "We ship worldwide with tracked couriers."}),
            "created",
        )
        .await;

    // Porter stemming: "returning" matches "Returns"/"returned".
    let hits = admin.search("returning", None).await;
    assert_eq!(result_ids(&hits), vec!["returns.md"], "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit["source"], "returns.md");
    assert_eq!(hit["title"], "returns.md");
    assert_eq!(hit["url"], "https://example.com/returns");
    assert!(hit["chunk"]
        .as_str()
        .unwrap()
        .contains("Returns are accepted"));
    assert!(hit["score"].is_number(), "{hit}");

    let hits = admin.search("shipped", None).await;
    assert_eq!(result_ids(&hits), vec!["shipping.md"], "{hits:?}");
    assert!(hits[0].get("url").is_none(), "{hits:?}");

    // Nothing matches an absent word.
    assert!(admin.search("zeppelin", None).await.is_empty());
    // Punctuation and FTS syntax in the query are harmless.
    for q in [
        "returns\"",
        "\"returns",
        "returns AND",
        "(returns",
        "returns*",
        "NEAR(",
        "-returns",
        "returns:",
    ] {
        let answer = admin
            .send(
                admin
                    .request(reqwest::Method::GET, "/admin/search")
                    .query(&[("q", q)]),
            )
            .await;
        assert_eq!(answer.status, 200, "q {q:?}: {answer:?}");
    }
}

#[tokio::test]
async fn search_orders_best_first() {
    let (_server, admin) = admin_server().await;
    admin
        .ingest(
            &json!({"source": "weak.md",
                    "content": format!("{} One mention of refund here.", "Filler about many other topics entirely. ".repeat(15))}),
            "created",
        )
        .await;
    admin
        .ingest(
            &json!({"source": "strong.md", "content": "Refund policy: refund requests, refund timing, refund methods."}),
            "created",
        )
        .await;
    let hits = admin.search("refund", None).await;
    assert_eq!(result_ids(&hits), vec!["strong.md", "weak.md"], "{hits:?}");
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "scores not best-first: {scores:?}"
    );
}

#[tokio::test]
async fn search_ignores_stop_words() {
    let (_server, admin) = admin_server().await;
    admin
        .ingest(
            &json!({"source": "stop.md", "content": "The the of and a to in is it zebra."}),
            "created",
        )
        .await;
    admin
        .ingest(
            &json!({"source": "returns.md", "content": "Returns accepted within thirty days."}),
            "created",
        )
        .await;
    // "the" must neither be required (AND would then miss returns.md) nor match (OR would
    // then also return stop.md).
    let hits = admin.search("the returns", None).await;
    assert_eq!(result_ids(&hits), vec!["returns.md"], "{hits:?}");
    let hits = admin.search("what is the returns policy of it", None).await;
    assert_eq!(
        result_ids(&hits).first().map(String::as_str),
        Some("returns.md"),
        "{hits:?}"
    );
    assert!(
        !result_ids(&hits).contains(&"stop.md".to_string()),
        "{hits:?}"
    );
}

#[tokio::test]
async fn search_limit_defaults_and_clamps() {
    let (_server, admin) = admin_server().await;
    for i in 0..60 {
        admin
            .ingest(
                &json!({"source": format!("widget-{i:02}.md"),
                        "content": format!("Widget number {i} is a gadget.")}),
                "created",
            )
            .await;
    }
    assert_eq!(admin.search("widget", None).await.len(), 5, "default limit");
    assert_eq!(admin.search("widget", Some("2")).await.len(), 2);
    assert_eq!(admin.search("widget", Some("1")).await.len(), 1);
    assert_eq!(
        admin.search("widget", Some("0")).await.len(),
        1,
        "clamped up to 1"
    );
    assert_eq!(admin.search("widget", Some("50")).await.len(), 50);
    assert_eq!(
        admin.search("widget", Some("51")).await.len(),
        50,
        "clamped to 50"
    );
    assert_eq!(
        admin.search("widget", Some("1000")).await.len(),
        50,
        "clamped to 50"
    );
    let all = admin.search("widget", Some("50")).await;
    let distinct: BTreeSet<String> = result_ids(&all).into_iter().collect();
    assert_eq!(distinct.len(), 50, "one chunk per document, no duplicates");
}

#[tokio::test]
async fn search_needs_a_query() {
    let (_server, admin) = admin_server().await;
    admin
        .ingest(&json!({"source": "a.md", "content": "alpha"}), "created")
        .await;
    for path in [
        "/admin/search",
        "/admin/search?q=",
        "/admin/search?q=%20%20",
        "/admin/search?limit=3",
    ] {
        let answer = admin.get(path).await;
        let message = assert_http_error(&answer, 400, "VALIDATION_ERROR");
        assert!(message.contains('q'), "{path}: {message}");
    }
}

#[tokio::test]
async fn admin_search_sees_acl_restricted_documents() {
    let (_server, admin) = admin_server().await;
    let acl = json!({"public": false, "groups": ["staff"]});
    let doc = admin
        .ingest(
            &json!({"source": "internal/payroll.md",
                    "content": "Payroll runs on the last business day.", "acl": acl}),
            "created",
        )
        .await;
    assert_acl(&doc, &acl);
    let locked = json!({"public": false});
    admin
        .ingest(
            &json!({"source": "internal/locked.md",
                    "content": "Payroll secrets nobody may read.", "acl": locked}),
            "created",
        )
        .await;
    let hits = admin.search("payroll", None).await;
    let ids: BTreeSet<String> = result_ids(&hits).into_iter().collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            "internal/payroll.md".to_string(),
            "internal/locked.md".to_string()
        ]),
        "admin sees every document: {hits:?}"
    );
    let listed = admin.get("/admin/documents/internal/payroll.md").await;
    assert_acl(&listed.body["document"], &acl);
}

// ---------------------------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn chunking_packs_paragraphs() {
    let (_server, admin) = admin_server().await;
    // 100 paragraphs of ~100 chars, each with a unique marker word.
    let paragraphs: Vec<String> = (0..100)
        .map(|i| {
            format!(
                "Paragraph marker{i:03}q talks about assorted topics such as weather, travel and {}.",
                "food ".repeat(3).trim_end()
            )
        })
        .collect();
    let content = paragraphs.join("\n\n");
    assert!(content.len() >= 9_000, "{}", content.len());
    let doc = admin
        .ingest(&json!({"source": "long.md", "content": content}), "created")
        .await;
    let chunks = doc["chunks"].as_u64().unwrap() as usize;
    assert!(
        chunks >= content.len() / 1000 && chunks <= 3 * content.len() / 1000,
        "{chunks} chunks for {} chars",
        content.len()
    );
    // Each paragraph is found whole inside a chunk of at most ~1000 chars.
    for i in [0, 17, 42, 73, 99] {
        let hits = admin.search(&format!("marker{i:03}q"), None).await;
        assert_eq!(result_ids(&hits), vec!["long.md"], "marker {i}: {hits:?}");
        let chunk = hits[0]["chunk"].as_str().unwrap();
        assert!(
            chunk.contains(&paragraphs[i]),
            "paragraph {i} split: {chunk:?}"
        );
        assert!(chunk.len() <= 1100, "chunk of {} chars", chunk.len());
        assert!(
            chunk.len() >= 500,
            "paragraphs should be packed together, got {} chars",
            chunk.len()
        );
    }

    // A short document is one chunk.
    let doc = admin
        .ingest(
            &json!({"source": "short.md", "content": "One.\n\nTwo.\n\nThree."}),
            "created",
        )
        .await;
    assert_eq!(doc["chunks"], 1, "{doc}");
}

#[tokio::test]
async fn long_paragraph_is_split_on_word_boundaries() {
    let (_server, admin) = admin_server().await;
    let words: Vec<String> = (0..800).map(|i| format!("tok{i:04}z")).collect();
    let content = words.join(" "); // one 6400-char paragraph, no blank lines
    let doc = admin
        .ingest(&json!({"source": "wall.md", "content": content}), "created")
        .await;
    let chunks = doc["chunks"].as_u64().unwrap() as usize;
    assert!(
        (6..=20).contains(&chunks),
        "{chunks} chunks for {} chars",
        content.len()
    );
    for i in [0, 1, 123, 400, 677, 799] {
        let hits = admin.search(&format!("tok{i:04}z"), None).await;
        assert_eq!(result_ids(&hits), vec!["wall.md"], "word {i}: {hits:?}");
        let chunk = hits[0]["chunk"].as_str().unwrap();
        assert!(chunk.len() <= 1100, "chunk of {} chars", chunk.len());
        for token in chunk.split_whitespace() {
            assert!(
                token.len() == 8 && token.starts_with("tok") && token.ends_with('z'),
                "word cut in half: {token:?} in {chunk:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/// Posts one identical new document 8 times at once: exactly one `created`, the rest
/// `unchanged`, never an error, one document with one chunk.
async fn identical_concurrent_posts(config: Config) {
    let server = start_with(config).await;
    let body = json!({"source": "race.md", "content": "Racing posts about hummingbirds."});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let admin = Admin::new(&server);
        let body = body.clone();
        tasks.push(tokio::spawn(
            async move { admin.post_document(&body).await },
        ));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        let answer = task.await.expect("task");
        assert!(
            answer.status == 201 || answer.status == 200,
            "concurrent identical post failed: {answer:?}"
        );
        outcomes.push(answer.body["outcome"].as_str().unwrap().to_string());
    }
    outcomes.sort();
    let created = outcomes.iter().filter(|o| *o == "created").count();
    assert_eq!(
        created, 1,
        "exactly one post creates the document: {outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| o == "created" || o == "unchanged"),
        "{outcomes:?}"
    );
    let admin = Admin::new(&server);
    assert_eq!(admin.documents().await.len(), 1);
    assert_eq!(
        admin.search("hummingbirds", Some("50")).await.len(),
        1,
        "chunks were duplicated"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_of_one_new_source_create_it_once_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    identical_concurrent_posts(admin_file_config(&dir.path().join("race.db"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_of_one_new_source_create_it_once_memory() {
    identical_concurrent_posts(admin_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_different_versions_leave_one_consistent_document() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start_with(admin_file_config(&dir.path().join("race.db"))).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let admin = Admin::new(&server);
        let body =
            json!({"source": "versions.md", "content": format!("Version v{i}x of the page.")});
        tasks.push(tokio::spawn(
            async move { admin.post_document(&body).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let answer = task.await.expect("task");
        assert!(
            answer.status == 201 || answer.status == 200,
            "concurrent post failed: {answer:?}"
        );
        if answer.body["outcome"] == "created" {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one post creates the document");
    let admin = Admin::new(&server);
    let documents = admin.documents().await;
    assert_eq!(documents.len(), 1);
    // The stored hash matches the stored text, and only that version's chunk is searchable.
    let hits = admin.search("version page", Some("50")).await;
    assert_eq!(hits.len(), 1, "one chunk for one version: {hits:?}");
    let chunk = hits[0]["chunk"].as_str().unwrap();
    assert_eq!(
        documents[0]["contentHash"],
        sha256_hex(chunk),
        "{documents:?} vs {chunk:?}"
    );
    server.shutdown().await.expect("clean shutdown");
}
