//! Rich interactions: the model asks the user a structured question mid-turn through a raise
//! tool (`request_identity_intake`, `request_choices`), offered like `knowledge_search`. When the
//! session's client declared the kind's capability (`supports`), the turn parks:
//! `interaction_required`, then the raise tool's toolCall chunk (that order by construction),
//! then nothing until `submit_interaction` delivers valid values or a decline, or the wait times
//! out (`no_response`). Without the capability the tool answers with a conversational fallback
//! and nothing parks. Shapes live in `spec/interactions/<kind>.schema.json` (Spec, Values,
//! Payload); arguments and values are checked against them, then against the rules a schema
//! cannot say (unique keys and headers, required fields, e-mail and E.164 phone, known options).
//! A submitted identity becomes the session's end-user contact.

use std::collections::HashSet;
use std::sync::LazyLock;
use std::time::Duration;

use jsonschema::Validator;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::park::Parking;
use super::sink::TurnSink;
use super::tools::ToolOutcome;
use super::Runtime;
use crate::llm::ToolSpec;
use crate::protocol::validate::{self, SPEC_BASE_URI};
use crate::protocol::{
    ChoicesPayload, ChoicesPayloadStatus, ChoicesValues, IdentityIntakePayload,
    IdentityIntakePayloadStatus, IdentityIntakeValues, Session, SPEC_FILES,
};

/// The kinds of interaction this server raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A contact form (name, e-mail, phone).
    IdentityIntake,
    /// Multiple-choice questions.
    Choices,
}

impl Kind {
    /// Every kind, in the order their tools are offered.
    pub const ALL: [Kind; 2] = [Kind::IdentityIntake, Kind::Choices];

    /// The kind's wire name (`kind` in the events and in `submit_interaction`).
    pub fn wire(self) -> &'static str {
        match self {
            Kind::IdentityIntake => "identity_intake",
            Kind::Choices => "choices",
        }
    }

    /// The `supports` capability a client declares to render it.
    pub fn capability(self) -> &'static str {
        match self {
            Kind::IdentityIntake => "identity_form",
            Kind::Choices => "choice_chips",
        }
    }

    /// The raise tool the model calls.
    pub fn tool(self) -> &'static str {
        match self {
            Kind::IdentityIntake => "request_identity_intake",
            Kind::Choices => "request_choices",
        }
    }

    /// The kind raised by the tool `name`, if it is a raise tool.
    pub fn for_tool(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.tool() == name)
    }

    fn file(self) -> &'static str {
        match self {
            Kind::IdentityIntake => "interactions/identity-intake.schema.json",
            Kind::Choices => "interactions/choices.schema.json",
        }
    }

    fn validators(self) -> &'static (Validator, Validator) {
        match self {
            Kind::IdentityIntake => &IDENTITY_VALIDATORS,
            Kind::Choices => &CHOICES_VALIDATORS,
        }
    }

    /// Whether `session`'s client can render this kind.
    pub fn supported_by(self, session: &Session) -> bool {
        session.supports.iter().any(|c| c == self.capability())
    }
}

/// `(Spec, Values)` validators of a kind, compiled on first use.
fn compile_pair(kind: Kind) -> (Validator, Validator) {
    let base = format!("{SPEC_BASE_URI}{}", kind.file());
    (
        validate::compile(&format!("{base}#/$defs/Spec")),
        validate::compile(&format!("{base}#/$defs/Values")),
    )
}

static IDENTITY_VALIDATORS: LazyLock<(Validator, Validator)> =
    LazyLock::new(|| compile_pair(Kind::IdentityIntake));
static CHOICES_VALIDATORS: LazyLock<(Validator, Validator)> =
    LazyLock::new(|| compile_pair(Kind::Choices));

/// What a parked turn waits for: the registry entry's description.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The id announced in `interaction_required`.
    pub interaction_id: String,
    /// Its kind.
    pub kind: Kind,
    /// The spec the user answers.
    pub spec: Value,
}

/// What the parked turn is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Valid values, normalised.
    Submitted(Value),
    /// The user declined.
    Declined,
}

/// Turns waiting for the user's answer to an interaction, by session.
pub type Interactions = Parking<Answer, Pending>;

/// One field the user must correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (`email`, or a question's header).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The summary `interaction_invalid` carries.
pub const INVALID_MESSAGE: &str = "Some fields need attention.";

/// The raise tools as offered to the model: the kind's Spec (references inlined) plus a
/// required `reason` (built once from the spec files; a clone shares the parameters).
pub fn tool_specs() -> Vec<ToolSpec> {
    static SPECS: LazyLock<Vec<ToolSpec>> =
        LazyLock::new(|| Kind::ALL.into_iter().map(tool_spec).collect());
    SPECS.clone()
}

fn tool_spec(kind: Kind) -> ToolSpec {
    let text = SPEC_FILES
        .iter()
        .find(|(path, _)| *path == kind.file())
        .map(|(_, text)| *text)
        .expect("interaction spec files are generated in");
    let file: Value = serde_json::from_str(text).expect("spec files are valid JSON");
    let defs = file["$defs"].as_object().cloned().unwrap_or_default();
    let mut parameters = inline(&defs["Spec"], &defs);
    let reason = json!({"type": "string", "maxLength": 300,
        "description": "Why you ask, in a short sentence shown to the user."});
    if let Some(props) = parameters["properties"].as_object_mut() {
        props.insert("reason".into(), reason);
    }
    if let Some(required) = parameters["required"].as_array_mut() {
        required.push(json!("reason"));
    }
    if let Some(obj) = parameters.as_object_mut() {
        obj.remove("description");
    }
    let description = match kind {
        Kind::IdentityIntake => "Ask the user for their contact details (name, email, phone) with a form. Use it when you need to know who the user is or how to reach them. Returns {status: submitted|declined|no_response, values?}.",
        Kind::Choices => "Ask the user one to four multiple-choice questions, each with two to four options and a short header. Use it when the answer is one of a few known options. Returns {status: submitted|declined|no_response, values?: {answers: [{header, options?, other?}]}}.",
    };
    ToolSpec {
        name: kind.tool().to_string(),
        description: description.to_string(),
        parameters: parameters.into(),
    }
}

/// `schema` with every `#/$defs/<Name>` reference replaced by that definition.
fn inline(schema: &Value, defs: &Map<String, Value>) -> Value {
    match schema {
        Value::Object(obj) => {
            if let Some(name) = obj
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                if let Some(def) = defs.get(name) {
                    return inline(def, defs);
                }
            }
            Value::Object(
                obj.iter()
                    .map(|(k, v)| (k.clone(), inline(v, defs)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline(v, defs)).collect()),
        other => other.clone(),
    }
}

/// Splits a raise call's arguments into its reason and its checked spec; `Err` is the error
/// result the model sees.
pub fn check_spec(kind: Kind, arguments: &Map<String, Value>) -> Result<(String, Value), String> {
    let mut spec = arguments.clone();
    let reason = match spec.remove("reason") {
        Some(Value::String(reason)) if !reason.trim().is_empty() => reason.trim().to_string(),
        _ => {
            return Err(
                "error: invalid arguments: 'reason' (a non-empty string) is required".into(),
            )
        }
    };
    let spec = Value::Object(spec);
    if let Some(first) = validate::check(&kind.validators().0, &spec)
        .into_iter()
        .next()
    {
        return Err(format!("error: invalid arguments: {first}"));
    }
    let duplicate = match kind {
        Kind::IdentityIntake => first_duplicate(&spec["fields"], "key"),
        Kind::Choices => first_duplicate(&spec["questions"], "header"),
    };
    if let Some(value) = duplicate {
        return Err(format!("error: invalid arguments: '{value}' appears twice"));
    }
    if kind == Kind::Choices {
        for question in spec["questions"].as_array().into_iter().flatten() {
            if let Some(label) = first_duplicate(&question["options"], "label") {
                return Err(format!(
                    "error: invalid arguments: option '{label}' appears twice in one question"
                ));
            }
        }
    }
    Ok((reason, spec))
}

/// The first value of `key` that two items of `items` share.
fn first_duplicate(items: &Value, key: &str) -> Option<String> {
    let mut seen = HashSet::new();
    items
        .as_array()?
        .iter()
        .filter_map(|item| item[key].as_str())
        .find(|value| !seen.insert(value.to_string()))
        .map(str::to_string)
}

/// Checks submitted values against the pending spec: the schema, then the kind's rules.
/// Returns the values normalised (trimmed, phone in E.164, only the spec's fields).
pub fn check_values(kind: Kind, spec: &Value, values: &Value) -> Result<Value, Vec<FieldError>> {
    check_shape(kind, values)?;
    match kind {
        Kind::IdentityIntake => check_identity(spec, values),
        Kind::Choices => check_choices(spec, values),
    }
}

/// Checks values against the kind's Values schema only (no spec to hold them against).
pub fn check_shape(kind: Kind, values: &Value) -> Result<(), Vec<FieldError>> {
    let problems = validate::check(&kind.validators().1, values);
    if !problems.is_empty() {
        return Err(problems
            .into_iter()
            .map(|problem| {
                let (path, message) = problem.split_once(": ").unwrap_or(("/", problem.as_str()));
                let field = path.trim_start_matches('/').replace('/', ".");
                let field = if field.is_empty() {
                    "values".into()
                } else {
                    field
                };
                FieldError::new(field, message)
            })
            .collect());
    }
    Ok(())
}

/// The identity spec with every field optional, for values given without a form.
pub fn open_identity_spec() -> Value {
    json!({"fields": [
        {"key": "name", "required": false},
        {"key": "email", "required": false},
        {"key": "phone", "required": false}
    ]})
}

fn check_identity(spec: &Value, values: &Value) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for field in spec["fields"].as_array().into_iter().flatten() {
        let Some(key) = field["key"].as_str() else {
            continue;
        };
        let required = field["required"].as_bool().unwrap_or(false);
        let given = values[key]
            .as_str()
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let Some(given) = given else {
            if required {
                errors.push(FieldError::new(key, "is required"));
            }
            continue;
        };
        let normalised = match key {
            "email" if !email_ok(given) => {
                errors.push(FieldError::new(key, "must be a valid email address"));
                continue;
            }
            "phone" => match e164(given) {
                Some(phone) => phone,
                None => {
                    errors.push(FieldError::new(
                        key,
                        "must be a phone number with its country code, e.g. +14155550100",
                    ));
                    continue;
                }
            },
            _ => given.to_string(),
        };
        out.insert(key.to_string(), Value::String(normalised));
    }
    if errors.is_empty() {
        Ok(Value::Object(out))
    } else {
        Err(errors)
    }
}

/// Whether `email` looks like a deliverable address: one `@`, a local part, and a domain of at
/// least two labels, without spaces.
fn email_ok(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// `phone` in E.164 (`+` and 8 to 15 digits, the first not 0), from a number written with its
/// country code (`+` or `00`) and any spaces, dots, dashes or parentheses.
fn e164(phone: &str) -> Option<String> {
    let rest = phone
        .strip_prefix('+')
        .or_else(|| phone.strip_prefix("00"))?;
    let mut digits = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let ok = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

fn check_choices(spec: &Value, values: &Value) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
    let questions: Vec<&Value> = spec["questions"].as_array().into_iter().flatten().collect();
    let answers: Vec<&Value> = values["answers"].as_array().into_iter().flatten().collect();
    let mut out = Vec::new();
    for question in &questions {
        let header = question["header"].as_str().unwrap_or_default();
        let labels: Vec<&str> = question["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["label"].as_str())
            .collect();
        let multi = question["multiSelect"].as_bool().unwrap_or(false);
        let Some(answer) = answers
            .iter()
            .find(|a| a["header"].as_str() == Some(header))
        else {
            errors.push(FieldError::new(header, "needs an answer"));
            continue;
        };
        let picked: Vec<&str> = answer["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let other = answer["other"]
            .as_str()
            .map(str::trim)
            .filter(|o| !o.is_empty());
        if let Some(unknown) = picked.iter().find(|p| !labels.contains(p)) {
            errors.push(FieldError::new(
                header,
                format!(
                    "'{}' is not one of the options",
                    validate::bounded(unknown, 64)
                ),
            ));
            continue;
        }
        if picked.is_empty() && other.is_none() {
            errors.push(FieldError::new(header, "needs an answer"));
            continue;
        }
        if !multi && picked.len() + usize::from(other.is_some()) > 1 {
            errors.push(FieldError::new(header, "takes a single answer"));
            continue;
        }
        let mut entry = json!({"header": header});
        if !picked.is_empty() {
            entry["options"] = json!(picked);
        }
        if let Some(other) = other {
            entry["other"] = json!(other);
        }
        out.push(entry);
    }
    for answer in &answers {
        let header = answer["header"].as_str().unwrap_or_default();
        if !questions
            .iter()
            .any(|q| q["header"].as_str() == Some(header))
        {
            errors.push(FieldError::new(
                validate::bounded(header, 12),
                "is not one of the questions",
            ));
        }
    }
    if errors.is_empty() {
        Ok(json!({"answers": out}))
    } else {
        Err(errors)
    }
}

/// The raise tool's result for the model, as the kind's typed Payload.
pub(crate) fn payload(kind: Kind, answer: Option<&Answer>) -> Value {
    let (status, values, message) = match answer {
        Some(Answer::Submitted(values)) => ("submitted", Some(values.clone()), None),
        Some(Answer::Declined) => (
            "declined",
            None,
            Some("The user declined to answer. Go on without it, or ask in plain words if it is really needed."),
        ),
        None => (
            "no_response",
            None,
            Some("The user did not answer in time. Go on without it, or ask in plain words."),
        ),
    };
    let message = message.map(str::to_string);
    let typed = match kind {
        Kind::IdentityIntake => serde_json::to_value(IdentityIntakePayload {
            status: status
                .parse::<IdentityIntakePayloadStatus>()
                .expect("spec'd status"),
            values: values
                .map(serde_json::from_value::<IdentityIntakeValues>)
                .transpose()
                .expect("checked values fit the spec"),
            message,
        }),
        Kind::Choices => serde_json::to_value(ChoicesPayload {
            status: status
                .parse::<ChoicesPayloadStatus>()
                .expect("spec'd status"),
            values: values
                .map(serde_json::from_value::<ChoicesValues>)
                .transpose()
                .expect("checked values fit the spec"),
            message,
        }),
    };
    typed.expect("payloads serialize")
}

/// What the model is told when the client cannot render the kind: ask in words instead.
fn fallback(kind: Kind, spec: &Value) -> String {
    let ask = match kind {
        Kind::IdentityIntake => {
            let keys: Vec<&str> = spec["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["key"].as_str())
                .collect();
            format!("their {}", keys.join(", "))
        }
        Kind::Choices => {
            let questions: Vec<String> = spec["questions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|q| {
                    let options: Vec<&str> = q["options"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o["label"].as_str())
                        .collect();
                    format!(
                        "{} ({})",
                        q["question"].as_str().unwrap_or_default(),
                        options.join(" / ")
                    )
                })
                .collect();
            questions.join("; ")
        }
    };
    let record = match kind {
        Kind::IdentityIntake => format!(
            " When they answer, record it with the tool {} (kind {}) if it is available.",
            super::tools::submit_interaction::NAME,
            kind.wire()
        ),
        Kind::Choices => String::new(),
    };
    json!({
        "status": "unsupported",
        "message": format!("This client cannot show a {} form. Ask the user in plain words instead: {ask}.{record}", kind.wire()),
    })
    .to_string()
}

/// Runs a raise call: a conversational fallback without the capability, else the park (see the
/// module docs). The arguments were parsed by `ToolSet::prepare`.
pub(crate) async fn raise(
    runtime: &Runtime,
    sink: &TurnSink,
    session: &Session,
    turn_id: Uuid,
    kind: Kind,
    raw_arguments: &str,
    arguments: &Map<String, Value>,
) -> ToolOutcome {
    let (reason, spec) = match check_spec(kind, arguments) {
        Ok(checked) => checked,
        Err(refusal) => {
            sink.tool_call(kind.tool(), raw_arguments).await;
            return ToolOutcome::error(refusal);
        }
    };
    if !kind.supported_by(session) {
        sink.tool_call(kind.tool(), raw_arguments).await;
        return ToolOutcome::ok(fallback(kind, &spec));
    }
    let interaction_id = Uuid::new_v4();
    let parked = runtime.interactions.park_with(
        session.session_id,
        turn_id,
        Pending {
            interaction_id: interaction_id.to_string(),
            kind,
            spec: spec.clone(),
        },
    );
    let spec_map = spec.as_object().cloned().unwrap_or_default();
    sink.interaction_required(interaction_id, kind.wire(), spec_map, &reason)
        .await;
    // The structured call is sent even with `stream: false`, like a confirmation's.
    sink.tool_call_always(kind.tool(), raw_arguments).await;
    let timeout = Duration::from_secs(runtime.config.interaction_timeout_secs);
    let (answer, answered_from) = parked.wait(timeout).await;
    tracing::info!(session = %session.session_id, kind = kind.wire(), answered = answer.is_some(), "interaction ended");
    if let Some(other) = answered_from {
        if sink.adopt_if_orphaned(&other) {
            tracing::info!(session = %session.session_id, "turn's client left; streaming the rest to the answering connection");
        }
    }
    if let (Kind::IdentityIntake, Some(Answer::Submitted(values))) = (kind, &answer) {
        attach_identity(runtime, session.session_id, values).await;
    }
    ToolOutcome::ok(payload(kind, answer.as_ref()).to_string())
}

/// Makes checked identity values the session's end-user contact (a failure is only logged:
/// the turn goes on).
pub(crate) async fn attach_identity(runtime: &Runtime, session_id: Uuid, values: &Value) {
    let text = |key: &str| values[key].as_str();
    if let Err(e) = runtime
        .store
        .set_contact(session_id, text("name"), text("email"), text("phone"))
        .await
    {
        tracing::error!(session = %session_id, error = %e, "could not store the submitted identity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_spec() -> Value {
        json!({"fields": [{"key": "name", "required": true}, {"key": "email", "required": true}, {"key": "phone", "required": false}]})
    }

    #[test]
    fn phones_become_e164_and_bad_ones_are_refused() {
        assert_eq!(e164("+1 (415) 555-0100").as_deref(), Some("+14155550100"));
        assert_eq!(e164("0049 30 1234567").as_deref(), Some("+49301234567"));
        for bad in [
            "415 555 0100",
            "+0123456789",
            "+1 555",
            "+1-555-CALL-NOW",
            "+1234567890123456",
        ] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }

    #[test]
    fn identity_values_are_checked_and_normalised() {
        let spec = identity_spec();
        let ok = check_values(
            Kind::IdentityIntake,
            &spec,
            &json!({"name": " Ada ", "email": "ada@example.com", "phone": "+44 20 7946 0958"}),
        )
        .unwrap();
        assert_eq!(
            ok,
            json!({"name": "Ada", "email": "ada@example.com", "phone": "+442079460958"})
        );
        let errors = check_values(
            Kind::IdentityIntake,
            &spec,
            &json!({"email": "ada@", "phone": "12"}),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                FieldError::new("name", "is required"),
                FieldError::new("email", "must be a valid email address"),
                FieldError::new(
                    "phone",
                    "must be a phone number with its country code, e.g. +14155550100"
                ),
            ]
        );
        let errors = check_values(Kind::IdentityIntake, &spec, &json!({"name": 7})).unwrap_err();
        assert_eq!(errors[0].field, "name", "{errors:?}");
    }

    #[test]
    fn choices_answers_must_name_questions_and_options() {
        let spec = json!({"questions": [
            {"question": "Which size?", "header": "Size", "options": [{"label": "S"}, {"label": "M"}]},
            {"question": "Extras?", "header": "Extras", "multiSelect": true, "options": [{"label": "Gift wrap"}, {"label": "Card"}]}
        ]});
        let ok = check_values(
            Kind::Choices,
            &spec,
            &json!({"answers": [
                {"header": "Size", "options": ["M"]},
                {"header": "Extras", "options": ["Gift wrap", "Card"], "other": " ribbon "}
            ]}),
        )
        .unwrap();
        assert_eq!(ok["answers"][1]["other"], "ribbon");
        let errors = check_values(
            Kind::Choices,
            &spec,
            &json!({"answers": [
                {"header": "Size", "options": ["S", "M"]},
                {"header": "Colour", "options": ["Red"]}
            ]}),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                FieldError::new("Size", "takes a single answer"),
                FieldError::new("Extras", "needs an answer"),
                FieldError::new("Colour", "is not one of the questions"),
            ]
        );
    }

    #[test]
    fn raise_arguments_need_a_reason_and_a_valid_spec() {
        let args = |v: Value| v.as_object().cloned().unwrap();
        let (reason, spec) = check_spec(
            Kind::IdentityIntake,
            &args(json!({"reason": "To send the receipt", "fields": [{"key": "email", "required": true}]})),
        )
        .unwrap();
        assert_eq!(reason, "To send the receipt");
        assert!(spec.get("reason").is_none());
        for (bad, needle) in [
            (
                json!({"fields": [{"key": "email", "required": true}]}),
                "reason",
            ),
            (json!({"reason": "x", "fields": []}), "fields"),
            (
                json!({"reason": "x", "fields": [{"key": "age", "required": true}]}),
                "key",
            ),
            (
                json!({"reason": "x", "fields": [{"key": "email", "required": true}, {"key": "email", "required": false}]}),
                "twice",
            ),
        ] {
            let err = check_spec(Kind::IdentityIntake, &args(bad)).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
        let err = check_spec(
            Kind::Choices,
            &args(json!({"reason": "x", "questions": [{"question": "q", "header": "h", "options": [{"label": "only one"}]}]})),
        )
        .unwrap_err();
        assert!(err.contains("options"), "{err}");
    }

    #[test]
    fn every_kind_has_a_known_capability() {
        let capabilities: Vec<&str> = Kind::ALL.iter().map(|k| k.capability()).collect();
        assert_eq!(capabilities, crate::runtime::KNOWN_CAPABILITIES);
        for kind in Kind::ALL {
            assert_eq!(Kind::for_tool(kind.tool()), Some(kind));
        }
    }

    #[test]
    fn tool_parameters_inline_the_spec_and_require_a_reason() {
        let specs = tool_specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["request_identity_intake", "request_choices"]);
        let text = specs[1].parameters.to_string();
        assert!(!text.contains("$ref"), "{text}");
        assert!(text.contains("multiSelect"), "{text}");
        assert_eq!(specs[0].parameters["required"], json!(["fields", "reason"]));
    }
}
