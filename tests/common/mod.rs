//! Shared integration-test harness: boot the real server on 127.0.0.1:0 and speak WebSocket.
#![allow(dead_code)]

pub mod gateway;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::protocol::validate;
use smooth_operator::server::{self, ServerHandle};
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
/// messages into a conversation (no action appends messages yet).
pub async fn open_store(path: &std::path::Path) -> smooth_operator::store::sqlite::SqliteStore {
    smooth_operator::store::sqlite::SqliteStore::open_file(&path.display().to_string())
        .await
        .expect("second store opens")
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
