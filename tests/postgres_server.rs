//! The server on `SMOOTH_AGENT_STORAGE=postgres` (a private PostgreSQL, `common/postgres.rs`):
//! durability across a restart, readiness and recovery while the database goes away and comes
//! back, and the `ingest` command with `DATABASE_URL`.

mod common;

use std::time::{Duration, Instant};

use common::gateway::{MockGateway, Reply};
use common::postgres::PgCluster;
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::server::ServerHandle;

fn postgres_config(url: &str) -> Config {
    let mut config = Config::for_tests();
    config.storage = StorageKind::Postgres;
    config.database_url = url.to_string();
    config
}

async fn readyz(server: &ServerHandle) -> u16 {
    reqwest::get(format!("http://{}/readyz", server.local_addr()))
        .await
        .expect("readyz answers")
        .status()
        .as_u16()
}

/// Polls `/readyz` until it answers `status` (or fails after `within`).
async fn wait_ready(server: &ServerHandle, status: u16, within: Duration) {
    let started = Instant::now();
    loop {
        let now = readyz(server).await;
        if now == status {
            return;
        }
        assert!(
            started.elapsed() < within,
            "/readyz still answers {now}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One non-streamed turn; returns the final answer's event.
async fn turn(client: &mut Client, session: &Value, request: &str, message: &str) -> Value {
    client
        .send(json!({"action": "send_message", "requestId": request,
                     "sessionId": session["sessionId"], "message": message, "stream": false}))
        .await;
    let ack = client.recv().await;
    assert_eq!(ack["status"], 202, "{ack}");
    let done = client.recv().await;
    assert_eq!(done["type"], "eventual_response", "{done}");
    done
}

async fn history(client: &mut Client, session: &Value) -> Vec<String> {
    let page = client
        .request(
            json!({"action": "get_conversation_messages", "requestId": "hist",
                        "sessionId": session["sessionId"]}),
        )
        .await;
    assert_eq!(page["type"], "immediate_response", "{page}");
    page["data"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            m["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_turns_survive_a_restart() {
    let url = PgCluster::shared().fresh_database().await;
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["first ", "answer"]),
        Reply::tokens(&["second answer"]),
    ])
    .await;
    let mut config = postgres_config(&url);
    config.agent.gateway_url = Some(gateway.base_url());

    let server = start_with(config.clone()).await;
    let mut client = Client::connect(&server).await;
    let session = client.create_session().await;
    turn(&mut client, &session, "t1", "hello").await;
    let before = client
        .request(json!({"action": "get_session", "sessionId": session["sessionId"]}))
        .await;
    drop(client);
    server.shutdown().await.expect("clean shutdown");

    // A second process on the same database knows the session and its history.
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    let after = client
        .request(json!({"action": "get_session", "sessionId": session["sessionId"]}))
        .await;
    assert_eq!(after["data"], before["data"], "descriptor changed");
    assert_eq!(
        history(&mut client, &session).await,
        ["first answer", "hello"]
    );
    turn(&mut client, &session, "t2", "again").await;
    assert_eq!(
        history(&mut client, &session).await,
        ["second answer", "again", "first answer", "hello"]
    );
    // The second turn replayed the first one to the model.
    let replay = gateway.requests()[1].body.to_string();
    assert!(
        replay.contains("first answer") && replay.contains("hello"),
        "{replay}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_recovery_follow_the_database() {
    // A cluster of its own: this test stops it.
    let cluster = PgCluster::start();
    let url = cluster.fresh_database().await;
    let gateway = MockGateway::start(vec![Reply::tokens(&["after the outage"])]).await;
    let mut config = postgres_config(&url);
    config.agent.gateway_url = Some(gateway.base_url());
    let server = start_with(config).await;
    assert_eq!(readyz(&server).await, 200);
    let mut client = Client::connect(&server).await;
    let session = client.create_session().await;
    let ack = client
        .request(
            json!({"action": "get_session", "requestId": "up", "sessionId": session["sessionId"]}),
        )
        .await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");

    cluster.stop();
    wait_ready(&server, 503, Duration::from_secs(20)).await;
    let refused = client
        .request(json!({"action": "get_session", "requestId": "down", "sessionId": session["sessionId"]}))
        .await;
    assert_error(&refused, "STORAGE_ERROR", Some("down"));
    let refused = client
        .request(
            json!({"action": "create_conversation_session", "requestId": "new",
                        "agentId": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11", "userName": "Bo"}),
        )
        .await;
    assert_error(&refused, "STORAGE_ERROR", Some("new"));
    // The socket stays open and usable.
    client.assert_alive().await;

    cluster.start_again();
    wait_ready(&server, 200, Duration::from_secs(30)).await;
    let ack = client
        .request(json!({"action": "get_session", "requestId": "back", "sessionId": session["sessionId"]}))
        .await;
    assert_eq!(
        ack["type"], "immediate_response",
        "the pool did not recover: {ack}"
    );
    assert_eq!(ack["data"]["sessionId"], session["sessionId"]);
    turn(&mut client, &session, "t1", "are you there").await;
    assert_eq!(
        history(&mut client, &session).await,
        ["after the outage", "are you there"]
    );
    // A new connection works too.
    let mut other = Client::connect(&server).await;
    other.create_session().await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_uses_database_url_and_the_pg_alias() {
    let url = PgCluster::shared().fresh_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("faq.md"), "Refunds take five days.").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smooth-operator-rs"))
        .arg("ingest")
        .arg(dir.path())
        .env_remove("SMOOTH_AGENT_DATABASE_URL")
        .env("SMOOTH_AGENT_STORAGE", "pg")
        .env("DATABASE_URL", &url)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "ingest failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("faq.md"), "{stdout}");

    // The server on that database finds the document.
    let mut config = postgres_config(&url);
    config.admin_token = Some(ADMIN_TOKEN.into());
    let server = start_with(config).await;
    let hits = Admin::new(&server).search("refund", None).await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    server.shutdown().await.expect("clean shutdown");

    // Without any URL, postgres storage is a start-up error naming the settings.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smooth-operator-rs"))
        .arg("ingest")
        .arg(dir.path())
        .env_remove("SMOOTH_AGENT_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env("SMOOTH_AGENT_STORAGE", "postgresql")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SMOOTH_AGENT_DATABASE_URL"), "{stderr}");
}
