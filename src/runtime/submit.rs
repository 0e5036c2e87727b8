//! Taking a `submit_interaction` answer for the interaction a session's turn is parked on: the
//! answer is checked against what waits before it is consumed (a different id or kind, missing
//! or invalid values leave the turn waiting). The same check runs for an answer that arrived at
//! another pod ([`super::pods`]), so the outcome is serialisable.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::interaction::{self, Answer, Interactions};
use super::park::{CheckRefused, NotDelivered};
use super::sink::DynSink;
use crate::protocol::validate::bounded;

/// Why an answer was not taken; the turn keeps waiting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// Another interaction id or kind than the one waiting.
    Mismatch {
        /// What the client is told.
        message: String,
    },
    /// No values and not declined.
    MissingValues,
    /// Values the interaction does not accept.
    Invalid {
        /// The waiting interaction.
        interaction_id: String,
        /// Its kind.
        kind: String,
        /// `(field, message)` pairs.
        errors: Vec<(String, String)>,
    },
}

/// The answer the turn took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    /// The interaction's kind.
    pub kind: String,
    /// The normalised values; `None` when declined.
    pub values: Option<Value>,
}

/// Why the answer did not reach a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitError {
    /// Nothing waits, or the waiting turn ended.
    NotDelivered(NotDelivered),
    /// The answer was refused.
    Refused(Refusal),
}

/// What a client submitted.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The interaction answered.
    pub interaction_id: &'a str,
    /// Its kind, when named.
    pub kind: Option<&'a str>,
    /// The values, unless declined.
    pub values: Option<&'a Map<String, Value>>,
    /// Whether the user declined.
    pub declined: bool,
}

/// Checks `submission` against the session's waiting interaction and, when it fits, delivers it
/// (returns the acknowledgement sender to fire once the 200 is queued).
pub fn submit(
    interactions: &Interactions,
    session_id: Uuid,
    submission: Submission<'_>,
    from: Option<DynSink>,
) -> Result<(oneshot::Sender<()>, Accepted), SubmitError> {
    let Submission {
        interaction_id,
        kind,
        values,
        declined,
    } = submission;
    let outcome = interactions.answer_checked(
        session_id,
        |pending| {
            if pending.interaction_id != interaction_id {
                return Err(Refusal::Mismatch {
                    message: format!(
                        "interaction '{}' is not the one waiting in this session",
                        bounded(interaction_id, 64)
                    ),
                });
            }
            if let Some(kind) = kind.filter(|k| *k != pending.kind.wire()) {
                return Err(Refusal::Mismatch {
                    message: format!(
                        "the waiting interaction is a {}, not a {}",
                        pending.kind.wire(),
                        bounded(kind, 64)
                    ),
                });
            }
            let wire = pending.kind.wire().to_string();
            if declined {
                return Ok((
                    Answer::Declined,
                    Accepted {
                        kind: wire,
                        values: None,
                    },
                ));
            }
            let Some(values) = values else {
                return Err(Refusal::MissingValues);
            };
            match interaction::check_values(
                pending.kind,
                &pending.spec,
                &Value::Object(values.clone()),
            ) {
                Ok(values) => Ok((
                    Answer::Submitted(values.clone()),
                    Accepted {
                        kind: wire,
                        values: Some(values),
                    },
                )),
                Err(errors) => Err(Refusal::Invalid {
                    interaction_id: pending.interaction_id.clone(),
                    kind: wire,
                    errors: errors.into_iter().map(|e| (e.field, e.message)).collect(),
                }),
            }
        },
        from,
    );
    outcome.map_err(|refused| match refused {
        CheckRefused::NotDelivered(why) => SubmitError::NotDelivered(why),
        CheckRefused::Refused(refusal) => SubmitError::Refused(refusal),
    })
}
