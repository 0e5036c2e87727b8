//! Verified end users: tool auth levels, and one-time codes that really arrive (a real SMTP
//! sink, a real webhook), park the turn, and resume it when the right code comes back — no
//! re-send. Nothing of a code may reach a log line.

mod common;
#[path = "common/smtp.rs"]
mod smtp;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::routing::post;
use axum::{Json, Router};
use common::gateway::{MockGateway, Reply};
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::server::ServerHandle;
use smtp::SmtpSink;
use tool_server::{Endpoint, ToolServer};

const AGENT: &str = "7a2d8c4e-1b3f-4e5a-9c6d-2e8f0a1b3c5d";
const INTERNAL_AGENT: &str = "8b3e9d5f-2c4a-4f6b-8d7e-3f9a1b2c4d6e";
const JWT_SECRET: &str = "otp-tests-jwt-secret-0123456789";
const WIDGET_SECRET: &str = "otp-tests-widget-secret";

/// Everything the server logs during this test binary, at debug level.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_not_logged(code: &str) {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!text.is_empty(), "the log capture saw nothing");
    assert!(
        !text.contains(code),
        "the one-time code {code} reached the logs"
    );
}

/// A scenario's moving parts.
struct Setup {
    server: ServerHandle,
    gateway: MockGateway,
    tools: ToolServer,
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
}

/// A server with two agents (a public one gating `lookup_order` as end_user and
/// `refund_order` as admin, and an internal one), a tools file of both tools on a local tool
/// server, and the gateway scripted with `replies`.
async fn setup(replies: Vec<Value>, tweak: impl FnOnce(&mut Config)) -> Setup {
    let _ = logs();
    let gateway = MockGateway::start(
        replies
            .into_iter()
            .map(|r| serde_json::from_value::<Reply>(r).expect("reply script"))
            .collect(),
    )
    .await;
    let mut endpoints = HashMap::new();
    endpoints.insert(
        "orders".to_string(),
        serde_json::from_value::<Endpoint>(json!({"body": "order A-1 shipped"})).unwrap(),
    );
    endpoints.insert(
        "refunds".to_string(),
        serde_json::from_value::<Endpoint>(json!({"body": "refunded"})).unwrap(),
    );
    let tools = ToolServer::start(endpoints).await;
    let dir = tempfile::tempdir().unwrap();
    let tools_file = dir.path().join("tools.json");
    let params = json!({"type": "object", "properties": {"orderId": {"type": "string"}}});
    std::fs::write(
        &tools_file,
        json!([
            {"name": "lookup_order", "description": "Find an order", "parameters": params,
             "http": {"url": format!("{}/orders", tools.base_url())}},
            {"name": "refund_order", "description": "Refund an order", "parameters": params,
             "http": {"url": format!("{}/refunds", tools.base_url())}}
        ])
        .to_string(),
    )
    .unwrap();
    let agents_file = dir.path().join("agents.json");
    let tools_list = json!([
        {"toolId": "lookup_order", "authLevel": "end_user"},
        {"toolId": "refund_order", "authLevel": "admin"}
    ]);
    std::fs::write(
        &agents_file,
        json!([
            {"id": AGENT, "name": "Shop", "visibility": "public", "enabledTools": tools_list,
             "widget": {"allowedOrigins": ["*"], "authSecret": WIDGET_SECRET}},
            {"id": INTERNAL_AGENT, "visibility": "internal", "enabledTools": tools_list}
        ])
        .to_string(),
    )
    .unwrap();
    let db = dir.path().join("otp.db");
    let mut config = Config::for_tests();
    config.storage = StorageKind::Sqlite;
    config.database_url = db.display().to_string();
    config.agent.gateway_url = Some(gateway.base_url());
    config.agent.tools_file = Some(tools_file);
    config.agents_file = Some(agents_file);
    config.auth.jwt_hs256_secret = Some(JWT_SECRET.into());
    tweak(&mut config);
    let server = start_with(config).await;
    Setup {
        server,
        gateway,
        tools,
        _dir: dir,
        db,
    }
}

fn lookup_call() -> Value {
    json!({"toolCalls": [{"name": "lookup_order", "arguments": {"orderId": "A-1"}}]})
}

fn text(reply: &str) -> Value {
    json!({"tokens": [reply]})
}

async fn session(client: &mut Client, agent: &str, email: Option<&str>) -> String {
    let mut frame = json!({"action": "create_conversation_session", "requestId": "c",
                           "agentId": agent, "userName": "Ada"});
    if let Some(email) = email {
        frame["userEmail"] = json!(email);
    }
    let ack = client.request(frame).await;
    assert_eq!(ack["status"], 200, "{ack}");
    ack["data"]["sessionId"].as_str().unwrap().to_string()
}

async fn send(client: &mut Client, session: &str, request: &str) {
    let ack = client
        .request(
            json!({"action": "send_message", "requestId": request, "sessionId": session,
                        "message": "Where is my order A-1?"}),
        )
        .await;
    assert_eq!(ack["status"], 202, "{ack}");
}

/// Reads events up to the next one of `kind`, returning the ones skipped and it.
async fn until(client: &mut Client, kind: &str) -> (Vec<Value>, Value) {
    let mut seen = Vec::new();
    loop {
        let event = client.recv().await;
        if event["type"] == kind {
            return (seen, event);
        }
        seen.push(event);
    }
}

fn tool_result(events: &[Value]) -> &Value {
    events
        .iter()
        .find(|e| {
            e["type"] == "stream_chunk"
                && e["data"]["state"]["rawResponse"]["toolResult"].is_object()
        })
        .map(|e| &e["data"]["state"]["rawResponse"]["toolResult"])
        .unwrap_or_else(|| panic!("no toolResult among {events:?}"))
}

async fn verify(client: &mut Client, session: &str, code: &str) -> Value {
    client
        .request(
            json!({"action": "verify_otp", "requestId": "v", "sessionId": session, "code": code}),
        )
        .await
}

fn with_smtp(sink: &SmtpSink) -> impl FnOnce(&mut Config) + '_ {
    move |config| {
        config.agent.otp.smtp_url = Some(sink.url().into());
        config.agent.otp.smtp_from = Some("Support <support@shop.test>".into());
    }
}

#[tokio::test]
async fn an_emailed_code_parks_the_turn_and_the_right_code_resumes_it() {
    let sink = SmtpSink::start().await;
    let s = setup(
        vec![
            lookup_call(),
            text("It shipped."),
            lookup_call(),
            text("Still shipped."),
        ],
        with_smtp(&sink),
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    let (before, required) = until(&mut client, "otp_verification_required").await;
    assert!(
        before.iter().any(|e| e["type"] == "stream_chunk"),
        "the toolCall chunk comes first: {before:?}"
    );
    assert_eq!(required["requestId"], "r1");
    assert_eq!(required["data"]["data"]["toolId"], "lookup_order");
    assert_eq!(
        required["data"]["data"]["availableChannels"],
        json!(["email"])
    );
    assert_eq!(required["data"]["data"]["authLevel"], "end_user");
    let sent = client.recv().await;
    assert_eq!(sent["type"], "otp_sent", "{sent}");
    assert_eq!(sent["data"]["data"]["channel"], "email");
    assert_eq!(
        sent["data"]["data"]["maskedDestination"],
        "a***@example.com"
    );
    let mail = sink.wait_for(1).await;
    assert!(mail.to[0].contains("ada@example.com"), "{mail:?}");
    let code = mail.code().expect("the mail holds a six-digit code");
    assert!(
        s.tools.requests_to("orders").is_empty(),
        "the tool ran before verification"
    );

    // A wrong code first: one attempt gone, still parked.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let invalid = verify(&mut client, &id, wrong).await;
    assert_eq!(invalid["type"], "otp_invalid", "{invalid}");
    assert_eq!(invalid["data"]["data"]["error"], "INVALID_CODE");
    assert_eq!(invalid["data"]["data"]["attemptsRemaining"], 4);
    let verified = verify(&mut client, &id, &code).await;
    assert_eq!(verified["type"], "otp_verified", "{verified}");
    assert_eq!(verified["requestId"], "v");
    let (resumed, done) = until(&mut client, "eventual_response").await;
    let result = tool_result(&resumed);
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["result"], "order A-1 shipped");
    assert_eq!(done["requestId"], "r1");
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"],
        json!(["It shipped."])
    );
    assert_eq!(s.tools.requests_to("orders").len(), 1);

    // Verified is stored with the session: the next turn runs the tool at once.
    let stored = common::open_store(&s.db).await;
    use smooth_operator::store::Store;
    let session_row = stored
        .get_session(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(session_row.otp_verified_at.is_some());
    send(&mut client, &id, "r2").await;
    let (events, _) = until(&mut client, "eventual_response").await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "otp_verification_required"),
        "{events:?}"
    );
    assert_eq!(tool_result(&events)["isError"], false);
    assert_eq!(
        sink.mails().len(),
        1,
        "no second code for a verified session"
    );
    // The model never saw the code.
    for request in s.gateway.requests() {
        assert!(
            !request.body.to_string().contains(&code),
            "the code reached the model"
        );
    }
    assert_not_logged(&code);
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn running_out_of_attempts_fails_the_tool_not_the_turn() {
    let sink = SmtpSink::start().await;
    let s = setup(vec![lookup_call(), text("I could not check.")], |c| {
        with_smtp(&sink)(c);
        c.agent.otp.otp_max_attempts = 2;
    })
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    until(&mut client, "otp_sent").await;
    let code = sink.wait_for(1).await.code().unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let first = verify(&mut client, &id, wrong).await;
    assert_eq!(first["data"]["data"]["attemptsRemaining"], 1, "{first}");
    let last = verify(&mut client, &id, wrong).await;
    assert_eq!(last["data"]["data"]["error"], "MAX_ATTEMPTS", "{last}");
    assert_eq!(last["data"]["data"]["attemptsRemaining"], 0);
    let (events, done) = until(&mut client, "eventual_response").await;
    let result = tool_result(&events);
    assert_eq!(result["isError"], true, "{result}");
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"],
        json!(["I could not check."])
    );
    assert!(
        s.tools.requests_to("orders").is_empty(),
        "the tool ran unverified"
    );
    // The right code after the last attempt is worth nothing.
    let late = verify(&mut client, &id, &code).await;
    assert_eq!(late["data"]["data"]["error"], "NOT_FOUND", "{late}");
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_code_fails_the_tool_and_is_refused_later() {
    let sink = SmtpSink::start().await;
    let s = setup(vec![lookup_call(), text("Too slow.")], |c| {
        with_smtp(&sink)(c);
        c.agent.otp.otp_ttl_secs = 1;
    })
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    until(&mut client, "otp_sent").await;
    let code = sink.wait_for(1).await.code().unwrap();
    let (events, _) = until(&mut client, "eventual_response").await;
    assert_eq!(tool_result(&events)["isError"], true);
    let late = verify(&mut client, &id, &code).await;
    assert_eq!(late["data"]["data"]["error"], "EXPIRED", "{late}");
    assert!(s.tools.requests_to("orders").is_empty());
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancel_while_waiting_for_a_code_ends_the_turn() {
    let sink = SmtpSink::start().await;
    let s = setup(vec![lookup_call()], with_smtp(&sink)).await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    until(&mut client, "otp_sent").await;
    client
        .send(json!({"action": "cancel", "requestId": "r1", "sessionId": id}))
        .await;
    let (_, cancelled) = until(&mut client, "cancelled").await;
    assert_eq!(cancelled["requestId"], "r1");
    assert!(s.tools.requests_to("orders").is_empty());
    client.assert_alive().await;
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_contact_or_a_delivery_the_tool_is_refused_with_a_reason() {
    let sink = SmtpSink::start().await;
    let s = setup(
        vec![lookup_call(), text("Need your email.")],
        with_smtp(&sink),
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, None).await;
    send(&mut client, &id, "r1").await;
    let (events, _) = until(&mut client, "eventual_response").await;
    assert!(
        events
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("otp_")),
        "{events:?}"
    );
    let result = tool_result(&events);
    assert_eq!(result["isError"], true);
    assert!(
        result["result"].as_str().unwrap().contains("e-mail"),
        "{result}"
    );
    s.server.shutdown().await.unwrap();

    let s = setup(vec![lookup_call(), text("Cannot verify.")], |_| {}).await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    let (events, _) = until(&mut client, "eventual_response").await;
    assert!(
        events
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("otp_")),
        "{events:?}"
    );
    assert_eq!(tool_result(&events)["isError"], true);
    assert!(s.tools.requests_to("orders").is_empty());
    // Nothing pending: verify_otp says so.
    let stray = verify(&mut client, &id, "123456").await;
    assert_eq!(stray["data"]["data"]["error"], "NOT_FOUND", "{stray}");
    assert_eq!(stray["data"]["data"]["attemptsRemaining"], 0);
    s.server.shutdown().await.unwrap();
}

/// A local OTP webhook recording what it is sent, answering `status`.
async fn webhook(status: u16) -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = Router::new().route(
        "/otp",
        post(
            move |headers: axum::http::HeaderMap, Json(body): Json<Value>| {
                let s = s.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    s.lock().unwrap().push((auth, body));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/otp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_webhook_delivers_the_code_and_a_failing_one_reports_otp_send_failed() {
    let (url, seen) = webhook(200).await;
    let s = setup(vec![lookup_call(), text("Shipped.")], |c| {
        c.agent.otp.otp_webhook_url = Some(url.clone());
        c.agent.otp.otp_webhook_bearer = Some("hook-secret".into());
    })
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    until(&mut client, "otp_sent").await;
    let (auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer hook-secret"));
    assert_eq!(body["sessionId"], id);
    assert_eq!(body["channel"], "email");
    assert_eq!(body["destination"], "ada@example.com");
    let code = body["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(
        verify(&mut client, &id, &code).await["type"],
        "otp_verified"
    );
    let (events, _) = until(&mut client, "eventual_response").await;
    assert_eq!(tool_result(&events)["isError"], false);
    assert_not_logged(&code);
    s.server.shutdown().await.unwrap();

    let (url, _) = webhook(503).await;
    let s = setup(vec![lookup_call(), text("Sorry.")], |c| {
        c.agent.otp.otp_webhook_url = Some(url.clone());
    })
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    let (_, failed) = until(&mut client, "error").await;
    assert_error(&failed, "OTP_SEND_FAILED", Some("r1"));
    let (events, done) = until(&mut client, "eventual_response").await;
    assert_eq!(tool_result(&events)["isError"], true);
    assert_eq!(done["requestId"], "r1");
    s.server.shutdown().await.unwrap();
}

fn token(claims: Value) -> String {
    let mut claims = claims;
    claims["exp"] = json!(jsonwebtoken::get_current_timestamp() + 3600);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn signed_in_users_and_vouched_widget_users_skip_the_code() {
    let sink = SmtpSink::start().await;
    let s = setup(
        vec![lookup_call(), text("A."), lookup_call(), text("B.")],
        with_smtp(&sink),
    )
    .await;
    let mut signed_in =
        Client::connect_bearer(&s.server, &token(json!({"sub": "u1", "org": "o"}))).await;
    let id = session(&mut signed_in, AGENT, Some("ada@example.com")).await;
    send(&mut signed_in, &id, "r1").await;
    let (events, _) = until(&mut signed_in, "eventual_response").await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "otp_verification_required"),
        "{events:?}"
    );
    assert_eq!(tool_result(&events)["isError"], false);

    use hmac::{Hmac, Mac};
    let ts = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WIDGET_SECRET.as_bytes()).unwrap();
    mac.update(format!("visitor-9:{ts}").as_bytes());
    let mut widget = Client::connect_with(&s.server, &[("origin", "https://shop.test")], None)
        .await
        .unwrap();
    let ack = widget
        .request(
            json!({"action": "create_conversation_session", "requestId": "c",
                        "agentId": AGENT, "userEmail": "ada@example.com",
                        "authContext": {"userId": "visitor-9", "timestamp": ts,
                                        "signature": hex::encode(mac.finalize().into_bytes())}}),
        )
        .await;
    let id = ack["data"]["sessionId"].as_str().unwrap().to_string();
    send(&mut widget, &id, "r2").await;
    let (events, _) = until(&mut widget, "eventual_response").await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "otp_verification_required"),
        "{events:?}"
    );
    assert_eq!(tool_result(&events)["isError"], false);
    assert!(sink.mails().is_empty(), "a verified user was sent a code");
    s.server.shutdown().await.unwrap();
}

fn refund_call() -> Value {
    json!({"toolCalls": [{"name": "refund_order", "arguments": {"orderId": "A-1"}}]})
}

#[tokio::test]
async fn admin_tools_run_only_for_admins_on_public_agents_and_for_anyone_on_internal_ones() {
    let s = setup(
        vec![
            refund_call(),
            text("No."),
            refund_call(),
            text("Done."),
            refund_call(),
            text("Done too."),
        ],
        |_| {},
    )
    .await;
    let mut anonymous = Client::connect(&s.server).await;
    let id = session(&mut anonymous, AGENT, Some("ada@example.com")).await;
    send(&mut anonymous, &id, "r1").await;
    let (events, _) = until(&mut anonymous, "eventual_response").await;
    let refused = tool_result(&events);
    assert_eq!(refused["isError"], true);
    assert!(
        refused["result"]
            .as_str()
            .unwrap()
            .contains("requires admin"),
        "{refused}"
    );

    let admin = token(json!({"sub": "boss", "org": "o", "role": "admin"}));
    let mut admin = Client::connect_bearer(&s.server, &admin).await;
    let id = session(&mut admin, AGENT, None).await;
    send(&mut admin, &id, "r2").await;
    let (events, _) = until(&mut admin, "eventual_response").await;
    assert_eq!(tool_result(&events)["isError"], false);

    let id = session(&mut anonymous, INTERNAL_AGENT, None).await;
    send(&mut anonymous, &id, "r3").await;
    let (events, _) = until(&mut anonymous, "eventual_response").await;
    assert_eq!(tool_result(&events)["isError"], false);
    assert_eq!(s.tools.requests_to("refunds").len(), 2);
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_code_sent_before_a_restart_still_verifies_after_it() {
    let sink = SmtpSink::start().await;
    let s = setup(
        vec![
            lookup_call(),
            text("After restart."),
            lookup_call(),
            text("Now."),
        ],
        |c| {
            with_smtp(&sink)(c);
            c.drain_secs = 0;
        },
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let id = session(&mut client, AGENT, Some("ada@example.com")).await;
    send(&mut client, &id, "r1").await;
    until(&mut client, "otp_sent").await;
    let code = sink.wait_for(1).await.code().unwrap();
    let Setup {
        server,
        gateway,
        tools,
        _dir,
        db,
    } = s;
    server.shutdown().await.unwrap();

    // The same database, a new process: the parked turn is gone, its code is not.
    let mut config = Config::for_tests();
    config.storage = StorageKind::Sqlite;
    config.database_url = db.display().to_string();
    config.agent.gateway_url = Some(gateway.base_url());
    config.agent.otp.smtp_url = Some(sink.url().into());
    config.agent.otp.smtp_from = Some("support@shop.test".into());
    let server = start_with(config).await;
    // The dead turn's heartbeat goes stale.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let mut client = Client::connect(&server).await;
    let verified = verify(&mut client, &id, &code).await;
    assert_eq!(verified["type"], "otp_verified", "{verified}");
    // The client of the dead turn is told it ended, and that a re-send will work.
    let interrupted = client.recv().await;
    assert_error(&interrupted, "AGENT_ERROR", Some("r1"));
    assert!(interrupted["error"]["message"]
        .as_str()
        .unwrap()
        .contains("verified"));
    drop((gateway, tools, _dir));
    server.shutdown().await.unwrap();
}
