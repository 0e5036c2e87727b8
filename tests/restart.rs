//! Durability across a restart on the same SQLite file, and graceful shutdown's 1001 close.

mod common;

use common::*;
use serde_json::json;
use smooth_operator::protocol::MessageDirection::{Inbound, Outbound};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

const SESSION_KEYS: [&str; 6] = [
    "sessionId",
    "conversationId",
    "agentId",
    "agentName",
    "userParticipantId",
    "agentParticipantId",
];

#[tokio::test]
async fn sessions_and_messages_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("durable.db");

    // First life: create a session over WS, add two messages through the store.
    let server = start_file(&path).await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let before = client
        .request(json!({"action": "get_session", "sessionId": created["sessionId"]}))
        .await;
    assert_eq!(before["type"], "immediate_response", "{before}");
    let store = open_store(&path).await;
    let hello = append_text(&store, &created, Inbound, "hello").await;
    let reply = append_text(&store, &created, Outbound, "hi there, Ada").await;
    store.close().await;
    drop(store);
    client.ws.close(None).await.expect("client closes");
    drop(client);
    server.shutdown().await.expect("clean shutdown");

    // Second life on the same file.
    let server = start_file(&path).await;
    let mut client = Client::connect(&server).await;
    let after = client
        .request(json!({"action": "get_session", "requestId": "again", "sessionId": created["sessionId"]}))
        .await;
    assert_eq!(after["type"], "immediate_response", "{after}");
    assert_eq!(after["requestId"], "again");
    assert_matches_def("get-session", "Response", &after["data"]);
    assert_eq!(
        after["data"], before["data"],
        "descriptor changed across the restart"
    );
    for key in SESSION_KEYS {
        assert_eq!(after["data"][key], created[key], "{key}");
    }
    assert_eq!(after["data"]["threadId"], created["conversationId"]);
    assert_eq!(after["data"]["status"], "active");

    let page = client
        .request(json!({"action": "get_conversation_messages", "requestId": "hist", "sessionId": created["sessionId"]}))
        .await;
    assert_eq!(page["type"], "immediate_response", "{page}");
    assert_eq!(page["requestId"], "hist");
    let data = &page["data"];
    assert_matches_def("get-conversation-messages", "Response", data);
    assert_eq!(data["hasMore"], false);
    assert_eq!(data["nextCursor"], serde_json::Value::Null);
    let messages = data["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{data}");
    // Newest first.
    assert_eq!(messages[0]["id"], reply.id.to_string());
    assert_eq!(messages[0]["content"]["text"], "hi there, Ada");
    assert_eq!(messages[0]["direction"], "outbound");
    assert_eq!(messages[0]["from"]["id"], created["agentParticipantId"]);
    assert_eq!(messages[0]["from"]["type"], "ai-agent");
    assert_eq!(messages[1]["id"], hello.id.to_string());
    assert_eq!(messages[1]["content"]["text"], "hello");
    assert_eq!(messages[1]["direction"], "inbound");
    assert_eq!(messages[1]["from"]["id"], created["userParticipantId"]);
    assert_eq!(messages[1]["from"]["type"], "user");
    // Stored timestamps come back unchanged.
    for (message, stored) in messages.iter().zip([&reply, &hello]) {
        let wire = chrono::DateTime::parse_from_rfc3339(message["createdAt"].as_str().unwrap())
            .expect("createdAt is RFC 3339");
        assert_eq!(wire, stored.created_at);
    }

    // The cursor from before the restart still works after it.
    let page = client
        .request(
            json!({"action": "get_conversation_messages", "sessionId": created["sessionId"],
                        "cursor": reply.id.to_string()}),
        )
        .await;
    assert_eq!(page["type"], "immediate_response", "{page}");
    assert_eq!(page["data"]["messages"][0]["id"], hello.id.to_string());

    // And new sessions can be created in the second life.
    let second = client.create_session().await;
    assert_ne!(second["sessionId"], created["sessionId"]);
    drop(client);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn unknown_session_stays_unknown_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.db");
    let server = start_file(&path).await;
    server.shutdown().await.expect("clean shutdown");
    let server = start_file(&path).await;
    let mut client = Client::connect(&server).await;
    let event = client
        .request(json!({"action": "get_session", "requestId": "x",
                        "sessionId": uuid::Uuid::new_v4().to_string()}))
        .await;
    assert_error(&event, "SESSION_NOT_FOUND", Some("x"));
}

#[tokio::test]
async fn memory_storage_forgets_sessions_on_restart() {
    // The contrast case: the memory backend is per process, so a second server knows nothing.
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    drop(client);
    server.shutdown().await.expect("clean shutdown");
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let event = client
        .request(
            json!({"action": "get_session", "requestId": "m", "sessionId": created["sessionId"]}),
        )
        .await;
    assert_error(&event, "SESSION_NOT_FOUND", Some("m"));
}

#[tokio::test]
async fn graceful_shutdown_sends_close_1001() {
    let server = start_memory().await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.assert_alive().await;
    b.assert_alive().await;
    let shutdown = tokio::spawn(server.shutdown());
    for client in [&mut a, &mut b] {
        match client.recv_raw().await {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(
                    frame.code,
                    CloseCode::Away,
                    "close code must be 1001: {frame:?}"
                );
                assert_eq!(u16::from(frame.code), 1001);
            }
            other => panic!("expected a 1001 close frame, got {other:?}"),
        }
        // Reading on completes our side of the close handshake; then the stream ends.
        assert!(
            client.recv_raw().await.is_none(),
            "nothing may follow the close"
        );
    }
    shutdown
        .await
        .expect("shutdown task")
        .expect("shutdown succeeds");
}

#[tokio::test]
async fn shutdown_refuses_new_connections() {
    let server = start_memory().await;
    let url = server.ws_url();
    server.shutdown().await.expect("clean shutdown");
    let attempt = tokio_tungstenite::connect_async(url).await;
    assert!(
        attempt.is_err(),
        "a stopped server must not accept WebSockets"
    );
}
