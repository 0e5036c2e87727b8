//! Tools declared in `SMOOTH_AGENT_TOOLS_FILE`: each is an HTTP endpoint the model can call.
//! A call sends the arguments object (JSON body, or query string for GET) and the response
//! body, as text, is the result. Every failure is an error result the model sees. A tool
//! declared with `"acceptsFiles": true` also gets the message's files as `files` in its body
//! (`[{name, mimeType?, url}]`, `[]` when there are none); the model never sees them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use jsonschema::{Draft, Validator};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ToolOutcome;
use crate::llm::ToolSpec;
use crate::protocol::validate;

/// Default per-call timeout.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest allowed per-call timeout.
const MAX_TIMEOUT_MS: u64 = 300_000;
/// Most response bytes handed to the model; the rest is cut with a note.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Characters of an error response body quoted in the error result.
const ERROR_BODY_CHARS: usize = 200;

/// One entry of the tools file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: Option<String>,
    description: Option<String>,
    parameters: Option<Value>,
    http: Option<HttpEntry>,
    #[serde(default, rename = "acceptsFiles")]
    accepts_files: bool,
}

/// The `http` block of an entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HttpEntry {
    url: String,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout_ms: Option<u64>,
}

/// A declared HTTP tool, validated and ready to call.
pub struct DeclaredTool {
    /// What the model is told.
    pub spec: ToolSpec,
    url: reqwest::Url,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    arguments: Validator,
    accepts_files: bool,
}

impl std::fmt::Debug for DeclaredTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers, the URL's user info and its query may hold credentials: never print them.
        let url = format!(
            "{}://{}{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default(),
            self.url.path()
        );
        f.debug_struct("DeclaredTool")
            .field("name", &self.spec.name)
            .field("method", &self.method)
            .field("url", &url)
            .finish_non_exhaustive()
    }
}

/// Every declared tool plus the HTTP client that calls them.
#[derive(Debug, Default)]
pub struct DeclaredTools {
    tools: Vec<DeclaredTool>,
    http: reqwest::Client,
}

impl DeclaredTools {
    /// No declared tools.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads and validates the tools file; the error names the file and the offending entry.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tools file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid tools file {}", path.display()))
    }

    /// Validates the text of a tools file.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| anyhow!("not valid JSON: {e}"))?;
        let Value::Array(entries) = value else {
            bail!("the file must hold a JSON array of tool declarations");
        };
        let mut tools = Vec::with_capacity(entries.len());
        let mut names = HashSet::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let label = match entry.get("name").and_then(Value::as_str) {
                Some(name) => format!("entry #{index} ({name})"),
                None => format!("entry #{index}"),
            };
            let tool = declared(entry).map_err(|e| anyhow!("{label}: {e}"))?;
            if !names.insert(tool.spec.name.clone()) {
                bail!("{label}: the name is declared twice");
            }
            tools.push(tool);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { tools, http })
    }

    /// The declared tools.
    pub fn tools(&self) -> &[DeclaredTool] {
        &self.tools
    }

    /// The declared tool called `name`.
    pub fn get(&self, name: &str) -> Option<&DeclaredTool> {
        self.tools.iter().find(|t| t.spec.name == name)
    }

    /// Calls the tool with the model's arguments (a JSON object); a tool that accepts files
    /// also gets the message's `files` in its body.
    pub async fn call(
        &self,
        tool: &DeclaredTool,
        arguments: &Map<String, Value>,
        files: &[Value],
    ) -> ToolOutcome {
        if let Err(message) = check_arguments(tool, arguments) {
            return ToolOutcome::error(message);
        }
        let mut body = arguments.clone();
        if tool.accepts_files {
            body.insert("files".to_string(), Value::Array(files.to_vec()));
        }
        let mut request = self
            .http
            .request(tool.method.clone(), tool.url.clone())
            .headers(tool.headers.clone())
            .timeout(tool.timeout);
        request = if tool.method == reqwest::Method::GET {
            let query: Vec<(String, String)> = arguments
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect();
            request.query(&query)
        } else {
            request.json(&body)
        };
        let timed_out = || {
            ToolOutcome::error(format!(
                "error: the tool did not answer within {} ms",
                tool.timeout.as_millis()
            ))
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return timed_out(),
            Err(e) => {
                tracing::warn!(tool = %tool.spec.name, error = %e.without_url(), "tool endpoint unreachable");
                return ToolOutcome::error("error: could not reach the tool endpoint".to_string());
            }
        };
        let status = response.status();
        let body = match read_bounded(response).await {
            Ok(body) => body,
            Err(e) if e.is_timeout() => return timed_out(),
            Err(e) => {
                tracing::warn!(tool = %tool.spec.name, error = %e.without_url(), "tool response unreadable");
                return ToolOutcome::error("error: the tool's response could not be read".into());
            }
        };
        if !status.is_success() {
            let start: String = body.chars().take(ERROR_BODY_CHARS).collect();
            return ToolOutcome::error(format!("error: HTTP {}: {start}", status.as_u16()));
        }
        let directive = super::directive::from_result(&body).unwrap_or_else(|why| {
            tracing::warn!(tool = %tool.spec.name, %why, "tool directive dropped");
            None
        });
        ToolOutcome {
            directive,
            ..ToolOutcome::ok(body)
        }
    }
}

/// Checks arguments against the tool's `parameters`; `Err` is the result the model sees. Only
/// declared keys pass (unless `parameters` sets `additionalProperties: true`): a call with an
/// argument the operator never declared is refused, not forwarded. For a GET tool, a key that
/// the tool's URL already fixes in its query is refused too, so it cannot be overridden.
pub fn check_arguments(tool: &DeclaredTool, arguments: &Map<String, Value>) -> Result<(), String> {
    let open = tool.spec.parameters.get("additionalProperties") == Some(&Value::Bool(true));
    if !open {
        let declared = tool
            .spec
            .parameters
            .get("properties")
            .and_then(Value::as_object);
        let undeclared: Vec<String> = arguments
            .keys()
            .filter(|k| !declared.is_some_and(|d| d.contains_key(k.as_str())))
            .map(|k| format!("'{}'", validate::bounded(k, 64)))
            .collect();
        if !undeclared.is_empty() {
            return Err(format!(
                "error: invalid arguments: undeclared argument(s) {}; use only the declared \
                 parameters",
                undeclared.join(", ")
            ));
        }
    }
    if tool.method == reqwest::Method::GET {
        if let Some((fixed, _)) = tool
            .url
            .query_pairs()
            .find(|(name, _)| arguments.contains_key(name.as_ref()))
        {
            return Err(format!(
                "error: invalid arguments: '{}' is fixed by the tool and cannot be set",
                validate::bounded(&fixed, 64)
            ));
        }
    }
    let problems = validate::check(&tool.arguments, &Value::Object(arguments.clone()));
    match problems.first() {
        Some(first) => Err(format!("error: invalid arguments: {first}")),
        None => Ok(()),
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of the body as (lossy) UTF-8 text.
async fn read_bounded(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_RESPONSE_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        text.push_str("\n[response truncated]");
    }
    Ok(text)
}

/// Validates one entry.
fn declared(entry: Value) -> anyhow::Result<DeclaredTool> {
    let entry: Entry = serde_json::from_value(entry).map_err(|e| anyhow!("{e}"))?;
    let name = entry.name.ok_or_else(|| anyhow!("missing 'name'"))?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("'name' must be 1 to 64 characters of letters, digits, '_' or '-'");
    }
    let description = entry
        .description
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| anyhow!("missing or blank 'description'"))?;
    let parameters = entry
        .parameters
        .ok_or_else(|| anyhow!("missing 'parameters' (a JSON Schema object)"))?;
    if parameters.get("type").and_then(Value::as_str) != Some("object") {
        bail!("'parameters' must be a JSON Schema with \"type\": \"object\"");
    }
    jsonschema::meta::validate(&parameters)
        .map_err(|e| anyhow!("'parameters' is not a valid JSON Schema: {e}"))?;
    let arguments = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&parameters)
        .map_err(|e| anyhow!("'parameters' does not compile: {e}"))?;
    if entry.accepts_files
        && parameters
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.contains_key("files"))
    {
        bail!("a tool with 'acceptsFiles' cannot declare a parameter named 'files' (the server sets it)");
    }
    let http = entry.http.ok_or_else(|| anyhow!("missing 'http'"))?;
    let url =
        reqwest::Url::parse(&http.url).map_err(|e| anyhow!("'http.url' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("'http.url' must be an http or https URL");
    }
    let method = match http
        .method
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("POST") => reqwest::Method::POST,
        Some("GET") => reqwest::Method::GET,
        Some("PUT") => reqwest::Method::PUT,
        Some("PATCH") => reqwest::Method::PATCH,
        Some("DELETE") => reqwest::Method::DELETE,
        Some(other) => bail!("'http.method' {other:?} is not one of GET, POST, PUT, PATCH, DELETE"),
    };
    if entry.accepts_files && method == reqwest::Method::GET {
        bail!("a tool with 'acceptsFiles' needs a method with a body (not GET)");
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for (key, value) in &http.headers {
        let key = reqwest::header::HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| anyhow!("'http.headers' has an invalid header name {key:?}"))?;
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| anyhow!("'http.headers' has an invalid value for {key}"))?;
        value.set_sensitive(true);
        headers.insert(key, value);
    }
    let timeout_ms = http.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        bail!("'http.timeoutMs' must be between 1 and {MAX_TIMEOUT_MS}");
    }
    Ok(DeclaredTool {
        spec: ToolSpec {
            name,
            description,
            parameters: parameters.into(),
        },
        url,
        method,
        headers,
        timeout: Duration::from_millis(timeout_ms),
        arguments,
        accepts_files: entry.accepts_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(extra: &str) -> String {
        format!(
            r#"[{{"name":"lookup_order","description":"Find an order","parameters":{{"type":"object","properties":{{"id":{{"type":"string"}}}},"required":["id"]}},"http":{{"url":"http://127.0.0.1:9/orders"{extra}}}}}]"#
        )
    }

    #[test]
    fn accepts_a_valid_file() {
        let tools = DeclaredTools::parse(&entry(r#","method":"get","timeoutMs":500"#)).unwrap();
        let tool = tools.get("lookup_order").unwrap();
        assert_eq!(tool.method, reqwest::Method::GET);
        assert_eq!(tool.timeout, Duration::from_millis(500));
    }

    #[test]
    fn rejects_bad_entries_naming_them() {
        for (extra, needle) in [
            (r#","method":"TRACE""#, "http.method"),
            (r#","timeoutMs":0"#, "timeoutMs"),
            (r#","verb":"x""#, "unknown field"),
        ] {
            let err = format!("{:#}", DeclaredTools::parse(&entry(extra)).unwrap_err());
            assert!(err.contains("entry #0 (lookup_order)"), "{err}");
            assert!(err.contains(needle), "{err}");
        }
        for (text, needle) in [
            (
                r#"[{"name":"t","description":"d","acceptsFiles":true,"parameters":{"type":"object"},"http":{"url":"http://127.0.0.1:9/t","method":"GET"}}]"#,
                "not GET",
            ),
            (
                r#"[{"name":"t","description":"d","acceptsFiles":true,"parameters":{"type":"object","properties":{"files":{"type":"array"}}},"http":{"url":"http://127.0.0.1:9/t"}}]"#,
                "named 'files'",
            ),
        ] {
            let err = format!("{:#}", DeclaredTools::parse(text).unwrap_err());
            assert!(err.contains("entry #0 (t)"), "{err}");
            assert!(err.contains(needle), "{err}");
        }
        let err = DeclaredTools::parse(r#"{"name":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("array"), "{err}");
    }
}
