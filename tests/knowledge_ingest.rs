//! The knowledge folder ingested at start-up (`SMOOTH_AGENT_KNOWLEDGE_DIR`), across restarts,
//! and embeddings sent to the gateway's `/embeddings` when an embedding model is configured (the
//! gateway is the common mock, `common::gateway`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::gateway::MockGateway;
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::server::{self, ServerHandle};

fn write(root: &Path, relative: &str, content: impl AsRef<[u8]>) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    std::fs::write(path, content).expect("write file");
}

fn dir_config(db: &Path, knowledge: &Path) -> Config {
    let mut config = admin_file_config(db);
    config.agent.knowledge_dir = Some(knowledge.to_path_buf());
    config
}

/// Documents keyed by source.
async fn by_source(admin: &Admin) -> BTreeMap<String, Value> {
    admin
        .documents()
        .await
        .into_iter()
        .map(|d| (d["source"].as_str().unwrap().to_string(), d))
        .collect()
}

fn ids(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["documentId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn folder_files_become_documents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    write(
        &knowledge,
        "faq.md",
        "Frequently asked questions about lanterns.",
    );
    write(
        &knowledge,
        "guides/returns.md",
        "Returning a lantern is free within 30 days.",
    );
    write(
        &knowledge,
        "guides/deep/care.txt",
        "Polish brass lanterns monthly.",
    );
    write(&knowledge, ".hidden.md", "hiddenword secret notes");
    write(&knowledge, ".git/config", "hiddenword git internals");
    write(&knowledge, "guides/.drafts/wip.md", "hiddenword draft");
    write(
        &knowledge,
        "binary.dat",
        [0xff, 0xfe, 0x00, 0x81, 0xc3, 0x28],
    );
    // Just over 8 MiB of text: skipped.
    let mut big = "oversizedword ".repeat(8 * 1024 * 1024 / 14 + 1);
    big.push_str("tail");
    assert!(big.len() > 8 * 1024 * 1024);
    write(&knowledge, "big.txt", &big);

    let server = start_with(dir_config(&tmp.path().join("kb.db"), &knowledge)).await;
    let admin = Admin::new(&server);
    let docs = by_source(&admin).await;
    assert_eq!(
        docs.keys().cloned().collect::<Vec<_>>(),
        vec!["faq.md", "guides/deep/care.txt", "guides/returns.md"],
        "{docs:?}"
    );
    assert_document(
        &docs["faq.md"],
        "faq.md",
        "Frequently asked questions about lanterns.",
        "dir",
    );
    assert_document(
        &docs["guides/returns.md"],
        "guides/returns.md",
        "Returning a lantern is free within 30 days.",
        "dir",
    );
    assert_document(
        &docs["guides/deep/care.txt"],
        "guides/deep/care.txt",
        "Polish brass lanterns monthly.",
        "dir",
    );
    for doc in docs.values() {
        assert!(doc.get("acl").is_none(), "{doc}");
        assert!(doc.get("url").is_none(), "{doc}");
    }

    // Their content is searchable; skipped files' content is not.
    assert_eq!(
        ids(&admin.search("returns", None).await),
        vec!["guides/returns.md"]
    );
    let lantern: Vec<String> = {
        let mut v = ids(&admin.search("lanterns", None).await);
        v.sort();
        v
    };
    assert_eq!(
        lantern,
        vec!["faq.md", "guides/deep/care.txt", "guides/returns.md"]
    );
    assert!(admin.search("hiddenword", None).await.is_empty());
    assert!(admin.search("oversizedword", None).await.is_empty());

    // Folder documents are readable by their relative path.
    let read = admin.get("/admin/documents/guides/deep/care.txt").await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["document"], docs["guides/deep/care.txt"]);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn folder_works_with_memory_storage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "only.md",
        "Memory storage still indexes quokkas.",
    );
    let mut config = admin_config();
    config.agent.knowledge_dir = Some(tmp.path().to_path_buf());
    let server = start_with(config).await;
    let admin = Admin::new(&server);
    assert_eq!(ids(&admin.search("quokka", None).await), vec!["only.md"]);
}

#[tokio::test]
async fn restart_with_the_same_files_changes_nothing() {
    // Every write after a restart gets a later timestamp than the one before it, so an
    // unexpected rewrite shows as a moved `updatedAt` without the test sleeping.
    let clock = SteppingClock::shared();
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    let db = tmp.path().join("kb.db");
    write(&knowledge, "a.md", "Alpha content about otters.");
    write(&knowledge, "sub/b.md", "Beta content about beavers.");
    let long: Vec<String> = (0..40)
        .map(|i| format!("Paragraph {i} about the long history of canals and locks."))
        .collect();
    write(&knowledge, "sub/long.md", long.join("\n\n"));

    let server = start_with_clock(dir_config(&db, &knowledge), clock.clone()).await;
    let before = by_source(&Admin::new(&server)).await;
    assert_eq!(before.len(), 3);
    server.shutdown().await.expect("clean shutdown");

    for _ in 0..2 {
        let server = start_with_clock(dir_config(&db, &knowledge), clock.clone()).await;
        let admin = Admin::new(&server);
        let after = by_source(&admin).await;
        assert_eq!(
            after, before,
            "a restart on the same files changed documents"
        );
        // No duplicated chunks either: each document is found once.
        let hits = admin.search("otters", Some("50")).await;
        assert_eq!(ids(&hits), vec!["a.md"], "{hits:?}");
        let hits = admin.search("canals", Some("50")).await;
        assert_eq!(
            hits.len() as u64,
            before["sub/long.md"]["chunks"].as_u64().unwrap(),
            "every chunk once: {hits:?}"
        );
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn next_start_syncs_removed_changed_and_new_files() {
    // Every write after a restart gets a later timestamp than the one before it, so an
    // unexpected rewrite shows as a moved `updatedAt` without the test sleeping.
    let clock = SteppingClock::shared();
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    let db = tmp.path().join("kb.db");
    write(&knowledge, "keep.md", "Keep this page about herons.");
    write(&knowledge, "change.md", "Original text about pelicans.");
    write(
        &knowledge,
        "gone/remove.md",
        "Soon removed text about flamingos.",
    );

    let server = start_with_clock(dir_config(&db, &knowledge), clock.clone()).await;
    let admin = Admin::new(&server);
    let first = by_source(&admin).await;
    assert_eq!(first.len(), 3);
    // An admin document (not from the folder) and one with a source that looks like a path.
    let manual = admin
        .ingest(
            &json!({"source": "manual.md", "content": "Admin text about storks."}),
            "created",
        )
        .await;
    let manual_path = admin
        .ingest(
            &json!({"source": "gone/admin-note.md", "content": "Admin note about cranes."}),
            "created",
        )
        .await;
    server.shutdown().await.expect("clean shutdown");

    std::fs::remove_file(knowledge.join("gone/remove.md")).unwrap();
    std::fs::remove_dir(knowledge.join("gone")).unwrap();
    write(&knowledge, "change.md", "Rewritten text about cormorants.");
    write(&knowledge, "new.md", "Brand new page about puffins.");

    let server = start_with_clock(dir_config(&db, &knowledge), clock.clone()).await;
    let admin = Admin::new(&server);
    let second = by_source(&admin).await;
    assert_eq!(
        second.keys().cloned().collect::<Vec<_>>(),
        vec![
            "change.md",
            "gone/admin-note.md",
            "keep.md",
            "manual.md",
            "new.md"
        ],
        "{second:?}"
    );
    assert_eq!(
        second["keep.md"], first["keep.md"],
        "unchanged file untouched"
    );
    assert_eq!(second["manual.md"], manual, "admin document kept as is");
    assert_eq!(
        second["gone/admin-note.md"], manual_path,
        "admin document kept"
    );
    let changed = &second["change.md"];
    assert_document(
        changed,
        "change.md",
        "Rewritten text about cormorants.",
        "dir",
    );
    assert_eq!(
        doc_time(changed, "createdAt"),
        doc_time(&first["change.md"], "createdAt")
    );
    assert!(
        doc_time(changed, "updatedAt") > doc_time(&first["change.md"], "updatedAt"),
        "updatedAt advances on change: {changed}"
    );
    assert_document(
        &second["new.md"],
        "new.md",
        "Brand new page about puffins.",
        "dir",
    );

    assert!(
        admin.search("flamingos", None).await.is_empty(),
        "removed file still searchable"
    );
    assert!(
        admin.search("pelicans", None).await.is_empty(),
        "old text still searchable"
    );
    assert_eq!(
        ids(&admin.search("cormorants", None).await),
        vec!["change.md"]
    );
    assert_eq!(ids(&admin.search("puffins", None).await), vec!["new.md"]);
    assert_eq!(ids(&admin.search("storks", None).await), vec!["manual.md"]);
    assert_http_error(
        &admin.get("/admin/documents/gone/remove.md").await,
        404,
        "NOT_FOUND",
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn empty_folder_removes_every_folder_document() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    let db = tmp.path().join("kb.db");
    write(&knowledge, "one.md", "One about walruses.");
    write(&knowledge, "two.md", "Two about walruses.");
    let server = start_with(dir_config(&db, &knowledge)).await;
    assert_eq!(Admin::new(&server).documents().await.len(), 2);
    server.shutdown().await.expect("clean shutdown");

    std::fs::remove_file(knowledge.join("one.md")).unwrap();
    std::fs::remove_file(knowledge.join("two.md")).unwrap();
    let server = start_with(dir_config(&db, &knowledge)).await;
    let admin = Admin::new(&server);
    assert!(admin.documents().await.is_empty());
    assert!(admin.search("walruses", None).await.is_empty());
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn missing_knowledge_dir_fails_start_naming_the_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("no-such-knowledge-folder");
    let mut config = admin_config();
    config.agent.knowledge_dir = Some(missing.clone());
    config.port = 0;
    match server::bind_and_start(config).await {
        Ok(handle) => panic!(
            "started with a missing knowledge dir on {}",
            handle.local_addr()
        ),
        Err(err) => {
            let message = format!("{err:#}");
            assert!(
                message.contains(&missing.display().to_string()),
                "error should name {}: {message}",
                missing.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Embeddings against the mock gateway
// ---------------------------------------------------------------------------------------------

/// The common mock gateway, its `/v1/embeddings` answering 500 when `fail` is set (each request
/// is still recorded).
async fn start_mock(fail: bool) -> MockGateway {
    let gateway = MockGateway::start(Vec::new()).await;
    if fail {
        gateway.fail_embeddings();
    }
    gateway
}

fn embedding_config(gateway: &str) -> Config {
    let mut config = admin_config();
    config.agent.gateway_url = Some(gateway.to_string());
    config.agent.embedding_model = Some("embed-test-1".to_string());
    config
}

#[tokio::test]
async fn ingest_embeds_chunks_once() {
    let gateway = start_mock(false).await;
    let server = start_with(embedding_config(&gateway.base_url())).await;
    let admin = Admin::new(&server);

    let paragraphs: Vec<String> = (0..30)
        .map(|i| format!("Section {i} explains how harbour pilots guide large ships safely."))
        .collect();
    let content = paragraphs.join("\n\n");
    let body = json!({"source": "harbour.md", "content": content});
    let doc = admin.ingest(&body, "created").await;
    let chunks = doc["chunks"].as_u64().unwrap() as usize;
    assert!(chunks >= 2, "{doc}");
    let after_create = {
        // The mock records only what arrives at `/v1/embeddings`.
        let requests = gateway.embedding_requests();
        assert!(!requests.is_empty(), "no /embeddings request was sent");
        for request in &requests {
            assert_eq!(request.body["model"], "embed-test-1", "{}", request.body);
        }
        let inputs = gateway.embedded_inputs();
        assert!(
            inputs.len() >= chunks,
            "{} inputs embedded for {chunks} chunks",
            inputs.len()
        );
        // Every paragraph was sent inside some embedded chunk.
        for paragraph in &paragraphs {
            assert!(
                inputs.iter().any(|i| i.contains(paragraph.as_str())),
                "paragraph not embedded: {paragraph}"
            );
        }
        requests.len()
    };

    // Unchanged re-post: nothing is re-embedded.
    admin.ingest(&body, "unchanged").await;
    assert_eq!(
        gateway.embedding_requests().len(),
        after_create,
        "an unchanged document was re-embedded"
    );

    // Changed content is embedded again.
    admin
        .ingest(
            &json!({"source": "harbour.md", "content": "Tugboats push ships into the harbour."}),
            "updated",
        )
        .await;
    assert!(
        gateway.embedding_requests().len() > after_create,
        "update was not embedded"
    );
    assert!(gateway
        .embedded_inputs()
        .iter()
        .any(|i| i.contains("Tugboats push ships")));

    // Lexical search still works with embeddings on.
    let hits = admin.search("tugboats", None).await;
    assert_eq!(
        ids(&hits).first().map(String::as_str),
        Some("harbour.md"),
        "{hits:?}"
    );
    assert!(hits[0]["chunk"].as_str().unwrap().contains("Tugboats"));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn failing_embeddings_endpoint_falls_back_to_lexical() {
    let gateway = start_mock(true).await;
    let server = start_with(embedding_config(&gateway.base_url())).await;
    let admin = Admin::new(&server);
    let answer = admin
        .post_document(&json!({"source": "owls.md", "content": "Barn owls hunt at night."}))
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body["outcome"], "created");
    assert!(
        !gateway.embedding_requests().is_empty(),
        "the embeddings endpoint was not tried"
    );
    let hits = admin.search("owl", None).await;
    assert_eq!(ids(&hits), vec!["owls.md"], "{hits:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn folder_ingest_embeds_and_restart_does_not_reembed() {
    let gateway = start_mock(false).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    let db = tmp.path().join("kb.db");
    write(&knowledge, "a.md", "Lighthouses warn sailors of rocks.");
    write(&knowledge, "b.md", "Buoys mark the channel.");
    let config = |gateway: &str| {
        let mut config = embedding_config(gateway);
        config.storage = smooth_operator::config::StorageKind::Sqlite;
        config.database_url = db.display().to_string();
        config.agent.knowledge_dir = Some(knowledge.clone());
        config
    };
    let server: ServerHandle = start_with(config(&gateway.base_url())).await;
    let first = gateway.embedding_requests().len();
    assert!(first >= 1, "folder documents were not embedded");
    let inputs = gateway.embedded_inputs();
    assert!(inputs.iter().any(|i| i.contains("Lighthouses")));
    assert!(inputs.iter().any(|i| i.contains("Buoys")));
    server.shutdown().await.expect("clean shutdown");

    let server = start_with(config(&gateway.base_url())).await;
    assert_eq!(
        gateway.embedding_requests().len(),
        first,
        "restart re-embedded unchanged files"
    );
    let admin = Admin::new(&server);
    assert_eq!(ids(&admin.search("lighthouse", None).await), vec!["a.md"]);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn identical_repost_after_failed_embedding_is_unchanged() {
    let gateway = start_mock(true).await;
    let server = start_with(embedding_config(&gateway.base_url())).await;
    let admin = Admin::new(&server);
    let body = json!({"source": "owls.md", "content": "Barn owls hunt at night."});
    let first = admin.ingest(&body, "created").await;
    // Same content, url and acl: the contract's "unchanged" (200, same updatedAt).
    let answer = admin.post_document(&body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body["outcome"], "unchanged",
        "identical re-post must be unchanged: {answer:?}"
    );
    assert_eq!(answer.body["document"]["updatedAt"], first["updatedAt"]);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn empty_and_unusual_files_do_not_stop_start_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    write(&knowledge, "empty.md", "");
    write(&knowledge, "blank.md", " \n\n \t\n");
    write(
        &knowledge,
        "guides/my notes é.md",
        "Unicode path about narwhals.",
    );
    write(&knowledge, "real.md", "Real page about orcas.");
    let server = start_with(dir_config(&tmp.path().join("kb.db"), &knowledge)).await;
    let admin = Admin::new(&server);
    let docs = by_source(&admin).await;
    assert!(docs.contains_key("real.md"), "{docs:?}");
    assert_document(
        &docs["guides/my notes é.md"],
        "guides/my notes é.md",
        "Unicode path about narwhals.",
        "dir",
    );
    let read = admin
        .get("/admin/documents/guides/my%20notes%20%C3%A9.md")
        .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        ids(&admin.search("narwhals", None).await),
        vec!["guides/my notes é.md"]
    );
    assert_eq!(ids(&admin.search("orca", None).await), vec!["real.md"]);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn restart_with_failing_embeddings_keeps_folder_documents_unchanged() {
    // Every write after a restart gets a later timestamp than the one before it, so an
    // unexpected rewrite shows as a moved `updatedAt` without the test sleeping.
    let clock = SteppingClock::shared();
    let gateway = start_mock(true).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let knowledge = tmp.path().join("kb");
    let db = tmp.path().join("kb.db");
    write(&knowledge, "a.md", "Lighthouses warn sailors of rocks.");
    let config = || {
        let mut config = embedding_config(&gateway.base_url());
        config.storage = smooth_operator::config::StorageKind::Sqlite;
        config.database_url = db.display().to_string();
        config.agent.knowledge_dir = Some(knowledge.clone());
        config
    };
    let server = start_with_clock(config(), clock.clone()).await;
    let before = by_source(&Admin::new(&server)).await;
    assert_eq!(before.len(), 1);
    server.shutdown().await.expect("clean shutdown");

    let server = start_with_clock(config(), clock.clone()).await;
    let admin = Admin::new(&server);
    let after = by_source(&admin).await;
    assert_eq!(
        after["a.md"]["updatedAt"], before["a.md"]["updatedAt"],
        "same file on restart must be unchanged"
    );
    assert_eq!(ids(&admin.search("lighthouse", None).await), vec!["a.md"]);
    server.shutdown().await.expect("clean shutdown");
}
