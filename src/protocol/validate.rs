//! JSON Schema validation of frames against `spec/`, with path-precise, value-masked messages.
//!
//! All spec files are registered once under their `$id` URIs; validators for each action's
//! `$defs.Request` and each event file are compiled lazily on first use (a few milliseconds).

use std::collections::HashMap;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Value};

use super::{Action, Event, SPEC_FILES};

/// Base URI the spec files are registered under (their `$id` prefix).
pub const SPEC_BASE_URI: &str = "https://smooth-operator.invalid/spec/";

/// Whether this build checks every inbound and outbound frame against the spec.
pub const VALIDATE_FRAMES: bool = cfg!(any(debug_assertions, feature = "validate"));

/// The validator catalogue, built on first use.
struct Catalogue {
    requests: HashMap<&'static str, Validator>,
    events: HashMap<&'static str, Validator>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let requests = Action::NAMES
        .iter()
        .map(|name| {
            let uri = format!(
                "{SPEC_BASE_URI}actions/{}.schema.json#/$defs/Request",
                kebab(name)
            );
            (*name, compile(&uri))
        })
        .collect();
    let events = Event::NAMES
        .iter()
        .map(|name| {
            let uri = format!("{SPEC_BASE_URI}events/{}.schema.json", kebab(name));
            (*name, compile(&uri))
        })
        .collect();
    Catalogue { requests, events }
});

fn kebab(name: &str) -> String {
    name.replace('_', "-")
}

/// Builds a registry holding every spec file under its `$id`.
fn registry() -> Registry<'static> {
    let resources = SPEC_FILES.iter().map(|(path, text)| {
        let value: Value = serde_json::from_str(text).expect("spec files are valid JSON");
        (format!("{SPEC_BASE_URI}{path}"), value)
    });
    Registry::new()
        .extend(resources)
        .and_then(|builder| builder.prepare())
        .expect("the spec registry builds")
}

/// Compiles a validator for the schema at `uri` (a spec file URI, optionally with a fragment).
///
/// Panics when the spec is broken, which the generator's lints and the tests rule out.
pub fn compile(uri: &str) -> Validator {
    let registry = registry();
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&json!({ "$ref": uri }))
        .unwrap_or_else(|e| panic!("schema {uri} does not compile: {e}"))
}

/// Validates `instance` against the schema at `uri`, returning every problem as a masked,
/// path-prefixed message (empty when valid).
pub fn check(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| {
            let path = bounded(&error.instance_path().to_string(), MAX_PATH_CHARS);
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            let what = match error.kind() {
                // Field names come from the client: list a few, each cut short.
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let mut names: Vec<String> = unexpected
                        .iter()
                        .take(MAX_LISTED_FIELDS)
                        .map(|name| format!("'{}'", bounded(name, MAX_NAME_CHARS)))
                        .collect();
                    if unexpected.len() > MAX_LISTED_FIELDS {
                        names.push(format!("and {} more", unexpected.len() - MAX_LISTED_FIELDS));
                    }
                    format!("unknown field(s) {}", names.join(", "))
                }
                _ => error.masked_with("the value").to_string(),
            };
            format!("{path}: {}", bounded(&what, MAX_MESSAGE_CHARS))
        })
        .collect()
}

/// Longest JSON pointer quoted in a validation message.
const MAX_PATH_CHARS: usize = 200;
/// Longest field name quoted in a validation message.
const MAX_NAME_CHARS: usize = 64;
/// Most unknown field names listed in one message.
const MAX_LISTED_FIELDS: usize = 5;
/// Longest description of one validation problem.
const MAX_MESSAGE_CHARS: usize = 300;

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

/// Validates an inbound frame against its action's Request schema; `Err` carries the first
/// problem as a client-safe message.
pub fn check_request(action: &str, frame: &Value) -> Result<(), String> {
    let Some(validator) = CATALOGUE.requests.get(action) else {
        return Err(format!("action '{action}' has no schema"));
    };
    match check(validator, frame).into_iter().next() {
        None => Ok(()),
        Some(first) => Err(first),
    }
}

/// Validates an outbound event; `Err` lists every problem (a server bug when it happens).
pub fn check_event(name: &str, frame: &Value) -> Result<(), Vec<String>> {
    let Some(validator) = CATALOGUE.events.get(name) else {
        return Err(vec![format!("event '{name}' has no schema")]);
    };
    let problems = check(validator, frame);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
