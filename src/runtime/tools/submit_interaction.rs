//! `submit_interaction`, the conversational counterpart of the raise tools for clients that
//! cannot render a kind: after a raise tool answered with its text fallback and the user gave
//! the answer in words, the model records it with this tool. Nothing parks and no event is
//! sent beyond the call's own chunks. The values are checked like a submitted form (an identity
//! with every field optional, choices against their schema) and a valid identity becomes the
//! session's end-user contact, exactly as through the form.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::ToolOutcome;
use crate::llm::ToolSpec;
use crate::protocol::Session;
use crate::runtime::interaction::{self, Answer, FieldError, Kind};
use crate::runtime::Runtime;

/// The tool's name.
pub const NAME: &str = "submit_interaction";

/// The tool as offered to the model (built once; a clone shares its parameters).
pub fn spec() -> ToolSpec {
    static SPEC: LazyLock<ToolSpec> = LazyLock::new(build_spec);
    SPEC.clone()
}

fn build_spec() -> ToolSpec {
    let kinds: Vec<&str> = Kind::ALL.into_iter().map(Kind::wire).collect();
    ToolSpec {
        name: NAME.to_string(),
        description: "Record what the user told you in words after a form could not be shown \
            (identity_intake: {name?, email?, phone?}; choices: {answers: [{header, options?, \
            other?}]}). Returns {status: submitted, values} or the fields to ask again."
            .to_string(),
        parameters: json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "values"],
            "properties": {
                "kind": {"type": "string", "enum": kinds},
                "values": {"type": "object", "description": "The answer, shaped like the kind's form values."}
            }
        })
        .into(),
    }
}

/// Whether the tool is worth offering: the identity raise tool is offered but the session's
/// client cannot render its form, so a contact can only come back in words (recording it makes
/// it the session's contact; a choice answered in words needs no recording).
pub fn wanted(offered: &[ToolSpec], session: &Session) -> bool {
    let kind = Kind::IdentityIntake;
    !kind.supported_by(session) && offered.iter().any(|spec| spec.name == kind.tool())
}

/// Checks and records the values; field problems are an error result the model can act on.
pub async fn call(
    runtime: &Runtime,
    session: &Session,
    arguments: &Map<String, Value>,
) -> ToolOutcome {
    let kind = arguments
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|wire| Kind::ALL.into_iter().find(|k| k.wire() == wire));
    let Some(kind) = kind else {
        return ToolOutcome::error("error: `kind` must be identity_intake or choices".into());
    };
    let values = arguments.get("values").cloned().unwrap_or(Value::Null);
    let checked = match kind {
        Kind::IdentityIntake => {
            interaction::check_values(kind, &interaction::open_identity_spec(), &values).and_then(
                |v| {
                    if v.as_object().is_some_and(|m| !m.is_empty()) {
                        Ok(v)
                    } else {
                        Err(vec![FieldError {
                            field: "values".into(),
                            message: "give at least one of name, email, phone".into(),
                        }])
                    }
                },
            )
        }
        Kind::Choices => interaction::check_shape(kind, &values).map(|()| values),
    };
    match checked {
        Ok(values) => {
            if kind == Kind::IdentityIntake {
                interaction::attach_identity(runtime, session.session_id, &values).await;
            }
            let answer = Answer::Submitted(values);
            ToolOutcome::ok(interaction::payload(kind, Some(&answer)).to_string())
        }
        Err(errors) => {
            let fields: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            ToolOutcome::error(format!(
                "error: the values need attention ({}); ask the user again",
                fields.join("; ")
            ))
        }
    }
}
