//! Frame conformance corpus: `spec/conformance/frames/{valid,invalid}/*.json`.
//!
//! Each fixture is `{"kind": "action" | "event", "name": <wire name>, "frame": {...}}`; invalid
//! ones add `"rule"` (the schema rule the frame breaks) and, when the generated Rust types cannot
//! catch that rule (e.g. `format: email`), `"typedDecodeAccepts": true`.
//!
//! - valid frames pass the schema (their Request / event schema and the envelope), decode into
//!   the generated `Action` / `Event` with the right `name()`, and events re-serialize to the same
//!   JSON;
//! - invalid frames fail the schema with errors of exactly their rule, and fail typed decoding
//!   unless marked `typedDecodeAccepts` (which must then be true); inbound ones are rejected by
//!   `protocol::decode` either way.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use smooth_operator::protocol::validate::{self, SPEC_BASE_URI};
use smooth_operator::protocol::{self, Action, ErrorCode, Event};

const RULES: &[&str] = &[
    "required",
    "type",
    "enum",
    "length",
    "format",
    "additionalProperties",
    "const",
    "minimum",
];

/// The rule families every corpus must exercise at least once.
const REQUIRED_FAMILIES: &[&str] = &[
    "required",
    "type",
    "enum",
    "length",
    "format",
    "additionalProperties",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Action,
    Event,
}

#[derive(Debug)]
struct Fixture {
    file: String,
    kind: Kind,
    name: String,
    rule: Option<String>,
    typed_decode_accepts: bool,
    frame: Value,
}

fn frames_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/conformance/frames")
}

fn load(folder: &str) -> Vec<Fixture> {
    let dir = frames_dir().join(folder);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut fixtures = Vec::new();
    for path in paths {
        let file = format!("{folder}/{}", path.file_name().unwrap().to_string_lossy());
        assert!(file.ends_with(".json"), "{file}: fixtures are .json files");
        let text = fs::read_to_string(&path).unwrap();
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: invalid JSON: {e}"));
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("{file}: a fixture is a JSON object"));
        for key in object.keys() {
            assert!(
                ["kind", "name", "rule", "typedDecodeAccepts", "frame"].contains(&key.as_str()),
                "{file}: unknown fixture key {key:?}"
            );
        }
        let kind = match object.get("kind").and_then(Value::as_str) {
            Some("action") => Kind::Action,
            Some("event") => Kind::Event,
            other => panic!("{file}: kind must be \"action\" or \"event\", got {other:?}"),
        };
        let name = object
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{file}: name must be a string"))
            .to_string();
        let rule = object.get("rule").map(|r| {
            r.as_str()
                .unwrap_or_else(|| panic!("{file}: rule must be a string"))
                .to_string()
        });
        let typed_decode_accepts = match object.get("typedDecodeAccepts") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => panic!("{file}: typedDecodeAccepts must be a boolean, got {other}"),
        };
        let frame = object
            .get("frame")
            .unwrap_or_else(|| panic!("{file}: no frame"))
            .clone();
        assert!(frame.is_object(), "{file}: frame must be an object");
        let known = match kind {
            Kind::Action => Action::NAMES,
            Kind::Event => Event::NAMES,
        };
        assert!(
            known.contains(&name.as_str()),
            "{file}: {kind:?} {name:?} is not in the spec ({known:?})"
        );
        fixtures.push(Fixture {
            file,
            kind,
            name,
            rule,
            typed_decode_accepts,
            frame,
        });
    }
    fixtures
}

fn schema_uri(kind: Kind, name: &str) -> String {
    let stem = name.replace('_', "-");
    match kind {
        Kind::Action => format!("{SPEC_BASE_URI}actions/{stem}.schema.json#/$defs/Request"),
        Kind::Event => format!("{SPEC_BASE_URI}events/{stem}.schema.json"),
    }
}

fn envelope_uri(kind: Kind) -> String {
    let def = match kind {
        Kind::Action => "ActionEnvelope",
        Kind::Event => "EventEnvelope",
    };
    format!("{SPEC_BASE_URI}envelope.schema.json#/$defs/{def}")
}

/// The runtime validation the server uses for this frame kind.
fn runtime_check(fixture: &Fixture) -> Result<(), String> {
    match fixture.kind {
        Kind::Action => validate::check_request(&fixture.name, &fixture.frame),
        Kind::Event => {
            validate::check_event(&fixture.name, &fixture.frame).map_err(|p| p.join("; "))
        }
    }
}

/// The rule family a jsonschema error belongs to, if it is one the corpus names.
fn family(kind: &ValidationErrorKind) -> Option<&'static str> {
    Some(match kind {
        ValidationErrorKind::Required { .. } => "required",
        ValidationErrorKind::Type { .. } => "type",
        ValidationErrorKind::Enum { .. } => "enum",
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => "length",
        ValidationErrorKind::Format { .. } => "format",
        ValidationErrorKind::AdditionalProperties { .. } => "additionalProperties",
        ValidationErrorKind::Constant { .. } => "const",
        ValidationErrorKind::Minimum { .. } => "minimum",
        _ => return None,
    })
}

fn typed_decode(fixture: &Fixture) -> Result<String, String> {
    match fixture.kind {
        Kind::Action => serde_json::from_value::<Action>(fixture.frame.clone())
            .map(|a| a.name().to_string())
            .map_err(|e| e.to_string()),
        Kind::Event => serde_json::from_value::<Event>(fixture.frame.clone())
            .map(|e| e.name().to_string())
            .map_err(|e| e.to_string()),
    }
}

// ---- the corpus itself ----

#[test]
fn corpus_is_well_formed_and_covers_every_rule_family() {
    let valid = load("valid");
    let invalid = load("invalid");
    for f in &valid {
        assert!(f.rule.is_none(), "{}: valid fixtures have no rule", f.file);
        assert!(
            !f.typed_decode_accepts,
            "{}: typedDecodeAccepts only applies to invalid fixtures",
            f.file
        );
    }
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &invalid {
        let rule = f
            .rule
            .as_deref()
            .unwrap_or_else(|| panic!("{}: invalid fixtures name their rule", f.file));
        let rule = RULES.iter().find(|r| **r == rule).unwrap_or_else(|| {
            panic!(
                "{}: unknown rule {rule:?}, expected one of {RULES:?}",
                f.file
            )
        });
        *per_rule.entry(rule).or_default() += 1;
    }
    assert!(
        invalid.len() >= 10,
        "only {} invalid fixtures",
        invalid.len()
    );
    for family in REQUIRED_FAMILIES {
        assert!(
            per_rule.get(family).copied().unwrap_or(0) >= 1,
            "no invalid fixture for rule family {family:?} (have {per_rule:?})"
        );
    }
    // Both directions are exercised for the closed-object rule.
    for kind in [Kind::Action, Kind::Event] {
        assert!(
            invalid
                .iter()
                .any(|f| f.kind == kind && f.rule.as_deref() == Some("additionalProperties")),
            "no additionalProperties fixture for {kind:?}"
        );
    }
}

#[test]
fn corpus_covers_the_core_actions_and_events() {
    let valid = load("valid");
    let has = |kind: Kind, name: &str| valid.iter().any(|f| f.kind == kind && f.name == name);
    for name in [
        "ping",
        "create_conversation_session",
        "get_session",
        "get_conversation_messages",
    ] {
        assert!(has(Kind::Action, name), "no valid `{name}` action fixture");
    }
    for name in ["pong", "immediate_response", "error"] {
        assert!(has(Kind::Event, name), "no valid `{name}` event fixture");
    }

    // create_conversation_session with every property its Request schema defines.
    let schema = spec_file("actions/create-conversation-session.schema.json");
    let all: BTreeSet<&String> = schema["$defs"]["Request"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        valid.iter().any(|f| f.name == "create_conversation_session"
            && f.frame.as_object().unwrap().keys().collect::<BTreeSet<_>>() == all),
        "no valid create_conversation_session fixture sets every property {all:?}"
    );
    // get_conversation_messages with the paging fields.
    assert!(
        valid.iter().any(|f| f.name == "get_conversation_messages"
            && ["limit", "cursor", "before"]
                .iter()
                .all(|k| f.frame.get(k).is_some())),
        "no valid get_conversation_messages fixture with limit, cursor and before"
    );
}

fn spec_file(path: &str) -> Value {
    let text = protocol::SPEC_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .unwrap_or_else(|| panic!("{path} is not in SPEC_FILES"))
        .1;
    serde_json::from_str(text).unwrap()
}

// ---- valid frames ----

#[test]
fn valid_frames_pass_the_schema_and_decode_into_their_type() {
    let fixtures = load("valid");
    assert!(!fixtures.is_empty());
    let mut failures = Vec::new();
    for f in &fixtures {
        if let Err(problem) = check_valid(f) {
            failures.push(format!("{}: {problem}", f.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn check_valid(f: &Fixture) -> Result<(), String> {
    runtime_check(f).map_err(|p| format!("schema rejects it: {p}"))?;
    let envelope = validate::compile(&envelope_uri(f.kind));
    let problems = validate::check(&envelope, &f.frame);
    if !problems.is_empty() {
        return Err(format!("envelope rejects it: {problems:?}"));
    }
    match f.kind {
        Kind::Action => {
            let action: Action = serde_json::from_value(f.frame.clone())
                .map_err(|e| format!("typed decode fails: {e}"))?;
            if action.name() != f.name {
                return Err(format!("decoded as `{}`", action.name()));
            }
            // The serving path accepts it too, and the typed value survives a round trip.
            let inbound = protocol::decode(&f.frame.to_string())
                .map_err(|r| format!("protocol::decode rejects it: {r:?}"))?;
            if inbound.action != action {
                return Err(format!("protocol::decode gives {:?}", inbound.action));
            }
            let request_id = f.frame.get("requestId").and_then(Value::as_str);
            if inbound.request_id.as_deref() != request_id {
                return Err(format!("request_id {:?}", inbound.request_id));
            }
            let again: Action = serde_json::from_value(serde_json::to_value(&action).unwrap())
                .map_err(|e| format!("re-serialized action does not decode: {e}"))?;
            if again != action {
                return Err("re-serialized action decodes differently".to_string());
            }
        }
        Kind::Event => {
            let event: Event = serde_json::from_value(f.frame.clone())
                .map_err(|e| format!("typed decode fails: {e}"))?;
            if event.name() != f.name {
                return Err(format!("decoded as `{}`", event.name()));
            }
            let back = serde_json::to_value(&event).unwrap();
            if back != f.frame {
                return Err(format!("re-serializes as {back}"));
            }
            // The outbound path (validating in debug builds) accepts it.
            let text = protocol::encode(&event);
            let encoded: Value = serde_json::from_str(&text).unwrap();
            if encoded != f.frame {
                return Err(format!("encodes as {encoded}"));
            }
        }
    }
    Ok(())
}

// ---- invalid frames ----

#[test]
fn invalid_frames_fail_the_schema_for_their_rule() {
    let fixtures = load("invalid");
    let mut failures = Vec::new();
    for f in &fixtures {
        let rule = f.rule.as_deref().unwrap_or("<none>");
        if runtime_check(f).is_ok() {
            failures.push(format!("{}: the schema accepts it", f.file));
            continue;
        }
        let validator = validate::compile(&schema_uri(f.kind, &f.name));
        let errors: Vec<(Option<&str>, String)> = validator
            .iter_errors(&f.frame)
            .map(|e| (family(e.kind()), format!("{}: {e}", e.instance_path())))
            .collect();
        if errors.iter().any(|(fam, _)| *fam != Some(rule)) {
            failures.push(format!(
                "{}: expected only `{rule}` errors, got {:?}",
                f.file,
                errors.iter().map(|(_, m)| m).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn invalid_frames_fail_typed_decoding_unless_marked() {
    let fixtures = load("invalid");
    let mut failures = Vec::new();
    for f in &fixtures {
        match (typed_decode(f), f.typed_decode_accepts) {
            (Err(_), false) | (Ok(_), true) => {}
            (Ok(name), false) => failures.push(format!(
                "{}: the generated types accept it (as `{name}`); if they cannot catch rule \
                 `{}`, mark it \"typedDecodeAccepts\": true",
                f.file,
                f.rule.as_deref().unwrap_or("?")
            )),
            (Err(e), true) => failures.push(format!(
                "{}: marked typedDecodeAccepts but typed decoding rejects it ({e}); drop the mark",
                f.file
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn invalid_frames_are_rejected_by_the_validating_paths() {
    let fixtures = load("invalid");
    let mut failures = Vec::new();
    for f in &fixtures {
        match f.kind {
            Kind::Action => match protocol::decode(&f.frame.to_string()) {
                Ok(inbound) => failures.push(format!(
                    "{}: protocol::decode accepts it as {:?}",
                    f.file, inbound.action
                )),
                Err(rejection) => {
                    let prefix = format!("invalid '{}' frame", f.name);
                    if rejection.error.code != ErrorCode::ValidationError
                        || !rejection.error.message.starts_with(&prefix)
                    {
                        failures.push(format!(
                            "{}: expected a VALIDATION_ERROR starting {prefix:?}, got {rejection:?}",
                            f.file
                        ));
                    }
                    let request_id = f.frame.get("requestId").and_then(Value::as_str);
                    if rejection.request_id.as_deref() != request_id {
                        failures.push(format!(
                            "{}: rejection echoes requestId {:?}",
                            f.file, rejection.request_id
                        ));
                    }
                }
            },
            // Outbound frames the types accept are still caught by `encode` in validating builds.
            Kind::Event if f.typed_decode_accepts && validate::VALIDATE_FRAMES => {
                let event: Event = serde_json::from_value(f.frame.clone()).unwrap();
                let encoded = std::panic::catch_unwind(|| protocol::encode(&event));
                if encoded.is_ok() {
                    failures.push(format!("{}: protocol::encode sends it", f.file));
                }
            }
            Kind::Event => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn schema_validation_error_messages_name_the_path() {
    // Spot-check that rejections are path-precise for nested problems.
    let fixtures = load("invalid");
    for f in fixtures.iter().filter(|f| f.kind == Kind::Action) {
        let problem = runtime_check(f).unwrap_err();
        assert!(
            problem.starts_with('/'),
            "{}: message does not start with a JSON pointer: {problem}",
            f.file
        );
    }
    let nested = fixtures
        .iter()
        .find(|f| f.file == "invalid/additional-properties-auth-context.json")
        .expect("fixture exists");
    let problem = runtime_check(nested).unwrap_err();
    assert!(problem.starts_with("/authContext"), "{problem}");
}
