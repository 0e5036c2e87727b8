//! The `ingest` subcommand of the binary: outcomes per document, idempotence, refusal of memory
//! storage and bad input, and visibility of ingested documents to a server on the same file.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(60);

fn write(root: &Path, relative: &str, content: impl AsRef<[u8]>) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    std::fs::write(path, content).expect("write file");
}

/// Runs `ingest <args>` on the SQLite file `db`.
async fn ingest(db: &Path, args: &[&str]) -> (bool, Option<i32>, String, String) {
    let db = db.display().to_string();
    let mut full = vec!["ingest"];
    full.extend_from_slice(args);
    run_binary(
        &full,
        &[
            ("SMOOTH_AGENT_STORAGE", "sqlite"),
            ("SMOOTH_AGENT_DATABASE_URL", db.as_str()),
        ],
        LIMIT,
    )
    .await
}

/// Runs a successful ingest and returns its `(outcome, source)` lines, sorted.
async fn ingest_ok(db: &Path, args: &[&str]) -> Vec<(String, String)> {
    let (ok, code, stdout, stderr) = ingest(db, args).await;
    assert!(
        ok,
        "ingest {args:?} failed ({code:?}); stdout: {stdout} stderr: {stderr}"
    );
    let mut lines: Vec<(String, String)> = stdout
        .lines()
        .filter_map(|line| {
            ["created ", "updated ", "unchanged "]
                .iter()
                .find_map(|word| line.strip_prefix(word).map(|rest| (word.trim(), rest)))
                .map(|(word, rest)| (word.to_string(), rest.to_string()))
        })
        .collect();
    lines.sort();
    lines
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

async fn server_on(db: &Path) -> (smooth_operator::server::ServerHandle, Admin) {
    let server = start_with(admin_file_config(db)).await;
    let admin = Admin::new(&server);
    (server, admin)
}

#[tokio::test]
async fn folder_ingest_reports_outcomes_and_is_idempotent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let folder = tmp.path().join("docs");
    let db = tmp.path().join("cli.db");
    write(&folder, "a.md", "Alpha page about gondolas.");
    write(&folder, "sub/b.md", "Beta page about funiculars.");
    write(&folder, "sub/deeper/c.txt", "Gamma page about cable cars.");
    write(&folder, ".hidden.md", "hidden page");
    write(&folder, ".cache/x.md", "cached page");

    let first = ingest_ok(&db, &[folder.to_str().unwrap()]).await;
    assert_eq!(
        first,
        pairs(&[
            ("created", "a.md"),
            ("created", "sub/b.md"),
            ("created", "sub/deeper/c.txt")
        ])
    );

    let second = ingest_ok(&db, &[folder.to_str().unwrap()]).await;
    assert_eq!(
        second,
        pairs(&[
            ("unchanged", "a.md"),
            ("unchanged", "sub/b.md"),
            ("unchanged", "sub/deeper/c.txt")
        ])
    );

    write(&folder, "a.md", "Alpha page rewritten about trams.");
    let third = ingest_ok(&db, &[folder.to_str().unwrap()]).await;
    assert_eq!(
        third,
        pairs(&[
            ("updated", "a.md"),
            ("unchanged", "sub/b.md"),
            ("unchanged", "sub/deeper/c.txt")
        ])
    );

    let (server, admin) = server_on(&db).await;
    let documents = admin.documents().await;
    let sources: Vec<&str> = documents
        .iter()
        .map(|d| d["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, vec!["a.md", "sub/b.md", "sub/deeper/c.txt"]);
    assert_document(
        &documents[0],
        "a.md",
        "Alpha page rewritten about trams.",
        "cli",
    );
    assert_document(
        &documents[1],
        "sub/b.md",
        "Beta page about funiculars.",
        "cli",
    );
    for doc in &documents {
        assert!(doc.get("acl").is_none(), "{doc}");
    }
    let hits = admin.search("funicular", None).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["documentId"], "sub/b.md");
    assert!(admin.search("gondolas", None).await.is_empty(), "old text");
    assert_eq!(admin.search("trams", None).await[0]["documentId"], "a.md");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn single_file_gets_its_file_name_and_several_paths_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("cli.db");
    write(tmp.path(), "deep/nested/notes.txt", "Notes on lighthouses.");
    write(tmp.path(), "other/faq.md", "FAQ about ferries.");
    let notes = tmp.path().join("deep/nested/notes.txt");
    let folder = tmp.path().join("other");

    let lines = ingest_ok(&db, &[notes.to_str().unwrap(), folder.to_str().unwrap()]).await;
    assert_eq!(
        lines,
        pairs(&[("created", "notes.txt"), ("created", "faq.md")])
    );
    let lines = ingest_ok(&db, &[notes.to_str().unwrap()]).await;
    assert_eq!(lines, pairs(&[("unchanged", "notes.txt")]));

    let (server, admin) = server_on(&db).await;
    let read = admin.get("/admin/documents/notes.txt").await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_document(
        &read.body["document"],
        "notes.txt",
        "Notes on lighthouses.",
        "cli",
    );
    assert_eq!(admin.search("ferry", None).await[0]["documentId"], "faq.md");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn acl_applies_to_every_ingested_document() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let folder = tmp.path().join("staff");
    let db = tmp.path().join("cli.db");
    write(&folder, "payroll.md", "Payroll runs monthly.");
    write(
        &folder,
        "hr/leave.md",
        "Leave requests go to HR; payroll adjusts.",
    );
    let acl = r#"{"public":false,"groups":["staff"]}"#;
    let lines = ingest_ok(&db, &[folder.to_str().unwrap(), "--acl", acl]).await;
    assert_eq!(
        lines,
        pairs(&[("created", "payroll.md"), ("created", "hr/leave.md")])
    );
    // Same files, same acl: unchanged. Different acl: updated.
    let lines = ingest_ok(&db, &["--acl", acl, folder.to_str().unwrap()]).await;
    assert_eq!(
        lines,
        pairs(&[("unchanged", "payroll.md"), ("unchanged", "hr/leave.md")])
    );

    let (server, admin) = server_on(&db).await;
    let documents = admin.documents().await;
    assert_eq!(documents.len(), 2);
    for doc in &documents {
        assert_eq!(doc["origin"], "cli", "{doc}");
        assert_acl(doc, &json!({"public": false, "groups": ["staff"]}));
    }
    // The admin sees ACL-restricted documents in search.
    let ids: BTreeSet<String> = admin
        .search("payroll", None)
        .await
        .iter()
        .map(|h| h["documentId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["payroll.md".to_string(), "hr/leave.md".to_string()])
    );
    server.shutdown().await.expect("clean shutdown");

    let lines = ingest_ok(
        &db,
        &[folder.to_str().unwrap(), "--acl", r#"{"public":true}"#],
    )
    .await;
    assert_eq!(
        lines,
        pairs(&[("updated", "payroll.md"), ("updated", "hr/leave.md")])
    );
}

#[tokio::test]
async fn memory_storage_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "a.md", "text");
    let path = tmp.path().join("a.md");
    let (ok, code, stdout, stderr) = run_binary(
        &["ingest", path.to_str().unwrap()],
        &[("SMOOTH_AGENT_STORAGE", "memory")],
        LIMIT,
    )
    .await;
    assert!(
        !ok,
        "memory ingest must fail; stdout: {stdout} stderr: {stderr}"
    );
    assert_ne!(code, Some(0));
    let all = format!("{stdout}\n{stderr}").to_lowercase();
    assert!(
        all.contains("durable") && all.contains("memory"),
        "message should say ingest needs durable storage: {all}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("created ")),
        "nothing may be reported as created: {stdout}"
    );
}

#[tokio::test]
async fn nonexistent_path_fails_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("cli.db");
    write(tmp.path(), "real.md", "Real page about kayaks.");
    let real = tmp.path().join("real.md");
    let missing = tmp.path().join("no-such-dir/ghost.md");
    let (ok, code, stdout, stderr) =
        ingest(&db, &[real.to_str().unwrap(), missing.to_str().unwrap()]).await;
    assert!(!ok, "missing path must fail ({code:?}); stdout: {stdout}");
    assert!(
        format!("{stdout}{stderr}").contains(&missing.display().to_string()),
        "error should name {}: stdout {stdout} stderr {stderr}",
        missing.display()
    );
}

#[tokio::test]
async fn invalid_acl_fails_and_ingests_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("cli.db");
    let folder = tmp.path().join("docs");
    write(&folder, "a.md", "Page about canoes.");
    for acl in [
        "{not json",
        r#"{"public":"yes"}"#,
        r#"{"groups":"staff"}"#,
        r#"{"public":true,"roles":["x"]}"#,
        r#"["staff"]"#,
    ] {
        let (ok, code, stdout, stderr) =
            ingest(&db, &[folder.to_str().unwrap(), "--acl", acl]).await;
        assert!(
            !ok,
            "acl {acl:?} must be rejected ({code:?}); stdout: {stdout} stderr: {stderr}"
        );
        assert!(
            format!("{stdout}{stderr}").to_lowercase().contains("acl"),
            "error should mention the acl: {stderr}"
        );
    }
    // None of the failed runs stored anything.
    let (server, admin) = server_on(&db).await;
    assert!(admin.documents().await.is_empty());
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn cli_documents_survive_a_server_knowledge_folder_sync() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = tmp.path().join("cli.db");
    let cli_folder = tmp.path().join("cli-docs");
    let knowledge = tmp.path().join("kb");
    write(&cli_folder, "shared-name.md", "CLI page about sherpas.");
    write(&knowledge, "folder-page.md", "Folder page about yaks.");
    ingest_ok(&db, &[cli_folder.to_str().unwrap()]).await;

    let mut config = admin_file_config(&db);
    config.agent.knowledge_dir = Some(knowledge.clone());
    let server = start_with(config.clone()).await;
    let admin = Admin::new(&server);
    let documents = admin.documents().await;
    let origins: Vec<(String, String)> = documents
        .iter()
        .map(|d| {
            (
                d["source"].as_str().unwrap().to_string(),
                d["origin"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        origins,
        pairs(&[("folder-page.md", "dir"), ("shared-name.md", "cli")])
    );
    server.shutdown().await.expect("clean shutdown");

    // Emptying the knowledge folder removes only the folder's document.
    std::fs::remove_file(knowledge.join("folder-page.md")).unwrap();
    let server = start_with(config).await;
    let admin = Admin::new(&server);
    let documents = admin.documents().await;
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["source"], "shared-name.md");
    assert_eq!(documents[0]["origin"], "cli");
    assert_eq!(
        admin.search("sherpas", None).await[0]["documentId"],
        "shared-name.md"
    );
    assert!(admin.search("yaks", None).await.is_empty());
    server.shutdown().await.expect("clean shutdown");
}
