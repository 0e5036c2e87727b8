//! Plays every scenario of the conformance corpus (`spec/conformance/scenarios/*.json`, format
//! in that directory's README.md) against a real server wired to a scripted mock gateway.
//!
//! `SCENARIO=<name>` runs only the scenarios whose name contains `<name>`.

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gateway::{MockGateway, Reply};
use common::{start_with, Client};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::server::ServerHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tool_server::{json_eq, Endpoint, ToolServer};

/// The corpus must not shrink below this.
const MIN_SCENARIOS: usize = 12;
/// Scenarios played at the same time.
const PARALLEL: usize = 6;
/// Longest a whole scenario may take.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);
/// Extra time `expectServerStopped` allows beyond the drain deadline.
const STOP_SLACK: Duration = Duration::from_secs(10);
/// The admin token set when a scenario seeds `documents`.
const SCENARIO_ADMIN_TOKEN: &str = "scenario-admin-token";
/// Replaced by the tool server's base URL in every string of `config.tools`.
const TOOL_SERVER_PLACEHOLDER: &str = "${toolServer}";
/// Longest `${otpCode}` waits for a first delivery to reach the capture webhook.
const OTP_DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Scenario {
    name: String,
    description: String,
    #[serde(default)]
    config: Overrides,
    #[serde(default)]
    gateway: Vec<Reply>,
    /// Requests the gateway must have received by the end; defaults to `gateway.len()`.
    #[serde(default)]
    gateway_calls: Option<usize>,
    /// Least number of `/v1/embeddings` requests the gateway must have received by the end.
    #[serde(default)]
    min_embedding_calls: Option<usize>,
    /// Scripted endpoints of the tool server, by path key (`/<key>`).
    #[serde(default)]
    tool_endpoints: HashMap<String, Endpoint>,
    /// Deliveries the OTP capture webhook must have received by the end.
    #[serde(default)]
    expect_otp_deliveries: Option<usize>,
    steps: Vec<Value>,
}

/// Server settings a scenario may change (everything else is `Config::for_tests()`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Overrides {
    keepalive_secs: Option<u64>,
    drain_secs: Option<u64>,
    gateway_retries: Option<u32>,
    gateway_read_timeout_secs: Option<u64>,
    max_iterations: Option<u32>,
    history_messages: Option<u32>,
    allowed_models: Option<Vec<String>>,
    #[serde(default)]
    allow_any_model: bool,
    #[serde(default)]
    no_gateway: bool,
    gateway_key: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    confirm_tools: Option<Vec<String>>,
    confirm_timeout_secs: Option<u64>,
    /// Declared tools, written to a temporary tools file.
    tools: Option<Value>,
    /// Files of the knowledge folder: relative path → content.
    knowledge: Option<BTreeMap<String, String>>,
    /// Bodies posted to `/admin/documents` once the server runs.
    documents: Option<Vec<Value>>,
    embedding_model: Option<String>,
    /// Agent definitions, written to a temporary agents file.
    agents: Option<Value>,
    /// HS256 secret of the token verifier; `connect` steps sign their `claims` with it.
    jwt_secret: Option<String>,
    #[serde(default)]
    auth_required: bool,
    #[serde(default)]
    widget_strict: bool,
    default_org: Option<String>,
    /// Organisation → gateway key, set through the admin API once the server runs.
    org_gateway_keys: Option<BTreeMap<String, String>>,
    /// Deliver one-time codes to a capture webhook the runner starts.
    #[serde(default)]
    otp_webhook: bool,
    /// HTTP status the capture webhook answers (default 200).
    otp_webhook_status: Option<u16>,
    otp_ttl_secs: Option<u64>,
    otp_max_attempts: Option<u32>,
    otp_resend_cooldown_secs: Option<u64>,
    judge_model: Option<String>,
    preamble_model: Option<String>,
    interaction_timeout_secs: Option<u64>,
    /// Skills: name → Markdown recipe, written as `<name>.md` to a temporary skills folder.
    skills: Option<BTreeMap<String, String>>,
}

impl Overrides {
    /// The server config; temporary files it points at are created in directories pushed to
    /// `temps`, which must outlive the server.
    fn config(
        &self,
        gateway_url: String,
        tool_server_url: &str,
        otp_webhook_url: Option<String>,
        temps: &mut Vec<tempfile::TempDir>,
    ) -> Result<Config, String> {
        let mut config = Config::for_tests();
        config.storage = StorageKind::Memory;
        if let Some(v) = self.drain_secs {
            config.drain_secs = v;
        }
        if self.documents.is_some() || self.org_gateway_keys.is_some() {
            config.admin_token = Some(SCENARIO_ADMIN_TOKEN.into());
        }
        config.auth.jwt_hs256_secret = self.jwt_secret.as_deref().map(Into::into);
        config.auth.auth_required = self.auth_required;
        config.auth.widget_auth_strict = self.widget_strict;
        if let Some(org) = &self.default_org {
            config.auth.default_org = org.clone();
        }
        if let Some(agents) = &self.agents {
            let dir = temp_dir()?;
            let path = dir.path().join("agents.json");
            let text = serde_json::to_string_pretty(agents).map_err(|e| e.to_string())?;
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            config.agents_file = Some(path);
            temps.push(dir);
        }
        let agent = &mut config.agent;
        if !self.no_gateway {
            agent.gateway_url = Some(gateway_url);
        }
        if let Some(v) = self.keepalive_secs {
            agent.keepalive_secs = v;
        }
        if let Some(v) = self.gateway_retries {
            agent.gateway_retries = v;
        }
        if let Some(v) = self.gateway_read_timeout_secs {
            agent.gateway_read_timeout_secs = v;
        }
        if let Some(v) = self.max_iterations {
            agent.max_iterations = v;
        }
        if let Some(v) = self.history_messages {
            agent.history_messages = v;
        }
        if let Some(v) = &self.allowed_models {
            agent.allowed_models = v.clone();
        }
        agent.allow_any_model = self.allow_any_model;
        if let Some(v) = &self.gateway_key {
            agent.gateway_key = Some(v.as_str().into());
        }
        if let Some(v) = &self.model {
            agent.model = v.clone();
        }
        if let Some(v) = &self.system_prompt {
            agent.system_prompt = Some(v.clone());
        }
        if let Some(v) = &self.confirm_tools {
            agent.confirm_tools = v.clone();
        }
        if let Some(v) = self.confirm_timeout_secs {
            agent.confirm_timeout_secs = v;
        }
        if let Some(v) = &self.embedding_model {
            agent.embedding_model = Some(v.clone());
        }
        if let Some(v) = &self.judge_model {
            agent.judge_model = Some(v.clone());
        }
        if let Some(v) = &self.preamble_model {
            agent.preamble_model = Some(v.clone());
        }
        agent.otp.otp_webhook_url = otp_webhook_url;
        if let Some(v) = self.otp_ttl_secs {
            agent.otp.otp_ttl_secs = v;
        }
        if let Some(v) = self.otp_max_attempts {
            agent.otp.otp_max_attempts = v;
        }
        if let Some(v) = self.otp_resend_cooldown_secs {
            agent.otp.otp_resend_cooldown_secs = v;
        }
        if let Some(tools) = &self.tools {
            let dir = temp_dir()?;
            let path = dir.path().join("tools.json");
            let tools = replace_in_strings(tools, TOOL_SERVER_PLACEHOLDER, tool_server_url);
            let text = serde_json::to_string_pretty(&tools).map_err(|e| e.to_string())?;
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            agent.tools_file = Some(path);
            temps.push(dir);
        }
        if let Some(v) = self.interaction_timeout_secs {
            agent.interaction_timeout_secs = v;
        }
        if let Some(skills) = &self.skills {
            let dir = temp_dir()?;
            for (name, recipe) in skills {
                let path = dir.path().join(format!("{name}.md"));
                std::fs::write(&path, recipe)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            agent.skills_dir = Some(dir.path().to_path_buf());
            temps.push(dir);
        }
        if let Some(files) = &self.knowledge {
            let dir = temp_dir()?;
            for (relative, content) in files {
                let rel = Path::new(relative);
                let plain = rel
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                if relative.is_empty() || !plain {
                    return Err(format!(
                        "`knowledge` path {relative:?} must be relative, without `..`"
                    ));
                }
                let path = dir.path().join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                }
                std::fs::write(&path, content)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            agent.knowledge_dir = Some(dir.path().to_path_buf());
            temps.push(dir);
        }
        Ok(config)
    }
}

fn temp_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("scenario-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// `value` with every occurrence of `from` in its strings replaced by `to`.
fn replace_in_strings(value: &Value, from: &str, to: &str) -> Value {
    match value {
        Value::String(s) => Value::String(s.replace(from, to)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| replace_in_strings(v, from, to))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), replace_in_strings(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Posts each body to `/admin/documents` with the scenario admin token; any non-2xx answer is
/// an error.
async fn seed_documents(server: &ServerHandle, documents: &[Value]) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://{}/admin/documents", server.local_addr());
    for (index, body) in documents.iter().enumerate() {
        let response = http
            .post(&url)
            .header("authorization", format!("Bearer {SCENARIO_ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("documents[{index}]: POST /admin/documents failed: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!(
                "documents[{index}]: POST /admin/documents answered {status}: {text}"
            ));
        }
    }
    Ok(())
}

/// Sets each organisation's gateway key through `PUT /admin/orgs/{org}/gateway-key`.
async fn seed_gateway_keys(
    server: &ServerHandle,
    keys: &BTreeMap<String, String>,
) -> Result<(), String> {
    let http = reqwest::Client::new();
    for (org, key) in keys {
        let url = format!(
            "http://{}/admin/orgs/{org}/gateway-key",
            server.local_addr()
        );
        let response = http
            .put(&url)
            .header("authorization", format!("Bearer {SCENARIO_ADMIN_TOKEN}"))
            .header("content-type", "application/json")
            .body(json!({ "key": key }).to_string())
            .send()
            .await
            .map_err(|e| format!("orgGatewayKeys[{org}]: PUT failed: {e}"))?;
        if response.status().as_u16() != 204 {
            return Err(format!(
                "orgGatewayKeys[{org}]: PUT answered {}",
                response.status()
            ));
        }
    }
    Ok(())
}

/// The OTP capture webhook: `POST /otp` on 127.0.0.1 records each JSON body (the server sends
/// `{sessionId, channel, destination, code}`) and answers a fixed status.
struct OtpWebhook {
    url: String,
    deliveries: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtpWebhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtpWebhook {
    async fn start(status: u16) -> Result<Self, String> {
        let status = axum::http::StatusCode::from_u16(status)
            .map_err(|_| format!("`otpWebhookStatus` {status} is not an HTTP status"))?;
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let seen = deliveries.clone();
        let app = axum::Router::new().route(
            "/otp",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&body).into_owned())
                    });
                    seen.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("the OTP webhook cannot bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}/otp"),
            deliveries,
            task,
        })
    }

    fn deliveries(&self) -> Vec<Value> {
        self.deliveries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The code of the most recent delivery, waiting up to [`OTP_DELIVERY_WAIT`] for a first one.
    async fn latest_code(&self) -> Result<String, String> {
        let deadline = Instant::now() + OTP_DELIVERY_WAIT;
        loop {
            if let Some(last) = self.deliveries().last() {
                return last["code"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("the latest OTP delivery has no string code: {last}"));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "`${{otpCode}}`: no OTP delivery arrived within {OTP_DELIVERY_WAIT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// What is wrong with the deliveries: each must be `{sessionId, channel, destination, code}`
    /// with a six-digit code.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, body) in self.deliveries().iter().enumerate() {
            let keys: Vec<&str> = body
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            if sorted != ["channel", "code", "destination", "sessionId"] {
                problems.push(format!(
                    "OTP delivery #{i} is not {{sessionId, channel, destination, code}}: {body}"
                ));
            }
            let code = body["code"].as_str().unwrap_or_default();
            if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
                problems.push(format!("OTP delivery #{i} has no six-digit code: {body}"));
            }
        }
        problems
    }
}

/// A six-digit code different from `code`.
fn other_code(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_string()
}

/// How a connection is opened: the `{"connect": …}` argument is a name, or an object with
/// these handshake options.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectOptions {
    name: String,
    /// Token claims, signed HS256 with `config.jwtSecret` (an `exp` an hour ahead is added).
    claims: Option<Value>,
    /// A raw token, sent as is.
    token: Option<String>,
    /// Send the token as `?token=` instead of an `Authorization` header.
    #[serde(default)]
    token_in_query: bool,
    /// The handshake's `Origin` header.
    origin: Option<String>,
    /// The handshake must be refused with this HTTP status.
    expect_refused: Option<u16>,
}

/// `claims` signed HS256 with `secret`, with an `exp` an hour ahead unless they set one.
fn sign_claims(secret: &str, claims: &Value) -> Result<String, String> {
    if !claims.is_object() {
        return Err(format!("`claims` must be a JSON object, got {claims}"));
    }
    let mut claims = claims.clone();
    if claims.get("exp").is_none() {
        claims["exp"] = json!(jsonwebtoken::get_current_timestamp() + 3600);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("cannot sign the claims: {e}"))
}

/// An `authContext` for `user` signed with `secret`, `offset` seconds away from now.
fn auth_context(secret: &str, user: &str, offset: i64) -> Value {
    use hmac::{Hmac, Mac};
    let timestamp = chrono::Utc::now().timestamp() + offset;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("{user}:{timestamp}").as_bytes());
    json!({
        "userId": user,
        "timestamp": timestamp,
        "signature": hex::encode(mac.finalize().into_bytes()),
    })
}

/// A connection of the scenario, with the events read ahead but not yet consumed.
struct Conn {
    client: Client,
    pending: VecDeque<Value>,
}

impl Conn {
    async fn next_event(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(event) => event,
            // Validates the event against the spec (panics, with the event, when it breaks it).
            None => self.client.recv().await,
        }
    }
}

/// A scenario being played.
struct Run {
    server: Option<ServerHandle>,
    /// The HS256 secret `connect` steps sign claims with.
    jwt_secret: Option<String>,
    shutdown: CancellationToken,
    drain: Duration,
    conns: HashMap<String, Conn>,
    captures: HashMap<String, Value>,
    tools: ToolServer,
    /// The OTP capture webhook, when `config.otpWebhook` is set.
    otp_webhook: Option<OtpWebhook>,
    /// The code `${otpCode}` stands for in the current step.
    otp_code: Option<String>,
}

/// What the currently running step is, for reports of panics (spec violations, timeouts).
type Progress = Arc<Mutex<String>>;

/// Where a scenario's server keeps its data.
#[derive(Debug, Clone, Copy)]
enum Storage {
    /// `Config::for_tests()`'s in-memory SQLite.
    Memory,
    /// A fresh database of the test cluster per scenario (`SMOOTH_AGENT_STORAGE=postgres`).
    Postgres,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_scenarios() {
    play_corpus(Storage::Memory).await;
}

/// The whole corpus again on Postgres: the backends must not differ in anything a client sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_scenarios_postgres() {
    play_corpus(Storage::Postgres).await;
}

async fn play_corpus(storage: Storage) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/conformance/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= MIN_SCENARIOS,
        "expected at least {MIN_SCENARIOS} scenarios in {}, found {}",
        dir.display(),
        files.len()
    );
    let filter = std::env::var("SCENARIO").ok().filter(|f| !f.is_empty());
    let limit = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut runs = Vec::new();
    let mut names = std::collections::HashSet::new();
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let scenario = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Scenario>(&text).map_err(|e| e.to_string()));
        let scenario = match scenario {
            Ok(s) if s.name != stem => Err(format!(
                "`name` is {:?} but the file is {stem}.json; they must match",
                s.name
            )),
            Ok(s) if s.description.trim().is_empty() => Err("`description` is empty".to_string()),
            other => other,
        };
        if !names.insert(stem.clone()) {
            runs.push((stem, None));
            continue;
        }
        match scenario {
            Err(e) => runs.push((stem, Some(tokio::spawn(async move { Err(e) })))),
            Ok(scenario) => {
                if filter.as_ref().is_some_and(|f| !scenario.name.contains(f)) {
                    continue;
                }
                let limit = limit.clone();
                let handle = tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("semaphore open");
                    play_guarded(scenario, storage).await
                });
                runs.push((stem, Some(handle)));
            }
        }
    }
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (name, handle) in runs {
        let result = match handle {
            None => Err("duplicate scenario name".to_string()),
            Some(handle) => handle
                .await
                .unwrap_or_else(|e| Err(format!("runner task failed: {e}"))),
        };
        match result {
            Ok(elapsed) => summary.push(format!("  pass  {name} ({} ms)", elapsed.as_millis())),
            Err(e) => {
                summary.push(format!("  FAIL  {name}"));
                failures.push(format!("scenario {name}: {e}"));
            }
        }
    }
    println!("scenarios ({storage:?}):\n{}", summary.join("\n"));
    assert!(
        !summary.is_empty(),
        "no scenario matched SCENARIO={filter:?}"
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Plays one scenario on its own task so a panic (an event breaking the spec, a receive
/// timeout) becomes a failure that names the step.
async fn play_guarded(scenario: Scenario, storage: Storage) -> Result<Duration, String> {
    let progress: Progress = Arc::new(Mutex::new("setup".to_string()));
    let started = Instant::now();
    let task = tokio::spawn(play(scenario, progress.clone(), storage));
    let abort = task.abort_handle();
    let outcome = tokio::time::timeout(SCENARIO_TIMEOUT, task).await;
    let at = progress.lock().map(|p| p.clone()).unwrap_or_default();
    match outcome {
        Err(_) => {
            abort.abort();
            Err(format!("timed out after {SCENARIO_TIMEOUT:?} at {at}"))
        }
        Ok(Ok(Ok(()))) => Ok(started.elapsed()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(join)) => {
            let message = match join.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".to_string()),
                Err(e) => e.to_string(),
            };
            Err(format!("{at}: {message}"))
        }
    }
}

async fn play(scenario: Scenario, progress: Progress, storage: Storage) -> Result<(), String> {
    let gateway = MockGateway::start(scenario.gateway.clone()).await;
    let tools = ToolServer::start(scenario.tool_endpoints.clone()).await;
    let overrides = &scenario.config;
    let otp_webhook = match (overrides.otp_webhook, overrides.otp_webhook_status) {
        (true, status) => Some(
            OtpWebhook::start(status.unwrap_or(200))
                .await
                .map_err(|e| format!("setup: {e}"))?,
        ),
        (false, Some(_)) => return Err("setup: `otpWebhookStatus` needs `otpWebhook`".into()),
        (false, None) => None,
    };
    if otp_webhook.is_none() && scenario.expect_otp_deliveries.is_some() {
        return Err("setup: `expectOtpDeliveries` needs `config.otpWebhook`".into());
    }
    // Temporary files (tools file, knowledge folder) live as long as this scenario.
    let mut temps = Vec::new();
    let mut config = overrides
        .config(
            gateway.base_url(),
            &tools.base_url(),
            otp_webhook.as_ref().map(|w| w.url.clone()),
            &mut temps,
        )
        .map_err(|e| format!("setup: {e}"))?;
    if let Storage::Postgres = storage {
        config.storage = StorageKind::Postgres;
        config.database_url = common::postgres::PgCluster::shared().fresh_database().await;
    }
    let drain = Duration::from_secs(config.drain_secs);
    let server = start_with(config).await;
    if let Some(documents) = &scenario.config.documents {
        if let Err(e) = seed_documents(&server, documents).await {
            server.shutdown_token().cancel();
            return Err(format!("setup: {e}"));
        }
    }
    if let Some(keys) = &scenario.config.org_gateway_keys {
        if let Err(e) = seed_gateway_keys(&server, keys).await {
            server.shutdown_token().cancel();
            return Err(format!("setup: {e}"));
        }
    }
    let mut run = Run {
        shutdown: server.shutdown_token(),
        drain,
        conns: HashMap::new(),
        captures: HashMap::new(),
        server: None,
        jwt_secret: scenario.config.jwt_secret.clone(),
        tools,
        otp_webhook,
        otp_code: None,
    };
    run.server = Some(server);
    // Connection "a" opens anonymously, unless anonymous connections are refused.
    if !scenario.config.auth_required {
        run.connect(ConnectOptions {
            name: "a".to_string(),
            ..ConnectOptions::default()
        })
        .await
        .map_err(|e| format!("setup: {e}"))?;
    }
    for (index, step) in scenario.steps.iter().enumerate() {
        let at = format!("step {index} {}", compact(step));
        if let Ok(mut p) = progress.lock() {
            p.clone_from(&at);
        }
        run.step(step).await.map_err(|e| format!("{at}: {e}"))?;
    }
    if let Ok(mut p) = progress.lock() {
        *p = "after the last step (gateway checks)".to_string();
    }
    let mut problems = gateway.check_expectations();
    problems.extend(run.tools.check_expectations());
    if let Some(webhook) = &run.otp_webhook {
        problems.extend(webhook.problems());
        let seen = webhook.deliveries().len();
        if let Some(expected) = scenario.expect_otp_deliveries {
            if seen != expected {
                problems.push(format!(
                    "the OTP webhook received {seen} delivery(ies), expected {expected}"
                ));
            }
        }
    }
    if let Some(least) = scenario.min_embedding_calls {
        let seen = gateway.embedding_requests().len();
        if seen < least {
            problems.push(format!(
                "the gateway received {seen} embeddings request(s), expected at least {least}"
            ));
        }
    }
    let expected_calls = scenario.gateway_calls.unwrap_or(gateway.scripted());
    let calls = gateway.request_count();
    if calls != expected_calls {
        problems.push(format!(
            "the gateway received {calls} request(s), expected {expected_calls}; bodies:\n{}",
            gateway
                .requests()
                .iter()
                .map(|r| compact(&r.body))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    // Tear down: close the clients and stop the server without waiting for it.
    for (_, mut conn) in run.conns.drain() {
        let _ = conn.client.ws.close(None).await;
    }
    run.shutdown.cancel();
    drop(temps);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("after the last step: {}", problems.join("\n")))
    }
}

impl Run {
    async fn step(&mut self, step: &Value) -> Result<(), String> {
        let Value::Object(map) = step else {
            return Err("a step must be an object".to_string());
        };
        let conn_name = match map.get("conn") {
            None => "a".to_string(),
            Some(Value::String(name)) => name.clone(),
            Some(other) => return Err(format!("`conn` must be a string, got {other}")),
        };
        let actions: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != "conn").collect();
        let [(kind, arg)] = actions.as_slice() else {
            return Err("a step must have exactly one action key besides `conn`".to_string());
        };
        if arg.to_string().contains("${otpCode") {
            let webhook = self
                .otp_webhook
                .as_ref()
                .ok_or("`${otpCode}` needs `config.otpWebhook`")?;
            self.otp_code = Some(webhook.latest_code().await?);
        }
        let arg = self.substitute(arg)?;
        match kind.as_str() {
            "send" => {
                let conn = self.conn(&conn_name)?;
                conn.client.send(arg).await;
                Ok(())
            }
            "expect" => self.expect(&conn_name, &arg).await,
            "expectStream" => self.expect_stream(&conn_name, &arg).await,
            "expectSilenceMs" => {
                let ms = as_u64(&arg, "expectSilenceMs")?;
                let conn = self.conn(&conn_name)?;
                if let Some(event) = conn.pending.front() {
                    return Err(format!("expected silence, but already got {event}"));
                }
                match tokio::time::timeout(Duration::from_millis(ms), conn.client.ws.next()).await {
                    Err(_) => Ok(()),
                    Ok(frame) => Err(format!("expected no frame for {ms} ms, got {frame:?}")),
                }
            }
            "connect" => {
                // Parsed by shape rather than as an untagged enum, so a mistyped option is
                // named in the error instead of "did not match any variant".
                let options = match arg {
                    Value::String(name) => ConnectOptions {
                        name,
                        ..ConnectOptions::default()
                    },
                    options @ Value::Object(_) => serde_json::from_value(options)
                        .map_err(|e| format!("bad `connect`: {e}"))?,
                    other => {
                        return Err(format!(
                            "`connect` must be a name or an object of options, got {other}"
                        ))
                    }
                };
                self.connect(options).await
            }
            "disconnect" => {
                let name = as_str(&arg, "disconnect")?;
                let mut conn = self
                    .conns
                    .remove(name)
                    .ok_or_else(|| format!("no open connection {name:?}"))?;
                let _ = conn.client.ws.close(None).await;
                let _ = conn.client.ws.flush().await;
                Ok(())
            }
            "expectOtpDeliveries" => {
                let expected = as_u64(&arg, "expectOtpDeliveries")?;
                let seen = self.otp_deliveries("expectOtpDeliveries")?.len();
                if seen as u64 != expected {
                    return Err(format!(
                        "the OTP webhook has received {seen} delivery(ies), expected {expected}"
                    ));
                }
                Ok(())
            }
            "expectOtpDelivery" => {
                let Value::Object(wanted) = &arg else {
                    return Err(format!("`expectOtpDelivery` must be an object, got {arg}"));
                };
                let deliveries = self.otp_deliveries("expectOtpDelivery")?;
                let last = deliveries
                    .last()
                    .ok_or("the OTP webhook has received no delivery")?;
                for (key, want) in wanted {
                    if !["sessionId", "channel", "destination"].contains(&key.as_str()) {
                        return Err(format!(
                            "`expectOtpDelivery` checks sessionId, channel and destination, not {key:?}"
                        ));
                    }
                    if !json_eq(&last[key.as_str()], want) {
                        return Err(format!(
                            "the latest OTP delivery has {key} {}, expected {want}",
                            last[key.as_str()]
                        ));
                    }
                }
                Ok(())
            }
            "expectToolCalls" => {
                let Value::Object(wanted) = &arg else {
                    return Err(format!("`expectToolCalls` must be an object, got {arg}"));
                };
                for (key, want) in wanted {
                    let want = as_u64(want, "expectToolCalls")?;
                    let seen = self.tools.requests_to(key).len();
                    if seen as u64 != want {
                        return Err(format!(
                            "tool endpoint {key:?} has received {seen} request(s), expected {want}"
                        ));
                    }
                }
                Ok(())
            }
            "sleepMs" => {
                let ms = as_u64(&arg, "sleepMs")?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            "shutdown" => {
                if arg != json!(true) {
                    return Err("`shutdown` must be true".to_string());
                }
                self.shutdown.cancel();
                Ok(())
            }
            "expectClose" => {
                let code = as_u64(&arg, "expectClose")?;
                let conn = self.conn(&conn_name)?;
                if let Some(event) = conn.pending.front() {
                    return Err(format!("expected a Close frame, got {event}"));
                }
                match conn.client.recv_raw().await {
                    Some(Message::Close(Some(frame)))
                        if u64::from(u16::from(frame.code)) == code =>
                    {
                        // Complete the closing handshake like a well-behaved client: reading
                        // on sends the queued Close reply and sees the socket end.
                        let _ = tokio::time::timeout(Duration::from_secs(2), conn.client.ws.next())
                            .await;
                        Ok(())
                    }
                    other => Err(format!(
                        "expected a Close frame with code {code}, got {other:?}"
                    )),
                }
            }
            "expectServerStopped" => {
                if arg != json!(true) {
                    return Err("`expectServerStopped` must be true".to_string());
                }
                let server = self.server.take().ok_or("the server already stopped")?;
                let bound = self.drain + STOP_SLACK;
                match tokio::time::timeout(bound, server.wait()).await {
                    Err(_) => Err(format!("the server did not stop within {bound:?}")),
                    Ok(Err(e)) => Err(format!("the server stopped with an error: {e:#}")),
                    Ok(Ok(())) => Ok(()),
                }
            }
            other => Err(format!("unknown step kind {other:?}")),
        }
    }

    /// Opens a connection with the given handshake options.
    async fn connect(&mut self, options: ConnectOptions) -> Result<(), String> {
        let server = self
            .server
            .as_ref()
            .ok_or("cannot connect: the server has stopped")?;
        if self.conns.contains_key(&options.name) {
            return Err(format!("connection {:?} is already open", options.name));
        }
        let token = match (&options.claims, &options.token) {
            (Some(_), Some(_)) => return Err("give `claims` or `token`, not both".to_string()),
            (Some(claims), None) => {
                let secret = self
                    .jwt_secret
                    .as_deref()
                    .ok_or("`claims` need `config.jwtSecret`")?;
                Some(sign_claims(secret, claims)?)
            }
            (None, token) => token.clone(),
        };
        let mut headers: Vec<(&str, String)> = Vec::new();
        let mut query = None;
        if let Some(token) = &token {
            if options.token_in_query {
                // Percent-encoded, so any raw token makes a valid URL.
                let encoded: String =
                    url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
                query = Some(format!("token={encoded}"));
            } else {
                headers.push(("authorization", format!("Bearer {token}")));
            }
        }
        if let Some(origin) = &options.origin {
            headers.push(("origin", origin.clone()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let result = Client::connect_with(server, &headers, query.as_deref()).await;
        match (result, options.expect_refused) {
            (Ok(client), None) => {
                self.conns.insert(
                    options.name,
                    Conn {
                        client,
                        pending: VecDeque::new(),
                    },
                );
                Ok(())
            }
            (Ok(_), Some(status)) => Err(format!(
                "the handshake was accepted, expected HTTP {status}"
            )),
            (Err(tokio_tungstenite::tungstenite::Error::Http(response)), Some(status))
                if response.status().as_u16() == status =>
            {
                Ok(())
            }
            (Err(e), _) => Err(format!("the handshake failed: {e}")),
        }
    }

    fn otp_deliveries(&self, step: &str) -> Result<Vec<Value>, String> {
        self.otp_webhook
            .as_ref()
            .map(OtpWebhook::deliveries)
            .ok_or_else(|| format!("`{step}` needs `config.otpWebhook`"))
    }

    fn conn(&mut self, name: &str) -> Result<&mut Conn, String> {
        self.conns
            .get_mut(name)
            .ok_or_else(|| format!("no open connection {name:?}"))
    }

    /// Replaces every string that is exactly `${name}` by the captured value,
    /// `${repeat:N:text}` by `text` repeated N times, `${authContext:…}` by a signed
    /// authContext, and `${otpCode}` / `${otpCodeWrong}` by the latest delivered one-time code /
    /// a six-digit code that differs from it (fetched by `step` into `otp_code` first).
    fn substitute(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(s) if s.starts_with("${") && s.ends_with('}') => {
                let name = &s[2..s.len() - 1];
                if let Some(spec) = name.strip_prefix("authContext:") {
                    // ${authContext:SECRET:USER} or ${authContext:SECRET:USER:OFFSET_SECS}
                    let parts: Vec<&str> = spec.split(':').collect();
                    let (secret, user, offset) = match parts.as_slice() {
                        [secret, user] => (*secret, *user, 0),
                        [secret, user, offset] => (
                            *secret,
                            *user,
                            offset
                                .parse::<i64>()
                                .map_err(|_| format!("bad offset in {s:?}"))?,
                        ),
                        _ => {
                            return Err(format!(
                                "bad placeholder {s:?}: use ${{authContext:SECRET:USER[:OFFSET]}}"
                            ))
                        }
                    };
                    auth_context(secret, user, offset)
                } else if let Some(spec) = name.strip_prefix("repeat:") {
                    let (count, text) = spec
                        .split_once(':')
                        .ok_or_else(|| format!("bad placeholder {s:?}: use ${{repeat:N:text}}"))?;
                    let count: usize = count
                        .parse()
                        .map_err(|_| format!("bad repeat count in {s:?}"))?;
                    Value::String(text.repeat(count))
                } else if name == "otpCode" || name == "otpCodeWrong" {
                    let code = self
                        .otp_code
                        .as_deref()
                        .ok_or_else(|| format!("{s:?}: no OTP code is known"))?;
                    Value::String(if name == "otpCode" {
                        code.to_string()
                    } else {
                        other_code(code)
                    })
                } else {
                    self.captures
                        .get(name)
                        .cloned()
                        .ok_or_else(|| format!("placeholder {s:?} names nothing captured"))?
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.substitute(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.substitute(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        })
    }

    async fn expect(&mut self, conn_name: &str, spec: &Value) -> Result<(), String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ExpectSpec {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            status: Option<Value>,
            #[serde(default)]
            fields: serde_json::Map<String, Value>,
            #[serde(default)]
            absent: Vec<String>,
            #[serde(default)]
            present: Vec<String>,
            #[serde(default)]
            contains: serde_json::Map<String, Value>,
            #[serde(default, rename = "notContains")]
            not_contains: serde_json::Map<String, Value>,
            #[serde(default)]
            capture: serde_json::Map<String, Value>,
        }
        let spec: ExpectSpec =
            serde_json::from_value(spec.clone()).map_err(|e| format!("bad `expect`: {e}"))?;
        let conn = self.conn(conn_name)?;
        let event = conn.next_event().await;
        let mut problems = Vec::new();
        if event["type"] != json!(spec.kind) {
            problems.push(format!(
                "type is {}, expected {:?}",
                event["type"], spec.kind
            ));
        }
        if let Some(status) = &spec.status {
            if !json_eq(&event["status"], status) {
                problems.push(format!("status is {}, expected {status}", event["status"]));
            }
        }
        for (path, want) in &spec.fields {
            match lookup(&event, path) {
                None => problems.push(format!("{path} is missing, expected {want}")),
                Some(got) if !json_eq(got, want) => {
                    problems.push(format!("{path} is {got}, expected {want}"))
                }
                Some(_) => {}
            }
        }
        for path in &spec.absent {
            if let Some(got) = lookup(&event, path) {
                problems.push(format!("{path} must be absent, got {got}"));
            }
        }
        for path in &spec.present {
            if lookup(&event, path).is_none() {
                problems.push(format!("{path} is missing"));
            }
        }
        for (path, wanted) in &spec.contains {
            let wanted = substrings(wanted, "contains")?;
            match lookup(&event, path) {
                None => problems.push(format!(
                    "{path} is missing, expected it to contain {wanted:?}"
                )),
                Some(got) => {
                    let text = as_text(got);
                    for want in wanted {
                        if !text.contains(want.as_str()) {
                            problems
                                .push(format!("{path} is {got}, expected it to contain {want:?}"));
                        }
                    }
                }
            }
        }
        for (path, unwanted) in &spec.not_contains {
            let unwanted = substrings(unwanted, "notContains")?;
            if let Some(got) = lookup(&event, path) {
                let text = as_text(got);
                for bad in unwanted {
                    if text.contains(bad.as_str()) {
                        problems.push(format!("{path} contains {bad:?}, which it must not: {got}"));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "{}\nevent on {conn_name:?}: {event}",
                problems.join("; ")
            ));
        }
        for (name, path) in &spec.capture {
            let path = path
                .as_str()
                .ok_or_else(|| format!("capture path for {name:?} must be a string"))?;
            let value = lookup(&event, path)
                .ok_or_else(|| format!("cannot capture {name:?}: {path} is missing in {event}"))?;
            self.captures.insert(name.clone(), value.clone());
        }
        Ok(())
    }

    async fn expect_stream(&mut self, conn_name: &str, spec: &Value) -> Result<(), String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct StreamSpec {
            #[serde(rename = "type")]
            kind: String,
            concat: String,
            #[serde(default)]
            request_id: Option<String>,
        }
        let spec: StreamSpec =
            serde_json::from_value(spec.clone()).map_err(|e| format!("bad `expectStream`: {e}"))?;
        if spec.concat.is_empty() {
            return Err("`concat` must not be empty".to_string());
        }
        let conn = self.conn(conn_name)?;
        let mut text = String::new();
        let mut count = 0usize;
        while text.len() < spec.concat.len() {
            let event = conn.next_event().await;
            if event["type"] == "keepalive" && spec.kind != "keepalive" {
                continue;
            }
            if event["type"] != json!(spec.kind) {
                if count == 0 {
                    return Err(format!("expected a {} event, got {event}", spec.kind));
                }
                conn.pending.push_front(event);
                break;
            }
            if let Some(id) = &spec.request_id {
                if event["requestId"] != json!(id) {
                    return Err(format!(
                        "{} event has requestId {}, expected {id:?}: {event}",
                        spec.kind, event["requestId"]
                    ));
                }
            }
            let token = event["token"]
                .as_str()
                .ok_or_else(|| format!("{} event without a string token: {event}", spec.kind))?;
            if token.is_empty() {
                return Err(format!(
                    "{} events never carry an empty token: {event}",
                    spec.kind
                ));
            }
            if event["data"]["token"] != event["token"] {
                return Err(format!("data.token differs from token: {event}"));
            }
            text.push_str(token);
            count += 1;
        }
        if text != spec.concat {
            return Err(format!(
                "{count} {} event(s) concatenate to {text:?}, expected {:?}",
                spec.kind, spec.concat
            ));
        }
        Ok(())
    }
}

/// A `contains`/`notContains` value: one string or a list of strings.
fn substrings(value: &Value, what: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{what}` values must be strings, got {v}"))
            })
            .collect(),
        other => Err(format!(
            "`{what}` values must be a string or a list of strings, got {other}"
        )),
    }
}

/// A value as text to search: a string as is, anything else as its JSON text.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Follows a dot path (`data.messages.0.id`); numeric segments index arrays. The empty path
/// is the value itself.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn as_u64(value: &Value, what: &str) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("`{what}` must be a non-negative integer, got {value}"))
}

fn as_str<'a>(value: &'a Value, what: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("`{what}` must be a string, got {value}"))
}

/// A step or body for messages, shortened when huge.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 300 {
        let head: String = text.chars().take(300).collect();
        format!("{head}…")
    } else {
        text
    }
}
