//! Shared integration-test harness: boot the real server on 127.0.0.1:0 and speak WebSocket.
#![allow(dead_code)]

pub mod driver;
pub mod gateway;
pub mod postgres;
pub mod redis;
pub mod slow_socket;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::protocol::validate;
use smooth_operator::server::{self, ServerHandle};
use smooth_operator::store::clock::Clock;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// How long a test waits for one frame before failing.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a server with in-memory storage.
pub async fn start_memory() -> ServerHandle {
    start_with(Config::for_tests()).await
}

/// Starts a server on a SQLite file.
pub async fn start_file(path: &std::path::Path) -> ServerHandle {
    let mut config = Config::for_tests();
    config.storage = StorageKind::Sqlite;
    config.database_url = path.display().to_string();
    start_with(config).await
}

/// Starts a server with the given config (port forced to 0 on 127.0.0.1).
pub async fn start_with(mut config: Config) -> ServerHandle {
    config.bind = "127.0.0.1".parse().unwrap();
    config.port = 0;
    server::bind_and_start(config).await.expect("server starts")
}

/// [`start_with`], its store taking timestamps from `clock`.
pub async fn start_with_clock(config: Config, clock: Arc<SteppingClock>) -> ServerHandle {
    let store = smooth_operator::store::open_with_clock(&config, clock)
        .await
        .expect("store opens");
    start_with_store(config, store).await
}

/// [`start_with`] on a store the test opened (and may break).
pub async fn start_with_store(
    mut config: Config,
    store: smooth_operator::store::DynStore,
) -> ServerHandle {
    config.bind = "127.0.0.1".parse().unwrap();
    config.port = 0;
    server::bind_and_start_with_store(config, store)
        .await
        .expect("server starts")
}

/// A store clock for tests: real time, except that every reading is at least a millisecond
/// after the one before, so consecutive writes get distinct, ordered timestamps without the
/// test sleeping. Share one between stores (e.g. across a restart) to keep that order.
#[derive(Debug, Default)]
pub struct SteppingClock {
    last: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl SteppingClock {
    /// A new clock, ready to share.
    pub fn shared() -> Arc<SteppingClock> {
        Arc::new(SteppingClock::default())
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> DateTime<Utc> {
        let mut last = self.last.lock().unwrap();
        let now = Utc::now();
        let next = match *last {
            Some(previous) if now <= previous + chrono::Duration::milliseconds(1) => {
                previous + chrono::Duration::milliseconds(1)
            }
            _ => now,
        };
        *last = Some(next);
        next
    }
}

/// A test WebSocket client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects to the server's /ws.
    pub async fn connect(server: &ServerHandle) -> Client {
        let (ws, _) = connect_async(server.ws_url()).await.expect("ws connects");
        Client { ws }
    }

    /// Connects to a WebSocket URL (a server in another process).
    pub async fn connect_url(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.expect("ws connects");
        Client { ws }
    }

    /// Connects to the server's /ws with extra handshake headers (e.g. `authorization`,
    /// `origin`) and query string (e.g. `token=…`); `Err` is the refused handshake.
    pub async fn connect_with(
        server: &ServerHandle,
        headers: &[(&str, &str)],
        query: Option<&str>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = match query {
            Some(query) => format!("{}?{query}", server.ws_url()),
            None => server.ws_url(),
        };
        let mut request = url.into_client_request().expect("a valid ws URL");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("header name"),
                value.parse().expect("header value"),
            );
        }
        let (ws, _) = connect_async(request).await?;
        Ok(Client { ws })
    }

    /// Connects presenting `token` as `Authorization: Bearer`.
    pub async fn connect_bearer(server: &ServerHandle, token: &str) -> Client {
        let header = format!("Bearer {token}");
        Client::connect_with(server, &[("authorization", &header)], None)
            .await
            .expect("ws connects with a token")
    }

    /// Sends a JSON value as a text frame.
    pub async fn send(&mut self, frame: Value) {
        self.send_text(&frame.to_string()).await;
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends a raw message (binary, ping…).
    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Receives the next raw message (skipping WS pings/pongs).
    pub async fn recv_raw(&mut self) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(RECV_TIMEOUT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Receives the next event, checks it is a text frame of valid JSON that fits the event
    /// envelope and its own event schema, and returns it.
    pub async fn recv(&mut self) -> Value {
        match self.recv_raw().await {
            Some(Message::Text(text)) => {
                let value: Value = serde_json::from_str(text.as_str()).expect("event is JSON");
                assert_event_valid(&value);
                value
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends a frame and returns the next event.
    pub async fn request(&mut self, frame: Value) -> Value {
        self.send(frame).await;
        self.recv().await
    }

    /// Asserts no frame arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(next) = tokio::time::timeout(wait, self.ws.next()).await {
            panic!("expected no frame, got {next:?}");
        }
    }

    /// Sends `ping` and asserts `pong` comes back (the socket still works).
    pub async fn assert_alive(&mut self) {
        let pong = self
            .request(json!({"action": "ping", "requestId": "alive"}))
            .await;
        assert_eq!(
            pong["type"], "pong",
            "socket no longer answers ping: {pong}"
        );
        assert_eq!(pong["requestId"], "alive");
    }

    /// Creates a session and returns the create ack's `data`.
    pub async fn create_session(&mut self) -> Value {
        let ack = self
            .request(json!({
                "action": "create_conversation_session",
                "requestId": "create",
                "agentId": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11",
                "userName": "Ada"
            }))
            .await;
        assert_eq!(ack["type"], "immediate_response", "create failed: {ack}");
        assert_eq!(ack["status"], 200);
        ack["data"].clone()
    }
}

/// Asserts an event fits the event envelope and its own event schema.
pub fn assert_event_valid(event: &Value) {
    let envelope = validate::compile(&format!(
        "{}envelope.schema.json#/$defs/EventEnvelope",
        validate::SPEC_BASE_URI
    ));
    let problems = validate::check(&envelope, event);
    assert!(
        problems.is_empty(),
        "event breaks the envelope: {problems:?}\n{event}"
    );
    let name = event["type"].as_str().expect("event has a type");
    if let Err(problems) = validate::check_event(name, event) {
        panic!("event breaks its schema: {problems:?}\n{event}");
    }
}

/// Asserts `value` validates against `$defs.<def>` of `actions/<file>.schema.json`.
pub fn assert_matches_def(file: &str, def: &str, value: &Value) {
    let validator = validate::compile(&format!(
        "{}actions/{file}.schema.json#/$defs/{def}",
        validate::SPEC_BASE_URI
    ));
    let problems = validate::check(&validator, value);
    assert!(
        problems.is_empty(),
        "{file}#{def} mismatch: {problems:?}\n{value}"
    );
}

/// Asserts an event is an `error` with `code`, echoing `request_id`.
pub fn assert_error(event: &Value, code: &str, request_id: Option<&str>) {
    assert_eq!(event["type"], "error", "expected an error event: {event}");
    assert_eq!(event["error"]["code"], code, "wrong code: {event}");
    assert_eq!(
        event["data"]["error"], event["error"],
        "data.error must mirror error: {event}"
    );
    match request_id {
        Some(id) => {
            assert_eq!(event["requestId"], id, "requestId not echoed: {event}");
            assert_eq!(
                event["data"]["requestId"], id,
                "data.requestId not echoed: {event}"
            );
        }
        None => {
            assert!(
                event.get("requestId").is_none(),
                "unexpected requestId: {event}"
            );
        }
    }
}

/// Opens a second store on the same SQLite file a server was started on, so a test can put
/// messages into a conversation (no action appends messages yet). Its timestamps come from a
/// [`SteppingClock`], so messages it appends one after another are strictly ordered in time.
pub async fn open_store(path: &std::path::Path) -> smooth_operator::store::sqlite::SqliteStore {
    smooth_operator::store::sqlite::SqliteStore::open_file(&path.display().to_string())
        .await
        .expect("second store opens")
        .with_clock(SteppingClock::shared())
}

/// Appends a text message to the conversation of `session` (a create ack's `data`): inbound
/// messages go from the user to the agent, outbound ones from the agent to the user.
pub async fn append_text(
    store: &smooth_operator::store::sqlite::SqliteStore,
    session: &Value,
    direction: smooth_operator::protocol::MessageDirection,
    text: &str,
) -> smooth_operator::protocol::Message {
    use smooth_operator::protocol::MessageDirection;
    use smooth_operator::store::{NewMessage, Store};
    let id = |key: &str| {
        uuid::Uuid::parse_str(session[key].as_str().expect("id is a string")).expect("uuid")
    };
    let (user, agent) = (id("userParticipantId"), id("agentParticipantId"));
    let (from, to) = match direction {
        MessageDirection::Inbound => (user, agent),
        MessageDirection::Outbound => (agent, user),
    };
    store
        .append_message(NewMessage {
            id: uuid::Uuid::new_v4(),
            conversation_id: id("conversationId"),
            organization_id: None,
            direction,
            text: Some(text.to_string()),
            structured_response: None,
            from_participant_id: Some(from),
            to_participant_id: Some(to),
        })
        .await
        .expect("message appends")
}

// ---------------------------------------------------------------------------------------------
// Admin HTTP API helpers (knowledge base tests).
// ---------------------------------------------------------------------------------------------

/// The admin token used by tests that enable `/admin`.
pub const ADMIN_TOKEN: &str = "test-admin-token-7f3a";

/// `Config::for_tests()` with the admin API enabled.
pub fn admin_config() -> Config {
    let mut config = Config::for_tests();
    config.admin_token = Some(ADMIN_TOKEN.into());
    config
}

/// `admin_config()` on a SQLite file.
pub fn admin_file_config(path: &std::path::Path) -> Config {
    let mut config = admin_config();
    config.storage = StorageKind::Sqlite;
    config.database_url = path.display().to_string();
    config
}

/// An HTTP answer: status, raw body text, and the body parsed as JSON (`Null` when it is not).
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub text: String,
    pub body: Value,
}

/// A small client for `/admin`, authenticated with `token` (or none).
pub struct Admin {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
}

impl Admin {
    /// A client using the right admin token.
    pub fn new(server: &ServerHandle) -> Admin {
        Admin::with_token(server, Some(ADMIN_TOKEN))
    }

    /// A client presenting `token` as a Bearer token (`None`: no Authorization header).
    pub fn with_token(server: &ServerHandle, token: Option<&str>) -> Admin {
        Admin {
            base: format!("http://{}", server.local_addr()),
            token: token.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
        }
    }

    /// Builds a request to `path` (already URL-encoded as needed) with the auth header.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.header("authorization", format!("Bearer {token}")),
            None => builder,
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> HttpAnswer {
        let response = builder.send().await.expect("http request is answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("http body is read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        HttpAnswer { status, text, body }
    }

    pub async fn get(&self, path: &str) -> HttpAnswer {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> HttpAnswer {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    /// `POST /admin/documents` with a JSON body.
    pub async fn post_document(&self, body: &Value) -> HttpAnswer {
        self.send(
            self.request(reqwest::Method::POST, "/admin/documents")
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// `POST /admin/documents` with a raw body.
    pub async fn post_raw(&self, body: impl Into<reqwest::Body>) -> HttpAnswer {
        self.send(
            self.request(reqwest::Method::POST, "/admin/documents")
                .header("content-type", "application/json")
                .body(body),
        )
        .await
    }

    /// Posts a document and asserts the expected outcome; returns the document.
    pub async fn ingest(&self, body: &Value, outcome: &str) -> Value {
        let answer = self.post_document(body).await;
        let status = if outcome == "created" { 201 } else { 200 };
        assert_eq!(answer.status, status, "POST {body}: {answer:?}");
        assert_eq!(answer.body["outcome"], outcome, "POST {body}: {answer:?}");
        answer.body["document"].clone()
    }

    /// `GET /admin/documents`, asserting 200; returns the documents.
    pub async fn documents(&self) -> Vec<Value> {
        let answer = self.get("/admin/documents").await;
        assert_eq!(answer.status, 200, "GET /admin/documents: {answer:?}");
        answer.body["documents"]
            .as_array()
            .unwrap_or_else(|| panic!("documents is an array: {answer:?}"))
            .clone()
    }

    /// `GET /admin/search?q=..[&limit=..]`, asserting 200; returns the results.
    pub async fn search(&self, q: &str, limit: Option<&str>) -> Vec<Value> {
        let mut query = vec![("q", q.to_string())];
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let answer = self
            .send(
                self.request(reqwest::Method::GET, "/admin/search")
                    .query(&query),
            )
            .await;
        assert_eq!(answer.status, 200, "search {q:?}: {answer:?}");
        answer.body["results"]
            .as_array()
            .unwrap_or_else(|| panic!("results is an array: {answer:?}"))
            .clone()
    }
}

/// Asserts an HTTP answer is an error envelope with `status` and `code`; returns its message.
pub fn assert_http_error(answer: &HttpAnswer, status: u16, code: &str) -> String {
    assert_eq!(answer.status, status, "wrong status: {answer:?}");
    let body = &answer.body;
    assert_eq!(body["type"], "error", "error envelope expected: {answer:?}");
    assert_eq!(body["error"]["code"], code, "wrong code: {answer:?}");
    assert_eq!(
        body["data"]["error"], body["error"],
        "data.error must mirror error: {answer:?}"
    );
    assert!(
        body["timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "timestamp in ms expected: {answer:?}"
    );
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error.message is a string: {answer:?}"));
    assert!(!message.trim().is_empty(), "empty message: {answer:?}");
    message.to_string()
}

/// Hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses an RFC 3339 timestamp field of a document.
pub fn doc_time(document: &Value, key: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let text = document[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string: {document}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{key} is RFC 3339 ({e}): {document}"))
}

/// Asserts a document descriptor's invariant shape: `id == title == source`, hash, origin,
/// chunk count, and timestamps.
pub fn assert_document(document: &Value, source: &str, content: &str, origin: &str) {
    assert_eq!(document["id"], source, "id: {document}");
    assert_eq!(document["source"], source, "source: {document}");
    assert_eq!(document["title"], source, "title: {document}");
    assert_eq!(document["origin"], origin, "origin: {document}");
    assert_eq!(
        document["contentHash"],
        sha256_hex(content),
        "contentHash: {document}"
    );
    assert!(
        document["chunks"].as_u64().is_some_and(|n| n >= 1),
        "chunks is a positive count: {document}"
    );
    let created = doc_time(document, "createdAt");
    let updated = doc_time(document, "updatedAt");
    assert!(updated >= created, "updatedAt before createdAt: {document}");
}

/// Asserts a document's ACL means the same as `expected` (`public` defaults to false, `users`
/// and `groups` to empty; order is ignored).
pub fn assert_acl(document: &Value, expected: &Value) {
    let norm = |acl: &Value| {
        let list = |key: &str| {
            let mut items: Vec<String> = acl[key]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            items.sort();
            items
        };
        (
            acl["public"].as_bool().unwrap_or(false),
            list("users"),
            list("groups"),
        )
    };
    assert!(
        document["acl"].is_object(),
        "document should carry an acl: {document}"
    );
    assert_eq!(norm(&document["acl"]), norm(expected), "acl: {document}");
}

/// Starts the server binary as a process of its own, with a clean environment (plus `PATH`),
/// `RUST_LOG=warn` and `envs`, on a free 127.0.0.1 port; waits (up to 60 s) for the URL it
/// prints and returns the process and its WebSocket URL. The caller kills it.
pub fn spawn_server(envs: &[(&str, String)]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_smooth-operator-rs"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SMOOTH_AGENT_BIND", "127.0.0.1")
        .env("SMOOTH_AGENT_PORT", "0")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start the server binary");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("smooth-operator-rs listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server prints its URL");
    (child, url)
}

/// Runs the server binary with a clean environment plus `envs` and `args`, waiting at most
/// `limit`; returns (exit success, exit code, stdout, stderr). Kills it and panics on timeout.
pub async fn run_binary(
    args: &[&str],
    envs: &[(&str, &str)],
    limit: Duration,
) -> (bool, Option<i32>, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_smooth-operator-rs"));
    command.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        command.env("PATH", path);
    }
    command.env("RUST_LOG", "warn");
    command.env("NO_COLOR", "1");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.args(args);
    command.stdin(std::process::Stdio::null());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let described = format!("{args:?} {envs:?}");
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut child = command.spawn().expect("binary starts");
        let mut out = child.stdout.take().expect("stdout pipe");
        let mut err = child.stderr.take().expect("stderr pipe");
        let out_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = out.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        let err_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = err.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "binary did not exit within {limit:?} ({described}); stdout: {} stderr: {}",
                    out_reader.join().unwrap_or_default(),
                    err_reader.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (
            status.success(),
            status.code(),
            out_reader.join().expect("stdout reader"),
            err_reader.join().expect("stderr reader"),
        )
    })
    .await
    .expect("binary runner")
}
