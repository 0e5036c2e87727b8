//! Start-up validation of the declared-tools file (`SMOOTH_AGENT_TOOLS_FILE`): a bad file stops
//! the server with an error naming the file and the offending entry; a valid one starts it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::server;

/// A valid declaration named `name`.
fn valid(name: &str) -> Value {
    json!({
        "name": name,
        "description": format!("Looks things up ({name})."),
        "parameters": {
            "type": "object",
            "properties": {"orderId": {"type": "string"}},
            "required": ["orderId"]
        },
        "http": {"url": "http://127.0.0.1:9/lookup"}
    })
}

/// `[valid(first_tool), valid(second_tool), bad]`: the bad entry is entry #2.
fn with_bad(bad: Value) -> String {
    json!([valid("first_tool"), valid("second_tool"), bad]).to_string()
}

/// `valid("lookup_order")` with `edit` applied.
fn lookup(edit: impl FnOnce(&mut Value)) -> Value {
    let mut entry = valid("lookup_order");
    edit(&mut entry);
    entry
}

fn write_tools(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write tools file");
    path
}

async fn start_error(tools_file: &Path) -> String {
    let mut config = Config::for_tests();
    config.agent.tools_file = Some(tools_file.to_path_buf());
    config.port = 0;
    match server::bind_and_start(config).await {
        Ok(handle) => panic!(
            "server started with tools file {} on {}",
            tools_file.display(),
            handle.local_addr()
        ),
        Err(err) => format!("{err:#}"),
    }
}

async fn assert_rejected(case: &str, text: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_tools(dir.path(), "tools.json", text);
    let message = start_error(&path).await;
    let file = path.display().to_string();
    assert!(
        message.contains(&file),
        "{case}: error should name the file {file}: {message}"
    );
    for needle in expected {
        assert!(
            message.contains(needle),
            "{case}: error should contain {needle:?}: {message}"
        );
    }
}

#[tokio::test]
async fn file_level_problems_name_the_file() {
    assert_rejected("not JSON", "[{\"name\": ", &[]).await;
    assert_rejected("empty file", "", &[]).await;
    assert_rejected("object not array", &valid("lookup_order").to_string(), &[]).await;
    assert_rejected("string not array", "\"tools\"", &[]).await;
    assert_rejected(
        "array of non-objects",
        &json!([valid("first_tool"), "lookup_order"]).to_string(),
        &["entry #1"],
    )
    .await;
}

#[tokio::test]
async fn entry_problems_name_the_entry() {
    let long_name = "n".repeat(65);
    let long_label = format!("entry #2 ({long_name})");
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "missing name",
            json!({"description": "d", "parameters": {"type": "object"},
                   "http": {"url": "http://127.0.0.1:9/x"}}),
            vec!["entry #2"],
        ),
        (
            "name not a string",
            lookup(|e| e["name"] = json!(42)),
            vec!["entry #2"],
        ),
        (
            "name with a space",
            lookup(|e| e["name"] = json!("lookup order")),
            vec!["entry #2 (lookup order)"],
        ),
        (
            "name with a dot",
            lookup(|e| e["name"] = json!("lookup.order")),
            vec!["entry #2 (lookup.order)"],
        ),
        (
            "empty name",
            lookup(|e| e["name"] = json!("")),
            vec!["entry #2"],
        ),
        (
            "name of 65 chars",
            lookup(|e| e["name"] = json!(long_name)),
            vec![long_label.as_str()],
        ),
        (
            "duplicate name",
            valid("first_tool"),
            vec!["entry #2 (first_tool)"],
        ),
        (
            "missing description",
            lookup(|e| {
                e.as_object_mut().unwrap().remove("description");
            }),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "empty description",
            lookup(|e| e["description"] = json!("  ")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "missing parameters",
            lookup(|e| {
                e.as_object_mut().unwrap().remove("parameters");
            }),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "parameters not an object schema",
            lookup(|e| e["parameters"] = json!({"type": "string"})),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "parameters without a type",
            lookup(|e| e["parameters"] = json!({"properties": {}})),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "parameters is a string",
            lookup(|e| e["parameters"] = json!("object")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "invalid schema",
            lookup(|e| e["parameters"] = json!({"type": 12})),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "invalid nested schema",
            lookup(|e| {
                e["parameters"] =
                    json!({"type": "object", "properties": {"orderId": {"type": "strung"}}})
            }),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "missing http",
            lookup(|e| {
                e.as_object_mut().unwrap().remove("http");
            }),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "missing url",
            lookup(|e| e["http"] = json!({"method": "GET"})),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "ftp url",
            lookup(|e| e["http"]["url"] = json!("ftp://example.com/orders")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "not a url",
            lookup(|e| e["http"]["url"] = json!("orders lookup")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "relative url",
            lookup(|e| e["http"]["url"] = json!("/orders")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "unknown method",
            lookup(|e| e["http"]["method"] = json!("FETCH")),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "timeoutMs 0",
            lookup(|e| e["http"]["timeoutMs"] = json!(0)),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "timeoutMs over 300000",
            lookup(|e| e["http"]["timeoutMs"] = json!(300_001)),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "timeoutMs negative",
            lookup(|e| e["http"]["timeoutMs"] = json!(-5)),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "header value not a string",
            lookup(|e| e["http"]["headers"] = json!({"X-Retries": 3})),
            vec!["entry #2 (lookup_order)"],
        ),
        (
            "unknown top-level field",
            lookup(|e| e["dangerous"] = json!(true)),
            vec!["entry #2 (lookup_order)", "dangerous"],
        ),
        (
            "unknown http field",
            lookup(|e| e["http"]["retries"] = json!(3)),
            vec!["entry #2 (lookup_order)", "retries"],
        ),
    ];
    for (case, bad, expected) in cases {
        assert_rejected(case, &with_bad(bad), &expected).await;
    }
}

#[tokio::test]
async fn duplicate_names_are_named() {
    let text = json!([valid("lookup_order"), valid("other"), valid("lookup_order")]).to_string();
    assert_rejected("duplicate", &text, &["entry #2 (lookup_order)"]).await;
}

#[tokio::test]
async fn missing_tools_file_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-tools.json");
    let message = start_error(&missing).await;
    assert!(
        message.contains(&missing.display().to_string()),
        "error should name {}: {message}",
        missing.display()
    );
}

#[tokio::test]
async fn valid_tools_files_start_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = json!([
        valid("lookup_order"),
        {
            "name": "Create-Ticket_2",
            "description": "Opens a support ticket.",
            "parameters": {
                "type": "object",
                "properties": {
                    "subject": {"type": "string", "maxLength": 200},
                    "priority": {"type": "string", "enum": ["low", "high"]}
                },
                "required": ["subject"],
                "additionalProperties": false
            },
            "http": {
                "url": "https://tickets.example.com/api/tickets",
                "method": "POST",
                "headers": {"Authorization": "Bearer abc", "X-Source": "agent"},
                "timeoutMs": 300000
            }
        },
        {
            "name": "n".repeat(64),
            "description": "Longest allowed name.",
            "parameters": {"type": "object"},
            "http": {"url": "http://127.0.0.1:9/x", "method": "DELETE", "timeoutMs": 1}
        },
        {
            "name": "patcher",
            "description": "Uses PATCH.",
            "parameters": {"type": "object", "properties": {}},
            "http": {"url": "http://127.0.0.1:9/p", "method": "PATCH"}
        },
        {
            "name": "putter",
            "description": "Uses PUT.",
            "parameters": {"type": "object"},
            "http": {"url": "http://127.0.0.1:9/p", "method": "PUT", "headers": {}}
        },
        {
            "name": "getter",
            "description": "Uses GET.",
            "parameters": {"type": "object"},
            "http": {"url": "http://127.0.0.1:9/g?fixed=1", "method": "GET"}
        }
    ]);
    for (name, text) in [
        ("full.json", full.to_string()),
        ("empty.json", "[]".to_string()),
    ] {
        let path = write_tools(dir.path(), name, &text);
        let mut config = Config::for_tests();
        config.agent.tools_file = Some(path.clone());
        let server = start_with(config).await;
        let health = Admin::with_token(&server, None).get("/healthz").await;
        assert_eq!(health.status, 200, "{name}: {health:?}");
        let mut client = Client::connect(&server).await;
        client.assert_alive().await;
        drop(client);
        server.shutdown().await.expect("clean shutdown");
    }
}

#[tokio::test]
async fn binary_exits_nonzero_naming_the_bad_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_tools(
        dir.path(),
        "tools.json",
        &with_bad(lookup(|e| e["http"]["timeoutMs"] = json!(0))),
    );
    let file = path.display().to_string();
    let started = std::time::Instant::now();
    let (ok, code, stdout, stderr) = run_binary(
        &[],
        &[
            ("SMOOTH_AGENT_TOOLS_FILE", file.as_str()),
            ("SMOOTH_AGENT_PORT", "0"),
            ("SMOOTH_AGENT_BIND", "127.0.0.1"),
            ("SMOOTH_AGENT_STORAGE", "memory"),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert!(
        !ok,
        "binary must fail ({code:?}); stdout: {stdout} stderr: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "exit was not quick"
    );
    assert!(
        stderr.contains("entry #2 (lookup_order)"),
        "stderr should name the entry: {stderr}"
    );
    assert!(
        stderr.contains(&file),
        "stderr should name the file: {stderr}"
    );
    assert!(
        !stdout.contains("listening"),
        "it must not have started listening: {stdout}"
    );

    // A missing file also fails the binary, naming the path.
    let missing = dir.path().join("absent.json").display().to_string();
    let (ok, _, _, stderr) = run_binary(
        &["serve"],
        &[
            ("SMOOTH_AGENT_TOOLS_FILE", missing.as_str()),
            ("SMOOTH_AGENT_PORT", "0"),
            ("SMOOTH_AGENT_BIND", "127.0.0.1"),
            ("SMOOTH_AGENT_STORAGE", "memory"),
        ],
        Duration::from_secs(30),
    )
    .await;
    assert!(!ok);
    assert!(
        stderr.contains(&missing),
        "stderr should name {missing}: {stderr}"
    );
}
