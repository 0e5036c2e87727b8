//! Turning a client text frame into a typed [`Action`], or into a client-safe rejection.

use serde_json::Value;

use super::{validate, Action, ClientError, ErrorCode};

/// A decoded client frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The frame's `requestId`, when it was a string.
    pub request_id: Option<String>,
    /// The typed action.
    pub action: Action,
}

/// Why a frame could not be decoded; becomes one `error` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The frame's `requestId`, echoed when it was a string.
    pub request_id: Option<String>,
    /// What the client is told.
    pub error: ClientError,
}

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>, request_id: Option<String>) -> Self {
        Self {
            request_id,
            error: ClientError::new(code, message),
        }
    }

    /// The `error` event answering the frame.
    pub fn to_event(&self) -> super::Event {
        self.error.to_event(self.request_id.clone())
    }
}

/// Decodes one text frame: JSON, an object, a known string `action`, schema-valid, typed.
pub fn decode(text: &str) -> Result<Inbound, Rejection> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            ErrorCode::ValidationError,
            format!("invalid JSON frame: {e}"),
            None,
        )
    })?;
    let Value::Object(object) = &value else {
        return Err(Rejection::new(
            ErrorCode::ValidationError,
            "missing 'action' field: a frame must be a JSON object",
            None,
        ));
    };
    let request_id = object
        .get("requestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let action = match object.get("action") {
        Some(Value::String(action)) => action.clone(),
        Some(_) => {
            return Err(Rejection::new(
                ErrorCode::ValidationError,
                "missing 'action' field: 'action' must be a string",
                request_id,
            ))
        }
        None => {
            return Err(Rejection::new(
                ErrorCode::ValidationError,
                "missing 'action' field",
                request_id,
            ))
        }
    };
    if !Action::NAMES.contains(&action.as_str()) {
        let shown = validate::bounded(&action, 64);
        return Err(Rejection::new(
            ErrorCode::UnsupportedAction,
            format!("action '{shown}' is not supported by this server"),
            request_id,
        ));
    }
    // The schema gives path-precise messages; it runs in every build because inbound frames
    // are untrusted and the cost is well under a microsecond per frame.
    if let Err(problem) = validate::check_request(&action, &value) {
        return Err(Rejection::new(
            ErrorCode::ValidationError,
            format!("invalid '{action}' frame at {problem}"),
            request_id,
        ));
    }
    let mut payload = value;
    if let Value::Object(object) = &mut payload {
        object.remove("action");
    }
    let typed = match Action::decode_named(&action, payload) {
        Some(Ok(typed)) => typed,
        Some(Err(e)) => {
            // serde's own text names Rust types and repeats the value: report only where.
            let path = e.path().to_string();
            let at = if path == "." {
                "/".to_string()
            } else {
                format!("/{}", path.replace('.', "/"))
            };
            return Err(Rejection::new(
                ErrorCode::ValidationError,
                format!(
                    "invalid '{action}' frame at {}: the value has the wrong type or is out of range",
                    validate::bounded(&at, 200)
                ),
                request_id,
            ));
        }
        None => {
            return Err(Rejection::new(
                ErrorCode::UnsupportedAction,
                format!(
                    "action '{}' is not supported by this server",
                    validate::bounded(&action, 64)
                ),
                request_id,
            ))
        }
    };
    Ok(Inbound {
        request_id,
        action: typed,
    })
}
