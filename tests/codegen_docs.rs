//! The protocol documentation generator (`codegen::docs`, compiled in from `src/codegen` through
//! `codegen_support`): golden files for a small fixture spec, the real spec's coverage (every
//! action, event, error code and example is documented; every `$ref` of the AsyncAPI document
//! resolves), the lints on its annotations, and the `PROTOCOL_VERSION` constant.
//!
//! Regenerate the goldens with `UPDATE_GOLDEN=1 cargo test --test codegen_docs`, then review the
//! diff. The checked-in `generated/` documents are written by `cargo build` (CI fails when they
//! are stale) and served by the server (`tests/web_routes.rs`).

mod codegen_support;

use std::fs;
use std::path::{Path, PathBuf};

use codegen_support::codegen::docs::{self, Docs};
use codegen_support::{action, Spec};
use serde_json::{json, Value};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    manifest_dir().join("tests/fixtures/codegen/docs")
}

fn docs_of(spec: &Path) -> Docs {
    docs::generate(spec)
        .unwrap_or_else(|e| panic!("docs::generate({}) failed: {e}", spec.display()))
}

/// Compares `actual` with the golden file, or rewrites it when `UPDATE_GOLDEN=1`.
fn assert_golden(actual: &str, golden: &Path) {
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        fs::write(golden, actual).unwrap_or_else(|e| panic!("write {}: {e}", golden.display()));
        return;
    }
    let expected = fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "read {}: {e}\nrun with UPDATE_GOLDEN=1 to create it",
            golden.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .map_or_else(
                || "(lengths differ)".to_string(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "docs output differs from {} at {line}; run with UPDATE_GOLDEN=1 and review the diff",
            golden.display()
        );
    }
}

#[test]
fn fixture_documents_match_their_goldens() {
    let docs = docs_of(&fixture().join("spec"));
    assert_golden(&docs.asyncapi, &fixture().join("expected.asyncapi.json"));
    assert_golden(&docs.markdown, &fixture().join("expected.md"));
    assert_golden(&docs.html, &fixture().join("expected.html"));
}

#[test]
fn fixture_reference_has_fields_codes_and_examples() {
    let md = docs_of(&fixture().join("spec")).markdown;
    // Discriminator first, then required fields, then optional ones.
    let echo = section(&md, "### `echo`");
    let order: Vec<usize> = [
        "| `action` |",
        "| `text` |",
        "| `mood` |",
        "| `requestId` |",
    ]
    .iter()
    .map(|row| {
        echo.find(row)
            .unwrap_or_else(|| panic!("echo lacks {row}:\n{echo}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "field order: {echo}");
    assert!(echo.contains("| `action` | `\"echo\"` | yes |"), "{echo}");
    assert!(
        echo.contains("| `text` | string | yes | What to echo. (min length 1, max length 64) |"),
        "{echo}"
    );
    assert!(
        echo.contains("| `mood` | [`NoteMood`](#notemood) | no |"),
        "{echo}"
    );
    assert!(echo.contains("**Response**: The echoed text"), "{echo}");
    assert!(
        echo.contains("| `note` | [`Note`](#note) | yes |"),
        "{echo}"
    );
    assert!(
        echo.contains(
            "**Error codes:** [`VALIDATION_ERROR`](#error-codes), [`TOO_LOUD`](#error-codes)."
        ),
        "{echo}"
    );
    assert!(
        echo.contains("\"text\": \"hi\""),
        "the example frame: {echo}"
    );
    // Nested inline objects are expanded with dotted paths.
    let pong = section(&md, "### `pong`");
    assert!(
        pong.contains("| `data.timestamp` | integer | yes | Server clock. (minimum 0) |"),
        "{pong}"
    );
    // The error code table, meanings split at each code and pipes escaped.
    let codes = section(&md, "## Error codes");
    assert!(
        codes.contains(
            "| `TOO_LOUD` | the echo was refused: the text \\| was too loud. | [`echo`](#echo) |"
        ),
        "{codes}"
    );
    assert!(
        codes.contains("| `VALIDATION_ERROR` | the frame broke the schema. | [`echo`](#echo) |")
    );
    let error = section(&md, "### `error`");
    assert!(
        error.contains("| `error.code` | string: an [error code](#error-codes) | yes |"),
        "{error}"
    );
    // Shared types, enums included.
    let shared = section(&md, "## Shared types");
    assert!(
        shared.contains("### `NoteMood`")
            && shared.contains("Type: one of `\"calm\"`, `\"excited\"`.")
    );
    assert!(
        shared.contains("| `id` | string (uuid) | yes | The note id. |"),
        "{shared}"
    );
    assert!(md.contains("Protocol version **0.3.0**"));
}

#[test]
fn fixture_asyncapi_lists_every_frame_with_examples() {
    let doc: Value = serde_json::from_str(&docs_of(&fixture().join("spec")).asyncapi).unwrap();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["version"], "0.3.0");
    assert_eq!(doc["channels"]["chat"]["address"], "/ws");
    let operations = doc["operations"].as_object().unwrap();
    let mut names: Vec<&str> = operations.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "receiveEcho",
            "receivePing",
            "sendEchoed",
            "sendError",
            "sendPong"
        ]
    );
    assert_eq!(operations["receiveEcho"]["action"], "receive");
    assert_eq!(operations["sendPong"]["action"], "send");
    let pong = &doc["components"]["messages"]["PongEvent"];
    assert_eq!(pong["name"], "pong");
    assert_eq!(
        pong["payload"],
        json!({"$ref": "#/components/schemas/PongEvent"})
    );
    assert_eq!(
        pong["examples"].as_array().unwrap().len(),
        2,
        "both pong frames"
    );
    let echo = &doc["components"]["messages"]["EchoRequest"];
    assert_eq!(
        echo["x-error-codes"],
        json!(["VALIDATION_ERROR", "TOO_LOUD"])
    );
    // Frames keep their discriminator; refs point into components.
    let request = &doc["components"]["schemas"]["EchoRequest"];
    assert_eq!(request["properties"]["action"], json!({"const": "echo"}));
    assert_eq!(
        request["properties"]["mood"],
        json!({"$ref": "#/components/schemas/NoteMood"})
    );
    assert_refs_resolve(&doc);
}

/// Every `$ref` in the document names an existing component, channel message or server.
fn assert_refs_resolve(doc: &Value) {
    fn walk(doc: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let pointer = target
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{at}: external reference {target}"));
                    assert!(
                        doc.pointer(pointer).is_some(),
                        "{at}: {target} does not resolve"
                    );
                }
                for (k, v) in map {
                    walk(doc, v, &format!("{at}/{k}"));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(doc, v, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(doc, doc, "");
}

/// The text from `heading` to the next heading of the same or a higher level.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading}"))
        + 1;
    let level = heading.split(' ').next().unwrap();
    let rest = &md[start + heading.len()..];
    let end = rest
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .find(|&i| {
            let line = &rest[i..];
            line.starts_with('#')
                && line
                    .split(' ')
                    .next()
                    .is_some_and(|h| h.len() <= level.len() && h.chars().all(|c| c == '#'))
        })
        .map_or(md.len(), |i| start + heading.len() + i);
    &md[start..end]
}

#[test]
fn the_real_spec_is_fully_documented() {
    let spec = manifest_dir().join("spec");
    let docs = docs_of(&spec);
    let doc: Value = serde_json::from_str(&docs.asyncapi).unwrap();
    assert_refs_resolve(&doc);
    let messages = doc["components"]["messages"].as_object().unwrap();
    let mut kinds = std::collections::BTreeMap::new();
    for (folder, kind) in [("actions", "action"), ("events", "event")] {
        for entry in fs::read_dir(spec.join(folder)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let wire = name.trim_end_matches(".schema.json").replace('-', "_");
            let heading = format!("\n### `{wire}`\n");
            assert!(docs.markdown.contains(&heading), "protocol.md lacks {wire}");
            assert!(
                docs.html.contains(&format!("id=\"{wire}\"")),
                "protocol.html lacks #{wire}"
            );
            let message = messages
                .values()
                .find(|m| m["name"] == wire.as_str())
                .unwrap_or_else(|| panic!("asyncapi.json lacks the {wire} message"));
            assert!(
                !message["examples"].as_array().unwrap().is_empty(),
                "{wire} has no example"
            );
            kinds.insert(wire, kind);
        }
    }
    // Every example is a conformance frame, as written.
    for entry in fs::read_dir(spec.join("conformance/frames/valid")).unwrap() {
        let path = entry.unwrap().path();
        let fixture: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        let wire = fixture["name"].as_str().unwrap();
        let message = messages.values().find(|m| m["name"] == wire).unwrap();
        let found = message["examples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["payload"] == fixture["frame"]);
        assert!(found, "{} is not among the {wire} examples", path.display());
    }
    // Every error code has a meaning, and every action lists the codes it can send.
    let codes = section(&docs.markdown, "## Error codes");
    for code in [
        "VALIDATION_ERROR",
        "SESSION_NOT_FOUND",
        "NO_PENDING_CONFIRMATION",
        "NOT_FOUND",
    ] {
        let row = codes
            .lines()
            .find(|l| l.starts_with(&format!("| `{code}` |")))
            .unwrap_or_else(|| panic!("no row for {code}"));
        assert!(!row.contains("| |"), "{code} has no meaning: {row}");
    }
    let send = section(&docs.markdown, "### `send_message`");
    for code in ["LLM_UNAVAILABLE", "TURN_IN_PROGRESS", "AGENT_ERROR"] {
        assert!(
            send.contains(&format!("[`{code}`]")),
            "send_message lacks {code}"
        );
    }
    let chunk = section(&docs.markdown, "### `stream_chunk`");
    assert!(
        chunk.contains("| `data.state.rawResponse.toolCall.arguments` | string | yes |"),
        "{chunk}"
    );
    let eventual = section(&docs.markdown, "### `eventual_response`");
    assert!(
        eventual.contains("| `data.data.citations` | array of [`Citation`](#citation) | no |"),
        "{eventual}"
    );
    assert!(docs.markdown.contains("\n### `Citation`\n"));
}

/// A spec with the docs' minimum: a version and an example for its one action.
fn documented_spec() -> Spec {
    let spec = Spec::new();
    spec.put(
        "envelope.schema.json",
        &json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": format!("{}envelope.schema.json", codegen_support::BASE),
            "title": "envelope",
            "x-protocol-version": "2.0.1"
        }),
    );
    spec.put(
        "conformance/frames/valid/action-ping.json",
        &json!({"kind": "action", "name": "ping", "frame": {"action": "ping"}}),
    );
    spec
}

#[test]
fn a_frame_without_an_example_is_refused() {
    let spec = documented_spec();
    spec.put("actions/hello.schema.json", &action("hello", json!({})));
    let error = docs::generate(spec.path()).unwrap_err().to_string();
    assert!(error.contains("spec/actions/hello.schema.json"), "{error}");
    assert!(error.contains("no example frame"), "{error}");
    assert!(
        error.contains("conformance/frames/valid/action-hello.json"),
        "{error}"
    );
}

#[test]
fn the_docs_need_a_protocol_version() {
    let spec = Spec::new();
    spec.put(
        "conformance/frames/valid/action-ping.json",
        &json!({"kind": "action", "name": "ping", "frame": {"action": "ping"}}),
    );
    let error = docs::generate(spec.path()).unwrap_err().to_string();
    assert!(error.contains("x-protocol-version"), "{error}");
    assert!(docs::generate(documented_spec().path()).is_ok());
}

#[test]
fn unknown_error_codes_are_refused_by_the_build() {
    let spec = Spec::new();
    let mut ping = action("ping", json!({}));
    ping["x-error-codes"] = json!(["NO_SUCH_CODE"]);
    spec.put("actions/ping.schema.json", &ping);
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "x-error-codes",
            "NO_SUCH_CODE",
            "spec/events/error.schema.json",
        ],
    );
    let mut ping = action("ping", json!({}));
    ping["x-error-codes"] = json!("VALIDATION_ERROR");
    spec.put("actions/ping.schema.json", &ping);
    spec.rejects("actions/ping.schema.json", &["must be an array"]);
}

#[test]
fn the_version_must_be_a_string_on_the_envelope() {
    let spec = Spec::new();
    let mut ping = action("ping", json!({}));
    ping["x-protocol-version"] = json!("1.0.0");
    spec.put("actions/ping.schema.json", &ping);
    spec.rejects(
        "actions/ping.schema.json",
        &["x-protocol-version", "envelope"],
    );
}

#[test]
fn the_protocol_version_becomes_a_constant() {
    let code = documented_spec().generate().expect("generates");
    assert!(
        code.contains("pub const PROTOCOL_VERSION: &str = \"2.0.1\";"),
        "no PROTOCOL_VERSION constant"
    );
    let code = Spec::new().generate().expect("generates");
    assert!(
        !code.contains("PROTOCOL_VERSION"),
        "no version, no constant"
    );
}
