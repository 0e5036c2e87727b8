//! Client directives from tool results. A declared tool whose JSON object answer has a top-level
//! `directive` sets the turn's directive (an object replaces it, `null` clears it; the last one
//! wins), which `eventual_response` carries at `data.data.directive`. The protocol keeps the
//! object opaque; the one host form clients act on, `{"type": "send_file", "files": [{name,
//! mimeType?, url}]}`, is checked here so a client never receives a malformed file list. A
//! directive that breaks the rules is dropped (and logged), never sent.

use serde_json::{Map, Value};

/// Largest directive, in bytes of compact JSON.
pub const MAX_DIRECTIVE_BYTES: usize = 16 * 1024;
/// Most files one `send_file` directive may name.
pub const MAX_SEND_FILES: usize = 10;
/// Longest file name in a `send_file` directive, in characters.
const MAX_FILE_NAME_CHARS: usize = 255;
/// Longest file URL in a `send_file` directive, in bytes.
const MAX_FILE_URL_BYTES: usize = 2048;

/// What a tool result does to the turn's directive.
#[derive(Debug, Clone, PartialEq)]
pub enum DirectiveUpdate {
    /// Replace the turn's directive with this object.
    Set(Map<String, Value>),
    /// The tool answered `"directive": null`: the turn has no directive any more.
    Clear,
}

/// The directive update in a tool's answer `body`, when it is a JSON object with a valid
/// `directive`; `Err` says why a present directive was dropped.
pub fn from_result(body: &str) -> Result<Option<DirectiveUpdate>, String> {
    // Most answers have none: skip the parse.
    if !body.contains("\"directive\"") {
        return Ok(None);
    }
    let Ok(Value::Object(mut answer)) = serde_json::from_str::<Value>(body) else {
        return Ok(None);
    };
    match answer.remove("directive") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(DirectiveUpdate::Clear)),
        Some(Value::Object(directive)) => {
            check(&directive)?;
            Ok(Some(DirectiveUpdate::Set(directive)))
        }
        Some(_) => Err("`directive` must be an object or null".to_string()),
    }
}

/// Applies `update` to the turn's current directive (the last write wins).
pub fn apply(current: &mut Option<Map<String, Value>>, update: Option<DirectiveUpdate>) {
    match update {
        Some(DirectiveUpdate::Set(directive)) => *current = Some(directive),
        Some(DirectiveUpdate::Clear) => *current = None,
        None => {}
    }
}

/// The size cap, and the shape of the `send_file` form.
fn check(directive: &Map<String, Value>) -> Result<(), String> {
    let size = serde_json::to_vec(directive).map_or(usize::MAX, |v| v.len());
    if size > MAX_DIRECTIVE_BYTES {
        return Err(format!(
            "`directive` is {size} bytes, more than {MAX_DIRECTIVE_BYTES}"
        ));
    }
    match directive.get("type") {
        Some(Value::String(kind)) if kind == "send_file" => check_send_file(directive),
        Some(Value::String(_)) | None => Ok(()),
        Some(_) => Err("`directive.type` must be a string".to_string()),
    }
}

fn check_send_file(directive: &Map<String, Value>) -> Result<(), String> {
    let Some(Value::Array(files)) = directive.get("files") else {
        return Err("a send_file directive needs a `files` array".to_string());
    };
    if files.is_empty() || files.len() > MAX_SEND_FILES {
        return Err(format!(
            "a send_file directive names 1 to {MAX_SEND_FILES} files, not {}",
            files.len()
        ));
    }
    for (i, file) in files.iter().enumerate() {
        let Value::Object(file) = file else {
            return Err(format!("files[{i}] must be an object"));
        };
        if let Some(key) = file
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "mimeType" | "url"))
        {
            return Err(format!("files[{i}] has an unknown field `{key}`"));
        }
        match file.get("name") {
            Some(Value::String(name))
                if !name.trim().is_empty() && name.chars().count() <= MAX_FILE_NAME_CHARS => {}
            _ => {
                return Err(format!(
                    "files[{i}].name must be a non-blank string of at most {MAX_FILE_NAME_CHARS} characters"
                ))
            }
        }
        match file.get("mimeType") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(format!("files[{i}].mimeType must be a string")),
        }
        match file.get("url") {
            Some(Value::String(url)) if https_url(url) => {}
            _ => return Err(format!("files[{i}].url must be an https: URL")),
        }
    }
    Ok(())
}

/// An absolute `https:` URL with a host, within the length cap.
fn https_url(url: &str) -> bool {
    url.len() <= MAX_FILE_URL_BYTES
        && reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(body: Value) -> Result<Option<DirectiveUpdate>, String> {
        from_result(&body.to_string())
    }

    #[test]
    fn answers_without_a_directive_change_nothing() {
        assert_eq!(from_result("shipped"), Ok(None));
        assert_eq!(update(json!({"status": "shipped"})), Ok(None));
        assert_eq!(update(json!(["directive"])), Ok(None));
    }

    #[test]
    fn an_object_sets_null_clears_and_the_last_wins() {
        let first = json!({"type": "open_url", "url": "https://example.com"});
        let mut current = None;
        apply(&mut current, update(json!({"directive": first})).unwrap());
        assert_eq!(current, first.as_object().cloned());
        let second = json!({"type": "handoff"});
        apply(&mut current, update(json!({"directive": second})).unwrap());
        assert_eq!(current, second.as_object().cloned());
        apply(&mut current, update(json!({"ok": true})).unwrap());
        assert_eq!(
            current,
            second.as_object().cloned(),
            "no directive keeps it"
        );
        apply(&mut current, update(json!({"directive": null})).unwrap());
        assert_eq!(current, None);
    }

    #[test]
    fn send_file_is_checked() {
        let good = json!({"directive": {"type": "send_file", "files": [
            {"name": "invoice.pdf", "mimeType": "application/pdf", "url": "https://files.example.com/i.pdf"}
        ]}});
        assert!(matches!(update(good), Ok(Some(DirectiveUpdate::Set(_)))));
        for (bad, why) in [
            (json!({"type": "send_file"}), "needs a `files` array"),
            (json!({"type": "send_file", "files": []}), "1 to 10 files"),
            (
                json!({"type": "send_file", "files": [{"name": "a", "url": "http://x.example/a"}]}),
                "https: URL",
            ),
            (
                json!({"type": "send_file", "files": [{"name": "a", "url": "javascript:alert(1)"}]}),
                "https: URL",
            ),
            (
                json!({"type": "send_file", "files": [{"name": " ", "url": "https://x.example/a"}]}),
                "non-blank",
            ),
            (
                json!({"type": "send_file", "files": [{"name": "a", "url": "https://x.example/a", "size": 3}]}),
                "unknown field `size`",
            ),
            (json!({"type": 7}), "must be a string"),
        ] {
            let error = update(json!({ "directive": bad })).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        assert!(update(json!({"directive": "send_file"})).is_err());
        let huge = json!({"directive": {"note": "x".repeat(MAX_DIRECTIVE_BYTES)}});
        assert!(update(huge).unwrap_err().contains("bytes"));
    }
}
