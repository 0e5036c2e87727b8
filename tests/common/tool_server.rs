//! A scripted HTTP server standing in for the endpoints of declared tools: each [`Endpoint`] is
//! served at `/<key>` (any method) on 127.0.0.1, every request is recorded, and
//! [`ToolServer::check_expectations`] reports what went against the script.
//!
//! ```ignore
//! let tools = ToolServer::start(HashMap::from([("lookup".into(), Endpoint::default())])).await;
//! let url = format!("{}/lookup", tools.base_url());
//! // … declare a tool calling `url`, run a turn …
//! assert!(tools.check_expectations().is_empty());
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted endpoint. Field names are camelCase in JSON scenario files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Endpoint {
    /// HTTP status of the answer (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    /// Answer body: a JSON string is sent as is (as text), anything else as JSON (default `ok`).
    #[serde(default)]
    pub body: Option<Value>,
    /// Pause before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Every request's body, parsed as JSON, must equal this (`null`: the body must be empty).
    #[serde(default, deserialize_with = "present")]
    pub expect_body: Option<Value>,
    /// Exactly this many requests must arrive (not checked when absent).
    #[serde(default)]
    pub expect_calls: Option<usize>,
    /// Every request must carry these headers with these exact values (names are
    /// case-insensitive).
    #[serde(default)]
    pub expect_header: BTreeMap<String, String>,
    /// Every request must use this HTTP method (e.g. `GET`).
    #[serde(default)]
    pub expect_method: Option<String>,
    /// Every request's query string, decoded, must hold exactly these parameters.
    #[serde(default)]
    pub expect_query: Option<BTreeMap<String, String>>,
}

/// Keeps an explicit JSON `null` as `Some(Value::Null)` (a missing key stays `None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct ToolRequest {
    /// The endpoint key (the path without its leading `/`).
    pub key: String,
    /// The HTTP method.
    pub method: String,
    /// The query string, when any.
    pub query: Option<String>,
    /// Every header (lowercase names; the last value wins for repeated ones).
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or a JSON string holding the raw text when it is not JSON
    /// (`Null` when empty).
    pub body: Value,
}

impl ToolRequest {
    /// The decoded query parameters (the last value wins for a repeated name).
    pub fn query_pairs(&self) -> BTreeMap<String, String> {
        let Some(query) = &self.query else {
            return BTreeMap::new();
        };
        reqwest::Url::parse(&format!("http://127.0.0.1/?{query}"))
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default()
    }
}

struct Shared {
    endpoints: HashMap<String, Endpoint>,
    requests: Mutex<Vec<ToolRequest>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ToolRequest>> {
        self.requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running tool endpoint server; stops when dropped.
pub struct ToolServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for ToolServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ToolServer {
    /// Binds 127.0.0.1:0 and serves `endpoints`, each at `/<key>`. Requests to any other path
    /// are recorded and answered 404 (and reported by [`ToolServer::check_expectations`]).
    pub async fn start(endpoints: HashMap<String, Endpoint>) -> ToolServer {
        let shared = Arc::new(Shared {
            endpoints,
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(serve).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("tool server binds");
        let addr = listener.local_addr().expect("tool server address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ToolServer { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT` (endpoint `key` is at `{base_url}/{key}`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ToolRequest> {
        self.shared.lock().clone()
    }

    /// The requests that reached endpoint `key`.
    pub fn requests_to(&self, key: &str) -> Vec<ToolRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.key == key)
            .collect()
    }

    /// Checks every endpoint's expectations (and that no request went to an unknown path);
    /// returns the problems.
    pub fn check_expectations(&self) -> Vec<String> {
        let requests = self.requests();
        let mut problems = Vec::new();
        for request in &requests {
            if !self.shared.endpoints.contains_key(&request.key) {
                problems.push(format!(
                    "tool server: {} /{} is not a scripted endpoint (body {})",
                    request.method, request.key, request.body
                ));
            }
        }
        let mut keys: Vec<&String> = self.shared.endpoints.keys().collect();
        keys.sort();
        for key in keys {
            let endpoint = &self.shared.endpoints[key];
            let seen: Vec<&ToolRequest> = requests.iter().filter(|r| &r.key == key).collect();
            if let Some(expected) = endpoint.expect_calls {
                if seen.len() != expected {
                    problems.push(format!(
                        "tool endpoint /{key} received {} request(s), expected {expected}; bodies: {}",
                        seen.len(),
                        seen.iter()
                            .map(|r| r.body.to_string())
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ));
                }
            }
            for (i, request) in seen.iter().enumerate() {
                if let Some(expected) = &endpoint.expect_body {
                    if !json_eq(&request.body, expected) {
                        problems.push(format!(
                            "tool endpoint /{key} request #{i}: body is {}, expected {expected}",
                            request.body
                        ));
                    }
                }
                if let Some(method) = &endpoint.expect_method {
                    if !request.method.eq_ignore_ascii_case(method) {
                        problems.push(format!(
                            "tool endpoint /{key} request #{i}: method is {}, expected {method}",
                            request.method
                        ));
                    }
                }
                if let Some(expected) = &endpoint.expect_query {
                    let query = request.query_pairs();
                    if &query != expected {
                        problems.push(format!(
                            "tool endpoint /{key} request #{i}: query is {query:?}, expected {expected:?}"
                        ));
                    }
                }
                for (name, value) in &endpoint.expect_header {
                    let got = request.headers.get(&name.to_ascii_lowercase());
                    if got != Some(value) {
                        problems.push(format!(
                            "tool endpoint /{key} request #{i}: header {name} is {got:?}, expected {value:?}"
                        ));
                    }
                }
            }
        }
        problems
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = uri.path().trim_start_matches('/').to_string();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice::<Value>(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.lock().push(ToolRequest {
        key: key.clone(),
        method: method.to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let Some(endpoint) = shared.endpoints.get(&key).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            format!("tool server: no endpoint /{key}"),
        )
            .into_response();
    };
    if endpoint.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(endpoint.delay_ms)).await;
    }
    let status = StatusCode::from_u16(endpoint.status.unwrap_or(200))
        .expect("scripted status is a valid HTTP status");
    let (content_type, text) = match endpoint.body {
        None => ("text/plain; charset=utf-8", "ok".to_string()),
        Some(Value::String(text)) => ("text/plain; charset=utf-8", text),
        Some(other) => ("application/json", other.to_string()),
    };
    (status, [(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// JSON equality with numbers compared by value (`10` equals `10.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
