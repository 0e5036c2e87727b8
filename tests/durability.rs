//! What the server acknowledged survives `kill -9`: the real binary runs as its own process on
//! a SQLite file, concurrent clients create sessions and send messages, the process is killed
//! (SIGKILL) in the middle of that traffic, and a second process on the same file must know
//! every session whose `create_conversation_session` was answered and every user message whose
//! `send_message` got its 202.

mod common;

use std::collections::HashMap;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gateway::{MockGateway, Reply};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Starts the server binary on `db`; returns the process and its WebSocket URL.
fn start_binary(db: &std::path::Path, gateway: &str) -> (Child, String) {
    common::spawn_server(&[
        ("SMOOTH_AGENT_DATABASE_URL", db.display().to_string()),
        ("SMOOAI_GATEWAY_URL", gateway.to_string()),
        ("SMOOTH_AGENT_GATEWAY_RETRIES", "0".to_string()),
    ])
}

async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// What one client saw acknowledged before the server died: session id → acknowledged texts.
type Acked = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// Creates sessions and sends messages until the connection breaks, recording every ack.
async fn client(url: String, client: usize, acked: Acked) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        return;
    };
    for round in 0.. {
        let create = json!({"action": "create_conversation_session", "agentId": "durable",
                            "requestId": format!("c{client}-{round}")});
        if ws
            .send(Message::Text(create.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        let Some(ack) = next_event(&mut ws).await else {
            return;
        };
        assert_eq!(ack["type"], "immediate_response", "{ack}");
        let session = ack["data"]["sessionId"].as_str().unwrap().to_string();
        acked.lock().unwrap().insert(session.clone(), Vec::new());
        for n in 0..3 {
            let text = format!("message {n} of client {client} round {round}");
            let frame = json!({"action": "send_message", "requestId": format!("m{n}"),
                               "sessionId": session, "message": text, "stream": false});
            if ws
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            // The 202 is the acknowledgement; then wait for the turn to end.
            loop {
                let Some(event) = next_event(&mut ws).await else {
                    return;
                };
                match event["type"].as_str().unwrap_or("") {
                    "immediate_response" => {
                        acked
                            .lock()
                            .unwrap()
                            .get_mut(&session)
                            .unwrap()
                            .push(text.clone());
                    }
                    "eventual_response" | "error" => break,
                    _ => {}
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_sessions_and_messages_survive_kill_9() {
    let gateway = MockGateway::start(
        (0..2000)
            .map(|i| Reply::tokens(&["ok ", &format!("{i}")]))
            .collect(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("durable.db");
    let (mut server, url) = start_binary(&db, &gateway.base_url());

    let acked: Acked = Arc::default();
    let clients: Vec<_> = (0..8)
        .map(|c| tokio::spawn(client(url.clone(), c, acked.clone())))
        .collect();
    // Kill the process in the middle of the traffic, without any warning.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the clients get 40 sessions acknowledged");
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    for c in clients {
        c.await.expect("client task");
    }

    let acked = acked.lock().unwrap().clone();
    let messages: usize = acked.values().map(Vec::len).sum();
    assert!(messages > 0, "no message was acknowledged before the kill");

    let (mut server, url) = start_binary(&db, &gateway.base_url());
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for (session, texts) in &acked {
        let get = json!({"action": "get_session", "requestId": "g", "sessionId": session});
        ws.send(Message::Text(get.to_string().into()))
            .await
            .unwrap();
        let answer = next_event(&mut ws).await.unwrap();
        assert_eq!(
            answer["type"], "immediate_response",
            "acknowledged session {session} is gone: {answer}"
        );
        let list = json!({"action": "get_conversation_messages", "requestId": "l",
                          "sessionId": session, "limit": 100});
        ws.send(Message::Text(list.to_string().into()))
            .await
            .unwrap();
        let page = next_event(&mut ws).await.unwrap();
        assert_eq!(page["type"], "immediate_response", "{page}");
        let stored: Vec<&str> = page["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["content"]["text"].as_str())
            .collect();
        for text in texts {
            assert!(
                stored.contains(&text.as_str()),
                "acknowledged message {text:?} of {session} is gone; stored: {stored:?}"
            );
        }
    }
    println!(
        "{} sessions and {messages} messages acknowledged before the kill, all found after it",
        acked.len()
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
