//! Protocol documentation generated from the spec, so it can never drift from the schemas: an
//! AsyncAPI 3.0 document of the WebSocket channel ([`asyncapi`]), a Markdown reference
//! ([`markdown`]) and that reference rendered as a standalone HTML page ([`html`]).
//!
//! Everything comes from the loaded spec files: descriptions, fields and types from the schemas,
//! the protocol version from the envelope's `x-protocol-version`, each action's error codes from
//! its `x-error-codes`, and the examples from `spec/conformance/frames/valid` (every action and
//! event must have at least one, and those frames are proven valid by the conformance tests).

mod asyncapi;
mod html;
mod markdown;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::Value;

use super::bundle::{self, Bundle};
use super::load::{self, SpecFile, SpecKind};
use super::{lint, CodegenError};

/// The generated documents, each as the text to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docs {
    /// `generated/asyncapi.json`: the AsyncAPI 3.0 document (pretty JSON, trailing newline).
    pub asyncapi: String,
    /// `generated/protocol.md`: the Markdown protocol reference.
    pub markdown: String,
    /// `generated/protocol.html`: the reference as a standalone HTML page (served at `/docs`).
    pub html: String,
}

/// Generates every document for the spec rooted at `spec_dir`.
pub fn generate(spec_dir: &Path) -> Result<Docs, CodegenError> {
    let files = load::load_spec(spec_dir)?;
    lint::lint(&files)?;
    let bundle = bundle::bundle_with_tags(&files)?;
    let examples = load_examples(spec_dir)?;
    let protocol = Protocol::new(&files, bundle, &examples)?;
    let markdown = markdown::render(&protocol);
    let html = html::render(&markdown);
    Ok(Docs {
        asyncapi: asyncapi::render(&protocol),
        markdown,
        html,
    })
}

/// One action or event as the documents describe it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Wire name (`send_message`, `stream_token`).
    pub wire: String,
    /// The spec file, relative to `spec/`.
    pub file: String,
    /// What the action or event is for (the file's `description`).
    pub description: String,
    /// Bundled schema name of the frame (`SendMessageRequest`, `PongEvent`).
    pub schema: String,
    /// Bundled schema name of the action's `$defs.Response`, when it has one.
    pub response: Option<String>,
    /// Error codes the action can answer with (`x-error-codes`); empty for events.
    pub error_codes: Vec<String>,
    /// Example frames: `(fixture file name, frame)`.
    pub examples: Vec<(String, Value)>,
}

/// The spec digested for the documents.
#[derive(Debug, Clone)]
pub struct Protocol {
    /// `x-protocol-version` of the envelope.
    pub version: String,
    /// The envelope's description.
    pub description: String,
    /// Every action, in file order.
    pub actions: Vec<Frame>,
    /// Every event, in file order.
    pub events: Vec<Frame>,
    /// Every named schema (discriminators kept; `$ref`s point at `#/$defs/<name>`).
    pub schemas: BTreeMap<String, Value>,
    /// Names of the shared (domain) types, documented in a section of their own.
    pub shared: BTreeSet<String>,
    /// The schema name of the error `Code` enum.
    pub error_code_schema: String,
    /// Every error code with its meaning, in enum order.
    pub codes: Vec<(String, String)>,
}

/// Example frames by `(kind, wire name)`: `(fixture file name, frame)`.
type Examples = BTreeMap<(String, String), Vec<(String, Value)>>;

/// Reads `spec/conformance/frames/valid/*.json` (`{kind, name, frame}` each), sorted by file name.
fn load_examples(spec_dir: &Path) -> Result<Examples, CodegenError> {
    let dir = spec_dir.join("conformance/frames/valid");
    let mut names: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut examples = Examples::new();
    for name in names {
        let rel = format!("conformance/frames/valid/{name}");
        let text = fs::read_to_string(dir.join(&name))
            .map_err(|e| CodegenError(format!("spec/{rel}: cannot read: {e}")))?;
        let fixture: Value = serde_json::from_str(&text)
            .map_err(|e| CodegenError(format!("spec/{rel}: invalid JSON: {e}")))?;
        let field = |key: &str| {
            fixture
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| CodegenError(format!("spec/{rel}: `{key}` must be a string")))
        };
        let key = (field("kind")?.to_string(), field("name")?.to_string());
        let frame = fixture
            .get("frame")
            .cloned()
            .ok_or_else(|| CodegenError(format!("spec/{rel}: `frame` is missing")))?;
        examples.entry(key).or_default().push((name, frame));
    }
    Ok(examples)
}

impl Protocol {
    fn new(files: &[SpecFile], bundle: Bundle, examples: &Examples) -> Result<Self, CodegenError> {
        let envelope = files.iter().find(|f| f.kind == SpecKind::Envelope);
        let version = envelope
            .and_then(|f| f.json.get("x-protocol-version"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CodegenError(
                    "spec/envelope.schema.json: keyword `x-protocol-version` (a string) is \
                     needed for the protocol documentation"
                        .to_string(),
                )
            })?
            .to_string();
        let description = envelope.map(describe).unwrap_or_default();
        let mut actions = Vec::new();
        let mut events = Vec::new();
        let mut shared = BTreeSet::new();
        for file in files {
            match file.kind {
                SpecKind::Action | SpecKind::Event => {
                    let kind = if file.kind == SpecKind::Action {
                        "action"
                    } else {
                        "event"
                    };
                    let frame = Frame::new(file, kind, examples)?;
                    if file.kind == SpecKind::Action {
                        actions.push(frame);
                    } else {
                        events.push(frame);
                    }
                }
                SpecKind::Domain | SpecKind::Interaction => {
                    if let Some(root) = bundle::type_name(file, None) {
                        shared.insert(root);
                    }
                    if let Some(defs) = file.json.get("$defs").and_then(Value::as_object) {
                        for def in defs.keys() {
                            shared.insert(bundle::type_name(file, Some(def)).unwrap_or_default());
                        }
                    }
                }
                SpecKind::Envelope => {}
            }
        }
        let error_file = files
            .iter()
            .find(|f| f.rel_path == "events/error.schema.json");
        let error_code_schema = error_file
            .and_then(|f| bundle::type_name(f, Some("Code")))
            .unwrap_or_default();
        let code_description = error_file
            .and_then(|f| f.json.pointer("/$defs/Code/description"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let all = lint::error_codes(files);
        let codes = all
            .iter()
            .map(|code| (code.clone(), code_meaning(code_description, code, &all)))
            .collect();
        Ok(Self {
            version,
            description,
            actions,
            events,
            schemas: bundle.defs,
            shared,
            error_code_schema,
            codes,
        })
    }

    /// The schema a `$ref` (`#/$defs/<name>`) names, with that name.
    pub fn deref<'a>(&'a self, schema: &Value) -> Option<(&'a str, &'a Value)> {
        let name = schema.get("$ref")?.as_str()?.strip_prefix("#/$defs/")?;
        self.schemas
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
    }
}

impl Frame {
    fn new(file: &SpecFile, kind: &str, examples: &Examples) -> Result<Self, CodegenError> {
        let wire = file.wire_name();
        let (schema, response) = if file.kind == SpecKind::Action {
            let has_response = file.json.pointer("/$defs/Response").is_some();
            (
                bundle::type_name(file, Some("Request")),
                has_response
                    .then(|| bundle::type_name(file, Some("Response")))
                    .flatten(),
            )
        } else {
            (bundle::type_name(file, None), None)
        };
        let error_codes = file
            .json
            .get("x-error-codes")
            .and_then(Value::as_array)
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let examples = examples
            .get(&(kind.to_string(), wire.clone()))
            .cloned()
            .unwrap_or_default();
        if examples.is_empty() {
            return Err(CodegenError(format!(
                "spec/{}: no example frame: add spec/conformance/frames/valid/{kind}-{}.json \
                 ({{\"kind\": \"{kind}\", \"name\": \"{wire}\", \"frame\": …}})",
                file.rel_path, file.stem
            )));
        }
        Ok(Self {
            wire,
            file: file.rel_path.clone(),
            description: describe(file),
            schema: schema.unwrap_or_default(),
            response,
            error_codes,
            examples,
        })
    }
}

/// A file's root `description`.
fn describe(file: &SpecFile) -> String {
    file.json
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The meaning of `code` in the `Code` description, written as `CODE: meaning. OTHER: …`: the
/// text after `CODE: ` up to the next `OTHER: ` of any code in `all`.
fn code_meaning(description: &str, code: &str, all: &[String]) -> String {
    let marker = format!("{code}: ");
    let Some(start) = find_code(description, &marker).map(|i| i + marker.len()) else {
        return String::new();
    };
    let rest = &description[start..];
    let end = all
        .iter()
        .filter_map(|other| find_code(rest, &format!("{other}: ")))
        .min()
        .unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

/// Where `marker` starts as a whole code (`NOT_FOUND: ` inside `SESSION_NOT_FOUND: ` is not one).
fn find_code(text: &str, marker: &str) -> Option<usize> {
    text.match_indices(marker).map(|(i, _)| i).find(|&i| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
    })
}
